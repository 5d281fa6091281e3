// Content digest of a step's outputs, for early cutoff: the same bytes,
// modes and owners give the same digest however often the producer reran
// (timestamps are left out).
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { sha256Of } from '../canonical.js';
import type { Engine } from '../engine/engine.js';

interface OutputEntry {
  path: string;
  type: string;
  mode: string;
  uid: number;
  gid: number;
  linkname?: string;
  sha256?: string;
}

/** Entries of a `docker cp IMAGE:path -` tar, named by their absolute path in the image. */
export async function readOutputTar(outputPath: string, stream: Readable): Promise<OutputEntry[]> {
  const parent = outputPath.replace(/\/+$/, '').replace(/\/[^/]*$/, '');
  const entries: OutputEntry[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      const h = createHash('sha256');
      body.on('data', (c: unknown) => h.update(c as Buffer));
      body.on('end', () => {
        const name = header.name.replace(/\/+$/, '');
        entries.push({
          path: `${parent}/${name}`,
          type: header.type ?? 'file',
          mode: ((header.mode ?? 0) & 0o7777).toString(8),
          uid: header.uid ?? 0,
          gid: header.gid ?? 0,
          ...(header.linkname ? { linkname: header.linkname } : {}),
          ...(header.type === 'file' ? { sha256: h.digest('hex') } : {}),
        });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  stream.pipe(extract);
  await done;
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
