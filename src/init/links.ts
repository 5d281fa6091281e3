// Symbolic links of a repository that lead out of it (`zero -> /dev/zero`):
// rep refuses to build a step whose inputs hold one ("leaves the build
// context"), so rep init leaves them out with .dockerignore (ignore.ts). The
// repository is someone else's: links are read (readlink) and resolved as the
// build resolves them (realpath, which opens nothing), never read through,
// and the walk is bounded.
import { readdirSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { DockerIgnore } from '../context/dockerignore.js';
import { linkLeaves } from '../context/files.js';

/** Entries looked at, at most (a repository of a million files is not walked whole to draft a Repfile). */
const MAX_ENTRIES = 200_000;
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
        if (target !== undefined && linkLeaves(root, rel, target)) links.push({ path: rel, target });
      }
    }
  }
  return { links: links.sort(byPath), partial: false };
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
