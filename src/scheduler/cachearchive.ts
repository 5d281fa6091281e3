// What a cache folder's archive (dir://PATH/rep-cache.tar) would tag when the
// engine loads it, read before it does: docker and podman apply every tag an
// archive names (manifest.json's RepoTags, the legacy `repositories` file, an
// OCI index's image names), moving a tag the engine has already. The folder is
// restored from a CI cache others may write, so an archive is loaded only
// when every name it gives is a step image's (rep-cache:<64 hex>).
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { readTarStream, type EntrySink } from '../repro/tarstream.js';
import type { TarHeader } from '../repro/tarindex.js';
import { shallowJson } from '../canonical.js';

export class CacheArchiveError extends Error {}

/** The files of an archive that name images, as docker's and podman's load read them. */
const NAMING = new Set(['manifest.json', 'repositories', 'index.json']);
/** The most of them read, all together: manifest.json lists each image's layers (a thousand steps of fifty layers: about 5 MB). */
export const NAMING_LIMIT = 32 << 20;

/** A step image's name as docker and podman write it in manifest.json and repositories: rep-cache:HEX (podman: localhost/). */
const STEP_IMAGE = /^(?:localhost\/)?rep-cache:([0-9a-f]{64})$/;
/** In an OCI index.json, containerd's spelling too (docker 25+ with its containerd store). */
const STEP_IMAGE_OCI = /^(?:localhost\/|docker\.io\/library\/)?rep-cache:([0-9a-f]{64})$/;
/** An OCI ref.name may be the tag alone. */
const STEP_TAG = /^[0-9a-f]{64}$/;

/**
 * The magic numbers of what docker and podman decompress before reading a tar
 * (gzip, bzip2, xz, zstd and its skippable frames): rep reads the file as a
 * plain tar, and a file that is both (a gzip member hidden in a pax header's
 * name field) would be one archive to rep and another to the engine. docker
 * save and podman save never compress.
 */
