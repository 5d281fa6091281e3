// Unpacking an archive someone else made (a .tar.gz or .zip bundle, the
// context.tar inside one) into a new folder rep owns: the archive is read as a
// stream, entry by entry, and each entry goes through an Unpacker (unpacker.ts)
// that refuses what could leave the folder or exceed a bound, so an archive
// bomb stops at the bound, not after it was written whole.
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { readTarStream, type EntrySink } from '../repro/tarstream.js';
import type { TarHeader } from '../repro/tarindex.js';
import { escaped } from './bundlefs.js';
import { ExtractError, Unpacker, type ExtractOptions } from './unpacker.js';

export { ExtractError, type ExtractOptions } from './unpacker.js';

// A library's message may quote an entry's name as the archive has it (escape sequences and all).
const wrap = (label: string, e: unknown): Error =>
  e instanceof ExtractError ? e : new ExtractError(`${label}: cannot unpack: ${escaped((e as Error).message)}`);

/** Ends an unpacking at its first error (later ones are ignored): closes the open file, stops the source, rejects with an ExtractError. */
function firstFailure(u: Unpacker, label: string, stop: () => void, reject: (e: Error) => void) {
  let failed = false;
  return {
    get failed(): boolean {
      return failed;
    },
    fail: (e: unknown): void => {
      if (failed) return;
      failed = true;
      u.close();
      stop();
      reject(wrap(label, e));
    },
  };
}

/** What an entry of a type rep does not unpack is called in a message. */
const OTHER_TYPES: Record<string, string> = { '3': 'character-device', '4': 'block-device', '6': 'fifo' };

/**
 * Unpacks the tar stream `input` into the folder `dir` (which exists and is
 * empty). Read as Go and GNU tar read it (repro/tarstream.ts): an archive that
 * tar readers would unpack differently is refused, so the files rep checked
 * are the files `tar -xf` or `docker load` take from it.
 */
export async function extractTar(input: Readable, dir: string, o: ExtractOptions): Promise<void> {
  const u = new Unpacker(dir, o);
  const entry = (h: TarHeader): EntrySink | undefined => {
    const name = u.name(h.name, h.type === '5');
    if (name === undefined) return undefined;
    switch (h.type) {
      case '5':
        u.dir(name);
        return undefined;
      case '0':
        u.file(name, h.mode, h.size);
        return { data: (c) => u.write(c), end: () => u.close() };
      case '2':
        u.symlink(name, h.linkname);
        return undefined;
      case '1':
        u.hardlink(name, h.linkname);
        return undefined;
      default:
        return u.other(name, `${OTHER_TYPES[h.type] ?? h.type} entry`);
    }
  };
  try {
    await readTarStream(input, entry);
  } catch (e) {
    throw wrap(o.label, e);
  } finally {
    u.close();
  }
}

/** Unpacks the zip file `file` into the folder `dir` (which exists and is empty). */
export async function extractZip(file: string, dir: string, o: ExtractOptions): Promise<void> {
  const u = new Unpacker(dir, o);
  let zip: yauzl.ZipFile;
  try {
    zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.open(file, { lazyEntries: true, autoClose: true, strictFileNames: true, validateEntrySizes: true }, (err, z) => (err || !z ? reject(err) : resolve(z))),
    );
  } catch (e) {
    throw wrap(o.label, e);
  }
  if (zip.entryCount > o.limits.maxEntries) {
    zip.close();
    throw new ExtractError(`${o.label}: holds more than ${o.limits.maxEntries} entries; if you trust it, raise the bound with --max-files N`);
  }
  await new Promise<void>((resolve, reject) => {
    const end = firstFailure(u, o.label, () => zip.close(), reject);
    const fail = end.fail;
    zip.on('entry', (entry: yauzl.Entry) => {
      try {
        const name = u.name(entry.fileName, entry.fileName.endsWith('/'));
        const mode = (entry.externalFileAttributes >>> 16) & 0o177777;
        if (name === undefined) return zip.readEntry();
        if (entry.fileName.endsWith('/')) {
          u.dir(name);
          return zip.readEntry();
        }
        const kind = mode & 0o170000;
        if (kind === 0o120000) u.symlink(name, '');
        if (kind !== 0 && kind !== 0o100000) u.other(name, 'special file');
        u.file(name, mode & 0o777, entry.uncompressedSize);
        zip.openReadStream(entry, (err, rs) => {
          if (end.failed) return;
          if (err || !rs) return fail(err ?? new Error('no data'));
          rs.on('data', (c: Buffer) => {
            try {
              u.write(c);
            } catch (e) {
              rs.destroy();
              fail(e);
            }
          });
          rs.on('end', () => {
            if (end.failed) return;
            u.close();
            zip.readEntry();
          });
          rs.on('error', fail);
        });
      } catch (e) {
        fail(e);
      }
    });
    zip.on('end', () => (end.failed ? undefined : resolve()));
    zip.on('error', fail);
    zip.readEntry();
  });
}
