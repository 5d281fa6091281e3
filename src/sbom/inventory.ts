// The software in an image, from its own package databases: which files to
// keep while its filesystem streams past (each bounded, and all of them
// together), and the packages and OS release read from them, one per purl,
// sorted. The image may be hostile: a file that does not parse is skipped, a
// link is never followed (the tar reader keeps regular files only). A database
// seen but not read (RPM's, a linked dpkg status) makes the inventory incomplete.
import type { KeepFile } from '../tarentries.js';
import { apkWants, readApk } from './apk.js';
import { condaWants, readConda } from './conda.js';
import { dpkgWants, readDpkg } from './dpkg.js';
import type { Package } from './package.js';
import { pythonWants, readPython } from './python.js';
import { readR, rWants } from './rlib.js';
import { OS_RELEASE, readOsRelease, readRuntimeHeader, systemWants, type OsRelease } from './system.js';
import { unreadDatabases } from './unread.js';

export interface Inventory {
  os?: OsRelease;
  /** One per purl, sorted by purl; `paths` where else the same package was found, sorted (the files are read in order). */
  packages: (Package & { paths: string[] })[];
  /** Why the packages listed may not be all the image has: each bound that was reached, said once, sorted. */
  incomplete?: string[];
}

/** All kept files together: more than any real image's package databases, far less than memory. */
export const KEEP_TOTAL = 512 << 20;
/** Files kept at most (one METADATA per Python distribution): a real image has a few thousand. */
export const MAX_KEPT = 100_000;
/** Packages read at most, all files together: an image that claims more is hostile or broken. */
export const MAX_PACKAGES = 100_000;
/** Places kept for one package found in many. */
const MAX_PATHS = 100;

const WANTS = [dpkgWants, apkWants, pythonWants, rWants, condaWants, systemWants];

/** What the tar reader is to keep, and what it could not for want of room or cannot read. */
export interface PackageFiles {
  keep: KeepFile;
  /** The bounds that left a wanted file out, and the databases seen but not read, each said once, sorted (empty when none). */
  missed: () => string[];
}

/** A keep function for the tar reader: the files the readers want, within their bounds, the total and the count. */
export function packageFiles(total = KEEP_TOTAL, count = MAX_KEPT): PackageFiles {
  let left = total;
  let files = 0;
  const missed = new Set<string>();
  const unread = unreadDatabases();
  const keep: KeepFile = (path, size) => {
    unread.see(path);
    const limit = WANTS.map((w) => w(path)).find((l) => l !== undefined);
    if (limit === undefined) return false;
    if (size > limit) {
      missed.add(`a package database over its size bound (${limit} bytes)`);
      return false;
    }
    if (size > left) missed.add(`package databases over ${total} bytes in all`);
    else if (files >= count) missed.add(`more than ${count} package database files`);
    else {
      left -= size;
      files++;
      return true;
    }
    return false;
  };
  return { keep, missed: () => [...new Set([...missed, ...unread.reasons()])].sort() };
}

/**
 * The inventory of the files `packageFiles` kept (path -> bytes), `missed`
 * the bounds that left files out. At most MAX_PACKAGES packages are read, in
 * the files' sorted order; the inventory says which bound it reached.
 */
export function inventory(files: ReadonlyMap<string, Buffer>, missed: readonly string[] = []): Inventory {
  const osFile = OS_RELEASE.map((p) => files.get(p)).find((b) => b !== undefined);
  const os = osFile ? readOsRelease(osFile.toString('utf8')) : undefined;
  const found: Package[] = [];
  const incomplete = new Set(missed);
  // One at a time: a spread of a status file's packages as arguments overflows the stack past about 120k.
  const add = (ps: readonly (Package | undefined)[]) => {
    for (const p of ps) {
      if (p === undefined) continue;
      if (found.length >= MAX_PACKAGES) {
        incomplete.add(`more than ${MAX_PACKAGES} packages`);
        return;
      }
      found.push(p);
    }
  };
  for (const [path, data] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const text = data.toString('utf8');
    // One more than there is room for: reaching it is how the bound is noticed.
    if (dpkgWants(path)) add(readDpkg(path, text, os, MAX_PACKAGES - found.length + 1));
    else if (apkWants(path)) add(readApk(path, text, os, MAX_PACKAGES - found.length + 1));
    else if (pythonWants(path)) add([readPython(path, text)]);
    else if (rWants(path)) add([readR(path, text)]);
    else if (condaWants(path)) add([readConda(path, text)]);
    else add([readRuntimeHeader(path, text)]);
  }
  const byPurl = new Map<string, Package & { paths: string[] }>();
  for (const p of found) {
    const seen = byPurl.get(p.purl);
    if (!seen) byPurl.set(p.purl, { ...p, paths: [p.path] });
    // Once a path: a status file may list the same package twice.
    else if (seen.paths.includes(p.path)) continue;
    else if (seen.paths.length < MAX_PATHS) seen.paths.push(p.path);
    else incomplete.add(`a package found in more than ${MAX_PATHS} places (the first ${MAX_PATHS} are listed)`);
  }
  const packages = [...byPurl.values()].sort((a, b) => (a.purl < b.purl ? -1 : a.purl > b.purl ? 1 : 0));
  return { ...(os && Object.keys(os).length ? { os } : {}), packages, ...(incomplete.size ? { incomplete: [...incomplete].sort() } : {}) };
}
