// `rep context`: what the build context holds, as a list, with hashes, or a deterministic tar.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { fail, ok, type Result } from '../diag.js';
import { contextFiles, loadContext, type BuildContext } from '../context/context.js';
import type { ContextFile } from '../context/files.js';
import { asEntries, writeTar } from '../context/tar.js';
import { StatCache } from '../context/hash.js';
import { contextListing } from '../context/listing.js';
import { projectPaths, type PathOptions } from '../projectpaths.js';

/** A build context and its files, walked once. */
export interface ContextView {
  ctx: BuildContext;
  files: ContextFile[];
}

/**
 * The context `rep context` shows, walked. With a Repfile (found, or named with -f) it is
 * the one a build sends: the Repfile's folder unless -C. Without one it needs
 * only a folder (-C, else the working directory) and its .dockerignore.
 * Nothing in a Repfile changes its context, so it is not read (nor its YAML
 * parser and schema loaded): a Repfile named with -f must only be there.
 */
export function openContext(opts: PathOptions = {}): Result<ContextView> {
  const ctx = contextFor(opts);
  if (!ctx.ok) return ctx;
  const files = contextFiles(ctx.value);
  return files.ok ? ok({ ctx: ctx.value, files: files.value }) : files;
}

function contextFor(opts: PathOptions): Result<BuildContext> {
  const { repfile, contextDir, problem } = projectPaths(opts);
  if (opts.file !== undefined && !existsSync(repfile)) return fail({ file: path.relative(process.cwd(), repfile) || repfile, message: 'no such file (write one with `rep init`, or name another with -f)' });
  if (problem) return fail(problem);
  return loadContext(contextDir);
}

export function listContext(view: ContextView): string[] {
  return view.files.map((f) => f.path);
}

/**
 * The listing of the context's files with their hashes (context/listing.ts),
 * whose sha256 a build's provenance cites; hashed through the project's stat
 * cache, which this command reads and never writes.
 */
export function sumContext(view: ContextView): string {
  return contextListing(StatCache.forContext(view.ctx.dir).hashAll(view.files));
}

export async function tarContext(view: ContextView, out: Writable): Promise<void> {
  await writeTar(asEntries(view.files), out);
}
