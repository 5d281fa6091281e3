// The no-op shortcut: when nothing a build depends on has changed since the
// last successful build (Repfile, lock, .dockerignore, every context file by
// its stat, the engine) and every image it made is still there, the answer
// is known without hashing, keying or writing anything.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { ContextFile } from '../context/files.js';
import type { Engine } from '../engine/engine.js';
import { lockPath } from '../lock/lockfile.js';
import { KEY_FORMAT } from '../plan/key.js';
import type { Project } from '../project.js';
import type { State } from '../state/state.js';
import { VERSION } from '../version.js';
import { cacheRef } from './stepimage.js';

export interface NoopRecord {
  stamp: string;
  /** The image the tag named after that build. */
  imageId: string;
}

export function noopStamp(project: Project, engine: Engine, engineId: string, dockerfile: string, files: readonly ContextFile[]): string {
  const h = createHash('sha256');
  const lock = lockPath(project.recipe.path);
  h.update(`${VERSION}\0${KEY_FORMAT}\0${engine.name}\0${engineId}\0${dockerfile}\0${project.recipe.path}\0${project.recipe.sha256}\0`);
  h.update(existsSync(lock) ? readFileSync(lock) : '');
  h.update(`\0${project.ctx.ignoreText}\0`);
  for (const f of files) {
    const s = f.stat;
    h.update(`${f.path}\0${f.type}\0${f.mode}\0${s.size}\0${s.mtimeMs}\0${s.ctimeMs}\0${s.ino}\0${f.target ?? ''}\n`);
  }
  return h.digest('hex');
}

/** Whether the last build's images are all still there, the tag naming the same image. */
export async function noopStillHolds(engine: Engine, project: Project, state: State, noop: NoopRecord): Promise<boolean> {
  const tag = project.recipe.image.tag;
  const steps = project.dag.order.map((n) => state.steps[n]);
  if (steps.some((s) => !s)) return false;
  const refs = [tag, ...steps.map((s) => cacheRef(s!.key))];
  const ids = await engine.imageIds(refs);
  return ids.get(tag) === noop.imageId && refs.every((r) => ids.get(r) !== undefined);
}
