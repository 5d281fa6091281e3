// Letting go of a phase's garbage before the next phase of a build makes its
// own. V8 collects its old generation only when the heap reaches a limit set
// from what was live at its last collection, so at 100k files the walk's and
// the hashes' working set (about 60 MB, dead once the steps are planned) and
// the rewrite's were still held when the provenance was written, and the
// peak RSS was their sum (about 390 MB where 75 MB is live; 275-310 MB with
// these collections, 277-281 MB with one every few rounds of the rewrite,
// 240-242 MB once an image saved through the socket let go of its pieces as
// it came: see letGoOfYoungGarbage). A full collection costs 40-70 ms at that
// size, and nothing on a heap under WORTH (a 10k-file build never reaches it).
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** A heap this small is left to V8: a collection would cost time and give back little. */
const WORTH = 64 << 20;

let collect: ((opts?: { type: 'minor' | 'major' }) => void) | undefined;
/** What the heap held after the last collection made here. */
let leftAfterLast = 0;

/**
 * A full garbage collection now, when the heap holds more than WORTH bytes
 * (and, given `grownBy`, that many more than the last one made here left:
 * for a loop whose rounds each leave a little, a collection every few rounds).
 * Node offers no call for it but the `gc` that --expose-gc makes; the flag is
 * set here, on first use (a new context then hands over the function),
 * rather than on every start of rep.
 */
export function letGoOfGarbage(grownBy = 0): void {
  const used = getHeapStatistics().used_heap_size;
  if (used < WORTH || used - leftAfterLast < grownBy) return;
  gc()();
  leftAfterLast = getHeapStatistics().used_heap_size;
}

/** Node's `gc`, made on first use (see letGoOfGarbage). */
function gc(): (opts?: { type: 'minor' | 'major' }) => void {
  if (!collect) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  return collect;
}

/**
 * A collection of the young generation (half a millisecond): the buffers a
 * stream handed over and that are done with are freed now. Each piece an
 * engine's socket gives is 64 KB outside the heap, freed when V8 collects the
 * Buffer that holds it; pieces that outlived two young collections waited for
 * a full one, and glibc kept the memory they had held (saving a 100k-file
 * image through the socket left 58 MB behind: with a young collection every
 * 2 MB, the one-file rebuild's peak RSS went from 268 to 235-239 MB).
 */
export function letGoOfYoungGarbage(): void {
  gc()({ type: 'minor' });
}
