// How a COPY names a path so that exactly that path is copied. Two matchers
// read a context source: the COPY itself (Go's filepath.Match, in both
// builders), and, with BuildKit, the client choosing which files to send,
// which runs moby/patternmatcher on the sources as include patterns (and lets
// a wildcard that selects nothing pass in silence). A name that either would
// read as a pattern is written as one that both read as selecting that name:
// each character special to either of them becomes `?` (any one character but
// "/"). Such a pattern can select other names of the same length as well;
// inputs.ts refuses an input whose pattern would (alsoSelected).
import { goTrimSpace } from '../context/dockerignore.js';

/** Characters filepath.Match reads as a pattern (`\` escapes the next one): a source holding one is a wildcard to both builders. */
const GLOB = /[*?[\\]/;
/**
 * Characters patternmatcher writes into its regular expression as they are, where Go reads them as operators (`^`
 * an anchor, `{2}` a repetition, `|` an alternation): it escapes `.+()$` alone. They matter in an expression, which
 * patternmatcher makes of a pattern, and of a name with a `]` (a class bracket to it, a literal to Go without a `[`).
 */
const REGEXP = /[\^{}|]/;
/** The characters and places needsPattern looks for, as a message names them. */
export const PATTERN_PLACES = '* ? [ \\, or ^ { } | beside a ], a leading ! or a space at either end';
/** The characters a pattern writes as `?`: those of GLOB and REGEXP. A `]` stays: with no `[` left before it, both read it literally. */
const SPECIAL = '*?[\\^{}|';

/**
 * Whether the name `p` (a context path) must be written as a pattern: a character of GLOB, one of REGEXP beside a
 * `]`, or what patternmatcher.New takes off or reads otherwise before it matches: spaces at either end (Go's
 * strings.TrimSpace), a leading `!` (an exception, which sends nothing).
 */
export function needsPattern(p: string): boolean {
  return GLOB.test(p) || (p.includes(']') && REGEXP.test(p)) || p.startsWith('!') || goTrimSpace(p) !== p;
}

/**
 * Whether some source naming `path` or a folder above it needs a pattern (a superset: a space at the end of a
 * folder's name counts, a `]` and a `^` in two names count): a cheap test before COPY lines are planned.
 */
export const mayNeedPattern = (path: string) => needsPattern(path) || /[\s\x85](?:\/|$)/.test(path);

/** The pattern naming `p`: each character special to either matcher, each space at an end and a leading `!` as `?`. */
export function sourcePattern(p: string): string {
  const trimmed = goTrimSpace(p);
  // Go's spaces are each one UTF-16 unit; the trimmed text starts with none, so its first place is after them.
  const lead = trimmed === '' ? p.length : p.indexOf(trimmed);
  const end = lead + trimmed.length;
  let out = '';
  for (let i = 0; i < p.length; i++) out += i < lead || i >= end || SPECIAL.includes(p[i]!) ? '?' : p[i]!;
  return out.startsWith('!') ? `?${out.slice(1)}` : out;
}

/**
 * Whether a sourcePattern selects `path`, as both matchers read it: literal but for `?`, which is one character
 * (a code point) other than "/". Anything else it holds is literal to both: patternmatcher escapes `.+()$`, and
 * the characters Go's regular expressions or filepath.Match would read otherwise are `?` by now.
 */
export function patternSelects(pattern: string, path: string): boolean {
  let j = 0;
  for (let i = 0; i < pattern.length; i++, j++) {
    if (j >= path.length) return false;
    if (pattern[i] === '?') {
      if (path[j] === '/') return false;
      const c = path.charCodeAt(j);
      if (c >= 0xd800 && c <= 0xdbff && j + 1 < path.length) j++;
    } else if (pattern[i] !== path[j]) return false;
  }
  return j === path.length;
}

/**
 * A context path BuildKit might read as something else by how it starts, written after "./": it takes a COPY source
 * like `<<NAME` or `2<<NAME` for a here-document, even in JSON form, and copied an empty file of that name over
 * the real one (a review). An image path (from a stage) starts with "/".
 */
const plainStart = (p: string) => (p.startsWith('/') || (/^[A-Za-z0-9_.-]/.test(p) && !/^\d*<</.test(p)) ? p : `./${p}`);

/** A COPY source naming the context path `p` alone (before the Dockerfile's own escapes): the name, or its pattern. */
export const contextSource = (p: string) => plainStart(needsPattern(p) ? sourcePattern(p) : p);

/**
 * A COPY --from source naming the image path `p` alone. Only filepath.Match reads it (nothing is sent), so a name
 * with one of its pattern characters is a pattern with each of them alone in a class: "st*ar" -> "st[*]ar", which
 * selects that name and no other. Both builders take a name without `*?[` literally (and `a\*` as the name "a\*").
 */
export const imageSource = (p: string) => plainStart(GLOB.test(p) ? p.replace(/[*?[\\]/g, (c) => `[${c === '\\' ? '\\\\' : c}]`) : p);
