// The image the Repfile names: the target step's image with the Repfile's
// runtime settings (CMD, ENV, ...) built on it when there are any, tagged.
import type { Engine } from '../engine/engine.js';
import type { Project } from '../project.js';
import type { RunOptions } from './run.js';
import type { Pins } from './pins.js';
import { cacheRef, imageStep } from './stepimage.js';

/**
 * The id of `image` when the engine has it built on the target step's image as it is now (its layers
 * first): a build that left the target as it was (only a step it does not build on changed)
 * then builds no final image again. The tag alone does not say it: a target rebuilt under the
 * same key (its image removed, another builder) has other layers than the final image found.
 */
async function builtOn(engine: Engine, image: string, target: string): Promise<string | undefined> {
  const [found, on] = await Promise.all([engine.inspect(image), engine.inspect(target)]);
  return found !== undefined && on !== undefined && on.layers.length > 0 && on.layers.every((l, i) => found.layers[i] === l) ? found.id : undefined;
}

/**
 * Builds (or finds) the final image on the target step's image (`target`, the run's pin of it) and tags it as the
 * Repfile says (unless opts.tag is false). The final image is pinned too (`pins`), for the canonical rewrite.
 */
export async function tagImage(project: Project, engine: Engine, targetKey: string, target: string, pins: Pins, opts: RunOptions) {
  const { recipe, dag } = project;
  const final = imageStep(dag, targetKey, target);
  let ref = cacheRef(targetKey);
  if (final.dockerfile !== undefined) {
    ref = cacheRef(final.key);
    // The image found (its id, as inspected), or the one built: pinned by its id, whatever its tag names by then.
    let built = await builtOn(engine, ref, target);
    if (built === undefined) {
      // Recorded only when the tag is not there: another project's final image, built on an image of the target's
      // key that is gone now, is its own (a review).
      if (opts.beforeTag && !(await engine.hasImage(ref))) await opts.beforeTag(final.key);
      // Tagged by the engine itself, unlike a step's image (run.ts): it reads no file of the context, only the
      // target's image, whose key already stands for its bytes, and the settings its own key is hashed from;
      // so a build that rep did not see through (killed, cancelled as the engine tagged) left the right image.
      const r = await engine.build({ context: { dockerfile: final.dockerfile }, tag: ref, network: opts.network, signal: opts.signal });
      if (!r.ok) {
        opts.onEvent?.({ type: 'step-failed', step: 'image', key: final.key, exitCode: r.exitCode, tail: r.tail, log: '' });
        return undefined;
      }
      built = r.imageId;
    }
    ref = await pins.pin(final.key, built);
  } else ref = target;
  // The canonical rewrite tags its own image: the engine's is only named by its id then (and the
  // record, the --json stream's last line, names the image tagged: 'finish' stays the last event).
  if (opts.tag === false) return { tag: recipe.image.tag, imageId: (await engine.imageIds([ref])).get(ref) ?? '' };
  // Tag only when the tag does not already name this image.
  const ids = await engine.imageIds([ref, recipe.image.tag]);
  if (ids.get(ref) === undefined || ids.get(ref) !== ids.get(recipe.image.tag)) await engine.tag(ref, recipe.image.tag);
  const imageId = ids.get(ref) ?? (await engine.inspect(recipe.image.tag))?.id ?? '';
  opts.onEvent?.({ type: 'image-tagged', tag: recipe.image.tag, imageId });
  return { tag: recipe.image.tag, imageId };
}
