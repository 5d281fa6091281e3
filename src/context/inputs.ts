// A step's `inputs` globs -> the context files they name. Globs are matched
// with fast-glob inside the context; .dockerignore then filters the matches,
// as Docker would filter what COPY can see. Escapes are errors.
import { lstatSync, realpathSync } from 'node:fs';
import path from 'node:path';
import fg from 'fast-glob';
import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import type { Recipe, Step } from '../repfile/recipe.js';
import type { BuildContext } from './context.js';
import { cleanPath } from './dockerignore.js';
import { byPath, statEntry, STATE_DIR, symlinkEscape, walkContext, type ContextFile, type ContextIndex } from './files.js';

function leaves(p: string): boolean {
  const c = cleanPath(p.replace(/\\/g, '/'));
  return path.isAbsolute(p) || c === '..' || c.startsWith('../');
}

function excludedMessage(ctx: BuildContext, rel: string): string {
  const by = ctx.ignore.decide(rel).by;
  const why = by ? ` (.dockerignore line ${by.line}: "${by.pattern}")` : '';
  return `"${rel}" is excluded by .dockerignore${why}; remove it from inputs or add "!${rel}" to .dockerignore`;
}

function realInside(ctx: BuildContext, abs: string): boolean {
  try {
    const root = realpathSync(ctx.dir);
    const real = realpathSync(abs);
    return real === root || real.startsWith(root + path.sep);
  } catch {
    return true;
  }
}

/** One input pattern -> files, or a message saying what is wrong with it. */
function resolveOne(ctx: BuildContext, pattern: string, index?: ContextIndex): ContextFile[] | string {
  const under = (dir: string) => (index ? index.under(dir) : walkContext(ctx.dir, ctx.ignore, dir));
  if (leaves(pattern)) return `"${pattern}" leaves the build context; inputs are paths inside ${ctx.dir}`;
  if (!fg.isDynamicPattern(pattern)) {
    const rel = cleanPath(pattern);
    if (rel === '.') return under('');
    if (rel === STATE_DIR || rel.startsWith(`${STATE_DIR}/`)) return `"${pattern}" is rep's state directory, not an input`;
    const abs = path.join(ctx.dir, rel);
    let st;
    try {
      st = lstatSync(abs);
    } catch {
      return `"${pattern}" does not exist in the build context`;
    }
    if (!realInside(ctx, path.dirname(abs))) return `"${pattern}" leaves the build context through a symlinked directory`;
    if (st.isDirectory()) {
      if (!realInside(ctx, abs)) return `"${pattern}" leaves the build context through a symlink`;
      if (ctx.ignore.canSkipDir(rel)) return excludedMessage(ctx, rel);
      const files = under(rel);
      return files.length ? files : `directory "${rel}" holds no file that .dockerignore keeps`;
    }
    if (ctx.ignore.excludes(rel)) return excludedMessage(ctx, rel);
    const f = index?.get(rel) ?? statEntry(ctx.dir, rel);
    return f ? [f] : `"${pattern}" is not a regular file, directory or symlink`;
  }
  const matches = fg.sync(pattern, {
    cwd: ctx.dir,
    dot: true,
    onlyFiles: false,
    followSymbolicLinks: false,
    markDirectories: true,
    unique: true,
    ignore: [`${STATE_DIR}/**`],
  });
  if (matches.length === 0) return `"${pattern}" matches no file in the build context`;
  const files: ContextFile[] = [];
  let excluded: string | undefined;
  for (const m of matches) {
    if (m.endsWith('/')) {
      const dir = m.slice(0, -1);
      if (!ctx.ignore.canSkipDir(dir)) files.push(...under(dir));
      else excluded ??= dir;
      continue;
    }
    if (ctx.ignore.excludes(m)) {
      excluded ??= m;
      continue;
    }
    const f = index?.get(m) ?? statEntry(ctx.dir, m);
    if (f) files.push(f);
  }
  if (files.length === 0) {
    return excluded ? `"${pattern}" matches only files excluded by .dockerignore, e.g. ${excludedMessage(ctx, excluded)}` : `"${pattern}" matches no file in the build context`;
  }
  return files;
}

/** All files a step's inputs name, sorted and without duplicates. */
export function resolveInputs(recipe: Recipe, step: Step, ctx: BuildContext, index?: ContextIndex): Result<ContextFile[]> {
  const errors: Diagnostic[] = [];
  const seen = new Map<string, ContextFile>();
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
    }
  });
  if (errors.length) return fail(...errors);
  return ok([...seen.values()].sort(byPath));
}
