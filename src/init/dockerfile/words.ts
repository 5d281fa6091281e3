// The words of an instruction's arguments as Docker's shell lexer reads them
// for ENV, LABEL, ARG, COPY, WORKDIR, USER, EXPOSE and FROM: split at
// unquoted blanks, quotes removed, the escape character taken literally
// after, and $VAR / ${VAR} / ${VAR:-x} / ${VAR:+x} expanded from the
// variables the Dockerfile set so far. A variable it did not set (one of
// the base image's, or unset) is named in `unresolved` and expands to ''.
// RUN, CMD and ENTRYPOINT are never expanded by Docker: the shell does it.
// What the variables expand to is bounded (EXPANSION_LIMIT): `ENV A=$A$A`
// doubles at each line.

export interface Words {
  words: string[];
  unresolved: string[];
}

type Vars = ReadonlyMap<string, string>;

/**
 * The most characters a word may hold once its variables are expanded, and
 * the most the variables of one Dockerfile may expand to in all (18 lines of
 * `ENV A=$A$A` ran rep out of memory; 16 wrote a Repfile of 65 MB).
 */
export const EXPANSION_LIMIT = { word: 256 << 10, dockerfile: 1 << 20 };

/** What the variables of one Dockerfile have expanded to so far (characters), and the limit they went past, once they did. */
export interface Expansion {
  total: number;
  over?: string;
}

/** How a Dockerfile's words are read: its escape character, and what its expansions have added up to. */
export interface Lexing {
  escape: string;
  expansion: Expansion;
}

/** Lexing for one instruction alone, with the backslash as escape character. */
const alone = (): Lexing => ({ escape: '\\', expansion: { total: 0 } });

/** Counts `n` more characters of expanded variables; false once they are past the Dockerfile's limit (which `x.over` then says). */
export function spend(x: Expansion, n: number): boolean {
  if (x.over) return false;
  x.total += n;
  if (x.total > EXPANSION_LIMIT.dockerfile) x.over = `expands the Dockerfile's variables to more than ${EXPANSION_LIMIT.dockerfile} characters in all (counting the lines before it)`;
  return !x.over;
}

const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;

/** The words of `s`, expanded with `vars`; with `keepBlanks`, one word that keeps the blanks outside quotes (Docker's ProcessWord). */
export function splitWords(s: string, vars: Vars, lx: Lexing = alone(), keepBlanks = false): Words {
  const unresolved = new Set<string>();
  const words = lex(s, vars, lx, keepBlanks, unresolved);
  return { words, unresolved: [...unresolved] };
}

