// One package found in an image, as every reader reports it, and the checks
// that keep a hostile image's strings out of the SBOM and REPRODUCE.md: names
// and versions in the characters package managers use, licences one short line,
// paths shown as they are.
import { PackageURL } from 'packageurl-js';

/** Where a package was read from: its package manager, or a runtime's own files. */
export type Ecosystem = 'deb' | 'apk' | 'pypi' | 'cran' | 'bioconductor' | 'conda' | 'generic';

export interface Package {
  ecosystem: Ecosystem;
  name: string;
  version: string;
  /** Package URL (purl), its identity in the SBOM. */
  purl: string;
  /** The licence as the package states it (an SPDX expression or free text). */
  licence?: string;
  /** The file it was read from, relative to the image's root. */
  path: string;
}

// A leading underscore too: conda's _libgcc_mutex and _openmp_mutex are in nearly every environment. It is
// plain text in a Markdown code span, and a purl's unreserved set holds it.
const NAME = /^[A-Za-z0-9_][A-Za-z0-9._+-]{0,199}$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+~:!-]{0,199}$/;
const QUALIFIER = /^[A-Za-z0-9][A-Za-z0-9._+~:!/-]{0,199}$/;
// A control character (C0, C1), lone surrogate, private use or line separator, or a format character (bidi
// overrides and marks, zero-width space) but the three that spell words: the soft hyphen, and the zero-width
// non-joiner and joiner of Persian and Indic scripts. A licence or path is shown in terminals and read by strict
// UTF-8 tools. (Unassigned code points are allowed: which those are depends on Node's Unicode.) It holds all of
// repfile/schema.ts's UNSHOWABLE and more (zero-width space, private use): a Repfile is its user's text, an image
// may be anyone's.
const HIDDEN = /[\p{Cc}\p{Cs}\p{Co}\u2028\u2029]|(?![\u00ad\u200c\u200d])\p{Cf}/u;
const LINE = /^.{1,200}$/su;

/** Whether a string is a plain name or version rep may print (also inside Markdown code spans). */
export const plainName = (s: string | undefined): s is string => s !== undefined && NAME.test(s);
export const plainVersion = (s: string | undefined): s is string => s !== undefined && VERSION.test(s);

/** A licence worth recording: one short line, not a placeholder. */
export function statedLicence(s: string | undefined): string | undefined {
  const t = s?.trim();
  return t && LINE.test(t) && !HIDDEN.test(t) && !/^(unknown|none|n\/a)$/i.test(t) ? t : undefined;
}

export interface PackageInput {
  ecosystem: Ecosystem;
  /** The purl type and namespace, when they are not the ecosystem's name alone. */
  purlType?: string;
  namespace?: string;
  name: string | undefined;
  version: string | undefined;
  qualifiers?: Record<string, string | undefined>;
  licence?: string;
  path: string;
}

/**
 * A purl component percent-encoded as the purl specification (ECMA-427, "Character encoding") says: all but
 * letters, digits, `.-_~` and the colon. packageurl-js keeps `+` and `!` in a version (`@1:12.2.0-14+deb12u1`)
 * and encodes `~` and `:` in a qualifier value, so a tool that follows the spec reads another package.
 */
const purlEncode = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%3A/g, ':');

/** `?key=value&...`, keys sorted (by code unit: they are rep's own lowercase names), or nothing. */
function qualifierText(q: Record<string, string>): string {
  const keys = Object.keys(q).sort();
  return keys.length ? `?${keys.map((k) => `${k}=${purlEncode(q[k]!)}`).join('&')}` : '';
}

/** A package, or undefined when its name or version is missing or not plain, or its path hides characters. */
export function makePackage(p: PackageInput): Package | undefined {
  if (!plainName(p.name) || !plainVersion(p.version)) return undefined;
  // Left out as a bad name is, not listed without its path: no package manager names its files so (pip's folder is
  // name-version, conda's record name-version-build), so the file is not a package database, and the SBOM says where
  // each package was read. The same package found at a plain path is still listed there.
  if (HIDDEN.test(p.path)) return undefined;
  const qualifiers = Object.fromEntries(Object.entries(p.qualifiers ?? {}).filter((e): e is [string, string] => e[1] !== undefined && QUALIFIER.test(e[1])));
  let purl: string;
  try {
    // packageurl-js checks and normalises (a PyPI name lowercased); the version and qualifiers are written here.
    const url = new PackageURL(p.purlType ?? p.ecosystem, p.namespace, p.name, p.version, undefined, undefined);
    const version = url.version ?? p.version;
    url.version = undefined;
    purl = `${url.toString()}@${purlEncode(version)}${qualifierText(qualifiers)}`;
  } catch {
    return undefined;
  }
  const licence = statedLicence(p.licence);
  return { ecosystem: p.ecosystem, name: p.name, version: p.version, purl, ...(licence ? { licence } : {}), path: p.path };
}
