// Whether `docker build`'s COPY of a whole context folder gives exactly the
// files rep lists under it. Docker also sends what rep's step contexts never
// hold: folder modes (rep's are 755), empty folders, special files, hard
// links (rep copies each file once) and rep's own state folder.
import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import path from 'node:path';
import type { DockerIgnore } from './dockerignore.js';
import { STATE_DIR } from '../state/paths.js';
import { stampInode, type ContextFile } from './files.js';
import { directoryCounts, parentOf } from '../emit/copies.js';


/** How one walk's files go into COPY lines: how many each folder holds, and which folders COPY may take whole. */
export interface FolderCopies {
  counts: ReadonlyMap<string, number>;
  wholeOk: (dir: string) => boolean;
}

const judged = new WeakMap<readonly ContextFile[], { contextDir: string; ignore: DockerIgnore; copies: FolderCopies }>();

/**
 * FolderCopies for the listing `files` (one walk), made once for it: the
 * standalone Dockerfile and the step contexts of a build ask about the same
 * listing, and each folder is read once for both (at 100k files, reading
 * them again and counting hard links again cost as much as the first time).
 * Both then copy by the same answers, even if a folder changes meanwhile.
 */
export function copiesFor(contextDir: string, ignore: DockerIgnore, files: readonly ContextFile[]): FolderCopies {
  const known = judged.get(files);
  if (known && known.contextDir === contextDir && known.ignore === ignore) return known.copies;
  const counts = directoryCounts(files.map((f) => f.path));
  const copies = { counts, wholeOk: copiedExactly(contextDir, ignore, files, counts) };
  judged.set(files, { contextDir, ignore, copies });
  return copies;
}

/**
 * The first of `dirs` (folders a step copies whole) that COPY would no longer
 * take as exactly what `files` lists, asked afresh, not from copiesFor's
 * memory: a folder made in it (empty), a pipe, a folder's mode changed while a
 * step was built. Added files are firstAdded's (files.ts).
 */
export function firstNotCopiedExactly(contextDir: string, ignore: DockerIgnore, files: readonly ContextFile[], dirs: readonly string[]): string | undefined {
  const exact = copiedExactly(contextDir, ignore, files, copiesFor(contextDir, ignore, files).counts);
  return dirs.find((d) => !exact(d));
}

/**
 * `files`: the context as rep lists it; `listed`: how many of them each
 * folder holds (directoryCounts of their paths). The answer for a folder
 * ("" for the root) is memoised.
 */
function copiedExactly(
  contextDir: string,
  ignore: DockerIgnore,
  files: readonly ContextFile[],
  listed: ReadonlyMap<string, number>,
): (dir: string) => boolean {
  // Folders holding a listed file that is a hard link of another listed file (same device and inode).
  const linked = new Set<string>();
  const seen = new Map<string, string>();
  for (const f of files) {
    if (f.type !== 'file') continue;
    const id = stampInode(f.stamp);
    const other = seen.get(id);
    if (other === undefined) seen.set(id, f.path);
    else for (const p of [other, f.path]) for (let d = parentOf(p); !linked.has(d); d = parentOf(d)) {
      linked.add(d);
      if (d === '') break;
    }
  }
  const memo = new Map<string, boolean>();
  const exact = (dir: string): boolean => {
    let r = memo.get(dir);
    if (r === undefined) {
      r = !linked.has(dir) && scan(dir);
      memo.set(dir, r);
    }
    return r;
  };
  // Everything Docker sends under `dir` (not `dir` itself, which COPY makes 755) is something rep copies too.
  const scan = (dir: string): boolean => {
    let entries: Dirent[];
    try {
      entries = readdirSync(path.join(contextDir, dir), { withFileTypes: true });
    } catch {
      return false;
    }
    for (const d of entries) {
      const rel = dir ? `${dir}/${d.name}` : d.name;
      if (d.isDirectory()) {
        if (ignore.canSkipDir(rel)) continue;
        // rep's state, a folder Docker walks for exceptions only, an empty folder, another mode.
        if (rel === STATE_DIR || ignore.excludes(rel) || !listed.has(rel) || !exact(rel)) return false;
        let mode = 0;
        try {
          mode = lstatSync(path.join(contextDir, rel)).mode & 0o7777;
        } catch {
          // gone: not what rep listed either
        }
        if (mode !== 0o755) return false;
        continue;
      }
      // A special file (pipe, socket, device): Docker copies it (or fails), rep never lists it. The kind is
      // asked first: the .dockerignore matcher is dearer, and a file or link needs no answer from it.
      if (!d.isFile() && !d.isSymbolicLink() && !ignore.excludes(rel)) return false;
    }
    return true;
  };
  return exact;
}
