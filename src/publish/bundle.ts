// A bundle on disk: a folder, or one deterministic .tar.gz or .zip of it.
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import tar from 'tar-stream';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { DockerIgnore } from '../context/dockerignore.js';
import { walkContext } from '../context/files.js';
import { archiveMtime, asEntries, writeTar } from '../context/tar.js';

export type BundleKind = 'dir' | 'tar.gz' | 'zip';

export function bundleKind(out: string): BundleKind {
  if (/\.(tar\.gz|tgz)$/.test(out)) return 'tar.gz';
  if (out.endsWith('.zip')) return 'zip';
  return 'dir';
}

/** Packs the files of `dir` into `out` (.tar.gz or .zip), sorted, with one fixed mtime. */
export async function packBundle(dir: string, out: string): Promise<void> {
  const files = walkContext(dir, new DockerIgnore([]));
  if (bundleKind(out) === 'tar.gz') {
    const gz = createGzip({ level: 9 });
    const done = pipeline(gz, createWriteStream(out));
    await writeTar(asEntries(files), gz);
    await done;
    return;
  }
  const zip = new yazl.ZipFile();
  // ZIP times start in 1980.
  const mtime = new Date(Math.max(archiveMtime().getTime(), Date.UTC(1980, 0, 1, 12)));
  for (const f of files) zip.addFile(f.abs, f.path, { mtime, mode: 0o100000 | f.mode, compress: true });
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(out));
}

/** The bundle as a folder: itself, or an archive unpacked into a new temporary folder. */
export async function openBundle(where: string): Promise<string> {
  const kind = statSync(where).isDirectory() ? 'dir' : bundleKind(where);
  if (kind === 'dir') return where;
  const dir = mkdtempSync(path.join(tmpdir(), 'rep-bundle-'));
  if (kind === 'tar.gz') await extractTar(createReadStream(where).pipe(createGunzip()), dir);
  else await extractZip(where, dir);
  return dir;
}

/** Unpacks a tar stream into `dir` (regular files and folders only; no path may leave it). */
export async function extractTar(stream: NodeJS.ReadableStream, dir: string): Promise<void> {
  const extract = tar.extract();
  await new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, body, next) => {
      const target = safeJoin(dir, h.name);
      if (!target) {
        body.resume();
        return reject(new Error(`archive entry leaves the folder: ${h.name}`));
      }
      if (h.type === 'directory') {
        mkdirSync(target, { recursive: true });
        body.resume();
        body.on('end', next);
      } else if (h.type === 'file') {
        mkdirSync(path.dirname(target), { recursive: true });
        const ws = createWriteStream(target, { mode: (h.mode ?? 0o644) & 0o777 });
        body.pipe(ws);
        ws.on('finish', next);
        ws.on('error', reject);
      } else if (h.type === 'symlink') {
        mkdirSync(path.dirname(target), { recursive: true });
        symlinkSync(h.linkname ?? '', target);
        body.resume();
        body.on('end', next);
      } else {
        body.resume();
        body.on('end', next);
      }
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
    (stream as NodeJS.ReadableStream).on('error', reject);
    stream.pipe(extract);
  });
}

function safeJoin(dir: string, name: string): string | undefined {
  const target = path.resolve(dir, name);
  return target === dir || target.startsWith(dir + path.sep) ? target : undefined;
}

async function extractZip(file: string, dir: string): Promise<void> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true }, (err, z) => (err || !z ? reject(err) : resolve(z))),
  );
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      const target = safeJoin(dir, entry.fileName);
      if (!target) return reject(new Error(`archive entry leaves the folder: ${entry.fileName}`));
      if (entry.fileName.endsWith('/')) {
        mkdirSync(target, { recursive: true });
        zip.readEntry();
        return;
      }
      zip.openReadStream(entry, (err, rs) => {
        if (err || !rs) return reject(err);
        mkdirSync(path.dirname(target), { recursive: true });
        const mode = (entry.externalFileAttributes >>> 16) & 0o777;
        const ws = createWriteStream(target, { mode: mode || 0o644 });
        rs.pipe(ws);
        ws.on('finish', () => zip.readEntry());
        ws.on('error', reject);
      });
    });
    zip.on('end', resolve);
    zip.on('error', reject);
    zip.readEntry();
  });
}

/** Files of a bundle folder, relative, sorted. */
export function bundleFiles(dir: string): string[] {
  return walkContext(dir, new DockerIgnore([])).map((f) => f.path);
}
