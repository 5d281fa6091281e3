// A step's `inputs` globs -> the context files they name. Globs are matched
// as fast-glob matches them, but without backtracking (glob.ts), inside the
// context; .dockerignore then filters the matches, as Docker would filter
// what COPY can see. Escapes are errors, and so are files the emitted
// Dockerfile could not COPY as they are.
import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import path from 'node:path';
import fg from 'fast-glob';
import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import type { Recipe, Step } from '../repfile/recipe.js';
import { UNSHOWABLE } from '../repfile/schema.js';
import { parentOf, planCopies, type CopySpec } from '../emit/copies.js';
import { mayNeedPattern, needsPattern, PATTERN_PLACES, patternSelects, sourcePattern } from '../emit/copysource.js';
import type { BuildContext } from './context.js';
import { cleanPath } from './dockerignore.js';
import { byPath, statEntry, symlinkEscape, type ContextFile, type ContextIndex } from './files.js';
import { copiesFor } from './folders.js';
import { BraceError, braceExpansions, MAX_EXPANSIONS } from './braces.js';
import { GlobError, GlobLinkError, globMayMatch, globSync } from './glob.js';
import { JsRegexpBudgetError, JsRegexpError } from './jsregexp.js';
import { inStateDir, STATE_DIR } from '../state/paths.js';

function leaves(p: string): boolean {
  const c = cleanPath(p.replace(/\\/g, '/'));
  return path.isAbsolute(p) || c === '..' || c.startsWith('../');
}

function excludedMessage(ctx: BuildContext, rel: string): string {
  const by = ctx.ignore.decide(rel).by;
  const why = by ? ` (.dockerignore line ${by.line}: "${by.pattern}")` : '';
  return `"${rel}" is excluded by .dockerignore${why}; remove it from inputs or add "!${rel}" to .dockerignore`;
}

const LINK_ALONE = 'which Docker sends as the link alone: name the path the link points to, if it is in the build context';
const THROUGH_LINK = `is reached through a symlinked folder, ${LINK_ALONE}`;

/** Whether `rel` is a folder of the context, reached through folders alone (no link on the way, none at the end). */
function realDirInside(ctx: BuildContext, rel: string): boolean {
  let at = ctx.dir;
  for (const part of rel === '.' || rel === '' ? [] : rel.split('/')) {
    at = path.join(at, part);
    if (!lstatSync(at, { throwIfNoEntry: false })?.isDirectory()) return false;
  }
  return true;
}

