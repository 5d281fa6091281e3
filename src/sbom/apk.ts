// Alpine packages (and Wolfi's, Chainguard's): apk's database, /lib/apk/db/installed,
// one paragraph per installed package of one-letter fields (P name, V version,
// A architecture, L licence), then the files it installed. Read with the same
// lenient parser and the same bounds as dpkg's status.
import { STATUS_LIMIT } from './dpkg.js';
import { field, paragraphs } from './fields.js';
import { makePackage, type Package } from './package.js';
import { vendorAndDistro, type OsRelease } from './system.js';

export const APK_INSTALLED = 'lib/apk/db/installed';
/** Where a merged-/usr image (lib -> usr/lib: Wolfi, Chainguard, apk-tools 3) has it: a link to a folder is never followed. */
export const APK_INSTALLED_USR = 'usr/lib/apk/db/installed';

/** The most bytes to keep of `path`, if it is apk's database: as many as of dpkg's status (it lists every file too). */
export const apkWants = (path: string): number | undefined => (path === APK_INSTALLED || path === APK_INSTALLED_USR ? STATUS_LIMIT : undefined);

/** The fields a package is read from: its files, checksums and dependencies are passed over. */
const APK_FIELDS: ReadonlySet<string> = new Set(['P', 'V', 'A', 'L']);

/** The packages of apk's database, `max` at most. Every entry there is installed. */
export function readApk(path: string, text: string, os: OsRelease | undefined, max = Infinity): Package[] {
  const out: Package[] = [];
  // purl's apk type: the vendor as namespace (alpine, wolfi), the release as distro, as for deb.
  const { vendor, distro } = vendorAndDistro(os, 'alpine');
  for (const p of paragraphs(text, APK_FIELDS)) {
    if (out.length >= max) break;
    const pkg = makePackage({
      ecosystem: 'apk',
      namespace: vendor,
      name: field(p, 'P'),
      version: field(p, 'V'),
      qualifiers: { arch: field(p, 'A'), distro },
      licence: field(p, 'L'),
      path,
    });
    if (pkg) out.push(pkg);
  }
  return out;
}
