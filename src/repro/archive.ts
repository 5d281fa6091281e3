// The two archives of a canonical rewrite: the one the engine saved (docker
// save / podman save: manifest.json, configs, uncompressed layers), read in
// place by name and byte range, each image found by its config's digest; and
// the one rep writes for `docker load` / `podman load` in the same format,
// deterministically (sorted entries, fixed times, numeric owners).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { isJsonMap } from '../canonical.js';
import type { LayerSource } from './merge.js';
import { tarHeaders, TarError } from './tarindex.js';

export interface SavedImage {
  /** The config, parsed. */
  config: Record<string, unknown>;
  diffIds: string[];
  /** Each layer's bytes, in order. */
  layers: LayerSource[];
}

export class ArchiveError extends Error {}

const JSON_MAX = 16 << 20;

/** The images of an archive the engine saved, by config digest ("sha256:…"). */
export function readSaved(fd: number, file: string): Map<string, SavedImage> {
  const size = statSync(file).size;
  const members = new Map<string, { offset: number; size: number }>();
  const links = new Map<string, string>();
  try {
    for (const h of tarHeaders(fd, 0, size)) {
      const name = path.posix.normalize(h.name).replace(/^(\.\/)+/, '').replace(/\/+$/, '');
      if (h.type === '0') members.set(name, { offset: h.offset, size: h.size });
      else if (h.type === '2' || h.type === '1') links.set(name, path.posix.normalize(h.type === '1' ? h.linkname : path.posix.join(path.posix.dirname(name), h.linkname)));
    }
  } catch (e) {
    if (e instanceof TarError) throw new ArchiveError(`the engine's saved image is not a readable tar: ${e.message}`);
    throw e;
  }
  const member = (name: string) => {
    for (let i = 0; i < 8 && !members.has(name) && links.has(name); i++) name = links.get(name)!;
    const m = members.get(name);
    if (!m) throw new ArchiveError(`the engine's saved image has no ${JSON.stringify(name)}`);
    return m;
  };
  const bytes = (name: string) => {
    const m = member(name);
    if (m.size > JSON_MAX) throw new ArchiveError(`${JSON.stringify(name)} in the engine's saved image is too large`);
    const b = Buffer.alloc(m.size);
    if (m.size && readSync(fd, b, 0, m.size, m.offset) !== m.size) throw new ArchiveError(`cannot read ${name}`);
    return b;
  };
  const json = (name: string): unknown => {
    try {
      return JSON.parse(bytes(name).toString('utf8'));
    } catch (e) {
      if (e instanceof ArchiveError) throw e;
      throw new ArchiveError(`${JSON.stringify(name)} in the engine's saved image is not JSON`);
    }
  };
  const manifest = json('manifest.json');
  if (!Array.isArray(manifest)) throw new ArchiveError("the engine's saved image has no docker manifest.json");
  const images = new Map<string, SavedImage>();
  for (const e of manifest as unknown[]) {
    if (!isJsonMap(e) || typeof e.Config !== 'string' || !Array.isArray(e.Layers) || !e.Layers.every((l) => typeof l === 'string')) {
      throw new ArchiveError("an entry of the saved manifest.json is not Config and Layers");
    }
    const raw = bytes(e.Config);
    const config = json(e.Config);
    const diffIds = isJsonMap(config) && isJsonMap(config.rootfs) ? config.rootfs.diff_ids : undefined;
    if (!isJsonMap(config) || !Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string') || diffIds.length !== e.Layers.length) {
      throw new ArchiveError(`the config ${JSON.stringify(e.Config)} does not list one diff id per layer`);
    }
    const layers = (e.Layers as string[]).map((l) => {
      const m = member(path.posix.normalize(l));
      return { fd, start: m.offset, end: m.offset + m.size };
    });
    images.set(`sha256:${createHash('sha256').update(raw).digest('hex')}`, { config, diffIds: diffIds as string[], layers });
  }
  return images;
}

/** A layer to write: from a file, a range of the saved archive, or none (`present`: named in the manifest only, see writeDockerArchive). */
export type ArchiveLayer = { diffId: string } & ({ file: string } | { source: LayerSource } | { present: true });

/**
 * Writes a docker-save archive of one image (no name: the caller tags it by
 * id), sorted, every time at `mtime`. A `present` layer is named in the
 * manifest without its bytes: docker's load looks a layer up by its chain id
 * before it opens the file (the base image's layers, already loaded).
 */
export async function writeDockerArchive(out: string, config: { bytes: Buffer; digest: string }, layers: readonly ArchiveLayer[], mtime: number): Promise<void> {
  const hex = (d: string) => d.replace(/^sha256:/, '');
  const configName = `${hex(config.digest)}.json`;
  const layerName = (l: ArchiveLayer) => `${hex(l.diffId)}/layer.tar`;
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: null, Layers: layers.map(layerName) }]));
  const seen = new Set<string>();
  const files: { name: string; bytes?: Buffer; layer?: ArchiveLayer }[] = [
    { name: configName, bytes: config.bytes },
    { name: 'manifest.json', bytes: manifest },
    ...layers.filter((l) => !('present' in l) && !seen.has(l.diffId) && seen.add(l.diffId)).map((l) => ({ name: layerName(l), layer: l })),
  ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(out));
  const base = { mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(mtime * 1000) };
  for (const f of files) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (f.bytes) return void pack.entry({ ...base, name: f.name, size: f.bytes.length }, f.bytes, cb);
      const l = f.layer as Exclude<ArchiveLayer, { present: true }>;
      const size = 'file' in l ? statSync(l.file).size : l.source.end - l.source.start;
      if (size === 0) return void pack.entry({ ...base, name: f.name, size }, Buffer.alloc(0), cb);
      const sink = pack.entry({ ...base, name: f.name, size }, cb);
      const src = 'file' in l ? createReadStream(l.file) : createReadStream('', { fd: l.source.fd, start: l.source.start, end: l.source.end - 1, autoClose: false });
      src.on('error', reject).pipe(sink);
    });
  }
  pack.finalize();
  await done;
}
