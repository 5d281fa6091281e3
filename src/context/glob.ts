// Input globs matched as fast-glob matches them (rep's inputs are documented
// as fast-glob globs): fast-glob's own brace expansion and tasks, picomatch's
// expressions with the options fast-glob gives it, and fast-glob's walk (from
// each task's base, breadth first, links not followed, ENOENT passed over).
// What differs is how an expression is run: by JsRegexp, without
// backtracking, where fast-glob hands it to V8, which can take hours on a
// path a cloned repository chose for a glob its Repfile chose. Folders are
// read where fast-glob's partial matcher reads them (a pattern's parts tested
// against a folder's, up to its first globstar), with its parts' expressions
// run by JsRegexp too; and nothing outside `cwd` is read at all (no base
// with "..", absolute, or through a symlinked folder).
import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import path from 'node:path';
import fg from 'fast-glob';
import picomatch from 'picomatch';
import { JsRegexp } from './jsregexp.js';
import { lstatQuiet } from '../safefs.js';

/** A pattern (after fast-glob's brace expansion) that names a path outside the folder the glob is in. */
export class GlobError extends Error {}

/** A pattern whose folder is reached through a symlinked folder, `link` (relative to cwd): fast-glob reads through it. */
export class GlobLinkError extends GlobError {
  constructor(readonly link: string) {
    super(`goes through "${link}", a symlinked folder`);
  }
}

/** The first folder on the way to `rel` (under `cwd`) that is a symlink, if any; the way stops where nothing is. */
function linkOnTheWay(cwd: string, rel: string): string | undefined {
  let at = '';
  for (const name of rel.split(/[/\\]/)) {
    if (name === '' || name === '.') continue;
    at = at ? `${at}/${name}` : name;
    // Nothing there, or not a folder on the way (ENOTDIR...): reading it says so, as fast-glob's read does.
    const st = lstatQuiet(path.join(cwd, at));
    if (!st) return undefined;
    if (st.isSymbolicLink()) return at;
  }
  return undefined;
}

/** The options fast-glob passes picomatch (its Provider's micromatch options) for rep's settings. */
const MATCH_OPTIONS = { dot: true, matchBase: false, nobrace: false, nocase: false, noext: false, noglobstar: false, posix: true, strictSlashes: false };

/** One expression for a list of patterns (any of them), or undefined for none. */
function union(patterns: readonly string[]): JsRegexp | undefined {
  return patterns.length ? new JsRegexp(patterns.map((p) => picomatch.makeRe(p, MATCH_OPTIONS).source)) : undefined;
}

function withoutLeadingDot(p: string): string {
  return p.startsWith('./') || p.startsWith('.\\') ? p.slice(2) : p;
}

/** fast-glob's test of a path: itself, or with a slash when it is a folder. */
function matches(re: JsRegexp | undefined, p: string, isDir: boolean): boolean {
  return re !== undefined && (re.test(p) || (isDir && re.test(`${p}/`)));
}

/** A pattern's parts (its folders, and its name) as fast-glob's partial matcher holds them. */
type Part = { literal: string } | { re: JsRegexp };
type Partial = { parts: Part[]; firstGlobstar: number };

function partials(patterns: readonly string[]): Partial[] {
  return patterns.map((pattern) => {
    let texts = picomatch.scan(pattern, { ...MATCH_OPTIONS, parts: true }).parts ?? [];
    if (texts.length === 0) texts = [pattern];
    if (texts[0]!.startsWith('/')) texts = ['', texts[0]!.slice(1), ...texts.slice(1)];
    const parts = texts.map((t): Part => (fg.isDynamicPattern(t) ? { re: new JsRegexp(picomatch.makeRe(t, MATCH_OPTIONS).source) } : { literal: t }));
    // Parts before the first globstar: a folder deeper than these may hold a match, whatever its path.
    const firstGlobstar = texts.findIndex((t, k) => 're' in parts[k]! && t.includes('**'));
    return { parts, firstGlobstar };
  });
}

/** fast-glob's PartialMatcher: whether a folder (its path, no slash at the end) may hold a match, so is read. */
function mayHold(partial: readonly Partial[], folder: string): boolean {
  const names = folder.split('/');
  return partial.some(({ parts, firstGlobstar }) => {
    const complete = firstGlobstar < 0;
    if (complete && parts.length <= names.length) return false;
    if (!complete && names.length > firstGlobstar) return true;
    return names.every((name, k) => {
      const part = parts[k]!;
      return 'literal' in part ? part.literal === name : part.re.test(name);
    });
  });
}

/**
 * Whether a change at a path of the context may change what `pattern` (as
 * globSync takes it) matches: a file it may match or that lies in a folder it
 * may match, or a folder that may hold a match. More than globSync's answer
 * (negations are not applied): a watcher asks it, and a change it lets pass
 * costs a build that finds nothing stale, one it misses a build not made.
 */
