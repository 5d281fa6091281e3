// What an image archive (`docker save`, `podman save`, a bundle's image.oci.tar or older image.tar) really
// holds, worked out from its bytes, never from its names: the config must hash
// to the digest its name claims, every layer to the config's rootfs.diff_ids in
// order, and every OCI blob to its name. Read as one stream, not unpacked
// (publish may have each file's bytes stored by digest as they pass, to
// repack them as an OCI archive: see ocilayout.ts).
import { createHash } from 'node:crypto';
import { closeSync, openSync, renameSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { TarError, type TarHeader } from '../repro/tarindex.js';
import { readTarStream, type EntrySink } from '../repro/tarstream.js';
import { fileSink } from '../repro/tarwriter.js';
import { parseImageRef } from '../lock/reference.js';
import { pathProblem, shown } from './bundlefs.js';
import { linkTargetProblem } from './unpacker.js';
import { MAX_DEPTH, MAX_PATH } from '../repro/merge.js';
import { shallowJson } from '../canonical.js';

/** A file of the archive by its content: sha256 (hex) and size. */
export interface Blob {
  sha256: string;
  size: number;
}

export interface ImageFindings {
  /** What the archive is called in messages (image.tar, image.oci.tar). */
  label: string;
  /** Config digests (hex) the archive's manifests lead to, each checked against its bytes. */
  configs: string[];
  /** Each image found whole: its config and its layers in order (uncompressed, each its diff). */
  images: { config: Blob; layers: Blob[] }[];
  /** Every name the archive would give its image when loaded (RepoTags, repositories, OCI annotations). */
  tags: string[];
  problems: string[];
}

interface Member {
  sha256: string;
  size: number;
  /** The bytes, for small files that may be a manifest, an index or a config. */
  data?: Buffer;
}

const KEEP = 8 << 20;
const KEEP_TOTAL = 64 << 20;
/**
 * Manifests the indexes of an OCI layout may list in all, each listing counted (docker and podman
 * write one or two; a layout of many platforms, tens): each listing costs a look-up, and a few
 * kilobytes of indexes can list one manifest thousands of times.
 */
const MAX_DESCRIPTORS = 1_000;
/** Layer media types whose bytes are the layer's diff (uncompressed). */
const UNCOMPRESSED = new Set(['application/vnd.oci.image.layer.v1.tar', 'application/vnd.docker.image.rootfs.diff.tar']);

export interface ReadOptions {
  label?: string;
  /** A folder to store every regular file in, named by its sha256 (hex). */
  blobsTo?: string;
}

class StoreError extends Error {}

/** How a name is longer or deeper than rep reads (the bounds a layer's paths have), if it is. */
function tooLong(name: string): string | undefined {
  if (Buffer.byteLength(name) > MAX_PATH) return `longer than ${MAX_PATH} bytes`;
  if (name.split('/').filter((p) => p !== '' && p !== '.').length > MAX_DEPTH) return `more than ${MAX_DEPTH} folders deep`;
  return undefined;
}

/**
 * Reads the tar stream `input` to its end (a malformed archive is a finding,
 * not an error), as Go reads it (repro/tarstream.ts), which is how docker and
 * podman load it: an archive that tar readers would read differently is a
 * finding, not an image rep checked and the engine loads otherwise.
 */
export async function readImageArchive(input: Readable, opts: ReadOptions = {}): Promise<ImageFindings> {
  const label = opts.label ?? 'image.tar';
  let parts = 0;
  const members = new Map<string, Member>();
  const links = new Map<string, string>();
  const problems: string[] = [];
  let kept = 0;
  /** The type of every entry that is not a folder, by name; and every folder the entries made, named or not. */
  const kinds = new Map<string, string>();
  const folders = new Set<string>();
  // Why `name` is not where a reader unpacks it, if it is not. GNU tar and docker load (which untars, then
  // follows the manifest's paths) write through a link made before (blobs -> x: blobs/sha256/C lands in x/,
  // where a later x/sha256/C replaces it) and replace a folder by a link or file of its name, so rep,
  // reading by name, would check bytes the reader does not find there. docker save, podman save and rep
  // write no such archive: their links are to files.
  const placeProblem = (name: string, folder: boolean): string | undefined => {
    for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
      const up = name.slice(0, i);
      const kind = kinds.get(up);
      if (kind === '1' || kind === '2') return `goes through the link ${shown(up)}`;
      if (kind !== undefined) return `is under ${shown(up)}, which is not a folder`;
    }
    if (!folder && folders.has(name)) return `comes after entries under it, as if ${shown(name)} were a folder`;
    return undefined;
  };
  // A reader makes a hard link of whatever is at its target's path, through any link on the way, and of
  // a symbolic link as it stands (its target then read from the new place): the target must be a file
  // named before it, on a path without links.
  const hardLinkProblem = (to: string): string | undefined => {
    const long = tooLong(to);
    if (long) return `the target is ${long}`;
    const [through, kind] = [placeProblem(to, true), kinds.get(to)];
    return pathProblem(to) ?? (through && `the target ${through}`) ?? (kind === '0' || kind === '1' ? undefined : 'the target is not a file before it in the archive');
  };
  const entry = (h: TarHeader): EntrySink | undefined => {
    // Each folder on an entry's way is looked up: a name of 65,536 parts, 128 KiB of pax header, took
    // 27 s. No file system holds such a name, nor does an image layer (merge.ts).
    const long = tooLong(h.name);
    if (long) {
      problems.push(`${label}: entry "${shown(h.name)}" has a name ${long}`);
      return undefined;
    }
    const name = h.name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    if (name === '' || pathProblem(name)) {
      problems.push(`${label}: entry "${shown(h.name)}" is not a plain relative path`);
      return undefined;
    }
    const misplaced = kinds.has(name) ? 'appears twice' : placeProblem(name, h.type === '5');
    if (misplaced) {
      problems.push(`${label}: entry ${shown(name)} ${misplaced}`);
      return undefined;
    }
    // A symbolic link is read here by joining names, by docker a folder at a time: the same file only for a
    // target that is relative, climbs ("..") only at its start and stays in the archive (docker save's
    // links do). A link refused is still taken for one: what a reader would write through it is refused too.
    const bad = h.type === '2' ? linkTargetProblem(name, h.linkname) : h.type === '1' ? hardLinkProblem(h.linkname.replace(/^(\.\/)+/, '')) : undefined;
    for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) folders.add(name.slice(0, i));
    if (h.type === '5') folders.add(name);
    else kinds.set(name, h.type);
    if (h.type === '2' || h.type === '1') {
      if (bad) {
        problems.push(`${label}: entry ${shown(name)} links to "${shown(h.linkname)}": ${bad}`);
        return undefined;
      }
      const target = h.type === '1' ? h.linkname : path.posix.join(path.posix.dirname(name), h.linkname);
      links.set(name, path.posix.normalize(target).replace(/^(\.\/)+/, ''));
      return undefined;
    }
    if (h.type !== '0') return undefined;
    const hash = createHash('sha256');
    const small = h.size <= KEEP && kept + h.size <= KEEP_TOTAL;
    const chunks: Buffer[] = [];
    const part = opts.blobsTo && path.join(opts.blobsTo, `.part${parts++}`);
    const stored = (what: () => void) => {
      try {
        what();
      } catch (e) {
        throw new StoreError(`cannot store ${shown(name)}: ${(e as Error).message}`);
      }
    };
    if (part) stored(() => (open = openSync(part, 'wx')));
    const store = open === undefined ? undefined : fileSink(open);
    return {
      data: (c) => {
        hash.update(c);
        if (small) chunks.push(Buffer.from(c));
        if (store) stored(() => store(c));
      },
      end: () => {
        const data = small ? Buffer.concat(chunks) : undefined;
        if (data) kept += data.length;
        const sha256 = hash.digest('hex');
        if (part) {
          stored(() => closeSync(open!));
          open = undefined;
          stored(() => renameSync(part, path.join(opts.blobsTo!, sha256)));
        }
        members.set(name, { sha256, size: h.size, data });
      },
    };
  };
  /** The blob being stored, if any (closed should the archive end on the way). */
  let open: number | undefined;
  let finished: string | undefined;
  try {
    await readTarStream(input, entry);
  } catch (e) {
    const message = (e as Error).message;
    finished = e instanceof TarError ? `${label} is not a readable tar archive: ${message}` : e instanceof StoreError ? message : `cannot read ${label}: ${message}`;
  } finally {
    if (open !== undefined) closeSync(open);
  }
  if (finished) return { label, configs: [], images: [], tags: [], problems: [...problems, finished] };
  return checkMembers(label, members, links, problems);
}

