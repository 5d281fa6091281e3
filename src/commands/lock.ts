// `rep lock`: pin every base image to its registry digest in Repfile.lock.
import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import path from 'node:path';
import { baseImages, lockPath, pinOf, writeLock, type Lockfile, LOCK_VERSION } from '../lock/lockfile.js';
import { linkProblem } from '../emit/write.js';
import { resolveDigest } from '../lock/registry.js';
import type { Project } from '../project.js';

export interface LockResult {
  lock: Lockfile;
  /** Images whose pin changed (or is new). */
  changed: string[];
}

export async function lock(project: Project): Promise<Result<LockResult>> {
  const { recipe, dag } = project;
  const file = lockPath(recipe.path);
  const link = linkProblem(project.ctx.dir, file, path.relative(process.cwd(), file) || file, 'name a Repfile with -f whose folder is no link');
  if (link) return fail(link);
  const before = project.lock?.value;
  const images: Record<string, string> = {};
  const errors: Diagnostic[] = [];
  for (const ref of baseImages(dag)) {
    const step = dag.recipe.steps.find((s) => s.from === ref);
    const { file, span, path } = recipe.source.at(step ? ['steps', step.name, 'from'] : ['base'], '');
    const r = await resolveDigest(ref, { file, span, path });
    if (r.ok) images[ref] = r.value;
    else errors.push(...r.errors.map((d) => ({ ...d, message: `cannot pin "${ref}": ${d.message}; push it to a registry, or name it as it is there` })));
  }
  if (errors.length) return fail(...errors);
  const lockfile: Lockfile = { lockVersion: LOCK_VERSION, images };
  writeLock(recipe.path, lockfile);
  const changed = Object.keys(images).filter((r) => pinOf(before, r) !== images[r]);
  return ok({ lock: lockfile, changed });
}
