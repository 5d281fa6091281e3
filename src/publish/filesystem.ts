// An image's filesystem as a manifest (path -> type, mode, owner, content
// hash; no timestamps), to record at publish time and compare on rebuild;
// read in the same pass, the few files the SBOM reads (its package databases).
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import { tarEntries, type KeepFile, type TarEntry } from '../tarentries.js';
import { JSON_LIMIT } from '../safefs.js';
import { withTempDir } from '../tempdir.js';
import { shallowJson } from '../canonical.js';

/** A path's type, mode, owner, content sha256 and link target (filesystem.json writes its keys sorted). */
export type FsEntry = Omit<TarEntry, 'name'>;

export type FsManifest = Record<string, FsEntry>;

/** What the engine puts into every container (not part of the image). */
const RUNTIME = new Set(['.dockerenv', 'etc/hostname', 'etc/hosts', 'etc/resolv.conf', 'etc/mtab', 'run', 'run/.containerenv']);
const MOUNTS = new Set(['proc', 'sys', 'dev']);
/** Whether the path (relative) is the engine's, put into every container, rather than the image's: filesystem.json leaves it out. */
export const inContainerOnly = (name: string): boolean => RUNTIME.has(name) || MOUNTS.has(name.split('/')[0]!);

/** What one pass over an exported filesystem gives: the manifest, and the bytes of the files `keep` asked for (by path). */
export interface ImageContents {
  manifest: FsManifest;
  files: Map<string, Buffer>;
}

