// The changes a step's layers make, merged into one: whatever way an engine
// split the step's instructions into layers (a layer per WORKDIR, COPY and
// RUN, or fewer), the merge is the same set of paths with their last
// contents, and what they hide of the image below (whiteouts, opaque
// folders, a file put where a folder was). Only headers are read; a file's
// bytes stay where they are, named by file and offset.
import { TarError, tarHeaders, type TarBounds, type TarHeader, DEFAULT_TAR_BOUNDS } from './tarindex.js';
import { parentOf } from '../emit/copies.js';
import { PathMap } from './pathmap.js';

/** A layer's bytes: a range of an open file. */
export interface LayerSource {
  fd: number;
  start: number;
  end: number;
}

/**
 * A header's fields under its clean path; the type is never '1': a hard link is an entry of its
 * target's type and fields sharing its `data` (a file, symlink, fifo or device: any but a folder).
 */
export interface Entry extends Omit<TarHeader, 'name' | 'offset'> {
  path: string;
  /**
   * Where the header's body is (a file's bytes; nothing, for others): "fd:offset" names one inode,
   * which hard links share. Every entry but a folder has one, as any but a folder can be hard linked.
   */
  data?: { fd: number; offset: number };
}

export interface Merged {
  /** Paths the step's layers leave, by path (no leading "/", none for the root). */
  entries: Map<string, Entry>;
  /** Paths hidden from below, themselves included (whiteouts). */
  hideSelf: Set<string>;
  /** Paths whose contents below are hidden (whiteouts, opaque folders, a non-folder in place of a folder). */
  hideBelow: Set<string>;
}

export class LayerError extends Error {}

/** Characters of a path at most (Linux's PATH_MAX is 4096 bytes). */
export const MAX_PATH = 4096;
/** Parts of a path at most: deeper names cost a folder each in the index (a layer of 2,000 names 2,000 deep took a gigabyte). */
export const MAX_DEPTH = 256;
/** Folders the index of a step's changes, or of the image, holds at most (an image has a few thousand, a large one tens of thousands). */
export const MAX_FOLDERS = 1_000_000;

/** Refuses a map of paths whose folders pass MAX_FOLDERS. */
export function checkFolders(m: PathMap<unknown>): void {
  if (m.folders > MAX_FOLDERS) throw new LayerError(`the layers hold more than ${MAX_FOLDERS} folders`);
}

/** A layer path as rep keeps it: no "./" or "/" in front, none behind, no "." parts; ".." is refused. */
export function cleanPath(raw: string): string {
  if (raw.length > MAX_PATH) throw new LayerError(`a layer entry's name is longer than ${MAX_PATH} characters`);
  if (raw.includes('\0')) throw new LayerError('a layer entry has a NUL in its name');
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length > MAX_DEPTH) throw new LayerError(`a layer entry's name is more than ${MAX_DEPTH} folders deep`);
  if (parts.includes('..')) throw new LayerError(`the layer entry ${JSON.stringify(raw)} names a path outside the image ("..")`);
  return parts.join('/');
}


/** Entries by path, with each folder's children indexed so that removing a subtree costs its size, not the map's. */
class EntryMap extends PathMap<Entry> {
  /** Removes `p` and everything under it. */
  override delete(p: string): boolean {
    this.dropBelow(p);
    return super.delete(p);
  }
}

/**
 * Merges the layers of one step, in order. `dropped` says which paths the
 * image leaves out: a dropped entry is as if the step had never made it.
 */