/** One input pattern -> files, or a message saying what is wrong with it. */
function resolveOne(ctx: BuildContext, pattern: string, index: ContextIndex): ContextFile[] | string {
  const under = (dir: string) => index.under(dir);
  if (leaves(pattern)) return `"${pattern}" leaves the build context; inputs are paths inside ${ctx.dir}`;
  if (!fg.isDynamicPattern(pattern)) {
    const rel = cleanPath(pattern);
    if (rel === '.') return under('');
    if (inStateDir(rel)) return `"${pattern}" is rep's state directory, not an input`;
    // Through a symlinked folder (to elsewhere in the context, to .rep, or out of it) is not a path of the
    // context as Docker sends it: it sends the link, never what is below it.
    if (!realDirInside(ctx, path.posix.dirname(rel))) return `"${pattern}" ${THROUGH_LINK}`;
    const abs = path.join(ctx.dir, rel);
    let st;
    try {
      st = lstatSync(abs);
    } catch {
      return `"${pattern}" does not exist in the build context`;
    }
    if (st.isDirectory()) {
      if (ctx.ignore.canSkipDir(rel)) return excludedMessage(ctx, rel);
      const files = under(rel);
      return files.length ? files : `directory "${rel}" holds no file that .dockerignore keeps`;
    }
    if (ctx.ignore.excludes(rel)) return excludedMessage(ctx, rel);
    const f = index.get(rel) ?? statEntry(ctx.dir, rel);
    return f ? [f] : `"${pattern}" is not a regular file, directory or symlink`;
  }
  try {
    if (braceExpansions(pattern) > MAX_EXPANSIONS) return `"${pattern}" expands to more than ${MAX_EXPANSIONS} patterns through its braces`;
  } catch (e) {
    if (e instanceof BraceError) return `"${pattern}" has ${e.message}`;
    throw e;
  }
  let matches: string[];
  try {
    // "./src/*.py" names what "src/*.py" does (fast-glob keeps the "./" in what it returns).
    matches = globSync(ctx.dir, pattern.replace(/^(?:\.\/+)+/, ''), [`${STATE_DIR}/**`]);
  } catch (e) {
    if (e instanceof GlobLinkError) return `"${pattern}" goes through "${e.link}", a symlinked folder, ${LINK_ALONE}`;
    if (e instanceof GlobError) return `"${pattern}" ${e.message}`;
    if (e instanceof JsRegexpBudgetError) return `"${pattern}" cannot be matched: its regular expression ${e.message} over the build context`;
    if (e instanceof JsRegexpError) return `"${pattern}" cannot be matched: its regular expression has ${e.message}, which rep does not run`;
    // A range braces refuses ("{1..100000}") or a folder the glob may not read: the pattern's fault, located.
    return `"${pattern}" cannot be matched: ${(e as Error).message}`;
  }
  if (matches.length === 0) return `"${pattern}" matches no file in the build context`;
  const files: ContextFile[] = [];
  let excluded: string | undefined;
  for (const m of matches) {
    const rel = m.endsWith('/') ? m.slice(0, -1) : m;
    // A second guard behind glob.ts, which refuses what braces spell outside ("..{,}/", "{/etc/x,a}")
    // and reads nothing through a symlinked folder: a match is taken only as a path of the context as walked.
    if (leaves(rel) || cleanPath(rel) !== rel || inStateDir(rel)) return `"${pattern}" matches "${m}", which is not in the build context`;
    if (m.endsWith('/')) {
      if (!realDirInside(ctx, rel)) return `"${pattern}" matches "${m}", which ${THROUGH_LINK}`;
      if (!ctx.ignore.canSkipDir(rel)) files.push(...under(rel));
      else excluded ??= rel;
      continue;
    }
    if (ctx.ignore.excludes(rel)) {
      excluded ??= rel;
      continue;
    }
    const f = index.get(rel);
    // Not walked: a file under a symlinked folder (Docker sends the link, never what is below it), or not a file.
    if (!f) {
      if (!realDirInside(ctx, path.posix.dirname(rel))) return `"${pattern}" matches "${m}", which ${THROUGH_LINK}`;
      continue;
    }
    files.push(f);
  }
  if (files.length === 0) {
    return excluded ? `"${pattern}" matches only files excluded by .dockerignore, e.g. ${excludedMessage(ctx, excluded)}` : `"${pattern}" matches no file in the build context`;
  }
  return files;
}

/**
 * Inputs the emitted Dockerfile would have to name in a COPY but cannot: a
 * name with a control character (BuildKit refuses it), or with a bidirectional
 * override, a line separator or a character that shows nothing (it would hide
 * what the COPY says; BuildKit drops a leading byte order mark), or a symlink (COPY
 * copies the file a link it names points to). Both are fine inside a folder
 * COPY copies whole. So is a name written as a pattern (emit/copysource.ts)
 * that would select more than the COPY copies. Returns [input path, message] pairs.
 */