export function globMayMatch(pattern: string): { file: (rel: string) => boolean; folder: (rel: string) => boolean } {
  const tasks = fg.generateTasks(pattern, { dot: true }).map((t) => ({ base: t.base === '.' ? '' : t.base, re: union(t.positive), partial: partials(t.positive) }));
  const inMatch = (rel: string, isDir: boolean) => {
    const names = rel.split('/');
    return names.some((_, k) => tasks.some((t) => matches(t.re, names.slice(0, k + 1).join('/'), isDir || k < names.length - 1)));
  };
  // As the walk reads them: the folders from the context to a task's base, and below it those its partial matcher reads.
  const walked = (rel: string) =>
    tasks.some(({ base, partial }) => base === '' || rel === base || base.startsWith(`${rel}/`) || (rel.startsWith(`${base}/`) && mayHold(partial, rel)));
  return { file: (rel) => inMatch(rel, false), folder: (rel) => rel === '' || inMatch(rel, true) || walked(rel) };
}

type Entry = { path: string; dirent: Pick<Dirent, 'isDirectory'> };

/**
 * The paths fast-glob's `sync(pattern, {cwd, dot, ignore, onlyFiles: false,
 * followSymbolicLinks: false, markDirectories: true, unique: true})` returns,
 * in its order, for a pattern that stays inside `cwd` (GlobError where it does
 * not). Throws what reading a folder throws, but ENOENT; JsRegexpError for an
 * expression JsRegexp will not run.
 */
export function globSync(cwd: string, pattern: string, ignore: readonly string[]): string[] {
  const tasks = fg.generateTasks(pattern, { cwd, dot: true, ignore: [...ignore] });
  // fast-glob would read from "/" or "..", and through a link then "..": nothing outside is read.
  for (const task of tasks) {
    for (const p of task.positive) {
      const what = p === pattern ? 'is' : `expands to "${p}",`;
      if (path.isAbsolute(p)) throw new GlobError(`${what} an absolute path: a glob matches paths inside the build context`);
      // fast-glob's walk takes a backslash in its base for a slash.
      if (p.split(/[/\\]/).includes('..')) throw new GlobError(`${what} a path with "..": a glob matches paths of the build context as it is walked, which have none`);
    }
  }
  const seen = new Set<string>();
  const out: string[] = [];
  for (const task of tasks) {
    const positive = union(task.positive);
    const partial = partials(task.positive);
    const absolute = task.negative.filter((p) => path.isAbsolute(p));
    const negativeAbsolute = union(absolute);
    const negativeRelative = union(task.negative.filter((p) => !path.isAbsolute(p)));
    // Negative patterns that stop a walk at a folder: fast-glob's isAffectDepthOfReadingPattern.
    const negativeDeep = union(task.negative.filter((p) => p.endsWith('/**') || !fg.isDynamicPattern(path.basename(p))));
    const take = (entry: Entry): void => {
      const p = withoutLeadingDot(entry.path);
      if (seen.has(p)) return;
      const isDir = entry.dirent.isDirectory();
      if (!matches(positive, p, isDir) || matches(negativeRelative, p, isDir)) return;
      if (negativeAbsolute && matches(negativeAbsolute, path.resolve(cwd, p), isDir)) return;
      seen.add(p);
      out.push(isDir ? `${entry.path}/` : entry.path);
    };
    if (!task.dynamic) {
      for (const p of task.patterns) {
        const link = p.startsWith('!') ? undefined : linkOnTheWay(cwd, path.posix.dirname(p));
        if (link !== undefined) throw new GlobLinkError(link);
        let st;
        try {
          st = lstatSync(path.resolve(cwd, p));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw e;
        }
        take({ path: p, dirent: st });
      }
      continue;
    }
    // A base through a link (`up -> /`, `up/**`) walked what the link leads to, all of it, before the
    // matches were refused: nothing through a link is read.
    const link = linkOnTheWay(cwd, task.base);
    if (link !== undefined) throw new GlobLinkError(link);
    // @nodelib/fs.walk reads its root with every backslash a slash.
    const root = path.resolve(cwd, task.base).split(/[/\\]/).join('/');
    const queue = new Set([{ dir: root, base: task.base === '.' ? '' : task.base }]);
    for (const { dir, base } of queue) {
      let entries: Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      for (const dirent of entries) {
        const rel = base === '' ? dirent.name : base.endsWith('/') ? base + dirent.name : `${base}/${dirent.name}`;
        take({ path: rel, dirent });
        if (!dirent.isDirectory()) continue;
        const p = withoutLeadingDot(rel);
        if (mayHold(partial, p) && !negativeDeep?.test(p)) queue.add({ dir: path.join(dir, dirent.name), base: rel });
      }
    }
  }
  return out;
}
