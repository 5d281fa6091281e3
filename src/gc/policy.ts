// Which step images `rep gc` removes: pure, from the project's past states
// (state/history.ts), its current state and the engine's rep-cache images.
// Only images this project recorded are ever candidates: a rep-cache tag no
// state of this project named is another project's (or nobody's), and stays.
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
  /** Bytes this image adds to the nearest listed image it builds on (its whole size when none). */
  size: number;
}

export interface GcPlan {
  remove: GcImage[];
  keep: GcImage[];
  /** The history to write once the removal is done (oldest first): the kept states. */
  keptStates: string[][];
  /** Every key of this project's no kept state names, listed or not (sorted): those not removed stay dropped. */
  dropped: string[];
}

/** Each image's own size: its size less that of the listed image with the longest strict prefix of its layers. */
export function ownSizes(images: readonly ImageSummary[]): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const img of images) {
    let base = 0;
    let baseLayers = -1;
    for (const other of images) {
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

/**
 * What gc removes and keeps. `history` is the project's past states, oldest
 * first; `current` the keys the current state (and its final image) refer to;
 * `dropped` keys of states an earlier gc dropped, removed wherever they are
 * listed unless a kept state names them again.
 */
export function planGc(history: readonly (readonly string[])[], current: readonly string[], images: readonly ImageSummary[], policy: GcPolicy, dropped: readonly string[] = []): GcPlan {
  const sizes = ownSizes(images);
  const byKey = new Map<string, GcImage>();
  for (const img of images) for (const tag of img.tags) byKey.set(`sha256:${tag}`, { tag, key: `sha256:${tag}`, id: img.id, size: sizes.get(img.id) ?? 0 });
  // Newest first: the current state, then the past ones (one whose keys the current has is the current).
  const cur = [...new Set(current)].sort();
  const inCurrent = new Set(cur);
  const states = [cur, ...[...history].reverse().filter((s) => !s.every((k) => inCurrent.has(k)))];
  const own = new Set([...states.flat(), ...dropped]);
  const keepStates = policy.all ? 0 : policy.keepStates ?? (policy.keepBytes !== undefined ? Infinity : DEFAULT_KEEP_STATES);
  const kept = new Set<string>();
  const keptStates: string[][] = [];
  let bytes = 0;
  for (const [i, state] of states.entries()) {
    if (i >= keepStates) break;
    const added = state.filter((k) => !kept.has(k));
    const more = added.reduce((n, k) => n + (byKey.get(k)?.size ?? 0), 0);
    if (i > 0 && policy.keepBytes !== undefined && bytes + more > policy.keepBytes) break;
    for (const k of added) kept.add(k);
    bytes += more;
    keptStates.push([...state]);
  }
  const remove: GcImage[] = [];
  const keep: GcImage[] = [];
  for (const [key, img] of [...byKey].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!own.has(key)) continue;
    (kept.has(key) ? keep : remove).push(img);
  }
  return { remove, keep, keptStates: keptStates.reverse(), dropped: [...own].filter((k) => !kept.has(k)).sort() };
}