function uncopyable(ctx: BuildContext, files: readonly ContextFile[], index: ContextIndex): [string, string][] {
  if (!files.some((f) => f.type === 'symlink' || UNSHOWABLE.test(f.path) || mayNeedPattern(f.path))) return [];
  const { counts, wholeOk } = copiesFor(ctx.dir, ctx.ignore, index.files);
  const links = new Set(files.filter((f) => f.type === 'symlink').map((f) => f.path));
  const out: [string, string][] = [];
  for (const spec of planCopies(files.map((f) => f.path), counts, wholeOk)) {
    for (const src of spec.sources) {
      const first = spec.wholeDir ? files.find((f) => f.path.startsWith(`${src}/`))!.path : src;
      if (UNSHOWABLE.test(src)) {
        out.push([first, `${spec.wholeDir ? 'folder ' : ''}${JSON.stringify(src)} has a control character, a bidirectional override or a character that shows nothing in its name, which the emitted Dockerfile cannot name in a COPY (BuildKit refuses a control character and drops a byte order mark; the others would hide what the COPY says): rename it, or leave it out with .dockerignore`]);
      } else if (!spec.wholeDir && links.has(src)) {
        const dir = src.includes('/') ? src.slice(0, src.lastIndexOf('/')) : '';
        const where = dir ? `here "${dir}", which needs every file in it to be an input, and no empty folder, hard link or folder mode other than 755` : 'never the top of the context';
        out.push([src, `symlink "${src}" would become a copy of the file it points to in the emitted Dockerfile: COPY follows a link it names, and keeps links only in a folder it copies whole (${where}): make the folder an input as a whole, or leave the link out`]);
      } else if (needsPattern(src)) {
        const problem = selectsMore(ctx, index, spec, src);
        if (problem) out.push([first, problem]);
      }
    }
  }
  return out;
}

/** The files of `index` whose paths start with `prefix` (the files are sorted, so they are one run). */
function startingWith(index: ContextIndex, prefix: string): readonly ContextFile[] {
  const files = index.files;
  let lo = 0;
  let hi = files.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (files[mid]!.path < prefix) lo = mid + 1;
    else hi = mid;
  }
  let end = lo;
  while (end < files.length && files[end]!.path.startsWith(prefix)) end++;
  return files.slice(lo, end);
}

/**
 * What Docker sends of the context that the pattern naming `src` (sourcePattern) selects besides it, sorted: files
 * and folders (a folder's files would be copied flat into the COPY's destination) rep lists, and whatever else the
 * folders the pattern's folder part selects hold that .dockerignore keeps (.rep, a special file, an empty folder).
 */
