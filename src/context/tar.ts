// A deterministic tar of context files: sorted entries, parent directories
// made explicit, uid/gid 0, no user names, and one fixed mtime
// (SOURCE_DATE_EPOCH, else 0), so the same files give the same bytes.
import { closeSync, createReadStream, createWriteStream, fstatSync, openSync, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import tar from 'tar-stream';
import type { ContextFile } from './files.js';

/** Files up to this size are read whole (one read); larger ones are streamed in chunks. */
const SMALL = 1 << 20;

export function archiveMtime(env: NodeJS.ProcessEnv = process.env): Date {
  const s = env.SOURCE_DATE_EPOCH;
  const n = s !== undefined && /^\d+$/.test(s) ? Number(s) : 0;
  return new Date(n * 1000);
}

/** A context file, or bytes made in memory (e.g. a generated Dockerfile), at `name` in the archive. */
export type TarEntry = { name: string; file: ContextFile } | { name: string; content: Buffer; mode: number };

/** Parent directories of every entry, each once, e.g. "a", "a/b". */
function parentDirs(names: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const n of names) {
    const parts = n.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return [...dirs];
}

/** Streams a tar of `entries` into `out`. */
export async function writeTar(entries: readonly TarEntry[], out: Writable, mtime = archiveMtime()): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, out);
  const all = [
    ...parentDirs(entries.map((e) => e.name)).map((name) => ({ name, dir: true as const })),
    ...entries.map((e) => ({ ...e, dir: false as const })),
  ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const base = { uid: 0, gid: 0, uname: '', gname: '', mtime };
  for (const e of all) {
    if (e.dir) {
      pack.entry({ ...base, name: `${e.name}/`, type: 'directory', mode: 0o755 });
      continue;
    }
    if ('content' in e) {
      pack.entry({ ...base, name: e.name, type: 'file', mode: e.mode, size: e.content.length }, e.content);
      continue;
    }
    const f = e.file;
    if (f.type === 'symlink') {
      pack.entry({ ...base, name: e.name, type: 'symlink', linkname: f.target, mode: f.mode });
      continue;
    }
    // The size written is the size read now: a file that changed since it was
    // listed is archived as it is, never with a header that disagrees with it.
    if (f.size <= SMALL) {
      const body = readFileSync(f.abs);
      await new Promise<void>((resolve, reject) => {
        pack.entry({ ...base, name: e.name, type: 'file', mode: f.mode, size: body.length }, body, (err) => (err ? reject(err) : resolve()));
      });
      continue;
    }
    const fd = openSync(f.abs, 'r');
    const size = fstatSync(fd).size;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (size === 0) {
        closeSync(fd);
        pack.entry({ ...base, name: e.name, type: 'file', mode: f.mode, size }, Buffer.alloc(0), done);
        return;
      }
      const sink = pack.entry({ ...base, name: e.name, type: 'file', mode: f.mode, size }, done);
      createReadStream('', { fd, start: 0, end: size - 1 }).on('error', reject).pipe(sink);
    });
  }
  pack.finalize();
  await done;
}

export async function writeTarFile(entries: readonly TarEntry[], file: string, mtime?: Date): Promise<void> {
  await writeTar(entries, createWriteStream(file), mtime);
}

/** Context files at their own paths. */
export const asEntries = (files: readonly ContextFile[]): TarEntry[] => files.map((f) => ({ name: f.path, file: f }));
