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

export function didYouMean(word: string, candidates: Iterable<string>): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : ` (did you mean "${c}"?)`;
}
