// .dockerignore with Docker's own semantics (moby/patternmatcher and
// buildkit's dockerignore reader): patterns are anchored at the context root,
// `*` and `?` never cross "/", `**` crosses any number of directories, a
// pattern that matches a directory excludes everything below it, `!` makes
// an exception, and the last pattern that matches decides.

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

/** Go's path.Clean on slash paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  return rooted ? `/${joined}` : joined || '.';
}

/** Lines of a .dockerignore file -> patterns, as buildkit's ReadAll does. */
export function parseDockerignore(text: string): { patterns: IgnorePattern[]; errors: IgnoreError[] } {
  const patterns: IgnorePattern[] = [];
  const errors: IgnoreError[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    if (raw.startsWith('#')) return;
    let p = raw.trim();
    if (p === '') return;
    const invert = p.startsWith('!');
    if (invert) p = p.slice(1).trim();
    if (p.length > 0) {
      p = cleanPath(p);
      if (p.length > 1 && p.startsWith('/')) p = p.slice(1);
    }
    const r = compilePattern(invert ? `!${p}` : p, i + 1);
    if (r === undefined) return;
    if ('message' in r) errors.push(r);
    else patterns.push(r);
  });
  return { patterns, errors };
}

/** One pattern, as patternmatcher.New treats it. */
export function compilePattern(text: string, line = 0): IgnorePattern | IgnoreError | undefined {
  let p = text.trim();
  if (p === '') return undefined;
  p = cleanPath(p);
  let exclusion = false;
  if (p.startsWith('!')) {
    if (p.length === 1) return { line, message: 'illegal exclusion pattern: "!"' };
    exclusion = true;
    p = p.slice(1);
  }
  const bad = syntaxError(p);
  if (bad) return { line, message: `bad pattern "${p}": ${bad}` };
  return { pattern: p, exclusion, line, match: matcherFor(p) };
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

const REGEX_ESCAPE = new Set([...'.+()|{}$']);

/** patternmatcher's compile(): exact, prefix, suffix or regexp match. */
function matcherFor(p: string): (path: string) => boolean {
  let re = '^';
  let type: 'exact' | 'prefix' | 'suffix' | 'regexp' = 'exact';
  const chars = [...p];
  let inClass = false;
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
        const next = chars[++k]!;
        re += /[\\^$.*+?()[\]{}|\/-]/.test(next) ? `\\${next}` : next;
        type = 'regexp';
      } else re += '\\\\';
    } else if (ch === '[') {
      inClass = true;
      re += ch;
      type = 'regexp';
    } else if (ch === ']') {
      re += inClass ? ch : '\\]';
      inClass = false;
      type = 'regexp';
    } else if (ch === '/' || ch === '-' || ch === '^') {
      re += inClass || ch === '/' ? ch : `\\${ch}`;
    } else {
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
      const suffix = p.slice(2);
      return (path) => path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
    }
    case 'regexp': {
      let rx: RegExp;
      try {
        rx = new RegExp(`${re}$`, 'u');
      } catch {
        return () => false;
      }
      return (path) => rx.test(path);
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
  constructor(readonly patterns: readonly IgnorePattern[]) {
    this.hasExceptions = patterns.some((p) => p.exclusion);
  }

  static parse(text: string): { ignore: DockerIgnore; errors: IgnoreError[] } {
    const { patterns, errors } = parseDockerignore(text);
    return { ignore: new DockerIgnore(patterns), errors };
  }

  /** MatchesOrParentMatches: `path` is a clean, slash-separated path relative to the context. */
  decide(path: string): IgnoreDecision {
    const file = cleanPath(path);
    if (file === '.') return { excluded: false };
    let matched = false;
    let by: IgnorePattern | undefined;
    const slash = file.lastIndexOf('/');
    const parent = slash < 0 ? '.' : file.slice(0, slash);
    const parentDirs = parent === '.' ? [] : parent.split('/');
    for (const pattern of this.patterns) {
      if (pattern.exclusion !== matched) continue;
      let match = pattern.match(file);
      for (let i = 0; !match && i < parentDirs.length; i++) {
        match = pattern.match(parentDirs.slice(0, i + 1).join('/'));
      }
      if (match) {
        matched = !pattern.exclusion;
        by = pattern;
      }
    }
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
