// .dockerignore with Docker's own semantics (moby/patternmatcher and its
// ignorefile reader, as BuildKit and the CLI use them): patterns are anchored
// at the context root, `*` and `?` never cross "/", `**` crosses any number of
// directories, a pattern that matched a directory excludes everything below it
// (MatchesUsingParentResults: only where it was asked there), `!` makes an
// exception, and the last pattern that matches decides. A pattern is the
// regular expression patternmatcher writes of it, run with Go's syntax
// (goregexp.ts), not JavaScript's.
import { GoRegexp, GoRegexpError } from './goregexp.js';
import { cleanPath } from '../gopath.js';

export { cleanPath };

export interface IgnorePattern {
  /** The pattern as cleaned (no leading "/", no "./", no trailing "/"). */
  pattern: string;
  exclusion: boolean;
  /** 1-based line in the .dockerignore file. */
  line: number;
  match: (path: string) => boolean;
}

export interface IgnoreError {
  line: number;
  message: string;
}

/** Go's unicode.IsSpace, which strings.TrimSpace trims (U+0085 and U+00A0 are spaces; U+FEFF is not, as it is for JavaScript's trim). */
const isGoSpace = (c: number) =>
  (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;

/** strings.TrimSpace (the characters it trims are all in the Basic Multilingual Plane: one UTF-16 unit each). */
export function goTrimSpace(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isGoSpace(s.charCodeAt(a))) a++;
  while (b > a && isGoSpace(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

/** The longest line Go's bufio.Scanner reads (64 KiB, its newline not counted): a longer one fails Docker's read of the file. */
const MAX_LINE_BYTES = 64 * 1024 - 1;

/**
 * The most patterns (lines neither blank nor a comment) rep reads of a .dockerignore: each holds a compiled
 * matcher and is asked of every path, and 2 million lines of "*" (4 MB) ran the CLI out of memory. Docker
 * has no bound; a real file has a few hundred lines at most.
 */
export const MAX_PATTERNS = 10_000;

/** Lines of a .dockerignore file -> patterns, as ReadAll (moby/patternmatcher/ignorefile, which BuildKit and the CLI use) does. */
export function parseDockerignore(text: string): { patterns: IgnorePattern[]; errors: IgnoreError[] } {
  const patterns: IgnorePattern[] = [];
  const errors: IgnoreError[] = [];
  // One matcher per pattern text: a file that repeats a line holds one compiled expression for it.
  const compiled: Compiled = new Map();
  // The byte order mark is taken off the first line alone; a line ends at "\n", and a "\r" before it goes.
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let count = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const raw = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (Buffer.byteLength(line) > MAX_LINE_BYTES) {
      errors.push({ line: i + 1, message: `a line longer than 64 KiB, which Docker refuses to read` });
      continue;
    }
    if (raw.startsWith('#')) continue;
    let p = goTrimSpace(raw);
    if (p === '') continue;
    if (++count > MAX_PATTERNS) {
      errors.push({ line: i + 1, message: `more than ${MAX_PATTERNS} patterns, the most rep reads of a .dockerignore; put the files to leave out under fewer folders, or match them with fewer patterns` });
      break;
    }
    const invert = p.startsWith('!');
    if (invert) p = goTrimSpace(p.slice(1));
    if (p.length > 0) {
      p = cleanPath(p);
      if (p.length > 1 && p.startsWith('/')) p = p.slice(1);
    }
    const r = compilePattern(invert ? `!${p}` : p, i + 1, compiled);
    if (r === undefined) continue;
    if ('message' in r) errors.push(r);
    else patterns.push(r);
  }
  return { patterns, errors };
}

/** Matchers already made, by cleaned pattern text (no "!"): a matcher, or why the text is refused. */
type Compiled = Map<string, ((path: string) => boolean) | { message: string }>;

/** One pattern, as patternmatcher.New treats it; `compiled` shares one matcher among patterns of one text. */
export function compilePattern(text: string, line = 0, compiled: Compiled = new Map()): IgnorePattern | IgnoreError | undefined {
  let p = goTrimSpace(text);
  if (p === '') return undefined;
  p = cleanPath(p);
  let exclusion = false;
  if (p.startsWith('!')) {
    if (p.length === 1) return { line, message: 'illegal exclusion pattern: "!"' };
    exclusion = true;
    p = p.slice(1);
  }
  let match = compiled.get(p);
  if (match === undefined) {
    match = compileText(p);
    compiled.set(p, match);
  }
  if (typeof match !== 'function') return { line, message: match.message };
  return { pattern: p, exclusion, line, match };
}

/** The matcher of a cleaned pattern text, or why Docker (or rep) refuses it. */
function compileText(p: string): ((path: string) => boolean) | { message: string } {
  const bad = syntaxError(p);
  if (bad) return { message: `bad pattern "${p}": ${bad}` };
  const match = matcherFor(p);
  if (typeof match === 'string') return { message: `bad pattern "${p}": ${match} in the regular expression Docker makes of it (Go refuses it, or rep cannot match it as Go does)` };
  return match;
}

/** Mirrors the syntax check of Go's filepath.Match. */
function syntaxError(p: string): string | undefined {
  let i = 0;
  const esc = (): boolean => {
    // one class character, possibly escaped; "-" and "]" must be escaped
    if (i >= p.length || p[i] === '-' || p[i] === ']') return false;
    if (p[i] === '\\') {
      i++;
      if (i >= p.length) return false;
    }
    i += [...p.slice(i, i + 2)][0]!.length;
    return true;
  };
  while (i < p.length) {
    const c = p[i];
    if (c === '\\') {
      if (i + 1 >= p.length) return 'trailing "\\"';
      i += 2;
    } else if (c === '[') {
      i++;
      if (p[i] === '^') i++;
      let n = 0;
      for (;;) {
        if (i < p.length && p[i] === ']' && n > 0) {
          i++;
          break;
        }
        if (!esc()) return 'malformed character class';
        if (p[i] === '-') {
          i++;
          if (!esc()) return 'malformed character class';
        }
        n++;
      }
    } else i++;
  }
  return undefined;
}

/**
 * What patternmatcher escapes before its expression sees it. Its list is `.+()|{}$`, kept in a bitmap of eight bytes
 * that has no bit for a character from `@` up: `|`, `{` and `}` go into the expression as they are (a review found
 * `!x[y]|^src/secret` bringing back a file rep left out). `}` alone is itself in Go's syntax too; an expression
 * with `|` or `{` is one rep does not match (GoRegexp refuses it), so the line is an error rather than a guess.
 */
const REGEX_ESCAPE = new Set([...'.+()$']);

/**
 * patternmatcher's compile(): an exact, prefix or suffix match, or the regular
 * expression it writes, character for character (the pattern's own `\x` escapes,
 * `^`, `-` and classes go into it as they are), run with Go's syntax by GoRegexp.
 * A pattern whose expression Go would refuse, or that uses a part of Go's
 * syntax rep does not match, is an error: Docker would fail the build, or decide
 * in a way rep cannot follow.
 */
function matcherFor(p: string): ((path: string) => boolean) | string {
  let re = '^';
  let type: 'exact' | 'prefix' | 'suffix' | 'regexp' = 'exact';
  // Go's text/scanner passes over a byte order mark at the very start only; elsewhere it is a character.
  const chars = [...p];
  if (chars[0] === '\uFEFF') chars.shift();
  for (let k = 0, i = 0; k < chars.length; k++, i++) {
    const ch = chars[k]!;
    if (ch === '*') {
      if (chars[k + 1] === '*') {
        k++;
        if (chars[k + 1] === '/') k++;
        if (k + 1 >= chars.length) {
          if (type === 'exact') type = 'prefix';
          else {
            re += '.*';
            type = 'regexp';
          }
        } else {
          re += '(.*/)?';
          type = 'regexp';
        }
        if (i === 0) type = 'suffix';
      } else {
        re += '[^/]*';
        type = 'regexp';
      }
    } else if (ch === '?') {
      re += '[^/]';
      type = 'regexp';
    } else if (REGEX_ESCAPE.has(ch)) {
      re += `\\${ch}`;
    } else if (ch === '\\') {
      if (k + 1 < chars.length) {
        re += `\\${chars[++k]!}`;
        type = 'regexp';
      } else re += '\\';
    } else {
      if (ch === '[' || ch === ']') type = 'regexp';
      re += ch;
    }
  }
  switch (type) {
    case 'exact':
      return (path) => path === p;
    case 'prefix': {
      const prefix = p.slice(0, -2);
      return (path) => path.startsWith(prefix);
    }
    case 'suffix': {
      // Go cuts the first two bytes of the pattern: "**", or, after a byte order mark the scanner passed
      // over, two of its three bytes, which leaves "\xBF**…" to end a path with.
      if (p.startsWith('\uFEFF')) {
        const tail = Buffer.from(p).subarray(2);
        return (path) => {
          const b = Buffer.from(path);
          return b.length >= tail.length && b.subarray(b.length - tail.length).equals(tail);
        };
      }
      const suffix = p.slice(2);
      return (path) => path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
    }
    case 'regexp': {
      try {
        const rx = new GoRegexp(`${re}$`);
        return (path) => rx.test(path);
      } catch (e) {
        if (e instanceof GoRegexpError) return e.message;
        throw e;
      }
    }
    default: {
      const never: never = type;
      return never;
    }
  }
}

export interface IgnoreDecision {
  excluded: boolean;
  /** The pattern that decided, if any matched. */
  by?: IgnorePattern;
}

export class DockerIgnore {
  readonly hasExceptions: boolean;
  /** `memoBytes`: bytes of folder results kept at most. */
  constructor(
    readonly patterns: readonly IgnorePattern[],
    memoBytes = 16 << 20,
  ) {
    this.hasExceptions = patterns.some((p) => p.exclusion);
    this.maxFolders = Math.max(16, Math.floor(memoBytes / Math.max(1, patterns.length)));
    const ids = new Map<IgnorePattern['match'], number>();
    this.matcherOf = Uint32Array.from(patterns, (p) => {
      let id = ids.get(p.match);
      if (id === undefined) ids.set(p.match, (id = ids.size));
      return id;
    });
    this.askedIn = new Uint32Array(ids.size);
    this.answer = new Uint8Array(ids.size);
  }

  /**
   * Patterns of one text share a matcher (parseDockerignore): each path asks each matcher once, however
   * many lines repeat it. `matcherOf` numbers a pattern's matcher; `askedIn` holds the evaluation a
   * matcher last answered in (`round`), `answer` what it said.
   */
  private readonly matcherOf: Uint32Array;
  private readonly askedIn: Uint32Array;
  private readonly answer: Uint8Array;
  private round = 0;

  /** Folders whose results are kept now (for tests of the bound). */
  get memoSize(): number {
    return this.folders.size;
  }

  static parse(text: string): { ignore: DockerIgnore; errors: IgnoreError[] } {
    const { patterns, errors } = parseDockerignore(text);
    return { ignore: new DockerIgnore(patterns), errors };
  }

  /**
   * Per folder: which patterns matched it, as a walk from the root finds them (patternmatcher's MatchInfo),
   * 1 or 0. Bounded: 5,000 patterns over 100k folders were half a billion results. A walk asks for a
   * folder's results while it is in that folder, so what is cleared is asked again (from its parents) at
   * most once per folder.
   */
  private readonly folders = new Map<string, Uint8Array>();
  private readonly maxFolders: number;

  /**
   * MatchesUsingParentResults, as BuildKit's walker (fsutil) and the classic
   * builder's (go-archive) call it: a pattern holds for a path when it matched
   * the path's folder there, or matches the path itself where it is asked. A
   * pattern passed over at a folder (an exception while nothing was excluded,
   * or the reverse) is not carried down.
   */
  private evaluate(file: string, parent: Uint8Array | undefined, info?: Uint8Array): { matched: boolean; by?: IgnorePattern } {
    let matched = false;
    let by: IgnorePattern | undefined;
    if (++this.round === 0xffffffff) {
      this.askedIn.fill(0);
      this.round = 1;
    }
    for (let i = 0; i < this.patterns.length; i++) {
      const pattern = this.patterns[i]!;
      let match = parent !== undefined && parent[i] === 1;
      if (!match) {
        if (pattern.exclusion !== matched) continue;
        // Without a parent's results (a path at the top) patternmatcher also tries the path's folders: it has none.
        const id = this.matcherOf[i]!;
        if (this.askedIn[id] !== this.round) {
          this.askedIn[id] = this.round;
          this.answer[id] = pattern.match(file) ? 1 : 0;
        }
        match = this.answer[id] === 1;
      }
      if (info) info[i] = match ? 1 : 0;
      if (match) {
        matched = !pattern.exclusion;
        by = pattern;
      }
    }
    return { matched, by };
  }

  private folderInfo(dir: string): Uint8Array {
    let info = this.folders.get(dir);
    if (!info) {
      const slash = dir.lastIndexOf('/');
      const parent = slash < 0 ? undefined : this.folderInfo(dir.slice(0, slash));
      info = new Uint8Array(this.patterns.length);
      this.evaluate(dir, parent, info);
      if (this.folders.size >= this.maxFolders) this.folders.clear();
      this.folders.set(dir, info);
    }
    return info;
  }

  /** Whether Docker sends `path` (clean, slash-separated, relative to the context), and the pattern that decided. */
  decide(path: string): IgnoreDecision {
    const file = cleanPath(path);
    if (file === '.') return { excluded: false };
    const slash = file.lastIndexOf('/');
    const { matched, by } = this.evaluate(file, slash < 0 ? undefined : this.folderInfo(file.slice(0, slash)));
    return { excluded: matched, by };
  }

  excludes(path: string): boolean {
    return this.decide(path).excluded;
  }

  /**
   * Whether a walk may skip directory `dir` entirely: it is excluded and no
   * exception could re-include anything below it (as Docker's walker does).
   */
  canSkipDir(dir: string): boolean {
    if (!this.excludes(dir)) return false;
    if (!this.hasExceptions) return true;
    const prefix = `${dir}/`;
    return !this.patterns.some(
      (p) => p.exclusion && (p.pattern.startsWith(prefix) || /[*?[\\]/.test(p.pattern) || prefix.startsWith(`${p.pattern}/`)),
    );
  }
}
