// The image a paper cites: after a successful build, the engine's image is
// saved, the base image's layers kept byte for byte, the layers of each step
// of the image's chain rewritten as one canonical layer (or none, when the
// step changed no file), a canonical config written, and the result loaded
// back into the engine and tagged. Its ID then depends on the base image, the
// step keys and the bytes the steps' commands made, not on the engine, its
// way of splitting instructions into layers, the machine or the clock.
// The result is also tagged rep-cache:<sha256 of the engine's image ID and
// the settings>, so a build whose steps were all cached finds it without
// rewriting anything.
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import { sha256Of } from '../canonical.js';
import { letGoOfGarbage } from '../heap.js';
import { fail, ok, type Result } from '../diag.js';
import { EngineError, type Engine } from '../engine/engine.js';
import type { PlannedStep } from '../plan/plan.js';
import type { Project } from '../project.js';
import type { Pins } from '../scheduler/pins.js';
import { cacheRef, imageStep } from '../scheduler/stepimage.js';
import { withTempDir } from '../tempdir.js';
import { ArchiveError, DockerArchiveWriter, readSaved, type SavedImage } from './archive.js';
import { canonicalConfig, type HistoryStep } from './config.js';
import { DEFAULT_DROP, dropMatcher, engineArtefacts } from './drop.js';
import { applyBaseLayer, canonicalEntries, layerDigest, Tree, writeLayerEntries, type CanonicalEntry } from './layer.js';
import { LayerError, mergeLayers } from './merge.js';

/** How much a rewrite's rounds may leave on the heap before they are collected (see heap.ts). */
const ROUND_GARBAGE = 24 << 20;

/** Bump when the rewrite changes what it writes, so that images of an older rewrite are not reused. */
export const REWRITE_FORMAT = 7;

export interface ImageRef {
  tag: string;
  imageId: string;
}

/** The steps the image is made of, bottom first, and the image its first one starts from. */
export function imageChain(project: Project, resolveBase: (ref: string) => string = (r) => r): { base: string; steps: string[] } {
  const { dag } = project;
  const steps: string[] = [];
  let name = dag.target;
  for (;;) {
    steps.unshift(name);
    const parent = dag.nodes.get(name)!.parent;
    if (parent.kind === 'image') return { base: resolveBase(parent.ref), steps };
    name = parent.name;
  }
}

/**
 * Rewrites the image `image` (the build's result; `built` its steps as
 * settled) canonically and tags the result `image.tag`. Off when the Repfile
 * says `reproducible: false` or the command line --no-reproducible (`off`): then `image` as it is.
 */
export async function canonicalImage(
  project: Project,
  engine: Engine,
  built: readonly PlannedStep[],
  image: ImageRef,
  opts: { resolveBase?: (ref: string) => string; off?: boolean; pins?: Pins; ids?: ReadonlyMap<string, string>; beforeTag?: (key: string) => Promise<void> } = {},
): Promise<Result<ImageRef & { cacheKey?: string }>> {
  const settings = project.recipe.reproducible;
  if (!settings || opts.off || engine.name === 'none') return ok(image);
  const resolveBase = opts.resolveBase;
  const keyOf = new Map(built.map((s) => [s.name, s.key]));
  const chain = imageChain(project, resolveBase);
  const final = imageStep(project.dag, keyOf.get(project.dag.target)!);
  const drop = [...DEFAULT_DROP, ...settings.drop];
  // The images the run settled: pinned where it built on them (scheduler/pins.ts), else by their ids (`ids`, by key).
  // Their rep-cache tags may name others by now; an image removed meanwhile fails the rewrite, naming it.
  const imageOf = async (key: string) => (await opts.pins?.ref(key)) ?? opts.ids?.get(key) ?? cacheRef(key);
  const engineImage = await imageOf(final.dockerfile === undefined ? keyOf.get(project.dag.target)! : final.key);
  const engineSays = (message: string, detail?: string) => fail<ImageRef & { cacheKey?: string }>({ kind: 'engine', engine: engine.name, message, detail });
  try {
    // Keyed by the engine's image itself (as the run found it), not by step keys alone: a step rebuilt under
    // the same key (other secrets, a command that is not deterministic) must not find the old rewrite. And by
    // what the rewrite writes into the config's history, each step's name and key: a step renamed (its key the
    // same, and so the engine's image) found the rewrite naming its old name, an image id no rewrite of this
    // Repfile gives, and so did another project of the same keys and other names.
    const engineId = image.imageId || (await engine.imageIds([engineImage])).get(engineImage);
    if (!engineId) return engineSays(`has no image ${engineImage} to rewrite`);
    const history = { steps: chain.steps.map((s) => [s, keyOf.get(s)!]), image: final.key };
    const cacheKey = `sha256:${sha256Of({ format: REWRITE_FORMAT, image: engineId.replace(/^sha256:/, ''), epoch: settings.epoch, drop, history })}`;
    const ref = cacheRef(cacheKey);
    const ids = await engine.imageIds([ref, image.tag]);
    let id = ids.get(ref);
    if (id === undefined) {
      const stepRefs = await Promise.all(chain.steps.map((s) => imageOf(keyOf.get(s)!)));
      // The image the tag names now (the last build's, as a rule): the canonical layers it shares with
      // this one, bottom up, the engine has already.
      const previous = ids.get(image.tag) !== undefined ? ((await engine.inspect(image.tag))?.layers ?? []) : [];
      id = await rewrite(engine, { image: engineImage, base: chain.base, steps: chain.steps, stepRefs, keys: chain.steps.map((s) => keyOf.get(s)!), finalKey: final.key, epoch: settings.epoch, drop, previous });
      await opts.beforeTag?.(cacheKey);
      await engine.tag(id.replace(/^sha256:/, ''), ref);
    }
    const imageId = id.startsWith('sha256:') ? id : `sha256:${id}`;
    // The Repfile's tag is set here, once, and only when it names another image (the run leaves it alone).
    if (ids.get(image.tag) !== imageId) await engine.tag(ref, image.tag);
    return ok({ tag: image.tag, imageId, cacheKey });
  } catch (e) {
    if (e instanceof LayerError || e instanceof ArchiveError) return fail({ kind: 'build', message: `cannot write the reproducible image: ${e.message} (set \`reproducible: false\` in the Repfile to keep the engine's image)` });
    if (e instanceof EngineError) return engineSays(e.message, e.detail);
    throw e;
  }
}

