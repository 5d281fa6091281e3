// Debian packages: dpkg's database, /var/lib/dpkg/status (and the one file
// per package of /var/lib/dpkg/status.d/ that distroless images keep). Only
// packages whose Status says "install ok installed" count. dpkg does not
// record licences (they live in free text under /usr/share/doc).
import { field, paragraphs } from './fields.js';
import { makePackage, type Package } from './package.js';
import { vendorAndDistro, type OsRelease } from './system.js';

export const DPKG_STATUS = 'var/lib/dpkg/status';
const STATUS_D = /^var\/lib\/dpkg\/status\.d\/[^/]+$/;
/** dpkg's status of a large system is a few MB. */
export const STATUS_LIMIT = 64 << 20;

/** The most bytes to keep of `path`, if it is a dpkg database. */
export const dpkgWants = (path: string): number | undefined => (path === DPKG_STATUS || STATUS_D.test(path) ? STATUS_LIMIT : undefined);

/** The fields a package's entry is read from: the others (a description, a list of files) are passed over. */
const DPKG_FIELDS: ReadonlySet<string> = new Set(['Package', 'Version', 'Status', 'Architecture']);

/** The packages of a status file, `max` at most. */
export function readDpkg(path: string, text: string, os: OsRelease | undefined, max = Infinity): Package[] {
  const out: Package[] = [];
  // purl's deb type: the vendor as namespace (debian, ubuntu), the release as distro.
  const { vendor, distro } = vendorAndDistro(os, 'debian');
  for (const p of paragraphs(text, DPKG_FIELDS)) {
    if (out.length >= max) break;
    const status = field(p, 'Status');
    // status.d files of distroless images carry no Status line: every entry there is installed.
    if (path === DPKG_STATUS && status?.split(/\s+/).at(-1) !== 'installed') continue;
    const arch = field(p, 'Architecture');
    const pkg = makePackage({
      ecosystem: 'deb',
      namespace: vendor,
      name: field(p, 'Package'),
      version: field(p, 'Version'),
      qualifiers: { arch, distro },
      path,
    });
    if (pkg) out.push(pkg);
  }
  return out;
}
