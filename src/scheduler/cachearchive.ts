// What a cache folder's archive (dir://PATH/rep-cache.tar) would tag when the
// engine loads it, read before it does: docker and podman apply every tag an
// archive names (manifest.json's RepoTags, the legacy `repositories` file, an
// OCI index's image names), moving a tag the engine has already. The folder is
// restored from a CI cache others may write, so an archive is loaded only
// when every name it gives is a step image's (rep-cache:<64 hex>), and then
// not as it is: the engine loads a copy that names each image privately
// (privateCopy), since a rep-cache tag is every project's on the engine.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { TarStreamReader, type EntrySink } from '../repro/tarstream.js';
import { BLOCK, pad, type TarHeader } from '../repro/tarindex.js';
import { headerBlocks } from '../repro/tarwriter.js';
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

async function compressed(input: FileHandle): Promise<boolean> {
  const { buffer, bytesRead } = await input.read(Buffer.alloc(8), 0, 8, 0);
  const b = buffer.subarray(0, bytesRead);
  return COMPRESSED.some((m) => (typeof m === 'function' ? m(b) : b.length >= m.length && m.every((x, i) => b[i] === x)));
}

/** The name as the engine's untar places it: relative, cleaned (./x, a/../x and /x are x). */
const placed = (name: string) => path.posix.normalize(`/${name}`).slice(1).replace(/\/$/, '');

/** The names privateCopy gives the step images of an archive: REPO:TAG, the tag made from the key (hex). */
export interface PrivateNames {
  repo: string;
  tag: (hex: string) => string;
}

/**
 * The keys (hex) of the step images `file` names; a CacheArchiveError when it
 * names anything else, or when a naming file is not a plain file rep can read.
 */
export function archiveStepKeys(file: string): Promise<string[]> {
  return readArchive(file);
}

/**
 * Copies the archive `file` to the new file `to`, checked as archiveStepKeys checks it (and giving the same keys), with
 * each step image named as `names` says instead of rep-cache:<key>, in manifest.json, `repositories` and an OCI index
 * alike: loaded, the copy adds no rep-cache tag, which another build on the engine would take for its step, built.
 * Every other byte is copied as it is, in one read of the archive (of every step image: it may be gigabytes); the
 * naming files, a few megabytes at most, are written anew where they were. The engine is given the copy: what it loads
 * is then the very bytes rep read, whatever becomes of the folder meanwhile.
 */
export function privateCopy(file: string, to: string, names: PrivateNames): Promise<string[]> {
  return readArchive(file, { to, names });
}

/** Bytes read from the archive at once. */
const CHUNK = 1 << 20;

async function readArchive(file: string, copy?: { to: string; names: PrivateNames }): Promise<string[]> {
  let input: FileHandle;
  try {
    // Not through a link, nor waiting for ever on a FIFO put in the archive's place since the caller looked.
    input = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    throw new CacheArchiveError(`cannot read the archive: ${(e as Error).message}`);
  }
  let output: FileHandle | undefined;
  try {
    if (!(await input.stat()).isFile()) throw new CacheArchiveError('the archive is not a regular file');
    if (await compressed(input)) throw new CacheArchiveError('the archive is compressed (docker save and podman save write a plain tar)');
    if (copy) output = await open(copy.to, 'wx', 0o600).catch((e: Error) => Promise.reject(new CacheArchiveError(`cannot copy the archive for the engine: ${e.message}`)));
    const scan = new ArchiveScan(copy?.names);
    for (let at = 0; ; ) {
      // A buffer of its own each time: the reader and the copy hold on to pieces of it.
      const buf = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await input.read(buf, 0, CHUNK, at).catch((e: Error) => Promise.reject(new CacheArchiveError(`not an archive rep reads: ${e.message}`)));
      if (bytesRead === 0) break;
      at += bytesRead;
      const settled = scan.push(buf.subarray(0, bytesRead));
      if (output) await writeAll(output, settled);
    }
    const last = scan.finish();
    if (output) await writeAll(output, last);
    return scan.keys();
  } finally {
    await output?.close();
    await input.close();
  }
}

async function writeAll(output: FileHandle, pieces: Buffer[]): Promise<void> {
  const b = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  try {
    for (let at = 0; at < b.length; ) at += (await output.write(b, at, b.length - at)).bytesWritten;
  } catch (e) {
    throw new CacheArchiveError(`cannot copy the archive for the engine: ${(e as Error).message}`);
  }
}

/** The entry whose body is being read: where its body ends (padded), and whether it is a naming file. */
type Entry = { end: number; naming: boolean };

