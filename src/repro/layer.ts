// One canonical layer from a step's merged changes (merge.ts) and the image
// below it: entries sorted by name, every time set to the epoch, numeric
// owners without names, no pax extras beyond what a long name or a large
// number needs, hard links pointing at the first name of their group, and
// whiteouts spelled one way: a `.wh.NAME` file for each topmost path that
// was there below and is gone, never an opaque-folder marker. The same
// changes on the same image give the same bytes, whichever engine made them.
import { createHash } from 'node:crypto';
import { ShortSourceError, TarWriter, type TarHeader, type TarType } from './tarwriter.js';
import { DEFAULT_TAR_BOUNDS, ReadAhead, TarError, tarHeaders } from './tarindex.js';
import { checkFolders, cleanPath, LayerError, mergeLayers, type Entry, type LayerSource, type Merged } from './merge.js';
import { parentOf } from '../emit/copies.js';
import { PathMap } from './pathmap.js';

/**
 * The image's filesystem as far as rep needs it: every path, with a folder's
 * mode and owner ("755 0:0"), undefined for others. Each folder's children
 * are indexed (PathMap), so that what a step hides is found by walking the
 * hidden subtrees rather than every path of the image, once per step.
 */
export class Tree extends PathMap<string | undefined> {}

/** A folder the engine makes where a layer writes into one it does not list (docker's and podman's MkdirAll). */
const IMPLIED_FOLDER = '755 0:0';

const folderMeta = (e: Entry) => (e.type === '5' ? `${e.mode.toString(8)} ${e.uid}:${e.gid}` : undefined);

/** Applies a layer of the base image (kept as it is) to `tree`. */
export function applyBaseLayer(tree: Tree, layer: LayerSource): void {
  applyMerged(tree, mergeLayers([layer], () => false));
}

/** What the filesystem is after `merged` on `tree`: whiteouts and hidden paths removed, entries added. */
function applyMerged(tree: Tree, merged: Merged, gone = hiddenIn(tree, merged)): void {
  // The deepest first (a path is longer than its folder's), so that a removed folder leaves the index too.
  for (const q of [...gone].sort((a, b) => b.length - a.length)) tree.delete(q);
  for (const [p, e] of merged.entries) tree.set(p, folderMeta(e));
  // A folder a layer writes into without listing it, the engine makes as it applies the layer: 755, owned
  // by root (docker's and podman's MkdirAll). It is a folder of the image like any other (a later step
  // that removes it writes a whiteout for it; one that writes into it lists it).
  for (const p of merged.entries.keys()) for (let d = parentOf(p); d !== '' && !tree.has(d); d = parentOf(d)) tree.set(d, IMPLIED_FOLDER);
  checkFolders(tree);
}

/**
 * The paths of `tree` that `merged` hides: a path it whites out, or one
 * below a path it whites out, makes opaque or puts a non-folder at. Found
 * from what it hides, walking those subtrees. The root is below no such
 * path: a marker at the root of a layer (an opaque root, a whiteout with no
 * name) hides nothing.
 */
function hiddenIn(tree: Tree, m: Merged): Set<string> {
  const out = new Set<string>();
  for (const p of m.hideSelf) if (tree.has(p)) out.add(p);
  for (const set of [m.hideSelf, m.hideBelow]) {
    for (const p of set) if (p !== '') for (const q of tree.below(p)) out.add(q);
  }
  return out;
}

export interface CanonicalEntry extends Entry {
  /** A hard link to this path (the first of its group), else undefined. */
  hardlinkTo?: string;
  whiteout?: boolean;
}

/**
 * The canonical entries of a step's layer, sorted: what `merged` leaves, and
 * a whiteout for each path of `tree` that is gone and whose folder stays.
 * Updates `tree` to the filesystem after the step.
 */