function checkMembers(label: string, members: Map<string, Member>, links: Map<string, string>, problems: string[]): ImageFindings {
  const configs: string[] = [];
  const images: ImageFindings['images'] = [];
  // A set: an index may give the same name on every listing of a manifest.
  const tags = new Set<string>();
  const names = (v: unknown, where: string) => {
    if (v === undefined || v === null) return;
    if (Array.isArray(v) && v.every((t) => typeof t === 'string')) for (const t of v as string[]) tags.add(t);
    else if (typeof v === 'string') tags.add(v);
    else problems.push(`${label}: ${where} is not a list of names`);
  };
  const member = (name: string): Member | undefined => {
    for (let i = 0; i < 8 && links.has(name); i++) name = links.get(name)!;
    return members.get(name);
  };
  // Each file parsed once (undefined: not JSON), however many manifests name it: a config of megabytes
  // that a thousand manifests share is read once, not a thousand times.
  const parsed = new Map<Member, unknown>();
  const json = (name: string, what: string): unknown => {
    const m = member(name);
    if (!m) return void problems.push(`${label}: ${what} ${shown(name)} is not in the archive`);
    if (!m.data) return void problems.push(`${label}: ${what} ${shown(name)} is too large to be one`);
    if (!parsed.has(m)) {
      try {
        parsed.set(m, shallowJson(m.data.toString('utf8')));
      } catch {
        parsed.set(m, undefined);
      }
    }
    const v = parsed.get(m);
    if (v === undefined) problems.push(`${label}: ${what} ${shown(name)} is not JSON`);
    return v;
  };
  const blobName = (digest: unknown) => (typeof digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(digest) ? `blobs/sha256/${digest.slice(7)}` : undefined);

  // Every OCI blob is named by its digest, a link's by that of the file it leads to.
  for (const name of [...members.keys(), ...links.keys()]) {
    const hex = /^blobs\/sha256\/(.*)$/.exec(name)?.[1];
    const m = hex === undefined ? undefined : member(name);
    if (m && m.sha256 !== hex) problems.push(`${label}: blob ${shown(name)} has sha256:${m.sha256}, not the digest its name says`);
  }

  /** Checks a config and the layers listed for it; records the config's digest. */
  const image = (configName: string, configHex: string | undefined, layers: { name: string; uncompressed: boolean }[], from: string) => {
    const m = member(configName);
    const config = json(configName, 'config') as { rootfs?: { diff_ids?: unknown } } | undefined;
    if (!m || !config) return;
    if (configHex !== m.sha256) problems.push(`${label}: the config ${shown(configName)} has sha256:${m.sha256}, not the digest ${from === 'manifest.json' ? 'its name says' : `${from} names`}`);
    configs.push(m.sha256);
    const diffIds = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string')) return void problems.push(`${label}: the config ${shown(configName)} has no rootfs.diff_ids`);
    if (diffIds.length !== layers.length) problems.push(`${label}: ${from} lists ${layers.length} layers, the config's rootfs.diff_ids ${diffIds.length}`);
    const found = layers.map((l) => member(l.name)).filter((lm) => lm !== undefined);
    if (found.length === layers.length && !images.some((i) => i.config.sha256 === m.sha256)) {
      images.push({ config: { sha256: m.sha256, size: m.size }, layers: found.map((lm) => ({ sha256: lm.sha256, size: lm.size })) });
    }
    layers.forEach((l, i) => {
      const lm = member(l.name);
      if (!lm) return void problems.push(`${label}: layer ${i + 1} (${shown(l.name)}) is not in the archive`);
      if (!l.uncompressed) return void problems.push(`${label}: layer ${i + 1} (${shown(l.name)}) is compressed; rep checks uncompressed layers (docker save, podman save)`);
      const want = diffIds[i] as string | undefined;
      if (want !== undefined && `sha256:${lm.sha256}` !== want) problems.push(`${label}: layer ${i + 1} (${shown(l.name)}) has sha256:${lm.sha256}, the config says ${shown(want)}`);
    });
  };

  const hasManifest = member('manifest.json') !== undefined;
  const hasIndex = member('index.json') !== undefined;
  if (!hasManifest && !hasIndex) problems.push(`${label} holds no manifest.json or index.json: it is not an image archive`);
  // docker save (legacy and OCI layouts), podman save: manifest.json.
  if (hasManifest) {
    const manifest = json('manifest.json', 'manifest');
    if (manifest !== undefined) {
      const entries = Array.isArray(manifest) ? (manifest as { Config?: unknown; Layers?: unknown }[]) : [];
      if (entries.length !== 1) problems.push(`${label}: manifest.json must name exactly one image; it names ${entries.length}`);
      for (const e of entries.slice(0, 1)) {
        names((e as { RepoTags?: unknown })?.RepoTags, 'RepoTags in manifest.json');
        if (typeof e?.Config !== 'string' || !Array.isArray(e.Layers) || !e.Layers.every((l) => typeof l === 'string')) {
          problems.push(`${label}: manifest.json is not a docker image manifest (Config, Layers)`);
          continue;
        }
        const hex = /^(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json)?$/.exec(e.Config)?.[1];
        image(e.Config, hex, (e.Layers as string[]).map((name) => ({ name, uncompressed: true })), 'manifest.json');
      }
    }
  }
  // The legacy docker layout also names the image in `repositories`: {repository: {tag: id}}.
  if (member('repositories') !== undefined) {
    const repos = json('repositories', 'name list');
    if (repos !== null && typeof repos === 'object' && !Array.isArray(repos)) {
      for (const [repo, byTag] of Object.entries(repos as Record<string, unknown>)) {
        if (byTag !== null && typeof byTag === 'object') for (const t of Object.keys(byTag)) tags.add(`${repo}:${t}`);
      }
    } else if (repos !== undefined) problems.push(`${label}: repositories is not a map of names`);
  }
  // The OCI layout (docker 25 and later write both): index.json -> manifest -> config and layers.
  if (hasIndex) {
    // Each index and manifest is read once, however often the indexes list it, and the listings followed
    // are counted: three indexes nested, each listing the next 160 times, made 4 million visits (22 s) of
    // an archive of 83 KB.
    const visited = new Set<string>();
    let listed = 0;
    const visit = (name: string, depth: number) => {
      const index = json(name, 'index') as { manifests?: { mediaType?: string; digest?: unknown }[] } | undefined;
      if (!index) return;
      if (!Array.isArray(index.manifests) || index.manifests.length === 0) return void problems.push(`${label}: ${shown(name)} lists no manifests`);
      for (const d of index.manifests) {
        // Past the bound, every index being read stops here; the first to pass it says so.
        if (++listed > MAX_DESCRIPTORS) {
          if (listed === MAX_DESCRIPTORS + 1) problems.push(`${label}: its indexes list more than ${MAX_DESCRIPTORS} manifests; rep reads no further`);
          return;
        }
        const notes = (d as { annotations?: Record<string, unknown> })?.annotations;
        for (const key of ['org.opencontainers.image.ref.name', 'io.containerd.image.name']) names(notes?.[key], `the ${key} annotation`);
        const blob = blobName(d?.digest);
        if (!blob) {
          problems.push(`${label}: ${shown(name)} lists a manifest without a sha256 digest`);
          continue;
        }
        if (visited.has(blob)) continue;
        visited.add(blob);
        if (/index/.test(d.mediaType ?? '')) {
          if (depth < 2) visit(blob, depth + 1);
          else problems.push(`${label}: indexes nested too deep at ${blob}`);
          continue;
        }
        const m = json(blob, 'manifest') as { config?: { digest?: unknown }; layers?: { digest?: unknown; mediaType?: string }[] } | undefined;
        if (!m) continue;
        const config = blobName(m.config?.digest);
        if (!config || !Array.isArray(m.layers)) {
          problems.push(`${label}: ${blob} is not an image manifest (config, layers)`);
          continue;
        }
        const layers = m.layers.map((l) => ({ name: blobName(l?.digest) ?? '(no digest)', uncompressed: UNCOMPRESSED.has(l?.mediaType ?? '') }));
        image(config, config.slice(13), layers, blob);
      }
    };
    visit('index.json', 0);
  }
  return { label, configs: [...new Set(configs)], images, tags: [...tags].sort(), problems };
}

