// Unpacking an archive someone else made (a .tar.gz or .zip bundle, the
// context.tar inside one) into a new folder rep owns: the archive is read as a
// stream, entry by entry, and each entry goes through an Unpacker (unpacker.ts)
// that refuses what could leave the folder or exceed a bound, so an archive
// bomb stops at the bound, not after it was written whole.
import { closeSync, openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import { readTarStream, type EntrySink } from '../repro/tarstream.js';
import type { TarHeader } from '../repro/tarindex.js';
import { escaped, shown } from './bundlefs.js';
import { ExtractError, Unpacker, type ExtractOptions } from './unpacker.js';
import { hex, localSpan, Tiling, zipLayout, type Layout } from './zipheaders.js';

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

/** Why a zip that says two things is refused. */
const ONE_READING = '; zip readers would unpack different files from it, so it is refused';

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

/** The zip file `file` as yauzl reads it, and the descriptor it reads through, which rep reads headers through too (yauzl closes it once the zip is closed and its streams are done). */
async function openZip(file: string): Promise<{ zip: yauzl.ZipFile; fd: number }> {
  const fd = openSync(file, 'r');
  try {
    const options = { lazyEntries: true, autoClose: true, strictFileNames: true, validateEntrySizes: true };
    const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => yauzl.fromFd(fd, options, (err, z) => (err || !z ? reject(err) : resolve(z))));
    return { zip, fd };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/**
 * Unpacks the zip file `file` into the folder `dir` (which exists and is
 * empty). Read from the central directory, as yauzl reads it; an archive whose
 * local headers say otherwise, or with bytes outside its entries (zipheaders.ts),
 * is refused, and each file's CRC-32 checked, so the files rep checked are
 * the files `unzip` takes from it.
 */
export async function extractZip(file: string, dir: string, o: ExtractOptions): Promise<void> {
  const u = new Unpacker(dir, o);
  let opened: { zip: yauzl.ZipFile; fd: number };
  try {
    opened = await openZip(file);
  } catch (e) {
    throw wrap(o.label, e);
  }
  const { zip, fd } = opened;
  let layout: Layout | { problem: string };
  try {
    layout = zipLayout(fd, zip.fileSize);
  } catch (e) {
    zip.close();
    throw wrap(o.label, e);
  }
  if ('problem' in layout) {
    zip.close();
    throw new ExtractError(`${o.label}: ${layout.problem}${ONE_READING}`);
  }
  if (zip.entryCount > o.limits.maxEntries) {
    zip.close();
    throw new ExtractError(`${o.label}: holds more than ${o.limits.maxEntries} entries; if you trust it, raise the bound with --max-files N`);
  }
  const tiling = new Tiling(layout);
  await new Promise<void>((resolve, reject) => {
    const end = firstFailure(u, o.label, () => zip.close(), reject);
    const fail = end.fail;
    const refuse = (entry: yauzl.Entry, why: string) => fail(new ExtractError(`${o.label}: entry ${shown(entry.fileName)}: ${why}${ONE_READING}`));
    zip.on('entry', (entry: yauzl.Entry) => {
      if (end.failed) return;
      try {
        const span = localSpan(fd, zip.fileSize, entry);
        const why = 'problem' in span ? span.problem : tiling.next(entry, span);
        if (why) return refuse(entry, why);
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
          let crc = 0;
          rs.on('data', (c: Buffer) => {
            try {
              u.write(c);
              crc = crc32(c, crc);
            } catch (e) {
              rs.destroy();
              fail(e);
            }
          });
          rs.on('end', () => {
            if (end.failed) return;
            if (crc !== entry.crc32) return refuse(entry, `its data has CRC-32 ${hex(crc)}, the archive says ${hex(entry.crc32)}`);
            u.close();
            zip.readEntry();
          });
          rs.on('error', fail);
        });
      } catch (e) {
        fail(e);
      }
    });
    zip.on('end', () => {
      if (end.failed) return;
      const why = tiling.finish();
      if (why) return fail(new ExtractError(`${o.label}: ${why}${ONE_READING}`));
      resolve();
    });
    zip.on('error', fail);
    zip.readEntry();
  });
}
