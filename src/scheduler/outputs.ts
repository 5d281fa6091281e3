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

/**
 * The digest of a step's outputs. `image` (the step image, named by its key) counts only when a name or
 * link text holds U+FFFD: the tar reader gives each byte it cannot decode as UTF-8 so, and names that differ
 * would read alike. Then the outputs cannot be told from others', and the digest is the step's own: a
 * rebuilt producer reruns its consumers, as without early cutoff.
 */
export function outputsDigestOf(entries: OutputEntry[], image: string): string {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const lossy = entries.some((e) => e.path.includes('\ufffd') || e.linkname?.includes('\ufffd'));
  return `sha256:${sha256Of(lossy ? { entries: sorted, undecodedNamesIn: image } : sorted)}`;
}

/** The digest of `paths` as they are in `image`. */
export async function measureOutputs(engine: Engine, image: string, paths: readonly string[]): Promise<string> {
  const all: OutputEntry[] = [];
  await engine.exportPaths(image, paths, async (p, stream) => {
    all.push(...(await readOutputTar(p, stream)));
  });
  return outputsDigestOf(all, image);
}