/**
 * Adds a canonical layer on `below` to the archive; returns its diff id.
 * When every layer below is the engine's already (they are `previous`'s
 * first ones) and this one turns out to be the next, it is only named: docker
 * looks a layer up by its chain id and loads none it has, so an edit of the
 * last step loads that step's layer alone.
 */
export function addLayer(archive: DockerArchiveWriter, entries: readonly CanonicalEntry[], below: readonly string[], previous: readonly string[]): string {
  const next = previous[below.length];
  if (next !== undefined && below.every((d, n) => previous[n] === d)) {
    const diffId = layerDigest(entries);
    if (diffId === next) {
      archive.present(diffId);
      return diffId;
    }
  }
  return archive.layer((tar) => writeLayerEntries(entries, tar));
}

interface RewriteJob {
  image: string;
  base: string;
  steps: string[];
  stepRefs: string[];
  keys: string[];
  finalKey: string;
  epoch: number;
  drop: string[];
  /** The layers of an image the engine has, bottom first: a prefix of the canonical ones that equals it is not loaded again. */
  previous: readonly string[];
}

/** Saves, rewrites and loads; returns the loaded image's ID. */
async function rewrite(engine: Engine, job: RewriteJob): Promise<string> {
  const refs = [job.image, job.base, ...job.stepRefs];
  const ids = await engine.imageIds(refs);
  const missing = refs.filter((r) => ids.get(r) === undefined);
  if (missing.length) throw new ArchiveError(`the ${engine.name} engine has no image ${missing.join(', ')}`);
  const unique = [...new Map(refs.map((r) => [ids.get(r)!, r])).values()];
  return withTempDir('rep-repro', async (tmp) => {
    const saved = path.join(tmp, 'saved.tar');
    await engine.save(unique, saved);
    const fd = openSync(saved, 'r');
    try {
      const images = readSaved(fd, saved);
      const get = (ref: string): SavedImage => {
        const img = images.get(ids.get(ref)!.startsWith('sha256:') ? ids.get(ref)! : `sha256:${ids.get(ref)!}`);
        if (!img) throw new ArchiveError(`the saved archive does not hold ${ref}`);
        return img;
      };
      const finalImg = get(job.image);
      const baseImg = get(job.base);
      const bounds = [baseImg, ...job.stepRefs.map(get)].map((i) => i.diffIds.length);
      bounds.push(finalImg.diffIds.length);
      const prefix = (i: SavedImage) => i.diffIds.every((d, n) => finalImg.diffIds[n] === d);
      if (![baseImg, ...job.stepRefs.map(get)].every(prefix) || bounds.some((b, n) => n > 0 && b < bounds[n - 1]!)) {
        throw new ArchiveError(`the image ${job.image} is not its steps' layers on its base's`);
      }
      const tree = new Tree();
      const docker = engine.name === 'docker';
      const out = path.join(tmp, 'canonical.tar');
      const archive = new DockerArchiveWriter(out, job.epoch);
      const diffIds: string[] = [];
      try {
        for (let n = 0; n < bounds[0]!; n++) {
          applyBaseLayer(tree, finalImg.layers[n]!);
          // docker loads the base's layers from its own store, podman wants the bytes.
          if (docker) archive.present(finalImg.diffIds[n]!);
          else archive.copy(finalImg.diffIds[n]!, finalImg.layers[n]!);
          diffIds.push(finalImg.diffIds[n]!);
        }
        const dropped = dropMatcher(job.drop);
        const history: HistoryStep[] = [];
        const owners = [...job.steps.map((s, n) => ({ by: `rep step ${s}`, key: job.keys[n]! })), { by: 'rep image', key: job.finalKey }];
        for (let s = 0; s < owners.length; s++) {
          const merged = mergeLayers(finalImg.layers.slice(bounds[s], bounds[s + 1]), dropped);
          for (const p of engineArtefacts(merged.entries, tree)) merged.entries.delete(p);
          const entries = canonicalEntries(tree, merged, job.epoch);
          const isImage = s === owners.length - 1;
          if (entries.length) diffIds.push(addLayer(archive, entries, diffIds, docker ? job.previous : []));
          if (entries.length || !isImage) history.push({ createdBy: owners[s]!.by, key: owners[s]!.key, layer: entries.length > 0 });
          // Each step's merged and canonical entries are garbage once its layer is written: at 100k files
          // the rounds' sum, held until V8 collected, was the rewrite's peak (290 MB, 250 with this).
          letGoOfGarbage(ROUND_GARBAGE);
        }
        const config = canonicalConfig({ built: finalImg.config, base: baseImg.config, diffIds, steps: history, epoch: job.epoch });
        archive.finish(config);
        await engine.load(out);
        return config.digest;
      } finally {
        archive.close();
      }
    } finally {
      closeSync(fd);
    }
  });
}
