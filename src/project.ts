// Opening a project: Repfile -> Recipe -> Dag, with its build context.
import path from 'node:path';
import { existsSync } from 'node:fs';
import { fail, ok, type Result } from './diag.js';
import { loadContext, type BuildContext } from './context/context.js';
import { buildDag, type Dag } from './graph/dag.js';
import { readLockFile, type LockRead } from './lock/lockfile.js';
import { projectPaths, type PathOptions } from './projectpaths.js';
import { loadRepfile } from './repfile/load.js';
import type { Recipe } from './repfile/recipe.js';
import { stateDirProblem } from './state/state.js';

export interface Project {
  recipe: Recipe;
  ctx: BuildContext;
  dag: Dag;
  /** Repfile.lock as read when the project was opened, the one read of it (undefined: there is none). */
  lock: LockRead | undefined;
}

/** -f, -C and the working directory they are taken against (see projectPaths). */
export interface ProjectOptions extends PathOptions {
  /** A Repfile.lock that is not JSON or not a valid lock is as none (rep lock, which writes it again). */
  lockToRewrite?: boolean;
  /** The Repfile read for its step keys alone (LoadOptions.keysOnly). */
  keysOnly?: boolean;
}

export function openProject(opts: ProjectOptions = {}): Result<Project> {
  const cwd = opts.cwd ?? process.cwd();
  const { repfile: file, contextDir } = projectPaths(opts);
  if (opts.context && !existsSync(contextDir)) return fail({ file: opts.context, message: 'build context directory does not exist' });
  const recipe = loadRepfile(file, { contextDir, displayName: path.relative(cwd, file) || file, keysOnly: opts.keysOnly });
  if (!recipe.ok) return recipe;
  const lock = readLockFile(recipe.value.path, opts.lockToRewrite);
  if (!lock.ok) return lock;
  const ctx = loadContext(recipe.value.contextDir);
  if (!ctx.ok) return ctx;
  const unsafeState = stateDirProblem(recipe.value.contextDir);
  if (unsafeState) return fail(unsafeState);
  const dag = buildDag(recipe.value);
  if (!dag.ok) return dag;
  return ok({ recipe: recipe.value, ctx: ctx.value, dag: dag.value, lock: lock.value });
}
