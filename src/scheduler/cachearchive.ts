// What a cache folder's archive (dir://PATH/rep-cache.tar) would tag when the
// engine loads it, read before it does: docker and podman apply every tag an
// archive names (manifest.json's RepoTags, the legacy `repositories` file, an
// OCI index's image names), moving a tag the engine has already. The folder is
// restored from a CI cache others may write, so an archive is loaded only
// when every name it gives is a step image's (rep-cache:<64 hex>).
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { readTarStream, type EntrySink } from '../repro/tarstream.js';
import type { TarHeader } from '../repro/tarindex.js';

export class CacheArchiveError extends Error {}

/** The files of an archive that name images, as docker's and podman's load read them. */
const NAMING = new Set(['manifest.json', 'repositories', 'index.json']);
/** The most of one of them read: manifest.json lists each image's layers (a thousand steps of fifty layers: about 5 MB). */
export const NAMING_LIMIT = 32 << 20;

/** A step image's name as an archive may give it: rep-cache:HEX, as podman and containerd spell it too. */
const STEP_IMAGE = /^(?:localhost\/|docker\.io\/library\/)?rep-cache:([0-9a-f]{64})$/;
/** An OCI ref.name may be the tag alone. */
const STEP_TAG = /^[0-9a-f]{64}$/;

/** The name as the engine's untar places it: relative, cleaned (./x, a/../x and /x are x). */
const placed = (name: string) => path.posix.normalize(`/${name}`).slice(1).replace(/\/$/, '');

/**
 * The keys (hex) of the step images `file` names; a CacheArchiveError when it
 * names anything else, or when a naming file is not a plain file rep can read.
 */
export async function archiveStepKeys(file: string): Promise<string[]> {
  const found = new Map<string, Buffer[]>();
  const onEntry = (h: TarHeader): EntrySink | undefined => {
    const name = placed(h.name);
    if (!NAMING.has(name)) return undefined;
    // A link named manifest.json would be followed by the engine, to bytes rep did not read as it.
    if (h.type !== '0' && h.type !== '\0') throw new CacheArchiveError(`${name} in the archive is not a plain file`);
    if (h.size > NAMING_LIMIT) throw new CacheArchiveError(`${name} in the archive is larger than ${NAMING_LIMIT} bytes`);
    // Two of one name: the engine keeps the last; each is read, so none can hide another.
    const pieces: Buffer[] = [];
    found.set(`${name}\0${found.size}`, pieces);
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
  for (const [at, pieces] of found) {
    const name = at.slice(0, at.indexOf('\0'));
    let value: unknown;
    try {
      value = JSON.parse(Buffer.concat(pieces).toString('utf8'));
    } catch {
      throw new CacheArchiveError(`${name} in the archive is not JSON`);
    }
    if (name === 'manifest.json') manifests++;
    for (const given of namesIn(name, value)) {
      const hex = STEP_IMAGE.exec(given)?.[1] ?? (name === 'index.json' && STEP_TAG.test(given) ? given : undefined);
      if (!hex) throw new CacheArchiveError(`the archive would tag ${JSON.stringify(given.slice(0, 200))}, which is not a step image (rep-cache:<64 hex digits>)`);
      keys.add(hex);
    }
  }
  if (manifests === 0) throw new CacheArchiveError('the archive has no manifest.json (rep writes its cache with docker save or podman save)');
  return [...keys].sort();
}

/** Every image name a naming file gives; a CacheArchiveError for one of a shape the engines do not write. */
function namesIn(file: string, value: unknown): string[] {
  const shape = () => new CacheArchiveError(`${file} in the archive is not as docker and podman write it`);
  const strings = (v: unknown): string[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw shape();
    return v as string[];
  };
  const object = (v: unknown): Record<string, unknown> => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw shape();
    return v as Record<string, unknown>;
  };
  if (file === 'manifest.json') {
    if (!Array.isArray(value)) throw shape();
    return value.flatMap((m) => strings(object(m).RepoTags));
  }
  if (file === 'repositories') {
    // {"repo": {"tag": "id"}}: the names of a legacy archive, repo:tag each.
    return Object.entries(object(value)).flatMap(([repo, tags]) => Object.keys(object(tags)).map((tag) => `${repo}:${tag}`));
  }
  // index.json (OCI): a manifest's names are its annotations.
  const manifests = object(value).manifests;
  if (manifests === undefined) return [];
  if (!Array.isArray(manifests)) throw shape();
  return manifests.flatMap((m) => {
    const notes = object(m).annotations;
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
