// Content digest of a step's outputs, for early cutoff: the same bytes,
// modes and owners give the same digest however often the producer reran
// (timestamps are left out).
import { posix } from 'node:path';
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

/** How many links one output may lead through, as Linux's path walk allows (ELOOP past it). */
const MAX_LINKS = 40;

/** Where a link at `at` (an absolute path in the image) with text `target` leads, by its text alone. */
const linkTarget = (at: string, target: string) => posix.normalize(target.startsWith('/') ? target : posix.join(posix.dirname(at), target));

/**
 * The digest of `paths` as they are in `image`, as a consumer's `COPY --from` sees them: an output
 * that is a link counts as what it leads to, under the output's name, as COPY copies it. The engine
 * follows the link (exportPaths), resolving every link on the way in the image (`/bin -> usr/bin`
 * then `../share`); the tar names what it led to, which is named here by the output's path. An
 * engine that gave the link itself has it followed by its text, at most MAX_LINKS times.
 */
export async function measureOutputs(engine: Engine, image: string, paths: readonly string[]): Promise<string> {
  const all: OutputEntry[] = [];
  const trim = (p: string) => p.replace(/\/+$/, '') || '/';
  // Each path asked for, with the outputs it stands for (an output, or outputs whose links lead to it).
  let todo = new Map<string, string[]>();
  for (const p of paths) todo.set(p, [...(todo.get(p) ?? []), trim(p)]);
  for (let hops = 0; todo.size > 0; hops++) {
    if (hops > MAX_LINKS) throw new Error(`output ${[...todo.values()][0]![0]}: more than ${MAX_LINKS} links lead on from it`);
    const next = new Map<string, string[]>();
    await engine.exportPaths(image, [...todo.keys()], async (asked, stream) => {
      const entries = await readOutputTar(asked, stream);
      // The tar's one top entry: the path asked for, or what the engine followed it to.
      const top = entries[0]?.path.split('/').slice(0, trim(asked).split('/').length).join('/');
      const link = entries.length === 1 && entries[0]!.type === 'symlink' ? entries[0]!.linkname : undefined;
      for (const as of todo.get(asked)!) {
        if (link !== undefined) {
          const to = linkTarget(trim(asked), link);
          next.set(to, [...(next.get(to) ?? []), as]);
        } else if (top !== undefined) {
          all.push(...entries.map((e) => (e.path === top || e.path.startsWith(`${top}/`) ? { ...e, path: `${as}${e.path.slice(top.length)}` } : e)));
        }
      }
    });
    todo = next;
  }
  return outputsDigestOf(all, image);
}