function lex(s: string, vars: Vars, lx: Lexing, keepBlanks: boolean, unresolved: Set<string>): string[] {
  const escape = lx.escape;
  // Where each `{` closes, found once: scanning on from each `${` was quadratic in a line of unclosed ones.
  const closing = s.includes('${') ? braceMatches(s) : undefined;
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  /** A variable's value, counted against the Dockerfile's limit ('' once a limit is passed). */
  const value = (v: string): string => (spend(lx.expansion, v.length) ? v : '');
  const expand = (): string => {
    // At a `$`: the variable after it, or a lone `$`.
    NAME.lastIndex = i + 1;
    const simple = NAME.exec(s);
    if (simple) {
      i += 1 + simple[0].length;
      return value(lookup(simple[0], vars, unresolved));
    }
    const close = s[i + 1] === '{' ? closing![i + 1]! : -1;
    if (close > 0) {
      const body = i + 2;
      i = close + 1;
      NAME.lastIndex = body;
      const name = NAME.exec(s)?.[0];
      let at = body + (name?.length ?? 0);
      // What ${name...} does: `:-`, `-`, `:+` or `+` and a word after it; none when the name ends at the brace.
      const op = s[at] === ':' && /[-+]/.test(s[at + 1] ?? '') ? s.slice(at, at + 2) : /[-+]/.test(s[at] ?? '') ? s[at]! : '';
      at += op.length;
      if (name === undefined || (op === '' && at !== close)) {
        unresolved.add(`\${${s.slice(body, close)}}`);
        return '';
      }
      if (op === '') return value(lookup(name, vars, unresolved));
      const set = vars.has(name);
      const v = vars.get(name) ?? '';
      const present = op.startsWith(':') ? set && v !== '' : set;
      const inner = () => lex(s.slice(at, close), vars, lx, false, unresolved).join(' ');
      if (op.endsWith('-')) {
        if (present) return value(v);
        const w = inner();
        if (!set) unresolved.add(name);
        return w;
      }
      if (!set) unresolved.add(name);
      return present ? inner() : '';
    }
    i += 1;
    return '$';
  };
  /** `cur` and what a `$` at `i` expands to; the word no longer than EXPANSION_LIMIT.word. */
  const expanded = (): void => {
    cur += expand();
    if (cur.length > EXPANSION_LIMIT.word && !lx.expansion.over) lx.expansion.over = `expands a word to more than ${EXPANSION_LIMIT.word} characters`;
  };
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c) && !keepBlanks) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === escape) {
      cur += s[i + 1] ?? '';
      i += 2;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      const stop = end < 0 ? s.length : end;
      cur += s.slice(i + 1, stop);
      i = stop + 1;
    } else if (c === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === escape && /["$`\\]/.test(s[i + 1] ?? '')) {
          cur += s[i + 1];
          i += 2;
        } else if (s[i] === '$') expanded();
        else cur += s[i++];
      }
      i++;
    } else if (c === '$') expanded();
    else {
      cur += c;
      i++;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** One word: the whole of `s` with blanks kept (WORKDIR, USER, a legacy `ENV K v a l`). */
export function oneWord(s: string, vars: Vars, lx: Lexing = alone()): Words {
  const w = splitWords(s.trim(), vars, lx, true);
  return { words: [w.words[0] ?? ''], unresolved: w.unresolved };
}

/** `K=V` pairs (ENV, LABEL, ARG), or the legacy `K V...` form of ENV and LABEL when the first word has no `=`. */
export function keyValues(s: string, vars: Vars, lx: Lexing = alone()): { pairs: [string, string | undefined][]; unresolved: string[] } {
  // The first word as written (quotes kept, as Docker decides the form before removing them).
  const first = /^(?:[^\s"']+|"(?:\\.|[^"\\])*"|'[^']*')+/.exec(s.trim())?.[0] ?? '';
  if (first && !first.includes('=')) {
    const rest = s.trim().slice(first.length).trim();
    const k = splitWords(first, vars, lx);
    if (rest === '') return { pairs: [[k.words.join(''), undefined]], unresolved: k.unresolved };
    const v = oneWord(rest, vars, lx);
    return { pairs: [[k.words.join(''), v.words[0]!]], unresolved: [...k.unresolved, ...v.unresolved] };
  }
  const w = splitWords(s, vars, lx);
  return {
    pairs: w.words.map((word) => {
      const eq = word.indexOf('=');
      return eq < 0 ? [word, undefined] : [word.slice(0, eq), word.slice(eq + 1)];
    }),
    unresolved: w.unresolved,
  };
}

function lookup(name: string, vars: Vars, unresolved: Set<string>): string {
  const v = vars.get(name);
  if (v === undefined) unresolved.add(name);
  return v ?? '';
}

/** For each `{` of `s`, the index of the `}` that closes it (counting braces, as Docker's lexer nests them), or -1. */
function braceMatches(s: string): Int32Array {
  const close = new Int32Array(s.length).fill(-1);
  const open: number[] = [];
  for (let k = 0; k < s.length; k++) {
    if (s[k] === '{') open.push(k);
    else if (s[k] === '}' && open.length) close[open.pop()!] = k;
  }
  return close;
}
