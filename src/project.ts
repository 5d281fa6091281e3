// Opening a project: Repfile -> Recipe -> Dag, with its build context.
import path from 'node:path';
import { existsSync } from 'node:fs';
import { fail, ok, type Result } from './diag.js';
import { loadContext, type BuildContext } from './context/context.js';
import { buildDag, type Dag } from './graph/dag.js';
import { readLockBytes } from './lock/lockfile.js';
import { findRepfile } from './repfile/find.js';
import { loadRepfile } from './repfile/load.js';
import type { Recipe } from './repfile/recipe.js';
import { stateDirProblem } from './state/state.js';

export interface Project {
  recipe: Recipe;
  ctx: BuildContext;
  dag: Dag;
}

export interface ProjectOptions {
  /** Path of the Repfile (default: ./Repfile, else ./Repfile.yaml / .yml). */
  file?: string;
  /** Build context directory (default: the Repfile's directory). */
  context?: string;
  cwd?: string;
}

export function openProject(opts: ProjectOptions = {}): Result<Project> {
  const cwd = opts.cwd ?? process.cwd();
  const file = opts.file ? path.resolve(cwd, opts.file) : findRepfile(cwd);
  const contextDir = opts.context ? path.resolve(cwd, opts.context) : undefined;
  if (contextDir && !existsSync(contextDir)) return fail({ file: opts.context!, message: 'build context directory does not exist' });
  const recipe = loadRepfile(file, { contextDir, displayName: path.relative(cwd, file) || file });
  if (!recipe.ok) return recipe;
  const lock = readLockBytes(recipe.value.path);
  if (!lock.ok) return lock;
  const ctx = loadContext(recipe.value.contextDir);
  if (!ctx.ok) return ctx;
  const unsafeState = stateDirProblem(recipe.value.contextDir);
  if (unsafeState) return fail(unsafeState);
  const dag = buildDag(recipe.value);
  if (!dag.ok) return dag;
  return ok({ recipe: recipe.value, ctx: ctx.value, dag: dag.value });
}