/**
 * An archive read a piece at a time (push, then finish): the checks of archiveStepKeys and, given `names`, the bytes of
 * the private copy, handed back as they are settled. The copy's bytes are the archive's, cut at entries: an entry's
 * blocks (its extended headers, header and body) are copied as they are, but a naming file's, which are written anew
 * once its body is read (its names checked and renamed). A tar is blocks of 512 bytes, each a header, part of an
 * extended header or part of a body: they are handed to the reader one by one where headers are, a body's at once.
 */
class ArchiveScan {
  private readonly reader = new TarStreamReader((h) => this.onEntry(h));
  /** The naming files read. */
  private readonly found = new Set<string>();
  /**
   * Links the archive makes, by name: an entry under one (a -> . then a/manifest.json) is written through it by an
   * untar that checks names by their text (docker's legacy store), where rep's reading sees another name.
   */
  private readonly links = new Set<string>();
  private readonly stepKeys = new Set<string>();
  private naming = 0;
  private manifests = 0;
  /** Bytes handed to the reader. */
  private at = 0;
  private entry: Entry | undefined;
  /** Blocks read since the last entry's body, before the next header: extended headers, or the end of the archive. */
  private held: Buffer[] = [];
  /** The naming file just read, written anew: its header and padded body. */
  private anew: Buffer[] = [];
  /** A block's first bytes, at the end of a piece. */
  private rest: Buffer = Buffer.alloc(0);
  private out: Buffer[] = [];

  constructor(private readonly names?: PrivateNames) {}

  /** Reads the next piece of the archive; gives the copy's bytes settled by it. */
  push(piece: Buffer): Buffer[] {
    const data = this.rest.length ? Buffer.concat([this.rest, piece]) : piece;
    const whole = data.length - (data.length % BLOCK);
    this.rest = data.subarray(whole);
    this.feed(data.subarray(0, whole));
    return this.take();
  }

  /** The archive is over: gives the copy's last bytes (the end of the archive). */
  finish(): Buffer[] {
    // Bytes short of a block: zeros after the end are the reader's to allow, anything else its to refuse.
    this.feed(this.rest);
    try {
      this.reader.finish();
    } catch (e) {
      throw new CacheArchiveError(`not an archive rep reads: ${(e as Error).message}`);
    }
    if (this.manifests === 0) throw new CacheArchiveError('the archive has no manifest.json (rep writes its cache with docker save or podman save)');
    this.out.push(...this.held);
    return this.take();
  }

  keys(): string[] {
    return [...this.stepKeys].sort();
  }