const COMPRESSED: readonly (readonly number[] | ((b: Buffer) => boolean))[] = [
  [0x1f, 0x8b],
  [0x42, 0x5a, 0x68],
  [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
  [0x28, 0xb5, 0x2f, 0xfd],
  (b) => b.length >= 4 && (b[0]! & 0xf0) === 0x50 && b[1] === 0x2a && b[2] === 0x4d && b[3] === 0x18,
];

function compressed(file: string): boolean {
  const head = Buffer.alloc(8);
  const fd = openSync(file, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const b = head.subarray(0, n);
  return COMPRESSED.some((m) => (typeof m === 'function' ? m(b) : b.length >= m.length && m.every((x, i) => b[i] === x)));
}

/** The name as the engine's untar places it: relative, cleaned (./x, a/../x and /x are x). */
const placed = (name: string) => path.posix.normalize(`/${name}`).slice(1).replace(/\/$/, '');

/**
 * The keys (hex) of the step images `file` names; a CacheArchiveError when it
 * names anything else, or when a naming file is not a plain file rep can read.
 */
export async function archiveStepKeys(file: string): Promise<string[]> {
  if (compressed(file)) throw new CacheArchiveError('the archive is compressed (docker save and podman save write a plain tar)');
  const found = new Map<string, Buffer[]>();
  // Links the archive makes, by name: an entry under one (a -> . then a/manifest.json) is written through it by an
  // untar that checks names by their text (docker's legacy store), where rep's reading sees another name.
  const links = new Set<string>();
  let naming = 0;
  const onEntry = (h: TarHeader): EntrySink | undefined => {
    const name = placed(h.name);
    for (let at = name.indexOf('/'); at > 0; at = name.indexOf('/', at + 1)) {
      if (links.has(name.slice(0, at))) throw new CacheArchiveError(`${name} in the archive lies under a link the archive makes`);
    }
    if (h.type === '1' || h.type === '2') links.add(name);
    if (!NAMING.has(name)) return undefined;
    // A link named manifest.json would be followed by the engine, to bytes rep did not read as it.
    if (h.type !== '0' && h.type !== '\0') throw new CacheArchiveError(`${name} in the archive is not a plain file`);
    // No engine writes one twice; which of two an engine takes is its own affair.
    if (found.has(name)) throw new CacheArchiveError(`${name} is in the archive twice`);
    if ((naming += h.size) > NAMING_LIMIT) throw new CacheArchiveError(`manifest.json, repositories and index.json in the archive are larger than ${NAMING_LIMIT} bytes`);
    const pieces: Buffer[] = [];
    found.set(name, pieces);
    return { data: (c) => pieces.push(Buffer.from(c)), end: () => undefined };
  };
  try {
    await readTarStream(createReadStream(file), onEntry);
  } catch (e) {
    if (e instanceof CacheArchiveError) throw e;
    throw new CacheArchiveError(`not an archive rep reads: ${(e as Error).message}`);
  }
  const keys = new Set<string>();
  let manifests = 0;
  for (const [name, pieces] of found) {
    let value: unknown;
    try {
      value = shallowJson(Buffer.concat(pieces).toString('utf8'));
    } catch {
      throw new CacheArchiveError(`${name} in the archive is not JSON`);
    }
    if (name === 'manifest.json') manifests++;
    for (const given of namesIn(name, value)) {
      const hex = name === 'index.json' ? (STEP_IMAGE_OCI.exec(given)?.[1] ?? (STEP_TAG.test(given) ? given : undefined)) : STEP_IMAGE.exec(given)?.[1];
      if (!hex) throw new CacheArchiveError(`the archive would tag ${JSON.stringify(given.slice(0, 200))}, which is not a step image (rep-cache:<64 hex digits>)`);
      keys.add(hex);
    }
  }
  if (manifests === 0) throw new CacheArchiveError('the archive has no manifest.json (rep writes its cache with docker save or podman save)');
  return [...keys].sort();
}

/** A key as Go's encoding/json matches it to a struct field: case folded, ſ (U+017F) as s and the Kelvin sign as k. */
const folded = (key: string) => key.toLowerCase().replace(/\u017f/g, 's');

/**
 * Whether no key of `o` is one Go would decode into a field of `fields`
 * without being spelled as it: Go matches keys to struct fields without
 * case (and the last of two wins), so `repotags` after `RepoTags` was the
 * tags docker and podman apply, and rep read the other (found by a review).
 */
function goFields(o: Record<string, unknown>, fields: readonly string[]): boolean {
  const exact = new Set(fields);
  const known = new Set(fields.map(folded));
  return Object.keys(o).every((k) => exact.has(k) || !known.has(folded(k)));
}

/** Every image name a naming file gives; a CacheArchiveError for one of a shape the engines do not write. */
function namesIn(file: string, value: unknown): string[] {
  const shape = () => new CacheArchiveError(`${file} in the archive is not as docker and podman write it`);
  const strings = (v: unknown): string[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw shape();
    return v as string[];
  };
  /** A JSON object decoded into a Go struct with `fields`: see goFields. */
  const object = (v: unknown, fields: readonly string[] = []): Record<string, unknown> => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw shape();
    const o = v as Record<string, unknown>;
    if (!goFields(o, fields)) throw new CacheArchiveError(`${file} in the archive spells a field otherwise than docker and podman write it`);
    return o;
  };
  if (file === 'manifest.json') {
    if (!Array.isArray(value)) throw shape();
    return value.flatMap((m) => strings(object(m, ['Config', 'RepoTags', 'Layers', 'Parent', 'LayerSources']).RepoTags));
  }
  if (file === 'repositories') {
    // {"repo": {"tag": "id"}}: the names of a legacy archive, repo:tag each.
    return Object.entries(object(value)).flatMap(([repo, tags]) => Object.keys(object(tags)).map((tag) => `${repo}:${tag}`));
  }
  // index.json (OCI): a manifest's names are its annotations.
  const manifests = object(value, ['schemaVersion', 'mediaType', 'manifests', 'annotations']).manifests;
  if (manifests === undefined) return [];
  if (!Array.isArray(manifests)) throw shape();
  return manifests.flatMap((m) => {
    const notes = object(m, ['mediaType', 'digest', 'size', 'annotations', 'platform', 'urls', 'data', 'artifactType']).annotations;
    if (notes === undefined) return [];
    const a = object(notes);
    return ['io.containerd.image.name', 'org.opencontainers.image.ref.name'].flatMap((k) => {
      const v = a[k];
      if (v === undefined) return [];
      if (typeof v !== 'string') throw shape();
      return [v];
    });
  });
}
