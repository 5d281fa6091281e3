// Content digest of a step's outputs, for early cutoff: the same bytes,
// modes and owners give the same digest however often the producer reran
// (timestamps are left out).
import type { Readable } from 'node:stream';
import { sha256Of } from '../canonical.js';
import type { Engine } from '../engine/engine.js';
import { tarEntries, type TarEntry } from '../tarentries.js';

/** An entry named by its absolute path in the image (the digest hashes these, keys sorted). */
type OutputEntry = { path: string } & Omit<TarEntry, 'name'>;

/** Entries of a `docker cp IMAGE:path -` tar, named by their absolute path in the image. */
export async function readOutputTar(outputPath: string, stream: Readable): Promise<OutputEntry[]> {
  const parent = outputPath.replace(/\/+$/, '').replace(/\/[^/]*$/, '');
  const entries: OutputEntry[] = [];
  for await (const { name, ...fields } of tarEntries(stream)) entries.push({ path: `${parent}/${name.replace(/\/+$/, '')}`, ...fields });
  return entries;
}

export function outputsDigestOf(entries: OutputEntry[]): string {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return `sha256:${sha256Of(sorted)}`;
}

/** The digest of `paths` as they are in `image`. */
export async function measureOutputs(engine: Engine, image: string, paths: readonly string[]): Promise<string> {
  const all: OutputEntry[] = [];
  await engine.exportPaths(image, paths, async (p, stream) => {
    all.push(...(await readOutputTar(p, stream)));
  });
  return outputsDigestOf(all);
}
