// `rep lock`: pin every base image to its registry digest in Repfile.lock.
import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import { baseImages, writeLock, type Lockfile, LOCK_VERSION } from '../lock/lockfile.js';
import { resolveDigest } from '../lock/registry.js';
import type { Project } from '../project.js';

export interface LockResult {
  lock: Lockfile;
  /** Images whose pin changed (or is new). */
  changed: string[];
}

export async function lock(project: Project, env: NodeJS.ProcessEnv = process.env): Promise<Result<LockResult>> {
  const { recipe, dag } = project;
  const before = project.lock?.value;
  const images: Record<string, string> = {};
  const errors: Diagnostic[] = [];
  for (const ref of baseImages(dag)) {
    const r = await resolveDigest(ref, env);
    if (r.ok) images[ref] = r.digest;
    else {
      const step = dag.recipe.steps.find((s) => s.from === ref);
      const where = step ? ['steps', step.name, 'from'] : ['base'];
      errors.push(recipe.source.at(where, `cannot pin "${ref}": ${r.message}; push it to a registry, or name it as it is there`));
    }
  }
  if (errors.length) return fail(...errors);
  const lockfile: Lockfile = { lockVersion: LOCK_VERSION, images };
  writeLock(recipe.path, lockfile);
  const changed = Object.keys(images).filter((r) => before?.images[r] !== images[r]);
  return ok({ lock: lockfile, changed });
}
