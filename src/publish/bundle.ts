// A bundle on disk: a folder, or one deterministic .tar.gz or .zip of it,
// and opening one someone else made.
import { createReadStream, createWriteStream, mkdirSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import yazl from 'yazl';
import { DockerIgnore } from '../context/dockerignore.js';
import { walkContext, type ContextFile } from '../context/files.js';
import { formatDiagnostic } from '../diag.js';
import { archiveMtime, asEntries, writeTar } from '../context/tar.js';
import { ExtractError, extractTar, extractZip } from './extract.js';
import type { Limits } from './limits.js';
import { createExclusive, tempBeside } from '../safefs.js';

export type BundleKind = 'dir' | 'tar.gz' | 'zip';

export function bundleKind(out: string): BundleKind {
  if (/\.(tar\.gz|tgz)$/i.test(out)) return 'tar.gz';
  if (/\.zip$/i.test(out)) return 'zip';
  return 'dir';
}

/**
 * A name that says an archive rep does not write (paper.tar, paper.tar.xz):
 * taken for a folder's, it made a folder the user took for a file.
 */
export function otherArchive(out: string): string | undefined {
  return /\.(tar(\.(xz|bz2|zst|lz|lz4|lzma|z))?|t[bx]z2?|txz|tzst|gz|bz2|xz|zst|7z|rar)$/i.exec(path.basename(out))?.[0];
}

/**
 * Packs the files of `dir` into `out` (.tar.gz or .zip), sorted, with one
 * fixed mtime. Written to a new file beside it and renamed over it: whatever
 * is at `out` then (a link, too) is replaced, never written through.
 */
export async function packBundle(dir: string, out: string): Promise<void> {
  const files = ownFiles(dir);
  const tmp = tempBeside(out);
  try {
    // The file is made before any file of `dir` is read: made after yazl had begun reading them, its
    // failure removed `dir` under yazl, whose read errors then came with no listener (a stack trace).
    const into = createWriteStream(tmp, { fd: createExclusive(tmp, 0o644) });
    if (bundleKind(out) === 'tar.gz') {
      const gz = createGzip({ level: 9 });
      const done = pipelineAsync(gz, into);
      await writeTar(asEntries(files), gz);
      await done;
    } else {
      const zip = new yazl.ZipFile();
      // A file yazl cannot read is an 'error' on the ZipFile, not on its output: listened for here, and
      // for good, since yazl may still be reading when a failed write has ended the pipeline.
      const unreadable = new Promise<never>((_, reject) => zip.on('error', reject));
      // ZIP times start in 1980.
      const mtime = new Date(Math.max(archiveMtime().getTime(), Date.UTC(1980, 0, 1, 12)));
      for (const f of files) zip.addFile(f.abs, f.path, { mtime, mode: 0o100000 | f.mode, compress: true });
      zip.end();
      await Promise.race([pipelineAsync(zip.outputStream, into), unreadable]).catch((e: unknown) => {
        // The pipeline ends with its streams, which closes the file before it is removed.
        (zip.outputStream as Readable).destroy();
        throw e;
      });
    }
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Why `where` names no bundle (nothing there, or a file that is not FILE.tar.gz or FILE.zip), before any of it is read. */
export function notABundle(where: string): string | undefined {
  let st;
  try {
    st = statSync(where, { throwIfNoEntry: false });
  } catch (e) {
    return `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  if (!st) return 'no such file or folder';
  if (!st.isDirectory() && (!st.isFile() || bundleKind(where) === 'dir')) return 'not a bundle: a folder, FILE.tar.gz or FILE.zip';
  return undefined;
}

/**
 * The bundle as a folder: itself (resolved once), or an archive unpacked into
 * `into`, a new folder rep owns (see extract.ts for what is refused). Throws an
 * ExtractError that says why a bundle cannot be opened.
 */
export async function openBundle(where: string, into: string, limits: Limits): Promise<string> {
  const label = path.basename(where);
  const why = notABundle(where);
  if (why) throw new ExtractError(`${where}: ${why}`);
  const st = statSync(where);
  if (st.isDirectory()) return realpathSync(where);
  const kind = bundleKind(where);
  mkdirSync(into);
  const o = { label, limits, links: false, archiveSize: st.size };
  if (kind === 'zip') await extractZip(where, into, o);
  else await extractTar(pipeline(createReadStream(where), createGunzip(), () => undefined), into, o);
  return into;
}

/** Files of a bundle folder, relative, sorted. */
export function bundleFiles(dir: string): string[] {
  return ownFiles(dir).map((f) => f.path);
}

/** The files of a folder rep is writing (a bundle), sorted. rep names them, so a name rep cannot record is its own bug. */
function ownFiles(dir: string): ContextFile[] {
  const r = walkContext(dir, new DockerIgnore([]));
  if (!r.ok) throw new Error(formatDiagnostic(r.errors[0]!));
  return r.value;
}
