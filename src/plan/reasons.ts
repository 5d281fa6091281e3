// Why a step is stale: typed, so the CLI, --json and tests all read the same thing.
import { clip, printable } from '../diag.js';
import type { Parent } from '../graph/dag.js';

export type Reason =
  | { kind: 'new' }
  | { kind: 'phony' }
  | { kind: 'format'; from: number; to: number }
  | { kind: 'base'; from?: string; to: string }
  | { kind: 'field'; field: string }
  | { kind: 'platform'; from?: string; to?: string }
  | { kind: 'input-added'; path: string }
  | { kind: 'input-removed'; path: string }
  | { kind: 'input-changed'; path: string }
  | { kind: 'input-mode'; path: string; from: string; to: string }
  | { kind: 'upstream'; step: string }
  /** It builds on another step or image than it was built on: `was`, when the last build's record still says which. */
  | { kind: 'parent'; step: string; was?: Parent }
  | { kind: 'import'; step: string }
  | { kind: 'import-added'; step: string }
  | { kind: 'import-removed'; step: string }
  /** A stale producer's outputs, measured once it reruns. */
  | { kind: 'pending'; step: string }
  /** A fresh producer's outputs, with no measurement recorded that rep vouches for: the build measures them. */
  | { kind: 'unmeasured'; step: string }
  | { kind: 'missing'; key: string }
  | { kind: 'unrecorded'; key: string };

/** The most reasons a line names; the rest are counted (a renamed folder of 100k files, or a planted material). */
export const REASONS_SHOWN = 10;

/** A step's reasons on one line: the first REASONS_SHOWN, and how many more. */
export function formatReasons(reasons: readonly Reason[]): string {
  const shown = reasons.slice(0, REASONS_SHOWN).map(formatReason);
  if (reasons.length > REASONS_SHOWN) shown.push(`and ${reasons.length - REASONS_SHOWN} more`);
  return shown.join('; ');
}

/**
 * A text of a reason as it may be shown: what was recorded comes from
 * .rep/ (a cloned repository's material can name any path or base image),
 * so control characters are escaped and a long text is cut.
 */
const t = (s: string) => printable(clip(s, 200));

export function formatReason(r: Reason): string {
  switch (r.kind) {
    case 'new':
      return 'never built';
    case 'phony':
      return 'phony: always rebuilt';
    case 'format':
      return `key format changed (${r.from} -> ${r.to})`;
    case 'base':
      return r.from === undefined ? `base image is now ${t(r.to)}` : `base image changed: ${t(r.from)} -> ${t(r.to)}`;
    case 'field':
      return `${t(r.field)} changed`;
    case 'platform':
      return `built for another platform: ${t(r.from ?? 'none said')} -> ${t(r.to ?? 'none said')}`;
    case 'input-added':
      return `input added: ${t(r.path)}`;
    case 'input-removed':
      return `input removed: ${t(r.path)}`;
    case 'input-changed':
      return `input changed: ${t(r.path)}`;
    case 'input-mode':
      return `input mode changed: ${t(r.path)} (${t(r.from)} -> ${t(r.to)})`;
    case 'upstream':
      return `builds on "${t(r.step)}", which changed`;
    case 'parent':
      if (r.was === undefined) return `builds on "${t(r.step)}", not on what it was last built on (no longer recorded)`;
      return `now builds on "${t(r.step)}" (was on ${r.was.kind === 'step' ? `"${t(r.was.name)}"` : `the image ${t(r.was.ref)}`})`;
    case 'import':
      return `outputs of "${t(r.step)}" changed`;
    case 'import-added':
      return `now imports "${t(r.step)}"`;
    case 'import-removed':
      return `no longer imports "${t(r.step)}"`;
    case 'pending':
      return `outputs of "${t(r.step)}" are known once it reruns`;
    case 'unmeasured':
      return `outputs of "${t(r.step)}" are measured by the next build`;
    case 'missing':
      return `no image for key ${t(r.key.slice(0, 19))} in the cache`;
    case 'unrecorded':
      return `key changed from ${t(r.key.slice(0, 19))} (what that key was computed from is no longer recorded)`;
    default: {
      const never: never = r;
      return String(never);
    }
  }
}
