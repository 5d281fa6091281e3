// `rep context`: what the build context holds, as a list or a deterministic tar.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { fail, type Result } from '../diag.js';
import { contextFiles, loadContext, type BuildContext } from '../context/context.js';
import { asEntries, writeTar } from '../context/tar.js';
import { projectPaths, type PathOptions } from '../projectpaths.js';

/**
 * The context `rep context` shows. With a Repfile (found, or named with -f) it is
 * the one a build sends: the Repfile's folder unless -C. Without one it needs
 * only a folder (-C, else the working directory) and its .dockerignore.
 * Nothing in a Repfile changes its context, so it is not read (nor its YAML
 * parser and schema loaded): a Repfile named with -f must only be there.
 */
export function openContext(opts: PathOptions = {}): Result<BuildContext> {
  const { repfile, contextDir } = projectPaths(opts);
  if (opts.file !== undefined && !existsSync(repfile)) return fail({ file: path.relative(process.cwd(), repfile) || repfile, message: 'no such file (write one with `rep init`, or name another with -f)' });
  if (!existsSync(contextDir)) return fail({ file: opts.context ?? '.', message: 'build context directory does not exist' });
  return loadContext(contextDir);
}

export function listContext(ctx: BuildContext): string[] {
  return contextFiles(ctx).map((f) => f.path);
}

export async function tarContext(ctx: BuildContext, out: Writable): Promise<void> {
  await writeTar(asEntries(contextFiles(ctx)), out);
}
