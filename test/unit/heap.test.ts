// letGoOfGarbage: a build's phases hand back their garbage before the next
// phase makes its own (src/heap.ts), so that a large context's peak memory is
// not the sum of them.
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { letGoOfGarbage, letGoOfYoungGarbage } from '../../src/heap.js';

const used = () => getHeapStatistics().used_heap_size;

/** About 100 MB of objects, as a walk of a large context makes them. */
function working(): { path: string; n: number }[] {
  return Array.from({ length: 1_500_000 }, (_, n) => ({ path: `src/d${n % 50}/f${n}.txt`, n }));
}

describe('letGoOfGarbage', () => {
  it('collects what a phase left when the heap is large', () => {
    let set: ReturnType<typeof working> | undefined = working();
    expect(set.length).toBe(1_500_000);
    set = undefined;
    const before = used();
    expect(before).toBeGreaterThan(96 << 20);
    letGoOfGarbage();
    expect(before - used()).toBeGreaterThan(64 << 20);
  });

  it('keeps what is still held', () => {
    const set = working();
    letGoOfGarbage();
    const held = used();
    expect(held).toBeGreaterThan(96 << 20);
    letGoOfGarbage();
    expect(used()).toBeGreaterThan(held - (8 << 20));
    expect(set[1_499_999]!.n).toBe(1_499_999);
  });

  it('given grownBy, collects only once the heap has grown that much since the last collection', () => {
    const held = working();
    letGoOfGarbage();
    // Garbage under the bound is left to V8; over it, collected.
    let small: { path: string; n: number }[] | undefined = Array.from({ length: 100_000 }, (_, n) => ({ path: `g/${n}`, n }));
    small = undefined;
    const before = used();
    letGoOfGarbage(64 << 20);
    expect(used()).toBeGreaterThan(before - (1 << 20));
    let more: ReturnType<typeof working> | undefined = working();
    more = undefined;
    const grown = used();
    letGoOfGarbage(64 << 20);
    expect(grown - used()).toBeGreaterThan(64 << 20);
    expect([held.length, small, more]).toEqual([1_500_000, undefined, undefined]);
  });

  it('letGoOfYoungGarbage frees the buffers a stream handed over and nothing holds (without it they wait for a collection)', async () => {
    /** 25 MB of 64 KB buffers, as a socket's pieces come, let go at once. */
    const pieces = () => Array.from({ length: 400 }, () => Buffer.allocUnsafeSlow(64 * 1024)).length;
    const tick = () => new Promise((r) => setTimeout(r, 100));
    const held = () => process.memoryUsage().arrayBuffers;
    await tick();
    const base = held();
    expect(pieces()).toBe(400);
    await tick();
    expect(held() - base).toBeGreaterThan(20 << 20);
    letGoOfYoungGarbage();
    await tick();
    expect(held() - base).toBeLessThan(4 << 20);
  });
});
