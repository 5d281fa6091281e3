// What the image is, beyond its packages: the operating system release
// (/etc/os-release, else /usr/lib/os-release) and language runtimes installed
// outside a package manager, known by the version their own headers state
// (CPython's patchlevel.h, Julia's julia_version.h) or, for R, by its `base`
// package (whose version is R's).
import { makePackage, plainName, plainVersion, type Package } from './package.js';

export interface OsRelease {
  id?: string;
  versionId?: string;
  versionCodename?: string;
  prettyName?: string;
}

export const OS_RELEASE = ['etc/os-release', 'usr/lib/os-release'];
const PYTHON_H = /(^|\/)include\/python(\d+\.\d+)[a-z]*\/patchlevel\.h$/;
const JULIA_H = /(^|\/)include\/julia\/julia_version\.h$/;
const SMALL = 64 << 10;

export const systemWants = (path: string): number | undefined => (OS_RELEASE.includes(path) || PYTHON_H.test(path) || JULIA_H.test(path) ? SMALL : undefined);

/** os-release's KEY=value lines (values quoted or not); only plain values are kept. */
export function readOsRelease(text: string): OsRelease {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(?:"([^"\\`$]*)"|'([^']*)'|([^\s"'\\`$]*))\s*$/.exec(line);
    if (m) kv.set(m[1]!, m[2] ?? m[3] ?? m[4] ?? '');
  }
  const pretty = kv.get('PRETTY_NAME');
  return {
    ...(plainName(kv.get('ID')) ? { id: kv.get('ID') } : {}),
    ...(plainVersion(kv.get('VERSION_ID')) ? { versionId: kv.get('VERSION_ID') } : {}),
    ...(plainName(kv.get('VERSION_CODENAME')) ? { versionCodename: kv.get('VERSION_CODENAME') } : {}),
    ...(pretty && /^[A-Za-z0-9 ._+()/:,-]{1,100}$/.test(pretty) ? { prettyName: pretty } : {}),
  };
}

/**
 * The namespace and distro qualifier of an OS package's purl (deb, apk): the release's ID as vendor (debian,
 * ubuntu, alpine, wolfi), else `fallback`; its codename, else vendor-VERSION_ID.
 */
export function vendorAndDistro(os: OsRelease | undefined, fallback: string): { vendor: string; distro?: string } {
  const vendor = os?.id && /^[a-z0-9][a-z0-9._-]*$/.test(os.id) ? os.id : fallback;
  const distro = os?.versionCodename ?? (os?.versionId ? `${vendor}-${os.versionId}` : undefined);
  return { vendor, ...(distro ? { distro } : {}) };
}

/** A runtime its own header names, as a generic package. */
export function readRuntimeHeader(path: string, text: string): Package | undefined {
  if (PYTHON_H.test(path)) {
    const v = /^#define\s+PY_VERSION\s+"([^"]+)"/m.exec(text)?.[1];
    return makePackage({ ecosystem: 'generic', name: 'python', version: v, path });
  }
  if (JULIA_H.test(path)) {
    const v = /^#define\s+JULIA_VERSION_STRING\s+"([^"]+)"/m.exec(text)?.[1];
    return makePackage({ ecosystem: 'generic', name: 'julia', version: v, path });
  }
  return undefined;
}