  private take(): Buffer[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  private feed(buf: Buffer): void {
    for (let i = 0; i < buf.length; ) {
      const entry = this.entry;
      if (entry && this.at < entry.end) {
        const body = buf.subarray(i, i + Math.min(entry.end - this.at, buf.length - i));
        this.read(body);
        if (!entry.naming) this.out.push(body);
        i += body.length;
        if (this.at === entry.end) this.ended(entry);
        continue;
      }
      const block = buf.subarray(i, i + Math.min(BLOCK, buf.length - i));
      this.entry = undefined;
      this.read(block);
      i += block.length;
      const next = this.current();
      if (!next) {
        this.held.push(block);
        continue;
      }
      // Its extended headers and header go with it: copied, or (a naming file's) written anew.
      if (!next.naming) this.out.push(...this.held, block);
      this.held = [];
      if (this.at === next.end) this.ended(next);
    }
  }

  /** The entry whose header the reader read last, if the last block was one (onEntry sets it). */
  private current(): Entry | undefined {
    return this.entry;
  }

  private ended(entry: Entry): void {
    if (entry.naming) this.out.push(...this.anew);
    this.anew = [];
  }

  private read(piece: Buffer): void {
    try {
      this.reader.push(piece);
    } catch (e) {
      if (e instanceof CacheArchiveError) throw e;
      throw new CacheArchiveError(`not an archive rep reads: ${(e as Error).message}`);
    }
    this.at += piece.length;
  }

  private onEntry(h: TarHeader): EntrySink | undefined {
    const name = placed(h.name);
    for (let at = name.indexOf('/'); at > 0; at = name.indexOf('/', at + 1)) {
      if (this.links.has(name.slice(0, at))) throw new CacheArchiveError(`${name} in the archive lies under a link the archive makes`);
    }
    if (h.type === '1' || h.type === '2') this.links.add(name);
    const naming = NAMING.has(name);
    this.entry = { end: h.offset + pad(h.size), naming };
    if (!naming) return undefined;
    // A link named manifest.json would be followed by the engine, to bytes rep did not read as it.
    if (h.type !== '0' && h.type !== '\0') throw new CacheArchiveError(`${name} in the archive is not a plain file`);
    // No engine writes one twice; which of two an engine takes is its own affair.
    if (this.found.has(name)) throw new CacheArchiveError(`${name} is in the archive twice`);
    if ((this.naming += h.size) > NAMING_LIMIT) throw new CacheArchiveError(`manifest.json, repositories and index.json in the archive are larger than ${NAMING_LIMIT} bytes`);
    this.found.add(name);
    const pieces: Buffer[] = [];
    return { data: (c) => pieces.push(Buffer.from(c)), end: () => this.named(name, Buffer.concat(pieces)) };
  }

  /** A naming file read whole: the keys of the step images it names and, for the copy, the file written anew with their private names. */
  private named(name: string, bytes: Buffer): void {
    let value: unknown;
    try {
      value = shallowJson(bytes.toString('utf8'));
    } catch {
      throw new CacheArchiveError(`${name} in the archive is not JSON`);
    }
    if (name === 'manifest.json') this.manifests++;
    for (const given of namesIn(name, value)) this.stepKeys.add(stepKey(name, given));
    if (!this.names) return;
    // JSON as the engine will read it: rep's reading of the file, which the checks above took for Go's, with the names changed.
    const text = Buffer.from(JSON.stringify(renamed(name, value, this.names)));
    this.anew = [...headerBlocks({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: text.length }), text, Buffer.alloc(pad(text.length) - text.length)];
  }
}

/** The key (hex) of the step image `given` names in the naming file `file`; a CacheArchiveError for any other name. */
function stepKey(file: string, given: string): string {
  const hex = file === 'index.json' ? (STEP_IMAGE_OCI.exec(given)?.[1] ?? (STEP_TAG.test(given) ? given : undefined)) : STEP_IMAGE.exec(given)?.[1];
  if (!hex) throw new CacheArchiveError(`the archive would tag ${JSON.stringify(given.slice(0, 200))}, which is not a step image (rep-cache:<64 hex digits>)`);
  return hex;
}

/**
 * The naming file `file` (`value`, of the shape namesIn checked) with each step image named as `names` says: every
 * name it gives is a step image's by then. An OCI index names an image in full for containerd (docker 25 and later with
 * its containerd store), and by its tag alone or in full in ref.name: each is written as it was given.
 */
function renamed(file: string, value: unknown, names: PrivateNames): unknown {
  const tag = (given: string) => names.tag(stepKey(file, given));
  if (file === 'manifest.json') {
    return (value as Record<string, unknown>[]).map((m) => (Array.isArray(m.RepoTags) ? { ...m, RepoTags: (m.RepoTags as string[]).map((t) => `${names.repo}:${tag(t)}`) } : m));
  }
  if (file === 'repositories') {
    // {"rep-cache": {KEY: id}}, podman's localhost/rep-cache too: every tag under the one private repository.
    const tags: Record<string, unknown> = {};
    for (const [repo, ids] of Object.entries(value as Record<string, Record<string, unknown>>)) for (const [t, id] of Object.entries(ids)) tags[tag(`${repo}:${t}`)] = id;
    return Object.keys(tags).length ? { [names.repo]: tags } : {};
  }
  const index = value as { manifests?: unknown };
  if (!Array.isArray(index.manifests)) return value;
  const full = (given: string) => `docker.io/${names.repo}:${tag(given)}`;
  const manifests = (index.manifests as Record<string, unknown>[]).map((m) => {
    const notes = m.annotations as Record<string, string> | undefined | null;
    if (notes === undefined || notes === null) return m;
    const out = { ...notes };
    const image = notes['io.containerd.image.name'];
    if (image !== undefined) out['io.containerd.image.name'] = full(image);
    const ref = notes['org.opencontainers.image.ref.name'];
    if (ref !== undefined) out['org.opencontainers.image.ref.name'] = STEP_TAG.test(ref) ? tag(ref) : full(ref);
    return { ...m, annotations: out };
  });
  return { ...index, manifests };
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
    // Each image named: docker and podman save name every image they were asked for by its tag, and an unnamed one
    // would be loaded to stay in the engine, a name to none (rep removes its load's names, and only those).
    return value.flatMap((m) => {
      const tags = strings(object(m, ['Config', 'RepoTags', 'Layers', 'Parent', 'LayerSources']).RepoTags);
      if (tags.length === 0) throw new CacheArchiveError(`${file} in the archive has an image that names no step image`);
      return tags;
    });
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
