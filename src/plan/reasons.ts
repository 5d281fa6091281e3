// Why a step is stale: typed, so the CLI, --json and tests all read the same thing.

export type Reason =
  | { kind: 'new' }
  | { kind: 'phony' }
  | { kind: 'format'; from: number; to: number }
  | { kind: 'base'; from?: string; to: string }
  | { kind: 'field'; field: string }
  | { kind: 'input-added'; path: string }
  | { kind: 'input-removed'; path: string }
  | { kind: 'input-changed'; path: string }
  | { kind: 'input-mode'; path: string; from: string; to: string }
  | { kind: 'upstream'; step: string }
  | { kind: 'import'; step: string }
  | { kind: 'pending'; step: string }
  | { kind: 'missing'; key: string }
  | { kind: 'unrecorded'; key: string };

export function formatReason(r: Reason): string {
  switch (r.kind) {
    case 'new':
      return 'never built';
    case 'phony':
      return 'phony: always rebuilt';
    case 'format':
      return `key format changed (${r.from} -> ${r.to})`;
    case 'base':
      return r.from === undefined ? `base image is now ${r.to}` : `base image changed: ${r.from} -> ${r.to}`;
    case 'field':
      return `${r.field} changed`;
    case 'input-added':
      return `input added: ${r.path}`;
    case 'input-removed':
      return `input removed: ${r.path}`;
    case 'input-changed':
      return `input changed: ${r.path}`;
    case 'input-mode':
      return `input mode changed: ${r.path} (${r.from} -> ${r.to})`;
    case 'upstream':
      return `builds on "${r.step}", which changed`;
    case 'import':
      return `outputs of "${r.step}" changed`;
    case 'pending':
      return `outputs of "${r.step}" are known once it reruns`;
    case 'missing':
      return `no image for key ${r.key.slice(0, 19)} in the cache`;
    case 'unrecorded':
      return `key changed from ${r.key.slice(0, 19)} (what that key was computed from is no longer recorded)`;
    default: {
      const never: never = r;
      return String(never);
    }
  }
}
