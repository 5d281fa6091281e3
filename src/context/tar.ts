// A deterministic tar of context files: sorted entries, parent directories
// made explicit, uid/gid 0, no user names, and one fixed mtime
// (SOURCE_DATE_EPOCH, else 0), so the same files give the same bytes.
import { closeSync, createWriteStream, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Transform, type Writable } from 'node:stream';
import { pieces, TarWriter, type TarHeader, type TarType } from '../repro/tarwriter.js';
import type { ContextFile } from './files.js';
import { openListedFile } from './listedfile.js';

/** Files up to this size are read whole (one read); larger ones are streamed in chunks. */
const SMALL = 1 << 20;

/** The latest time a tar header holds (eleven octal digits of seconds, in 2242). */
const TAR_MAX_SECONDS = 8 ** 11 - 1;

/**
 * SOURCE_DATE_EPOCH as reproducible-builds.org defines it: whole seconds since
 * 1970, or unset (empty counts as unset). A value rep cannot use is said
 * (`problem`), never read as 0: "abc" stated 1970 in the SBOM, and
 * 99999999999999 threw once the build was done.
 */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): { seconds?: number; problem?: string } {
  const s = env.SOURCE_DATE_EPOCH;
  if (s === undefined || s === '') return {};
  if (/^\d+$/.test(s) && Number(s) <= TAR_MAX_SECONDS) return { seconds: Number(s) };
  return { problem: `expected whole seconds since 1970-01-01 up to ${TAR_MAX_SECONDS}` };
}

/** The one mtime of rep's archives: SOURCE_DATE_EPOCH when it is usable, else 1970. */
export function archiveMtime(env: NodeJS.ProcessEnv = process.env): Date {
  return new Date((sourceDateEpoch(env).seconds ?? 0) * 1000);
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

/** A context file that could not be read into the archive (gone, become a link, unreadable): `path` names it. */
export class ArchiveReadError extends Error {
  /** Why, without the path. */
  readonly reason: string;
  constructor(readonly path: string, cause: Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    const reason = code === 'ELOOP' ? 'became a link after the context was listed' : code === 'ENOENT' ? 'removed after the context was listed' : cause.message;
    super(`${path}: ${reason}`);
    this.reason = reason;
  }
}

/** Opens a listed file to read it (openListedFile: no link, no pipe, a regular file), its failures said as the listed file's. */
function openListed(name: string, abs: string): { fd: number; size: number } {
  try {
    return openListedFile(abs);
  } catch (e) {
    throw new ArchiveReadError(name, e as Error);
  }
}

/** `read`, its failures (a read error, a file cut short) said as the listed file's. */
function readingListed<T>(name: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    throw e instanceof ArchiveReadError ? e : new ArchiveReadError(name, e as Error);
  }
}

/** Resolves once `out` may take more (at once when it is not full). */
function drained(out: Writable): Promise<void> {
  if (!out.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      out.off('drain', done);
      out.off('error', done);
      out.off('close', closed);
      if (err) reject(err);
      else resolve();
    };
    const closed = () => done(new Error('the stream the archive goes to was closed'));
    out.on('drain', done);
    out.on('error', done);
    out.on('close', closed);
  });
}

/** Streams a tar of `entries` into `out` and ends it; resolves once `out` has taken all of it. */
export async function writeTar(entries: readonly TarEntry[], out: Writable, mtime = archiveMtime()): Promise<void> {
  let failed: Error | undefined;
  const onError = (e: Error) => (failed ??= e);
  out.on('error', onError);
  try {
    const tar = new TarWriter((b) => void out.write(b));
    const all = [
      ...parentDirs(entries.map((e) => e.name)).map((name) => ({ name, dir: true as const })),
      ...entries.map((e) => ({ ...e, dir: false as const })),
    ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const seconds = Math.trunc(mtime.getTime() / 1000);
    // A mode of 0 is written as tar-stream writes it (644, 755 for a folder): the same bytes as before.
    const head = (name: string, type: TarType, mode: number, size = 0, linkname?: string): TarHeader => ({
      name, type, mode: mode || (type === 'directory' ? 0o755 : 0o644), uid: 0, gid: 0, mtime: seconds, size, ...(linkname ? { linkname } : {}),
    });
    const room = async () => {
      tar.flush();
      if (failed) throw failed;
      await drained(out);
    };
    for (const e of all) {
      if (e.dir) tar.entry(head(`${e.name}/`, 'directory', 0o755));
      else if ('content' in e) tar.entry(head(e.name, 'file', e.mode, e.content.length), e.content);
      else if (e.file.type === 'symlink') tar.entry(head(e.name, 'symlink', e.file.mode, 0, e.file.target));
      else if (e.file.size <= SMALL) {
        // The size written is the size read now: a file that changed since it was
        // listed is archived as it is, never with a header that disagrees with it (one
        // grown past what is read whole is refused, not read into memory).
        const { fd, size } = openListed(e.name, e.file.abs);
        let body: Buffer;
        try {
          if (size > SMALL) throw new ArchiveReadError(e.name, new Error('grew while it was archived'));
          body = readingListed(e.name, () => readFileSync(fd));
        } finally {
          closeSync(fd);
        }
        tar.entry(head(e.name, 'file', e.file.mode, body.length), body);
      } else {
        const { fd, size } = openListed(e.name, e.file.abs);
        try {
          tar.header(head(e.name, 'file', e.file.mode, size));
          const reading = pieces(fd, 0, size, () => new ArchiveReadError(e.name, new Error('got shorter while it was archived')));
          for (;;) {
            const next = readingListed(e.name, () => reading.next());
            if (next.done) break;
            const piece = next.value;
            tar.write(piece);
            await room();
          }
          tar.endMember(size);
        } finally {
          closeSync(fd);
        }
      }
      // The writer hands the stream a buffer at a time: wait whenever the stream is full.
      if (out.writableNeedDrain || tar.pending() >= SMALL) await room();
    }
    tar.finish();
    if (failed) throw failed;
    await new Promise<void>((resolve, reject) => {
      if (out.writableFinished) return resolve();
      out.once('finish', resolve);
      out.once('error', reject);
      // Closed by its reader before it took everything (and without an error).
      out.once('close', () => (out.writableFinished ? resolve() : reject(new Error('the stream the archive goes to was closed'))));
      out.end();
    });
  } catch (e) {
    // onError stays attached: the error destroy() emits must not go unheard (an uncaught exception).
    out.destroy(e as Error);
    throw e;
  }
  out.off('error', onError);
}

/**
 * Writes the tar of `entries` to `file` and returns the sha256 (hex) of the
 * bytes written: the files are read once for both.
 */
export async function writeTarFile(entries: readonly TarEntry[], file: string, mtime?: Date): Promise<string> {
  const h = createHash('sha256');
  const to = createWriteStream(file);
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      cb(null, chunk);
    },
  });
  hashing.pipe(to);
  const written = new Promise<void>((resolve, reject) => {
    to.once('finish', resolve);
    to.once('error', reject);
  });
  written.catch(() => undefined);
  to.once('error', (e) => hashing.destroy(e));
  try {
    await writeTar(entries, hashing, mtime);
  } catch (e) {
    to.destroy();
    throw e;
  }
  await written;
  return h.digest('hex');
}

/** Context files at their own paths. */
export const asEntries = (files: readonly ContextFile[]): TarEntry[] => files.map((f) => ({ name: f.path, file: f }));