export function canonicalEntries(tree: Tree, merged: Merged, epoch: number): CanonicalEntry[] {
  const out: CanonicalEntry[] = [];
  // The paths of the tree the step hides (gone after it, unless it makes them again).
  const gone = hiddenIn(tree, merged);
  const after = (q: string) => merged.entries.has(q) || (tree.has(q) && !gone.has(q));
  for (const q of gone) {
    if (merged.entries.has(q)) continue;
    const dir = parentOf(q);
    const dirStays = dir === '' || (after(dir) && (merged.entries.get(dir)?.type ?? '5') === '5' && (merged.entries.has(dir) || tree.get(dir) !== undefined));
    if (dirStays) out.push({ path: `${dir ? `${dir}/` : ''}.wh.${q.slice(dir ? dir.length + 1 : 0)}`, type: '0', mode: 0, uid: 0, gid: 0, mtime: epoch, size: 0, linkname: '', devmajor: 0, devminor: 0, whiteout: true });
  }
  const firstOf = new Map<string, string>();
  const sorted = [...merged.entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const unchanged = (e: Entry) => e.type === '5' && tree.get(e.path) === folderMeta(e) && !gone.has(e.path);
  // The folders this layer writes into must be in it: an engine applies a layer into an empty
  // folder of its own, and makes a parent the layer lacks as 755 (a step writing /tmp/x made /tmp 755).
  const holding = new Set<string>();
  for (const e of [...out, ...sorted.filter((x) => !unchanged(x))]) {
    for (let d = parentOf(e.path); d !== '' && !holding.has(d); d = parentOf(d)) holding.add(d);
  }
  for (const e of sorted) {
    // A folder that is there below, as it is (mode, owner), and holds nothing this layer writes, changes
    // nothing but its time: left out, as engines differ in whether they write it.
    if (unchanged(e) && !holding.has(e.path)) continue;
    // Every time is the epoch, not min(time, epoch): a builder's cache can hand back a step's files
    // with the times of an earlier build (BuildKit keys COPY by content), so a time before the
    // epoch is no more the step's own than one after it.
    const c: CanonicalEntry = { ...e, mtime: epoch };
    if (e.data) {
      const id = `${e.data.fd}:${e.data.offset}`;
      const first = firstOf.get(id);
      if (first !== undefined) c.hardlinkTo = first;
      else firstOf.set(id, e.path);
    }
    out.push(c);
  }
  // A folder it writes into that the engine's layer did not list: written as it is below, or, where the
  // step removed it, as the engine makes it again (755, root).
  for (const d of holding) {
    const below = merged.entries.has(d) ? undefined : /^([0-7]+) (\d+):(\d+)$/.exec(gone.has(d) ? IMPLIED_FOLDER : (tree.get(d) ?? ''));
    if (below) out.push({ path: d, type: '5', mode: parseInt(below[1]!, 8), uid: Number(below[2]), gid: Number(below[3]), mtime: epoch, size: 0, linkname: '', devmajor: 0, devminor: 0 });
  }
  applyMerged(tree, merged, gone);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Writes `entries` as a tar into `tar` (a layer file, or a member of the archive that holds it). */
export function writeLayerEntries(entries: readonly CanonicalEntry[], tar: TarWriter): void {
  const TYPES: Record<string, TarType> = { '0': 'file', '2': 'symlink', '3': 'character-device', '4': 'block-device', '5': 'directory', '6': 'fifo' };
  // Small files' bytes read a window at a time, one window per file they lie in (open for this call's
  // length: an fd is not reused meanwhile). A layer's files lie in the order its engine wrote them,
  // which is as a rule the sorted order they go out in.
  const windows = new Map<number, ReadAhead>();
  for (const e of entries) {
    // The header holds six octal digits: a larger owner goes in a pax record (tar-stream would write 777777).
    const big = e.uid > 0o777777 || e.gid > 0o777777;
    const hardlink = e.hardlinkTo !== undefined;
    const header: TarHeader = {
      name: e.type === '5' ? `${e.path}/` : e.path,
      type: hardlink ? 'link' : TYPES[e.type]!,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      mtime: e.mtime,
      size: e.type === '0' && !hardlink ? e.size : 0,
    };
    if (hardlink || e.type === '2') header.linkname = e.hardlinkTo ?? e.linkname;
    // A link's header names its target, whose own header holds the device (one inode, written once).
    if (!hardlink && (e.type === '3' || e.type === '4')) Object.assign(header, { devmajor: e.devmajor, devminor: e.devminor });
    if (big) header.pax = { uid: String(e.uid), gid: String(e.gid) };
    if (!header.size || !e.data) tar.entry({ ...header, size: 0 });
    else {
      try {
        if (header.size > ReadAhead.WINDOW) tar.entryFrom(header, e.data.fd, e.data.offset);
        else {
          let window = windows.get(e.data.fd);
          if (!window) windows.set(e.data.fd, (window = new ReadAhead(e.data.fd, Number.MAX_SAFE_INTEGER)));
          tar.entry(header, window.bytes(e.data.offset, header.size));
        }
      } catch (err) {
        if (err instanceof ShortSourceError) throw new LayerError(`the saved image is cut short: ${err.message}`);
        if (err instanceof TarError) throw new LayerError(`the saved image is cut short: ${e.path}: the file ends early`);
        throw err;
      }
    }
  }
}

/** The diff id (sha256) of the layer `entries` make, written nowhere. */
export function layerDigest(entries: readonly CanonicalEntry[]): string {
  const hash = createHash('sha256');
  const tar = new TarWriter((b) => void hash.update(b), false);
  writeLayerEntries(entries, tar);
  tar.finish();
  return `sha256:${hash.digest('hex')}`;
}

/** The paths a layer holds, for saying which step's layer holds a file (whiteouts and the root left out). */
export function layerPaths(layer: LayerSource): string[] {
  const out: string[] = [];
  try {
    for (const h of tarHeaders(layer.fd, layer.start, layer.end, DEFAULT_TAR_BOUNDS)) {
      const p = cleanPath(h.name);
      if (p !== '' && !p.slice(p.lastIndexOf('/') + 1).startsWith('.wh.')) out.push(p);
    }
  } catch (e) {
    if (e instanceof TarError) throw new LayerError(`a layer is not a readable tar: ${e.message}`);
    throw e;
  }
  return out;
}
