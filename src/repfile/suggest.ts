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
 * Repfile may hold). Once the budget is spent there are no suggestions, and
 * a word is taken for no name's misspelling.
 */
export class Suggester {
  private readonly said = new Map<string, string | undefined>();
  constructor(
    private readonly names: readonly string[],
    private left = 2_000_000,
  ) {}

  closest(word: string): string | undefined {
    if (this.said.has(word)) return this.said.get(word);
    if (this.left <= 0) return undefined;
    this.left -= this.names.length;
    const near = closest(word, this.names);
    this.said.set(word, near);
    return near;
  }

  didYouMean(word: string): string {
    const c = this.closest(word);
    return c === undefined ? '' : ` (did you mean "${c}"?)`;
  }
}

export function didYouMean(word: string, candidates: Iterable<string>): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : ` (did you mean "${c}"?)`;
}
