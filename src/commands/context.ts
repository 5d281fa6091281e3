// `rep context`: what the build context holds, as a list or a deterministic tar.
import type { Writable } from 'node:stream';
import { walkContext } from '../context/files.js';
import type { BuildContext } from '../context/context.js';
import { asEntries, writeTar } from '../context/tar.js';

export function contextFiles(ctx: BuildContext) {
  return walkContext(ctx.dir, ctx.ignore);
}

export function listContext(ctx: BuildContext): string[] {
  return contextFiles(ctx).map((f) => f.path);
}

export async function tarContext(ctx: BuildContext, out: Writable): Promise<void> {
  await writeTar(asEntries(contextFiles(ctx)), out);
}
