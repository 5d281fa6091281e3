// Symbolic links of a repository that lead out of it (`zero -> /dev/zero`):
// rep refuses to build a step whose inputs hold one ("leaves the build
// context"), so rep init leaves them out with .dockerignore (ignore.ts). The
// repository is someone else's: links are read (lstat, readlink), never
// followed to what they name, and the walk is bounded.
import { lstatSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { DockerIgnore } from '../context/dockerignore.js';

/** Entries looked at, at most (a repository of a million files is not walked whole to draft a Repfile). */
const MAX_ENTRIES = 200_000;
/** Links followed in one path, as Linux's own limit (a loop of links ends here). */
const MAX_HOPS = 40;
/** Never part of the context, or not worth walking: git's and rep's data. */
const SKIP = new Set(['.git', '.rep']);

export interface LeavingLinks {
  /** Paths relative to the repository, sorted, of links that lead out of it. */
  links: { path: string; target: string }[];
  /** The walk stopped at MAX_ENTRIES: there may be more. */
  partial: boolean;
}

/** The links under `repo` the rules of `ignore` keep that lead out of it, as rep's build would find them (files.ts symlinkEscape). */
export function leavingLinks(repo: string, ignore: DockerIgnore): LeavingLinks {
  const root = realpathSync(repo);
  const links: LeavingLinks['links'] = [];
  let seen = 0;
  const stack = [''];
  while (stack.length) {
    const dirRel = stack.pop()!;
    let entries;
    try {
      entries = readdirSync(path.join(root, dirRel), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const d of entries) {
      if (++seen > MAX_ENTRIES) return { links: links.sort(byPath), partial: true };
      const rel = dirRel ? `${dirRel}/${d.name}` : d.name;
      if (!dirRel && SKIP.has(d.name)) continue;
      if (d.isDirectory()) {
        if (!ignore.canSkipDir(rel)) stack.push(rel);
      } else if (d.isSymbolicLink() && !ignore.excludes(rel)) {
        const target = linkText(path.join(root, rel));
        if (target !== undefined && resolveInside(root, path.resolve(root, dirRel, target), { n: 0 }) === undefined) links.push({ path: rel, target });
      }
    }
  }
  return { links: links.sort(byPath), partial: false };
}

/** lstat, undefined where nothing can be there (missing, or under a file). */
function statOf(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** A link's text, undefined when it went away since its folder was read. */
function linkText(p: string): string | undefined {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
}

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/**
 * Where the absolute path `abs` leads, its links resolved one part at a time
 * with readlink only while it stays under `root`; undefined once it leaves.
 * A missing part (a dangling link) or a loop stays inside: rep copies such a
 * link as it is.
 */
function resolveInside(root: string, abs: string, hops: { n: number }): string | undefined {
  const rel = path.relative(root, abs);
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return undefined;
  let cur = root;
  for (const part of rel.split(path.sep).filter(Boolean)) {
    const next = path.join(cur, part);
    const st = statOf(next);
    if (!st || !st.isSymbolicLink()) {
      cur = next;
      continue;
    }
    if (++hops.n > MAX_HOPS) return next;
    const text = linkText(next);
    if (text === undefined) return next;
    const r = resolveInside(root, path.resolve(cur, text), hops);
    if (r === undefined) return undefined;
    cur = r;
  }
  return cur;
}
