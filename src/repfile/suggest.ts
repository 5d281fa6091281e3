// "did you mean" for misspelt names.
import { distance } from 'fastest-levenshtein';

/**
 * The closest candidate within a small edit distance, if any; of equally
 * close ones, the first in code-point order. Candidates whose length alone
 * puts them out of reach are not measured, and none are sorted: a Dockerfile
 * converted to 9,600 steps took 35 s here, each step sorting every name.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3) + 1));
  const lower = word.toLowerCase();
  for (const c of candidates) {
    const other = c.toLowerCase();
    if (Math.abs(other.length - lower.length) > limit) continue;
    const d = distance(lower, other);
    if (d < bestDist || (d === bestDist && best !== undefined && c < best)) {
      best = c;
      bestDist = d;
    }
  }
  return bestDist <= limit ? best : undefined;
}

/**
 * closest() over one set of names for many words, with a budget of names
 * measured: a hostile Repfile of 20,000 steps, each naming another unknown
 * step, measured every name for each (30 s; 12 minutes at the 4 MiB a
 * Repfile may hold). Names are kept by length, and only those a word could
 * be within reach of are measured and charged. Once the budget is spent a
 * new word gets `null`: not measured, which a caller must not take for "no
 * name is near" where that decides (a step's `from`).
 */
export class Suggester {
  private readonly said = new Map<string, string | undefined>();
  private readonly byLength = new Map<number, string[]>();
  constructor(
    names: readonly string[],
    private left = 2_000_000,
  ) {
    for (const n of names) {
      const at = n.toLowerCase().length;
      const those = this.byLength.get(at) ?? [];
      those.push(n);
      this.byLength.set(at, those);
    }
  }

  closest(word: string): string | undefined | null {
    if (this.said.has(word)) return this.said.get(word);
    const length = word.toLowerCase().length;
    const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3) + 1));
    const buckets: string[][] = [];
    let count = 0;
    for (let l = length - limit; l <= length + limit; l++) {
      const those = this.byLength.get(l);
      if (those) [buckets[buckets.length], count] = [those, count + those.length];
    }
    if (count > this.left) return null;
    this.left -= count;
    const near = closest(word, buckets.flat());
    this.said.set(word, near);
    return near;
  }

  didYouMean(word: string): string {
    const c = this.closest(word);
    return c === undefined || c === null ? '' : ` (did you mean "${c}"?)`;
  }
}

export function didYouMean(word: string, candidates: Iterable<string>): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : ` (did you mean "${c}"?)`;
}