/** A name as an engine resolves it (podman's localhost/ and Docker Hub's long form count as the short one). */
const canonicalName = (ref: string): string => {
  const r = parseImageRef(ref.replace(/^localhost\//, ''));
  return `${r.registry}/${r.repository}:${r.tag ?? ''}`;
};

/** Whether every image the archive holds is `want` (hex), with what is wrong if not. */
export function imageProblems(found: ImageFindings, want: string | undefined, tag: string | undefined): string[] {
  const out = [...found.problems];
  for (const c of found.configs) if (c !== want) out.push(`${found.label} holds image sha256:${shown(c)}, the statement names ${want ? `sha256:${shown(want)}` : 'no image'}`);
  // Loading the archive tags its image with these names: none may be other than the statement's tag
  // (an OCI ref.name may be that tag's tag part alone), or loading it would move a tag of the reader's.
  const tagPart = tag === undefined ? undefined : parseImageRef(tag).tag;
  for (const t of found.tags) {
    const same = tag !== undefined && (canonicalName(t) === canonicalName(tag) || (!/[/:@]/.test(t) && t === tagPart));
    if (!same) out.push(`${found.label} names its image ${shown(t)}, not ${tag === undefined ? 'the tag the statement names' : shown(tag)}: loading it would tag one of your images`);
  }
  return out;
}
