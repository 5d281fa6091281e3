// Whether a bundle's filesystem.json lists the files of the image in its image
// archive (the image the statement cites), worked out from the archive's
// layers as an engine applies them (whiteouts, opaque folders, hard links:
// repro/merge.ts), every file hashed from its bytes. Where the Repfile says
// `reproducible: false`, `rep verify --rebuild` compares the rebuild with
// filesystem.json alone, not by digest: a stranger could ship a list of the
// clean rebuild beside an image with a backdoor in it.
import { createHash } from 'node:crypto';
import { closeSync, readSync } from 'node:fs';
import path from 'node:path';
import { parentOf } from '../emit/copies.js';
import { ArchiveError, readSaved } from '../repro/archive.js';
import { LayerError, mergeLayers, type Entry } from '../repro/merge.js';
import { JSON_LIMIT } from '../safefs.js';
import { openInside, shown } from './bundlefs.js';
import { diffFilesystems, FsManifestError, inContainerOnly, manifestEntryBytes, type FsEntry, type FsManifest } from './filesystem.js';

/** filesystem.json's names (tar-stream's) for the types a merged layer holds (never a hard link: see Entry). */
const TYPES: Record<string, string> = { '0': 'file', '2': 'symlink', '3': 'character-device', '4': 'block-device', '5': 'directory', '6': 'fifo' };

/** A folder the engine makes (MkdirAll: 755, root's): where a layer writes into one it does not list, or for a container (its WORKDIR, a VOLUME). */
const MADE: FsEntry = { type: 'directory', mode: '755', uid: 0, gid: 0 };
const made = (e: FsEntry) => e.type === MADE.type && e.mode === MADE.mode && e.uid === 0 && e.gid === 0;

const own = (m: FsManifest, p: string): FsEntry | undefined => (Object.hasOwn(m, p) ? m[p] : undefined);

/** One regular file's sha256, read from its layer in the archive; the event loop is let in between large ones. */
async function fileSha256(e: Entry, buf: Buffer): Promise<string> {
  const hash = createHash('sha256');
  for (let done = 0; done < e.size; ) {
    const n = readSync(e.data!.fd, buf, 0, Math.min(buf.length, e.size - done), e.data!.offset + done);
    if (n <= 0) throw new ArchiveError(`the bytes of ${JSON.stringify(e.path)} end before its size`);
    hash.update(buf.subarray(0, n));
    done += n;
  }
  if (e.size > buf.length) await new Promise((r) => setImmediate(r));
  return hash.digest('hex');
}

/**
 * The image `configHex`'s files in the archive `name` of the bundle folder `dir`, as filesystem.json
 * lists an image's (what the engine adds to a container left out), bounded as publish bounds it.
 */
async function archiveListing(dir: string, name: string, configHex: string): Promise<{ manifest: FsManifest } | { problem: string }> {
  const o = openInside(dir, name);
  if ('problem' in o) return o;
  try {
    const image = readSaved(o.fd, path.join(dir, name)).get(`sha256:${configHex}`);
    if (!image) return { problem: `${name} holds no image sha256:${configHex} to check filesystem.json against` };
    const { entries } = mergeLayers(image.layers, () => false);
    const out = new Map<string, FsEntry>();
    // Hard links share the bytes of one inode: hashed once.
    const hashes = new Map<number, string>();
    const buf = Buffer.alloc(1 << 20);
    let text = 3;
    const add = (p: string, e: FsEntry) => {
      text += manifestEntryBytes(p, e);
      if (text > JSON_LIMIT) throw new FsManifestError(`its image holds more files than filesystem.json can list within the ${JSON_LIMIT} bytes rep verify reads of it`);
      out.set(p, e);
    };
    for (const [p, e] of entries) {
      if (inContainerOnly(p)) continue;
      const fields: FsEntry = { type: TYPES[e.type]!, mode: e.mode.toString(8), uid: e.uid, gid: e.gid };
      if (e.type === '2') fields.linkname = e.linkname;
      if (e.type === '0') {
        const at = e.data!.offset;
        fields.sha256 = hashes.get(at) ?? (await fileSha256(e, buf));
        hashes.set(at, fields.sha256);
      }
      add(p, fields);
      for (let d = parentOf(p); d !== '' && !entries.has(d) && !out.has(d); d = parentOf(d)) if (!inContainerOnly(d)) add(d, MADE);
    }
    return { manifest: Object.fromEntries(out) };
  } catch (e) {
    if (e instanceof ArchiveError || e instanceof LayerError || e instanceof FsManifestError) return { problem: `${name} cannot be listed to check filesystem.json against it: ${shown(e.message)}` };
    throw e;
  } finally {
    closeSync(o.fd);
  }
}

/**
 * filesystem.json as the layers give the same image: a hard link as the entry of the file it shares
 * (an export names a group's inode by another of its names than a layer may), and without the
 * folders the engine made for the container alone (755, root's, holding only such folders).
 */
function comparable(recorded: FsManifest, image: FsManifest): FsManifest {
  const out = new Map<string, FsEntry>();
  for (const [p, e] of Object.entries(recorded)) {
    const target = e.type === 'link' && e.linkname !== undefined ? own(recorded, e.linkname.replace(/^\.?\//, '').replace(/\/$/, '')) : undefined;
    out.set(p, target && target.type !== 'link' ? target : e);
  }
  const engines = (p: string) => own(image, p) === undefined && made(out.get(p)!);
  const holding = new Set<string>();
  for (const p of out.keys()) if (!engines(p)) for (let d = parentOf(p); d !== '' && !holding.has(d); d = parentOf(d)) holding.add(d);
  for (const p of [...out.keys()]) if (engines(p) && !holding.has(p)) out.delete(p);
  return Object.fromEntries(out);
}

/** What verify says of one archive: a problem in one line, or the paths where filesystem.json and its image differ. */
export type ListingCheck = { said: string } | { differs: string; lines: string[] };

/**
 * Whether filesystem.json (`recorded`) lists the files of the image the statement cites (`configHex`)
 * in each of the bundle's image archives (`archives`); with none, that nothing ties it to an image.
 */
export async function listingChecks(dir: string, archives: readonly string[], configHex: string | undefined, recorded: FsManifest): Promise<ListingCheck[]> {
  if (archives.length === 0) {
    return [{ said: 'the rebuild was compared with filesystem.json only, which the bundle does not tie to the image the statement cites: with `reproducible: false` the digest is not compared, and the bundle holds no image archive to check filesystem.json against (rep publish --image writes one)' }];
  }
  if (configHex === undefined) return [{ said: `filesystem.json cannot be checked against ${archives.join(', ')}: the statement cites no image` }];
  const checks: ListingCheck[] = [];
  for (const name of archives) {
    const listed = await archiveListing(dir, name, configHex);
    if ('problem' in listed) checks.push({ said: listed.problem });
    else {
      const lines = diffFilesystems(comparable(recorded, listed.manifest), listed.manifest);
      if (lines.length) checks.push({ differs: `the rebuild was compared with filesystem.json, which does not list the files of the image in ${name} (the image the statement cites); from filesystem.json to that image:`, lines });
    }
  }
  return checks;
}
