// Freshness as the engine sees it: a step is fresh when an image tagged with
// its key is there (scheduler/stepimage.ts names it). Asked by `rep build` and
// `rep status` before planning.
import { cacheRef, keyHex } from '../scheduler/stepimage.js';
import type { Engine } from '../engine/engine.js';
import type { State, StepRecord } from '../state/state.js';
import type { StepMaterial } from './key.js';
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
  return { tags, isFresh: (_name: string, key: string) => tags.has(keyHex(key)), outputsDigest };
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
  opts: { state?: State; recordedMaterial?: (rec: StepRecord) => StepMaterial | undefined; resolveBase: (ref: string) => string },
): Promise<{ plan: Plan; present?: Set<string> }> {
  const planner = new Planner(dag, inputs, opts);
  const byEngine = engine && engine.name !== 'none' ? await engineFreshness(engine, planner, opts.state) : undefined;
  return { plan: planSteps(planner, { state: opts.state, ...byEngine }), present: byEngine?.tags };
}
