// Package databases rep sees in an image but does not read: an RPM database
// (Fedora, RHEL, SUSE, Amazon Linux), and dpkg's or apk's folder whose list of
// installed packages is not a regular file (a symlink, which rep never
// follows, or none). Their packages go unlisted, so each is a reason the
// inventory is incomplete, said in the SBOM and REPRODUCE.md, never silently.
// Known by the regular files the tar reader asks about (it never shows a link,
// a folder or a device): a linked status beside dpkg's other files (info/*.list,
// which every Debian image has) is noticed, a folder holding the link alone is not.
import { APK_INSTALLED, APK_INSTALLED_USR, apkWants } from './apk.js';
import { DPKG_STATUS, dpkgWants } from './dpkg.js';

const DPKG_UNREAD = "dpkg's database at /var/lib/dpkg without a regular file /var/lib/dpkg/status (a link is never followed)";
const APK_UNREAD = "apk's database at /lib/apk/db without a regular file /lib/apk/db/installed (a link is never followed)";

/**
 * The package lists rep reads, each with what is said when the image's listing shows it is a link
 * (the tar reader shows regular files only): the words of its database found unread, so that one
 * cause is said once.
 */
export const LINKED_LISTS: ReadonlyMap<string, string> = new Map([
  [DPKG_STATUS, DPKG_UNREAD],
  [APK_INSTALLED, APK_UNREAD],
  [APK_INSTALLED_USR, APK_UNREAD],
]);

interface Database {
  folder: RegExp;
  /** Whether a path is the list rep reads; none for a database rep cannot read at all. */
  read?: (path: string) => boolean;
  reason: string;
}

const DATABASES: Database[] = [
  { folder: /^var\/lib\/rpm\//, reason: 'an RPM database at /var/lib/rpm, which rep does not read' },
  { folder: /^usr\/lib\/sysimage\/rpm\//, reason: 'an RPM database at /usr/lib/sysimage/rpm, which rep does not read' },
  { folder: /^var\/lib\/dpkg\//, read: (p) => dpkgWants(p) !== undefined, reason: DPKG_UNREAD },
  { folder: /^(usr\/)?lib\/apk\/db\//, read: (p) => apkWants(p) !== undefined, reason: APK_UNREAD },
];

/** Told of each regular file's path, it says which databases were there but not read. */
export function unreadDatabases(): { see: (path: string) => void; reasons: () => string[] } {
  const found = new Set<Database>();
  const read = new Set<Database>();
  const see = (path: string) => {
    for (const db of DATABASES) {
      if (!db.folder.test(path)) continue;
      found.add(db);
      if (db.read?.(path)) read.add(db);
    }
  };
  return { see, reasons: () => DATABASES.filter((db) => found.has(db) && !read.has(db)).map((db) => db.reason) };
}
