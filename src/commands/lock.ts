// `rep lock`: pin every base image to its registry digest in Repfile.lock.
import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import path from 'node:path';
import pLimit from 'p-limit';
import { baseImages, lockPath, pinOf, writeLock, type Lockfile, LOCK_VERSION } from '../lock/lockfile.js';
import { linkProblem } from '../emit/write.js';
import { parseImageRef } from '../lock/reference.js';
import { resolveDigest, type Unanswering } from '../lock/registry.js';
import type { Project } from '../project.js';

/** How many registries are asked at once (each one's images one after another). */
const REGISTRIES_AT_ONCE = 4;

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
  const refs = baseImages(dag);
  const answers: Result<string>[] = new Array(refs.length);
  // A registry's images are asked one after another, so that one that does not answer is waited for once
  // (resolveDigest fails the rest at once); different registries side by side.
  const byRegistry = new Map<string, number[]>();
  refs.forEach((ref, i) => {
    const registry = parseImageRef(ref).registry;
    const group = byRegistry.get(registry);
    if (group) group.push(i);
    else byRegistry.set(registry, [i]);
  });
  const silent: Unanswering = new Map();
  const limit = pLimit(REGISTRIES_AT_ONCE);
  await Promise.all(
    [...byRegistry.values()].map((group) =>
      limit(async () => {
        for (const i of group) {
          const step = dag.recipe.steps.find((s) => s.from === refs[i]);
          const { file, span, path } = recipe.source.at(step ? ['steps', step.name, 'from'] : ['base'], '');
          answers[i] = await resolveDigest(refs[i]!, { file, span, path }, silent);
        }
      }),
    ),
  );
  // Said in the order of the sorted references, whichever registry answered first.
  const images: Record<string, string> = {};
  const errors: Diagnostic[] = [];
  refs.forEach((ref, i) => {
    const r = answers[i]!;
    if (r.ok) images[ref] = r.value;
    else errors.push(...r.errors.map((d) => ({ ...d, message: `cannot pin "${ref}": ${d.message}; push it to a registry, or name it as it is there` })));
  });
  if (errors.length) return fail(...errors);
  const lockfile: Lockfile = { lockVersion: LOCK_VERSION, images };
  writeLock(recipe.path, lockfile);
  const changed = Object.keys(images).filter((r) => pinOf(before, r) !== images[r]);
  return ok({ lock: lockfile, changed });
}
