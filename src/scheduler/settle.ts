// After a run: what it settled, as state records and outputs digests, and
// the step images it leaves behind (an old phony image removed, the new ones
// exported to a cache when asked), and the no-op record a successful run
// leaves.
import type { Dag } from '../graph/dag.js';
import type { Engine } from '../engine/engine.js';
import type { State, StepRecord } from '../state/state.js';
import { exportCache, type CacheSpec } from './cache.js';
import type { BuildEvent } from './events.js';
import type { NoopRecord } from './noop.js';
import type { RunResult } from './run.js';
import { cacheRef } from './stepimage.js';

/** The record of every step the run built or found cached, in the order it settled them. */
export function settledRecords(run: RunResult): [string, StepRecord][] {
  const records: [string, StepRecord][] = [];
  for (const r of run.steps.values()) {
    if (r.planned && (r.status === 'built' || r.status === 'cached')) {
      records.push([r.name, { key: r.planned.key, material: r.planned.material, outputsDigest: r.outputsDigest, image: r.imageId }]);
    }
  }
  return records;
}

/** The outputs digest of each step the run measured, by step name. */
export function outputsDigests(run: RunResult): Map<string, string> {
  return new Map([...run.steps.values()].flatMap((r) => (r.outputsDigest ? [[r.name, r.outputsDigest] as const] : [])));
}

/**
 * A phony step gets a new key every build: drops the image of its previous
 * key, when rep recorded that key itself (a sealed record: a state.json
 * that came with the project could name another project's image).
 */
export async function dropOldPhonyImages(engine: Engine, dag: Dag, prev: State | undefined, records: readonly [string, StepRecord][]): Promise<void> {
  for (const [name, rec] of records) {
    const old = prev?.steps[name];
    if (dag.nodes.get(name)!.step.phony && old && !old.unsealed && old.key !== rec.key) await engine.removeImage(cacheRef(old.key));
  }
}

/**
 * Exports the step images of `records` to the cache `to`, each as the image the build settled for it, and says so,
 * with the steps left out (see exportCache), or says why not (the build goes on).
 */
export async function exportSettled(engine: Engine, to: CacheSpec, records: readonly [string, StepRecord][], onEvent?: (e: BuildEvent) => void): Promise<void> {
  const exported = await exportCache(engine, to, records.map(([, r]) => ({ key: r.key, image: r.image })));
  if ('unwritten' in exported) {
    onEvent?.({ type: 'cache-unused', from: to.text, why: exported.unwritten });
    return;
  }
  const leftOut = records.flatMap(([step, r]) => {
    const why = exported.leftOut.get(r.key);
    return why === undefined ? [] : [{ step, why }];
  });
  onEvent?.({ type: 'cache-exported', to: to.text, steps: records.length - leftOut.length, ...(leftOut.length > 0 ? { leftOut } : {}) });
}

/**
 * The no-op record a successful build leaves for the next (see noop.ts):
 * none unless every step settled a key.
 */
export function noopRecordAfter(dag: Dag, next: State, image: { imageId: string }, stamp: string, lock: string[], baseIds: ReadonlyMap<string, string> = new Map()): NoopRecord | undefined {
  const settled = dag.order.map((n) => next.steps[n]);
  if (!settled.every((r) => r !== undefined)) return undefined;
  const steps = dag.order.map((name, i) => ({ name, key: settled[i]!.key }));
  return { stamp, imageId: image.imageId, tag: dag.recipe.image.tag, refs: settled.map((r) => cacheRef(r!.key)), steps, lock, bases: [...baseIds].sort(([a], [b]) => (a < b ? -1 : 1)) };
}
