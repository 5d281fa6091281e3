// The two archives of a canonical rewrite: the one the engine saved (docker
// save / podman save: manifest.json, configs, uncompressed layers), read in
// place by name and byte range, each image found by its config's digest; and
// the one rep writes for `docker load` / `podman load` in the same format,
// deterministically (fixed times, numeric owners), as the layers are made.
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { isJsonMap, JsonDepthError, shallowJson } from '../canonical.js';
import type { LayerSource } from './merge.js';
import { tarHeaders, TarError } from './tarindex.js';
import { headerBlocks, ShortSourceError, TarWriter, type TarHeader } from './tarwriter.js';

export interface SavedImage {
  /** The config, parsed. */
  config: Record<string, unknown>;
  diffIds: string[];
  /** Each layer's bytes, in order. */
  layers: LayerSource[];
}

export class ArchiveError extends Error {}

const JSON_MAX = 16 << 20;

/** How deep the JSON of a saved image may nest: a config nests five or six deep. */
const MAX_JSON_DEPTH = 100;

/**
 * What JSON rep cannot write again canonically, if `v` is such: nested deeper than `max`, or a
 * number JSON.parse made infinite (1e999, which Go's engines keep as text in a field they do not
 * know). Walked with a list, not recursion.
 */
function unwritable(v: unknown, max: number): string | undefined {
  const todo: [unknown, number][] = [[v, 0]];
  while (todo.length) {
    const [x, d] = todo.pop()!;
    if (typeof x === 'number' && !Number.isFinite(x)) return 'holds a number too large for JSON';
    if (x === null || typeof x !== 'object') continue;
    if (d >= max) return `nests more than ${max} deep`;
    for (const y of Array.isArray(x) ? x : Object.values(x)) todo.push([y, d + 1]);
  }
  return undefined;
}

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
    let v: unknown;
    try {
      v = shallowJson(bytes(name).toString('utf8'), MAX_JSON_DEPTH);
    } catch (e) {
      if (e instanceof ArchiveError) throw e;
      if (e instanceof JsonDepthError) throw new ArchiveError(`${JSON.stringify(name)} in the engine's saved image nests more than ${MAX_JSON_DEPTH} deep`);
      throw new ArchiveError(`${JSON.stringify(name)} in the engine's saved image is not JSON`);
    }
    // A base image's config keeps fields rep does not know (history, labels) as they are; written again
    // canonically (recursively), JSON nested thousands deep would overflow the stack.
    const problem = unwritable(v, MAX_JSON_DEPTH);
    if (problem) throw new ArchiveError(`${JSON.stringify(name)} in the engine's saved image ${problem}`);
    return v;
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

/**
 * The archive rep loads into the engine, in docker-save format, written as
 * the rewrite goes: each canonical layer straight into its member (its
 * header, which names its diff id and size, written once the layer is
 * done), then the config and manifest.json, which name the layers. Every
 * time is `mtime`, owners are numeric; the same layers and config give the
 * same bytes. A layer only named (`present`) has no member: docker's load
 * looks a layer up by its chain id before it opens the file (the base
 * image's layers, already loaded); podman wants the bytes (`copy`).
 */
export class DockerArchiveWriter {
  private readonly fd: number;
  private readonly tar: TarWriter;
  private readonly names: string[] = [];
  private readonly members = new Set<string>();
  /** Where the next bytes go in the file: written at a position, so that a layer written twice can be taken back. */
  private at = 0;

  constructor(file: string, private readonly mtime: number) {
    this.fd = openSync(file, 'w', 0o600);
    this.tar = new TarWriter((b) => {
      for (let done = 0; done < b.length; ) done += writeSync(this.fd, b, done, b.length - done, this.at + done);
      this.at += b.length;
    }, false);
  }

  private header(name: string, size: number): TarHeader {
    return { name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: this.mtime, size };
  }

  /** A layer the engine has already (docker), named in the manifest only. */
  present(diffId: string): void {
    this.names.push(layerName(diffId));
  }

  /** A layer copied as it is from a byte range (the base's, from the saved archive). */
  copy(diffId: string, source: LayerSource): void {
    const name = layerName(diffId);
    this.names.push(name);
    if (this.members.has(name)) return;
    this.members.add(name);
    try {
      this.tar.entryFrom(this.header(name, source.end - source.start), source.fd, source.start);
    } catch (e) {
      if (e instanceof ShortSourceError) throw new ArchiveError(`the engine's saved image is cut short: ${e.message}`);
      throw e;
    }
  }

  /** A layer that `write` writes as a tar; returns its diff id (its sha256). */
  layer(write: (tar: TarWriter) => void): string {
    this.tar.flush();
    const at = this.tar.written;
    this.tar.write(Buffer.alloc(512));
    const hash = createHash('sha256');
    const inner = new TarWriter((b) => {
      hash.update(b);
      this.tar.write(b);
    }, false);
    write(inner);
    const size = inner.finish();
    this.tar.endMember(size);
    this.tar.flush();
    const diffId = `sha256:${hash.digest('hex')}`;
    const name = layerName(diffId);
    this.names.push(name);
    // Two steps may leave the same layer (the same changes on the same files): its member is there
    // already, and a second of the same name is taken back (a reader would keep one or the other).
    if (this.members.has(name)) {
      ftruncateSync(this.fd, at);
      this.at = this.tar.written = at;
      return diffId;
    }
    const [header, ...more] = headerBlocks(this.header(name, size));
    if (more.length || header!.length !== 512) throw new ArchiveError(`a layer of ${size} bytes needs more than one header block`);
    writeSync(this.fd, header!, 0, 512, at);
    this.members.add(name);
    return diffId;
  }

  /** Writes the config and the manifest naming the layers in order, and closes the file. */
  finish(config: { bytes: Buffer; digest: string }): void {
    try {
      const configName = `${config.digest.replace(/^sha256:/, '')}.json`;
      this.tar.entry(this.header(configName, config.bytes.length), config.bytes);
      const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: null, Layers: this.names }]));
      this.tar.entry(this.header('manifest.json', manifest.length), manifest);
      this.tar.finish();
    } finally {
      this.close();
    }
  }

  /** Closes the file (again: nothing). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  private closed = false;
}

const layerName = (diffId: string) => `${diffId.replace(/^sha256:/, '')}/layer.tar`;