/** Paths as the manifest names them: relative, no trailing slash. */
const relative = (raw: string) => raw.replace(/^\.?\//, '').replace(/\/$/, '');

/** The image's files are more than filesystem.json can list: what `rep verify` reads of it is bounded. */
export class FsManifestError extends Error {}

/**
 * The bytes one entry adds to filesystem.json as prettyJson writes it (UTF-8), counted exactly:
 * `  "name": {` a line per member `    "key": value`, `  }` and the separator. The whole file is
 * 3 bytes (`{\n`, `}\n`) and these. Key order does not change the count.
 */
export function manifestEntryBytes(name: string, fields: FsEntry): number {
  let members = 0;
  for (const k in fields) if (fields[k as keyof FsEntry] !== undefined) members++;
  // Compact JSON plus, per member, a newline, four spaces and a space after the colon; then the
  // newline and two spaces before "}"; then the two spaces, ": " and ",\n" of the member itself.
  return Buffer.byteLength(JSON.stringify(name)) + Buffer.byteLength(JSON.stringify(fields)) + 6 * members + 3 + 6;
}

/**
 * The image's filesystem as a manifest, and the files `keep` asks for. A
 * manifest whose filesystem.json would pass `bound` bytes (what `rep verify`
 * reads) is refused (FsManifestError) rather than written unverifiable, or
 * built as a string too long for Node.
 */
export async function readImageTar(file: string, keep?: KeepFile, bound = JSON_LIMIT): Promise<ImageContents> {
  const entries: [string, FsEntry][] = [];
  const files = new Map<string, Buffer>();
  const want: KeepFile | undefined = keep && ((raw, size) => keep(relative(raw), size));
  // Hard links by the file they share bytes with (the first of its names in the archive).
  const links = new Map<string, string[]>();
  let text = 3;
  for await (const { name: raw, data, ...fields } of tarEntries(createReadStream(file), want)) {
    const name = relative(raw);
    if (name === '' || inContainerOnly(name)) continue;
    text += manifestEntryBytes(name, fields);
    if (text > bound) throw new FsManifestError(`the image holds more files than filesystem.json can list within the ${bound} bytes rep verify reads of it (${entries.length} listed so far)`);
    entries.push([name, fields]);
    if (data) files.set(name, data);
    if (keep && fields.type === 'link' && fields.linkname !== undefined) {
      const target = relative(fields.linkname);
      // Pushed, not copied: busybox's applets are hundreds of links to one file, a hostile image millions.
      const names = links.get(target);
      if (names) names.push(name);
      else links.set(target, [name]);
    }
  }
  if (keep && links.size) await readHardLinked(file, links, keep, files);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // An export lists each path once; two alike are names that are not UTF-8 (the tar reader gives each
  // byte it cannot decode as U+FFFD), and the list would keep one of them. Refused, not written short.
  for (let i = 1; i < entries.length; i++) {
    const name = entries[i]![0];
    if (name === entries[i - 1]![0]) throw new FsManifestError(`two paths of the image read alike, ${JSON.stringify(`/${name}`)} (names that are not UTF-8): filesystem.json cannot tell them apart`);
  }
  return { manifest: Object.fromEntries(entries), files };
}

/**
 * The bytes of the hard links `keep` asks for: a package database docker export writes as a
 * hard link (conda's environments share their files with its package cache) is that file, with
 * the bytes of the file the archive gave first. A symlink is never followed; a hard link names
 * a file of the same archive. The target's bytes, when kept already, are shared; else a second
 * pass over the archive reads them, only when some link asks for them.
 */
async function readHardLinked(file: string, links: ReadonlyMap<string, string[]>, keep: KeepFile, files: Map<string, Buffer>): Promise<void> {
  const asked = new Map<string, string[]>();
  for (const [target, names] of links) {
    const had = files.get(target);
    if (had) {
      for (const n of names) if (keep(n, had.length)) files.set(n, had);
    } else asked.set(target, names);
  }
  if (asked.size === 0) return;
  const taken = new Map<string, string[]>();
  const want: KeepFile = (raw, size) => {
    const names = asked.get(relative(raw))?.filter((n) => !files.has(n) && keep(n, size)) ?? [];
    if (names.length) taken.set(relative(raw), names);
    return names.length > 0;
  };
  for await (const { name: raw, data } of tarEntries(createReadStream(file), want)) {
    if (data) for (const n of taken.get(relative(raw)) ?? []) files.set(n, data);
  }
}

export async function readFilesystemTar(file: string): Promise<FsManifest> {
  return (await readImageTar(file)).manifest;
}

/** The image's filesystem, exported once from a container of it (`docker export`). */
export async function imageContents(engine: Engine, ref: string, keep?: KeepFile): Promise<ImageContents> {
  return withTempDir('rep-fs', async (dir) => {
    const file = path.join(dir, 'fs.tar');
    await engine.exportFilesystem(ref, file);
    return readImageTar(file, keep);
  });
}

export async function imageFilesystem(engine: Engine, ref: string): Promise<FsManifest> {
  return (await imageContents(engine, ref)).manifest;
}

/** Differences, one line per path: what was recorded against what is there now. */
export function diffFilesystems(recorded: FsManifest, now: FsManifest): string[] {
  const out: string[] = [];
  // Own members only: a recorded path named "constructor" or "toString" is a path, not Object.prototype's.
  const at = (m: FsManifest, p: string): FsEntry | undefined => (Object.hasOwn(m, p) ? m[p] : undefined);
  for (const p of [...new Set([...Object.keys(recorded), ...Object.keys(now)])].sort()) {
    const a = at(recorded, p);
    const b = at(now, p);
    if (!a) out.push(`added    /${p}`);
    else if (!b) out.push(`missing  /${p}`);
    else {
      const what: string[] = [];
      if (a.type !== b.type) what.push(`type ${a.type} -> ${b.type}`);
      if (a.mode !== b.mode) what.push(`mode ${a.mode} -> ${b.mode}`);
      if (a.uid !== b.uid || a.gid !== b.gid) what.push(`owner ${a.uid}:${a.gid} -> ${b.uid}:${b.gid}`);
      if (a.sha256 !== b.sha256) what.push('content differs');
      if (a.linkname !== b.linkname) what.push(`link ${a.linkname ?? ''} -> ${b.linkname ?? ''}`);
      if (what.length) out.push(`changed  /${p}: ${what.join(', ')}`);
    }
  }
  return out;
}

const owner = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;

/** An entry as readImageTar writes one: a bundle's filesystem.json may hold anything else, which the comparison would print or trip on. */
function fsEntryShaped(e: unknown): boolean {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return false;
  const x = e as Record<string, unknown>;
  return (
    typeof x.type === 'string' && /^[a-z-]{1,20}$/.test(x.type) &&
    typeof x.mode === 'string' && /^[0-7]{1,4}$/.test(x.mode) &&
    owner(x.uid) && owner(x.gid) &&
    (x.sha256 === undefined || (typeof x.sha256 === 'string' && /^[0-9a-f]{64}$/.test(x.sha256))) &&
    (x.linkname === undefined || typeof x.linkname === 'string') &&
    Object.keys(x).every((k) => ['type', 'mode', 'uid', 'gid', 'sha256', 'linkname'].includes(k))
  );
}

/** A manifest from filesystem.json (a bundle's file: its shape checked, entry by entry), or undefined. */
export function parseFsManifest(text: Buffer): FsManifest | undefined {
  try {
    const m = shallowJson(text.toString('utf8'));
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined;
    return Object.values(m).every(fsEntryShaped) ? (m as FsManifest) : undefined;
  } catch {
    return undefined;
  }
}
