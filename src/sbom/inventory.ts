// The software in an image, from its own package databases: which files to
// keep while its filesystem streams past (each bounded, and all of them
// together), and the packages and OS release read from them, one per purl,
// sorted. The image may be hostile: a file that does not parse is skipped, a
// link is never followed (the tar reader keeps regular files only).
import type { KeepFile } from '../tarentries.js';
import { condaWants, readConda } from './conda.js';
import { dpkgWants, readDpkg } from './dpkg.js';
import type { Package } from './package.js';
import { pythonWants, readPython } from './python.js';
import { readR, rWants } from './rlib.js';
import { OS_RELEASE, readOsRelease, readRuntimeHeader, systemWants, type OsRelease } from './system.js';

export interface Inventory {
  os?: OsRelease;
  /** One per purl, sorted by purl; `paths` where else the same package was found. */
  packages: (Package & { paths: string[] })[];
}

/** All kept files together: more than any real image's package databases, far less than memory. */
export const KEEP_TOTAL = 512 << 20;

const WANTS = [dpkgWants, pythonWants, rWants, condaWants, systemWants];

/** A keep function for the tar reader: the files the readers want, within their bounds and the total. */
export function packageFiles(total = KEEP_TOTAL): KeepFile {
  let left = total;
  return (path, size) => {
    const limit = WANTS.map((w) => w(path)).find((l) => l !== undefined);
    if (limit === undefined || size > limit || size > left) return false;
    left -= size;
    return true;
  };
}

/** The inventory of the files `packageFiles` kept (path -> bytes). */
export function inventory(files: ReadonlyMap<string, Buffer>): Inventory {
  const osFile = OS_RELEASE.map((p) => files.get(p)).find((b) => b !== undefined);
  const os = osFile ? readOsRelease(osFile.toString('utf8')) : undefined;
  const found: Package[] = [];
  for (const [path, data] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const text = data.toString('utf8');
    if (dpkgWants(path)) found.push(...readDpkg(path, text, os));
    else if (pythonWants(path)) found.push(...[readPython(path, text)].filter((p) => p !== undefined));
    else if (rWants(path)) found.push(...[readR(path, text)].filter((p) => p !== undefined));
    else if (condaWants(path)) found.push(...[readConda(path, text)].filter((p) => p !== undefined));
    else found.push(...[readRuntimeHeader(path, text)].filter((p) => p !== undefined));
  }
  const byPurl = new Map<string, Package & { paths: string[] }>();
  for (const p of found) {
    const seen = byPurl.get(p.purl);
    if (seen) seen.paths.push(p.path);
    else byPurl.set(p.purl, { ...p, paths: [p.path] });
  }
  const packages = [...byPurl.values()].sort((a, b) => (a.purl < b.purl ? -1 : a.purl > b.purl ? 1 : 0));
  return { ...(os && Object.keys(os).length ? { os } : {}), packages };
}
