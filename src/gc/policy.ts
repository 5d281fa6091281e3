// Which step images `rep gc` removes: pure, from the project's past states
// (state/history.ts), its current state and the engine's rep-cache images.
// Only images this project recorded are ever candidates: a rep-cache tag no
// state of this project named is another project's (or nobody's), and stays.
// Keys are content-only, so one this project recorded may be another's too
// (a second clone): gc.ts keeps those another registered project's current
// state names (gc/register.ts).
// Like BuildKit's gc policy, what is kept is the newest states' images: the
// last N states (keepStates), and/or as many of the newest states as fit in a
// size budget (keepBytes); the current state's always, unless `all`.
import type { ImageSummary } from '../engine/engine.js';

export interface GcPolicy {
  /** Keep the images of this many newest states (the current one counts); default DEFAULT_KEEP_STATES, or all when only keepBytes is given. */
  keepStates?: number;
  /** Keep the newest states' images while they fit in this many bytes (the current state's always). */
  keepBytes?: number;
  /** Remove every image this project recorded, the current state's too (the next build rebuilds them). */
  all?: boolean;
}

export const DEFAULT_KEEP_STATES = 3;

export interface GcImage {
  /** rep-cache tag (the key's hex). */
  tag: string;
  key: string;
  id: string;
  /**
   * Bytes this image adds to the nearest image it builds on (see ownSizes); an image of several tags has it on each.
   * Images of one layer chain (a final image is its target step's layers and a LABEL or CMD) hold the same bytes:
   * one of them is charged, a kept one if any is, the others 0.
   */
  size: number;
  /** To remove, but another rep-cache tag gc keeps names the same image: only the tag goes. */
  untagOnly?: true;
}

export interface GcPlan {
  remove: GcImage[];
  keep: GcImage[];
  /** The history to write once the removal is done (oldest first): the kept states. */
  keptStates: string[][];
  /** Every key of this project that no kept state names, listed or not (sorted): those not removed stay dropped. */
  dropped: string[];
}

/**
 * Each image's own size: its size less that of the image it builds on, the
 * listed one with the longest strict prefix of its layers (planGc charges
 * images of the same layers once). The first step of a
 * stage builds on a base image, which gc never removes: `bases` are the base
 * images the engine could list, and such a step is charged its size less its
 * base's. When its base is not among them (the engine says no size for an
 * image it inspects, and lists only by repository, see gc.ts) the step is
 * charged its whole size, base and all: the budget then overcounts it.
 */
export function ownSizes(images: readonly ImageSummary[], bases: readonly ImageSummary[] = []): Map<string, number> {
  const sizes = new Map<string, number>();
  const under = [...images, ...bases];
  for (const img of images) {
    let base = 0;
    let baseLayers = -1;
    for (const other of under) {
      if (other.id === img.id || other.layers.length >= img.layers.length || other.layers.length <= baseLayers) continue;
      if (other.layers.every((l, i) => img.layers[i] === l)) {
        base = other.size;
        baseLayers = other.layers.length;
      }
    }
    sizes.set(img.id, Math.max(0, img.size - base));
  }
  return sizes;
}

/** The bytes of `images`, each image counted once however many of its tags are among them. */
export function bytesOf(images: readonly GcImage[]): number {
  const seen = new Map(images.map((i) => [i.id, i.size]));
  return [...seen.values()].reduce((n, b) => n + b, 0);
}

/**
 * What gc removes and keeps. `history` is the project's past states, oldest
 * first; `current` the keys the current state (and its final image) refer to;
 * `dropped` keys of states an earlier gc dropped, removed wherever they are
 * listed unless a kept state names them again; `bases` the base images the
 * engine listed (see ownSizes).
 */
export function planGc(
  history: readonly (readonly string[])[],
  current: readonly string[],
  images: readonly ImageSummary[],
  policy: GcPolicy,
  more: { dropped?: readonly string[]; bases?: readonly ImageSummary[] } = {},
): GcPlan {
  const dropped = more.dropped ?? [];
  const sizes = ownSizes(images, more.bases);
  // What an image's bytes are counted under: its layer chain (an image of none, its own).
  const chainOf = new Map(images.map((i) => [i.id, i.layers.length ? `layers ${i.layers.join(' ')}` : `id ${i.id}`]));
  const byKey = new Map<string, GcImage>();
  for (const img of images) for (const tag of img.tags) byKey.set(`sha256:${tag}`, { tag, key: `sha256:${tag}`, id: img.id, size: sizes.get(img.id) ?? 0 });
  // Newest first: the current state, then the past ones (one whose keys the current has is the current).
  const cur = [...new Set(current)].sort();
  const inCurrent = new Set(cur);
  const states = [cur, ...[...history].reverse().filter((s) => !s.every((k) => inCurrent.has(k)))];
  const own = new Set([...states.flat(), ...dropped]);
  const keepStates = policy.all ? 0 : policy.keepStates ?? (policy.keepBytes !== undefined ? Infinity : DEFAULT_KEEP_STATES);
  const kept = new Set<string>();
  // The images kept so far, by id: an image of two tags (two steps that came out the same) weighs once, and so do
  // two images of one layer chain (keptChains).
  const keptIds = new Set<string>();
  const keptChains = new Set<string>();
  const keptStates: string[][] = [];
  let bytes = 0;
  for (const [i, state] of states.entries()) {
    if (i >= keepStates) break;
    const added = state.filter((k) => !kept.has(k));
    const addedImages = added.flatMap((k) => byKey.get(k) ?? []).filter((img) => !keptIds.has(img.id));
    const addedChains = new Map(addedImages.filter((img) => !keptChains.has(chainOf.get(img.id)!)).map((img) => [chainOf.get(img.id)!, img.size]));
    const weight = [...addedChains.values()].reduce((n, b) => n + b, 0);
    if (i > 0 && policy.keepBytes !== undefined && bytes + weight > policy.keepBytes) break;
    for (const k of added) kept.add(k);
    for (const img of addedImages) keptIds.add(img.id);
    for (const chain of addedChains.keys()) keptChains.add(chain);
    bytes += weight;
    keptStates.push([...state]);
  }
  const remove: GcImage[] = [];
  const keep: GcImage[] = [];
  for (const [key, img] of [...byKey].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!own.has(key)) continue;
    // A tag to remove whose image a kept tag names: only the tag goes, no byte is freed.
    if (kept.has(key)) keep.push(img);
    else remove.push(keptIds.has(img.id) ? { ...img, untagOnly: true } : img);
  }
  // Each layer chain charged to one image, a kept one if any is: removing an image whose layers a kept one holds frees none of them.
  const charged = new Map<string, string>();
  for (const img of [...keep, ...remove]) if (!charged.has(chainOf.get(img.id)!)) charged.set(chainOf.get(img.id)!, img.id);
  const once = (img: GcImage): GcImage => (charged.get(chainOf.get(img.id)!) === img.id ? img : { ...img, size: 0 });
  return { remove: remove.map(once), keep: keep.map(once), keptStates: keptStates.reverse(), dropped: [...own].filter((k) => !kept.has(k)).sort() };
}
