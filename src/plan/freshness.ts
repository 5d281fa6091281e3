// Freshness as the engine sees it: a step is fresh when an image tagged with
// its key is there (scheduler/stepimage.ts names it). Asked by `rep build` and
// `rep status` before planning.
import { cacheRef, keyHex } from '../scheduler/stepimage.js';
import type { Engine } from '../engine/engine.js';
import type { State, StepRecord } from '../state/state.js';
import { pinned, type EngineFacts, type StepMaterial } from './key.js';
import { baseImages } from '../lock/lockfile.js';
import type { HashedFile } from '../context/hash.js';
import type { Dag } from '../graph/dag.js';
import { Planner, planSteps, type Plan } from './plan.js';

/**
 * The keys every step would have if all were fresh, looked up in one call;
 * the build asks again for any other key it comes to. Gives planSteps its
 * `isFresh` and `outputsDigest`, and the scheduler the tags it found. The
 * keys are the planner's: planning finds them again rather than recomputing.
 */
export async function engineFreshness(engine: Engine, planner: Planner, state: State | undefined) {
  const digests = new Map(Object.values(state?.steps ?? {}).flatMap((r) => (r.outputsDigest ? [[r.key, r.outputsDigest] as const] : [])));
  const outputsDigest = (_p: string, key: string) => digests.get(key);
  const likely = planner.dag.order.map((name) => planner.key(name, outputsDigest).key);
  const ids = await engine.imageIds(likely.map(cacheRef));
  const tags = new Set(likely.filter((k) => ids.get(cacheRef(k)) !== undefined).map(keyHex));
  const images = new Map(likely.flatMap((k) => { const id = ids.get(cacheRef(k)); return id !== undefined ? [[keyHex(k), id.startsWith('sha256:') ? id : `sha256:${id}`] as const] : []; }));
  return { tags, images, isFresh: (_name: string, key: string) => tags.has(keyHex(key)), outputsDigest };
}

/**
 * What the engine says the keys depend on: the platform it builds for, and the
 * id of each base image no digest pins. With `pull`, a missing one is pulled
 * first, as the engine's build would: keyed without its id, every step on it
 * would be keyed anew by the build after.
 */
export async function engineFacts(engine: Engine, dag: Dag, resolveBase: (ref: string) => string, pull = false): Promise<EngineFacts> {
  const loose = baseImages(dag).filter((ref) => !pinned(resolveBase(ref)));
  const [platform, ids] = await Promise.all([engine.platform(), loose.length ? engine.imageIds(loose) : new Map<string, string | undefined>()]);
  const missing = loose.filter((ref) => ids.get(ref) === undefined);
  if (pull && missing.length) {
    // A base the engine cannot pull is the build's to report, where the step that starts from it fails.
    await Promise.all(missing.map((ref) => engine.pull(ref).catch(() => false)));
    for (const [ref, id] of await engine.imageIds(missing)) ids.set(ref, id);
  }
  const baseIds = new Map<string, string>();
  for (const ref of loose) {
    const id = ids.get(ref);
    if (id !== undefined) baseIds.set(ref, id.startsWith('sha256:') ? id : `sha256:${id}`);
  }
  return { platform, baseIds };
}

/**
 * The build's one plan: keyed once, fresh where the engine has the step's
 * image (or, with no engine, where the last build recorded its key); and the
 * keys the engine was found to have, for the scheduler.
 */
export async function planWithEngine(
  engine: Engine | undefined,
  dag: Dag,
  inputs: Map<string, HashedFile[]>,
  opts: { state?: State; recordedMaterial?: (rec: StepRecord) => StepMaterial | undefined; resolveBase: (ref: string) => string; pullBases?: boolean },
): Promise<{ plan: Plan; present?: Set<string>; images?: Map<string, string>; facts?: EngineFacts }> {
  const facts = engine && engine.name !== 'none' ? await engineFacts(engine, dag, opts.resolveBase, opts.pullBases) : undefined;
  const planner = new Planner(dag, inputs, { ...opts, facts });
  const byEngine = engine && engine.name !== 'none' ? await engineFreshness(engine, planner, opts.state) : undefined;
  return { plan: planSteps(planner, { state: opts.state, ...byEngine }), present: byEngine?.tags, images: byEngine?.images, facts };
}