function alsoSelected(ctx: BuildContext, index: ContextIndex, src: string, pattern: string): { path: string; folder: boolean }[] {
  const found = new Map<string, boolean>();
  const depth = pattern.split('/').length;
  const folderPart = pattern.slice(0, Math.max(0, pattern.lastIndexOf('/')));
  const folders = new Set<string>(folderPart.includes('?') ? [] : [folderPart]);
  // Listed paths can be selected only if they start as the pattern does before its first "?".
  for (const f of startingWith(index, pattern.slice(0, pattern.indexOf('?')))) {
    const parts = f.path.split('/');
    if (parts.length < depth) continue;
    const cut = parts.slice(0, depth).join('/');
    if (cut !== src && patternSelects(pattern, cut)) found.set(cut, parts.length > depth);
    if (depth > 1 && folderPart.includes('?') && patternSelects(folderPart, parts.slice(0, depth - 1).join('/'))) folders.add(parts.slice(0, depth - 1).join('/'));
  }
  const name = pattern.slice(pattern.lastIndexOf('/') + 1);
  for (const folder of folders) {
    let entries: Dirent[];
    try {
      entries = readdirSync(path.join(ctx.dir, folder), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const rel = folder ? `${folder}/${e.name}` : e.name;
      if (rel === src || found.has(rel) || !patternSelects(name, e.name)) continue;
      const sent = e.isDirectory() ? !ctx.ignore.canSkipDir(rel) : !ctx.ignore.excludes(rel);
      if (sent) found.set(rel, e.isDirectory());
    }
  }
  return [...found].map(([p, folder]) => ({ path: p, folder })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Why the pattern naming the source `src` of `spec` would copy more than `spec` copies, or undefined: it may select
 * another file the same COPY names (copied to the same place anyway), nothing else.
 */
function selectsMore(ctx: BuildContext, index: ContextIndex, spec: CopySpec, src: string): string | undefined {
  const pattern = sourcePattern(src);
  const siblings = new Set(spec.wholeDir ? [] : spec.sources);
  const others = alsoSelected(ctx, index, src, pattern).filter((o) => o.folder || !siblings.has(o.path));
  if (others.length === 0) return undefined;
  const other = others[0]!;
  const more = others.length > 1 ? ` (and ${others.length - 1} more)` : '';
  // A listed file beside a file of this COPY: as an input too, it is one more source of the same COPY.
  const asInput = !spec.wholeDir && index.get(other.path) !== undefined && parentOf(other.path) === parentOf(src) ? `, or make ${JSON.stringify(other.path)} an input of this step too` : '';
  return (
    `${spec.wholeDir ? 'folder ' : ''}${JSON.stringify(src)} has in its name a character that COPY, or BuildKit choosing which files to send, reads as a pattern ` +
    `(${PATTERN_PLACES}), so the emitted Dockerfile names it by the pattern ${JSON.stringify(pattern)}, ` +
    `each such character a "?"; that also selects ${other.folder ? 'folder ' : ''}${JSON.stringify(other.path)}${more}, which COPY would copy with it: ` +
    `rename one of them, or leave ${JSON.stringify(other.path)} out with .dockerignore${asInput}`
  );
}

/** All files a step's inputs name, sorted and without duplicates, found in the context as walked (`index`). */
export function resolveInputs(recipe: Recipe, step: Step, ctx: BuildContext, index: ContextIndex): Result<ContextFile[]> {
  const errors: Diagnostic[] = [];
  const seen = new Map<string, ContextFile>();
  const namedBy = new Map<string, number>();
  step.inputs.forEach((pattern, i) => {
    const r = resolveOne(ctx, pattern, index);
    const at = ['steps', step.name, 'inputs', i];
    if (typeof r === 'string') {
      errors.push(recipe.source.at(at, r));
      return;
    }
    for (const f of r) {
      const escape = symlinkEscape(ctx.dir, f);
      if (escape !== undefined) {
        errors.push(recipe.source.at(at, `symlink "${f.path}" -> "${escape}" leaves the build context`));
        continue;
      }
      seen.set(f.path, f);
      if (!namedBy.has(f.path)) namedBy.set(f.path, i);
    }
  });
  if (errors.length) return fail(...errors);
  const files = [...seen.values()].sort(byPath);
  for (const [file, message] of uncopyable(ctx, files, index)) errors.push(recipe.source.at(['steps', step.name, 'inputs', namedBy.get(file)!], message));
  if (errors.length) return fail(...errors);
  return ok(files);
}

/**
 * Whether a change at a path of the context (a file, or a folder) may change
 * what the input patterns `patterns` name: for `rep watch`, which rebuilds on
 * such changes alone. A literal path counts with what lies under it and the
 * folders above it; a glob as globMayMatch says.
 */
export function inputsMayChange(patterns: readonly string[]): { file: (rel: string) => boolean; folder: (rel: string) => boolean } {
  const literal: string[] = [];
  const globs: ReturnType<typeof globMayMatch>[] = [];
  for (const pattern of patterns) {
    if (leaves(pattern)) continue;
    if (!fg.isDynamicPattern(pattern)) {
      const rel = cleanPath(pattern);
      literal.push(rel === '.' ? '' : rel);
      continue;
    }
    try {
      globs.push(globMayMatch(pattern.replace(/^(?:\.\/+)+/, '')));
    } catch {
      // A pattern rep cannot match is a Repfile error the build says: every change may mend it.
      globs.push({ file: () => true, folder: () => true });
    }
  }
  const near = (rel: string, l: string) => l === '' || rel === l || rel.startsWith(`${l}/`) || l.startsWith(`${rel}/`);
  // An expression that runs out of its budget on a name: the change may matter.
  const safely = (ask: () => boolean) => {
    try {
      return ask();
    } catch {
      return true;
    }
  };
  return {
    file: (rel) => literal.some((l) => near(rel, l)) || globs.some((g) => safely(() => g.file(rel))),
    folder: (rel) => literal.some((l) => near(rel, l)) || globs.some((g) => safely(() => g.folder(rel))),
  };
}
