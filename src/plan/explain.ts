// Why a step is stale: its material now against the one recorded at the
// last build, as typed reasons (which file, which field, which upstream step).
import { canonicalJson } from '../canonical.js';
import type { Parent } from '../graph/dag.js';
import type { ImportRecord, StepMaterial } from './key.js';
import type { Reason } from './reasons.js';

/** What explain reads of the other steps. */
export interface Neighbours {
  /** Each step's key as the last build recorded it (a step since removed from the Repfile too, until a build drops it). */
  recorded: Readonly<Record<string, { key: string }>>;
  /** Whether a step this one depends on was settled fresh in this plan. */
  fresh: (step: string) => boolean;
}

/** A record's own member (an input or step named constructor or toString is not Object.prototype's). */
const own = <T>(r: Record<string, T>, k: string): T | undefined => (Object.hasOwn(r, k) ? r[k] : undefined);
const same = (a: unknown, b: unknown) => a === b || (a !== undefined && b !== undefined && canonicalJson(a) === canonicalJson(b));
/** Whether an import's digest was measured on the producer's outputs (else the producer's key stands in for them). */
const measured = (r: ImportRecord) => !r.digest.startsWith('key:');
/** The producers a step copies outputs from, in the order it copies them (kept in `def` when there are two or more). */
const copyOrder = (m: StepMaterial) => m.def.imports ?? Object.keys(m.imports);

/** Typed reasons why `cur` differs from what was recorded. */
export function explain(
  prevKey: string | undefined,
  prev: StepMaterial | undefined,
  cur: StepMaterial,
  key: string,
  parent: Parent,
  ownWorkdir: boolean,
  name: string,
  neighbours: Neighbours,
): Reason[] {
  if (cur.def.phony) return [{ kind: 'phony' }];
  if (prevKey === undefined) return [{ kind: 'new' }];
  if (prevKey === key) return [{ kind: 'missing', key }];
  // Recorded, but what that key was computed from is gone (.rep/materials/ cleaned, or not rep's own).
  if (!prev) return [{ kind: 'unrecorded', key: prevKey }];
  if (prev.format !== cur.format) return [{ kind: 'format', from: prev.format, to: cur.format }];
  const out: Reason[] = [];
  if (cur.base !== undefined && prev.base !== cur.base) out.push({ kind: 'base', from: prev.base, to: cur.base });
  else if (cur.base !== undefined && prev.stage?.baseId !== cur.stage?.baseId) {
    // The same reference, another image behind it (a pull, or another engine's): named with its id.
    const named = (id?: string) => (id ? `${cur.base} (image ${id.replace(/^sha256:/, '').slice(0, 12)})` : `${cur.base} (no image on the engine)`);
    out.push({ kind: 'base', from: named(prev.stage?.baseId), to: named(cur.stage?.baseId) });
  }
  if (parent.kind === 'step' && prev.parent !== cur.parent) out.push(parentReason(parent.name, prev, neighbours));
  if (cur.stage && prev.stage) {
    if (prev.stage.workdir !== cur.stage.workdir) out.push({ kind: 'field', field: 'workdir' });
    if (!same(prev.stage.env, cur.stage.env)) out.push({ kind: 'field', field: 'env' });
    if (prev.stage.epoch !== cur.stage.epoch) out.push({ kind: 'field', field: 'reproducible.epoch' });
    if (prev.stage.platform !== cur.stage.platform) out.push({ kind: 'platform', from: prev.stage.platform, to: cur.stage.platform });
  }
  const inherited = out.length > 0;
  for (const f of ['run', 'env', 'workdir', 'user', 'shell', 'phony', 'secrets', 'imports', 'outputs'] as const) {
    if (f === 'workdir' && !ownWorkdir && inherited) continue;
    if (f === 'imports') {
      // The order producers are copied in is what `needs` says; a producer added or dropped is named below.
      const kept = (m: StepMaterial) => copyOrder(m).filter((p) => own(prev.imports, p) && own(cur.imports, p));
      if (!same(kept(prev), kept(cur))) out.push({ kind: 'field', field: `steps.${name}.needs` });
    } else if (!same(prev.def[f], cur.def[f])) out.push({ kind: 'field', field: `steps.${name}.${f}` });
  }
  for (const path of Object.keys({ ...prev.inputs, ...cur.inputs }).sort()) {
    const a = own(prev.inputs, path);
    const b = own(cur.inputs, path);
    if (!a) out.push({ kind: 'input-added', path });
    else if (!b) out.push({ kind: 'input-removed', path });
    else if (a.sha256 !== b.sha256 || a.type !== b.type) out.push({ kind: 'input-changed', path });
    else if (a.mode !== b.mode) out.push({ kind: 'input-mode', path, from: a.mode, to: b.mode });
  }
  // A producer in one of the two lists only is a change of what the step imports, not of that producer's outputs.
  for (const p of Object.keys({ ...prev.imports, ...cur.imports }).sort()) {
    const [was, is] = [own(prev.imports, p), own(cur.imports, p)];
    if (!was) out.push({ kind: 'import-added', step: p });
    else if (!is) out.push({ kind: 'import-removed', step: p });
    else if (!same(was, is)) {
      // Outputs not measured yet: the consumer may well turn out fresh. A stale producer's are measured once
      // it reruns; a fresh one's by the build, on its image (no measurement this rep vouches for is recorded).
      const unknown = measured(was) && !measured(is);
      out.push({ kind: unknown ? (neighbours.fresh(p) ? 'unmeasured' : 'pending') : 'import', step: p });
    }
  }
  return out.length ? out : [{ kind: 'field', field: `steps.${name}` }];
}

/**
 * Why what `step` builds on is not what it was built on: that step changed
 * (its recorded key is the one built on), or the step builds on another one
 * now (another step's recorded key is, or it was built on an image). When no
 * recorded step has that key, which step it was is not known: a build that
 * failed after rebuilding the parent left the step's old record, and blaming
 * a moved step's new parent, or saying it moved, could both be wrong.
 */
function parentReason(step: string, prev: StepMaterial, { recorded }: Neighbours): Reason {
  if (prev.parent === undefined) return prev.base !== undefined ? { kind: 'parent', step, was: { kind: 'image', ref: prev.base } } : { kind: 'parent', step };
  if (own(recorded, step)?.key === prev.parent) return { kind: 'upstream', step };
  const other = Object.keys(recorded).find((s) => s !== step && recorded[s]!.key === prev.parent);
  return other !== undefined ? { kind: 'parent', step, was: { kind: 'step', name: other } } : { kind: 'parent', step };
}
