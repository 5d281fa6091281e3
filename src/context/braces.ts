// How many patterns a glob's braces expand to, counted without expanding
// them. fast-glob expands every brace group (through the braces package)
// into patterns of its own before it matches anything: "{a,b}" twenty-four
// times over is 16 million patterns, and a range past braces' own limit
// ("{1..100000}") throws a RangeError out of fast-glob, while one it does not
// limit ("{1e6..1}") exhausts memory. An input is refused before either.
//
// The count follows braces' parser (lib/parse.js) in one pass: escapes,
// brackets, quotes and parentheses hold text, a brace that never closes is
// text around what is inside it, and a range's size is what fill-range makes
// of it. Where rep cannot tell what braces makes of a group, it counts the
// group as more than the limit: refused rather than expanded unbounded.

/** Patterns one input may expand to at most (braces refuses some single ranges of more than 1,000). */
export const MAX_EXPANSIONS = 1000;
const OVER = MAX_EXPANSIONS + 1;

const cap = (n: number) => Math.min(n, OVER);

/** Groups inside one another at most. */
const MAX_NESTING = 256;

export class BraceError extends Error {}

/** fill-range's test for a number: what unary plus makes an integer of ("1e5", "0x10", " 7", "+3"). */
const isNumber = (s: string) => Number.isInteger(+s);

/** The items fill-range makes of a range "a..b[..step]" whose parts hold no brace, quote or escape; OVER where rep cannot tell. */
function rangeSize(content: string): number {
  const parts = content.split('..');
  if ((parts.length !== 2 && parts.length !== 3) || parts.some((x) => x === '' || x.includes('.'))) return OVER;
  const [a, b, step] = parts as [string, string, string | undefined];
  if (step !== undefined && !isNumber(step)) return OVER;
  const by = Math.max(Math.abs(step === undefined ? 1 : +step), 1);
  let from: number;
  let to: number;
  if (isNumber(a) && isNumber(b)) {
    from = +a;
    to = +b;
  } else if (a.length === 1 && b.length === 1) {
    from = a.charCodeAt(0);
    to = b.charCodeAt(0);
  } else return OVER;
  const n = Math.floor(Math.abs(to - from) / by) + 1;
  return Number.isFinite(n) ? cap(n) : OVER;
}

interface Block {
  kind: 'root' | 'brace' | 'paren';
  /** Where the brace's "{" is. */
  at: number;
  /** The product of the groups in the alternative being read. */
  cur: number;
  /** The sum of the alternatives read before it (a brace's commas). */
  done: number;
  commas: number;
  /** The product of every group inside, whatever alternative: what the block counts if it never closes. */
  all: number;
  /** Whether anything but plain characters came inside (a group, a quote, an escape, a bracket): then no range. */
  plain: boolean;
}

/** The patterns glob `p` expands to, at most MAX_EXPANSIONS + 1 (more than the limit). */
export function braceExpansions(p: string): number {
  const stack: Block[] = [{ kind: 'root', at: 0, cur: 1, done: 0, commas: 0, all: 1, plain: true }];
  const top = () => stack[stack.length - 1]!;
  const times = (n: number) => {
    const b = top();
    b.cur = cap(b.cur * n);
    b.all = cap(b.all * n);
  };
  const open = (kind: 'brace' | 'paren', at: number) => {
    if (stack.length > MAX_NESTING) throw new BraceError(`brace groups or parentheses nested more than ${MAX_NESTING} deep`);
    stack.push({ kind, at, cur: 1, done: 0, commas: 0, all: 1, plain: kind === 'brace' });
  };
  // Only the innermost block can still be a range: the ones around it hold a group already.
  const notPlain = () => {
    top().plain = false;
  };
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    // braces passes over a no-break space or byte order mark, where it is not escaped or in a bracket or quote.
    if (c === '\u00a0' || c === '\ufeff') continue;
    if (c === '\\') {
      i++;
      notPlain();
    } else if (c === '[') {
      // A bracket (nested ones counted) is text, to its closing "]" or the end of the pattern.
      let depth = 1;
      for (i++; i < p.length; i++) {
        if (p[i] === '\\') i++;
        else if (p[i] === '[') depth++;
        else if (p[i] === ']' && --depth === 0) break;
      }
      notPlain();
    } else if (c === '"' || c === "'" || c === '`') {
      // A quote is text, to the same quote or the end of the pattern.
      for (i++; i < p.length && p[i] !== c; i++) if (p[i] === '\\') i++;
      notPlain();
    } else if (c === '(') {
      notPlain();
      open('paren', i);
    } else if (c === ')' && top().kind === 'paren') {
      const b = stack.pop()!;
      times(b.all);
    } else if (c === '{') {
      notPlain();
      open('brace', i);
    } else if (c === '}' && top().kind === 'brace') {
      const b = stack.pop()!;
      const content = p.slice(b.at + 1, i).replace(/[\u00a0\ufeff]/g, '');
      const n = b.commas > 0 ? cap(b.done + b.cur) : content.includes('..') ? (b.plain ? rangeSize(content) : OVER) : b.cur;
      times(n);
    } else if (c === ',' && top().kind === 'brace') {
      const b = top();
      b.done = cap(b.done + b.cur);
      b.cur = 1;
      b.commas++;
    }
  }
  // A block that never closed is text around what is inside it (braces splices its nodes into its parent).
  while (stack.length > 1) {
    const b = stack.pop()!;
    times(b.all);
  }
  return top().cur;
}
