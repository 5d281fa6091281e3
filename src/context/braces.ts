// How many patterns a glob's braces expand to, counted without expanding
// them. fast-glob expands every brace group (through the braces package)
// into patterns of its own before it matches anything: "{a,b}" twenty-four
// times over is 16 million patterns, and a range past braces' own limit
// ("{1..100000}") throws a RangeError out of fast-glob. An input is refused
// before either happens.

/** Patterns one input may expand to at most (braces refuses a single range of more than 1,000). */
export const MAX_EXPANSIONS = 1000;
/** Brace groups inside one another at most. */
const MAX_NESTING = 32;

const RANGE = /^(-?\d+|[^\d\\])\.\.(-?\d+|[^\d\\])(?:\.\.(-?\d+))?$/;

/** The number of items a range "a..b[..step]" holds (at least what braces makes of it), or undefined if the text is none. */
function rangeSize(text: string): number | undefined {
  const m = RANGE.exec(text);
  if (!m) return undefined;
  const [, a, b, step] = m;
  const numeric = /\d/.test(a!) && /\d/.test(b!);
  const from = numeric ? Number(a) : a!.codePointAt(0)!;
  const to = numeric ? Number(b) : b!.codePointAt(0)!;
  const by = Math.max(1, Math.abs(Number(step ?? 1)) || 1);
  return Math.floor(Math.abs(to - from) / by) + 1;
}

/** Expansions of `p` from `at` to its end, or (in a group) to the `,` or `}` that ends the part; and where it ended. */
function sequence(p: string, at: number, depth: number, inGroup: boolean): { count: number; end: number } {
  let count = 1;
  let i = at;
  while (i < p.length) {
    const c = p[i]!;
    if (c === '\\') {
      i += 2;
      continue;
    }
    if (c === '[') {
      // A bracket (nested ones counted) is text to braces, to its closing ']' or the end of the pattern.
      let depth = 0;
      for (; i < p.length; i++) {
        if (p[i] === '\\') i++;
        else if (p[i] === '[') depth++;
        else if (p[i] === ']' && --depth === 0) break;
      }
      i++;
      continue;
    }
    if (inGroup && (c === ',' || c === '}')) break;
    if (c === '{') {
      const group = braceGroup(p, i, depth + 1);
      if (group) {
        count = Math.min(count * group.count, MAX_EXPANSIONS + 1);
        i = group.end;
        continue;
      }
    }
    i++;
  }
  return { count, end: i };
}

/** The group opening at `p[at]` ('{'): its expansions and the index after its '}', or undefined if it never closes. */
function braceGroup(p: string, at: number, depth: number): { count: number; end: number } | undefined {
  if (depth > MAX_NESTING) throw new BraceError(`brace groups nested more than ${MAX_NESTING} deep`);
  let i = at + 1;
  let total = 0;
  let parts = 0;
  for (;;) {
    const part = sequence(p, i, depth, true);
    total = Math.min(total + part.count, MAX_EXPANSIONS + 1);
    parts++;
    i = part.end;
    if (i >= p.length) return undefined;
    if (p[i] === '}') break;
    i++; // ','
  }
  if (parts === 1 && p.slice(at + 1, i).includes('..')) {
    // No comma: a range, or braces kept as text around what is inside them. braces reads ranges of more
    // spellings than "a..b[..step]" (escapes, signs); one it reads and rep does not counts as the most
    // braces makes of a range (it refuses longer ones).
    total = Math.min(rangeSize(p.slice(at + 1, i)) ?? MAX_EXPANSIONS, MAX_EXPANSIONS + 1);
  }
  return { count: total, end: i + 1 };
}

export class BraceError extends Error {}

/** The patterns `pattern` expands to, at most MAX_EXPANSIONS + 1 (more than the limit). Throws BraceError on nesting past MAX_NESTING. */
export function braceExpansions(pattern: string): number {
  return sequence(pattern, 0, 0, false).count;
}