export function mergeLayers(layers: readonly LayerSource[], dropped: (p: string) => boolean, bounds: TarBounds = DEFAULT_TAR_BOUNDS): Merged {
  const entries = new EntryMap();
  const hideSelf = new Set<string>();
  const hideBelow = new Set<string>();
  for (const l of layers) {
    // The layer's entries in its order, as the engine applies them: a name a later entry gives again is
    // that entry's (a folder after a hard link of its name is a folder, and holds what comes under it).
    const adds: ({ e: Entry } | { link: { path: string; target: string; h: Entry; t: Entry | undefined } })[] = [];
    // A hard link names the inode its target is where the link comes in the layer, as the engine applies it
    // (a later entry of the same name replaces the name, not the linked inode): this layer's non-folders so far.
    const inodes = new Map<string, Entry>();
    const hides: string[] = [];
    const opaque: string[] = [];
    try {
      for (const h of tarHeaders(l.fd, l.start, l.end, bounds)) {
        const path = cleanPath(h.name);
        const base = path.slice(path.lastIndexOf('/') + 1);
        if (base === '.wh..wh..opq') {
          // The root is never removed, so no engine marks it opaque: a step made a file of that name.
          if (path === base) throw unrepresentable(path, 'marks the root folder opaque');
          opaque.push(parentOf(path));
        } else if (base.startsWith('.wh..wh.')) continue; // aufs bookkeeping, not a file of the image
        else if (base.startsWith('.wh.')) {
          // `touch /.wh.` in a step: read as a whiteout of the root, it hid every earlier change of the
          // step; moby removes the folder it is in, containerd refuses it.
          const hidden = base.slice(4);
          if (hidden === '' || hidden === '.' || hidden === '..') throw unrepresentable(path, `is a whiteout of ${JSON.stringify(hidden)}, which names no file`);
          hides.push(`${parentOf(path) ? `${parentOf(path)}/` : ''}${hidden}`);
        } else if (path === '') continue; // the root folder: never rewritten
        else {
          if (!['0', '1', '2', '3', '4', '5', '6'].includes(h.type)) throw new LayerError(`the layer entry ${JSON.stringify(path)} has tar type ${JSON.stringify(h.type)}, which an image layer does not hold`);
          const e: Entry = { path, type: h.type, mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, mtime: h.mtime, size: h.type === '0' ? h.size : 0, linkname: '', devmajor: h.devmajor, devminor: h.devminor };
          // A symlink, fifo or device is hard linked as a file is (GNU ln links a symlink itself, and docker
          // writes any non-folder of more than one link as a link): each header's place names its inode.
          if (h.type !== '5' && h.type !== '1') e.data = { fd: l.fd, offset: h.offset };
          if (h.type === '2') e.linkname = h.linkname;
          if (h.type === '1') {
            const target = cleanPath(h.linkname);
            const t = inodes.get(target);
            adds.push({ link: { path, target, h: e, t } });
            if (t) inodes.set(path, linkTo(e, t));
            else inodes.delete(path);
          } else {
            adds.push({ e });
            if (h.type !== '5') inodes.set(path, e);
            else inodes.delete(path);
          }
        }
      }
    } catch (e) {
      if (e instanceof TarError) throw new LayerError(`a layer is not a readable tar: ${e.message}`);
      throw e;
    }
    // What this layer hides applies to the layers below it (the step's earlier ones and the image's).
    for (const d of opaque) {
      entries.dropBelow(d);
      hideBelow.add(d);
    }
    for (const p of hides) {
      entries.delete(p);
      hideSelf.add(p);
      hideBelow.add(p);
    }
    const put = (e: Entry) => {
      if (dropped(e.path)) return;
      const old = entries.get(e.path);
      if (e.type !== '5' || (old && old.type !== '5')) entries.dropBelow(e.path);
      if (e.type !== '5') hideBelow.add(e.path);
      entries.set(e.path, e);
      // Checked as each name goes in (the index keeps the count): one layer's names alone could otherwise
      // make millions of folders before a check after them.
      checkFolders(entries);
    };
    for (const a of adds) {
      if ('e' in a) {
        put(a.e);
        continue;
      }
      // A hard link shares the inode of its target, which the same layer holds (the engine copies it up).
      const { path, target, h, t: linked } = a.link;
      // A target the drop list left out still holds the bytes of a name it keeps (engines write the first
      // name of a group in sorted order as the file, so `ln /var/lib/apt/lists/x /var/lib/copy` links to it).
      const t = linked ?? entries.get(target);
      if (!t && dropped(target)) continue;
      // A folder cannot be hard linked (link(2) refuses it): a layer that says so is not one an engine made.
      if (!t || t.type === '5') throw new LayerError(`the hard link ${JSON.stringify(path)} points to ${JSON.stringify(target)}, which its layer does not hold as a file, symlink, fifo or device`);
      put(linkTo(h, t));
    }
  }
  return { entries, hideSelf, hideBelow };
}

/** A layer entry that is a whiteout or opaque marker of nothing a layer can hide. */
const unrepresentable = (path: string, what: string) => new LayerError(`the layer entry ${JSON.stringify(path)} ${what}: a step created a file whose name image layers cannot represent`);

/**
 * The hard link `h` as the entry of the inode `t` it names: `t`'s type, bytes, symlink target and
 * device, and its mode and owner too, as the two names are one inode (a link's own header may say
 * other, a setuid bit say). The canonical layer writes the group's first name in sorted order as
 * that entry and the others as links to it (layer.ts), so a hard link to a symlink gives other bytes
 * than a second symlink of the same target, as a hard link to a file does than a copy of it.
 */
function linkTo(h: Entry, t: Entry): Entry {
  return { ...h, type: t.type, mode: t.mode, uid: t.uid, gid: t.gid, size: t.size, linkname: t.linkname, devmajor: t.devmajor, devminor: t.devminor, data: t.data };
}
