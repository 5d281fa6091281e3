// Freshness as the engine sees it: a step is fresh when an image tagged with
// its key is there (scheduler/stepimage.ts names it). Asked by `rep build` and
// `rep status` before planning.
import { cacheRef, keyHex } from '../scheduler/stepimage.js';
import type { HashedFile } from '../context/hash.js';
import type { Engine } from '../engine/engine.js';
import type { Project } from '../project.js';
import type { State } from '../state/state.js';
import { planBuild } from './plan.js';

/**
 * The keys every step would have if all were fresh, looked up in one call;
 * the build asks again for any other key it comes to. Gives planBuild its
 * `isFresh` and `outputsDigest`, and the scheduler the tags it found.
 */
export async function engineFreshness(
  engine: Engine,
  project: Project,
  state: State | undefined,
  inputs: Map<string, HashedFile[]>,
  resolveBase: (ref: string) => string,
) {
  const digests = new Map(Object.values(state?.steps ?? {}).flatMap((r) => (r.outputsDigest ? [[r.key, r.outputsDigest] as const] : [])));
  const outputsDigest = (_p: string, key: string) => digests.get(key);
  const likely = planBuild(project.dag, project.ctx, { state, resolveBase, inputs, isFresh: () => true, outputsDigest });
  const tags = new Set<string>();
  if (likely.ok) {
    const ids = await engine.imageIds(likely.value.steps.map((s) => cacheRef(s.key)));
    for (const s of likely.value.steps) if (ids.get(cacheRef(s.key)) !== undefined) tags.add(keyHex(s.key));
  }
  return { tags, isFresh: (_name: string, key: string) => tags.has(keyHex(key)), outputsDigest };
}
