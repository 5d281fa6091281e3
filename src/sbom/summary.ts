// The "software and versions" a reader of REPRODUCE.md needs, from the
// inventory: the OS release, the language runtimes (Python, R, Julia, from
// whichever source found them, every version an image holds), and the packages
// of each ecosystem (language packages listed, the OS's counted: sbom.cdx.json
// has them all). Only names and versions package.ts accepted reach here, so
// they are safe in Markdown code spans.
import type { Inventory } from './inventory.js';
import type { Ecosystem, Package } from './package.js';

/** Where each runtime's version may be found. */
const RUNTIMES: [string, (p: Package) => boolean][] = [
  ['Python', (p) => (p.ecosystem === 'generic' && p.name === 'python') || (p.ecosystem === 'conda' && p.name === 'python') || (p.ecosystem === 'deb' && /^python3\.\d+-minimal$/.test(p.name)) || (p.ecosystem === 'apk' && p.name === 'python3')],
  ['R', (p) => (p.ecosystem === 'generic' && p.name === 'R') || (p.ecosystem === 'conda' && p.name === 'r-base') || (p.ecosystem === 'deb' && p.name === 'r-base-core') || (p.ecosystem === 'apk' && p.name === 'R')],
  ['Julia', (p) => (p.ecosystem === 'generic' && p.name === 'julia') || (p.ecosystem === 'conda' && p.name === 'julia') || (p.ecosystem === 'deb' && p.name === 'julia')],
];
/** The order ecosystems are shown in, and for one runtime version found in several, the source named (best first). */
const ORDER: Ecosystem[] = ['generic', 'conda', 'deb', 'apk', 'pypi', 'cran', 'bioconductor'];
const LISTED: Partial<Record<Ecosystem, string>> = { pypi: 'Python packages (PyPI)', cran: 'R packages (CRAN)', bioconductor: 'R packages (Bioconductor)', conda: 'conda packages' };
const COUNTED: Partial<Record<Ecosystem, string>> = { deb: 'Debian packages', apk: 'Alpine packages' };
const FROM: Partial<Record<Ecosystem, string>> = { deb: 'Debian package', apk: 'Alpine package', conda: 'conda package' };
/** More than this many of one kind are counted, not listed. */
const MAX_LISTED = 300;

/** A run naming a pre-release (3.13.0rc1, 1.10.0-beta2, 1.11.0-DEV, Debian's 4.4.0~rc), by rank: before the release. */
const PRE: [RegExp, number][] = [[/^dev$/, 0], [/^a(lpha)?$/, 1], [/^b(eta)?$/, 2], [/^(c|rc|pre(view)?)$/, 3]];
/**
 * Where a run sorts against another at the same place: a pre-release word below the version's end (3.13.0rc1
 * before 3.13.0), the end below any other text (3.13.0 before 3.13.0.1 and 3.13.0.post1), text below digits.
 */
function runKey(run: string | undefined): [number, number] {
  if (run === undefined) return [1, 0];
  if (/^\d/.test(run)) return [3, 0];
  const word = run.toLowerCase().replace(/^[-._~]|[-._]$/g, '');
  const pre = PRE.find(([re]) => re.test(word));
  return pre ? [0, pre[1]] : run.startsWith('~') ? [0, 3] : [2, 0];
}

/**
 * Versions in numeric order, run by run (3.9 before 3.10), a pre-release before its release (3.13.0rc1 before
 * 3.13.0); ties by code unit, so the order is total and never depends on the input's.
 */
function compareVersions(a: string, b: string): number {
  const ra = a.match(/\d+|\D+/g) ?? [];
  const rb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.max(ra.length, rb.length); i++) {
    const x = ra[i];
    const y = rb[i];
    if (x === y) continue;
    const [kx, ky] = [runKey(x), runKey(y)];
    if (kx[0] !== ky[0] || kx[1] !== ky[1]) return kx[0] - ky[0] || kx[1] - ky[1];
    // Here both runs are there (the end has a kind of its own) and of one kind.
    const digits = kx[0] === 3;
    // Digit runs by length once leading zeros are gone, then as text: exact however long (no Number rounding).
    const [nx, ny] = digits ? [x!.replace(/^0+/, ''), y!.replace(/^0+/, '')] : [x!, y!];
    if (digits && nx.length !== ny.length) return nx.length - ny.length;
    if (nx !== ny) return nx < ny ? -1 : 1;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A version as its upstream released it, as the runtime's own files state it: R 4.3.2 in its DESCRIPTION is
 * Debian's r-base-core 4.3.2-1 (or 1:4.3.2-1) and Alpine's R 4.3.2-r0. Without this an image's one R was
 * listed twice, once from each source.
 */
function upstream(p: Package): string {
  // Debian: an epoch before the first ":", a revision after the last "-" (an upstream version may hold "-").
  // A repack of the upstream tarball (+dfsg, +ds, +repack) is the same release; "~" sorts a pre-release first (3.12.0~rc1 is 3.12.0rc1).
  if (p.ecosystem === 'deb') return p.version.replace(/^\d+:/, '').replace(/-[^-]*$/, '').replace(/\+(dfsg|ds|repack)\d*$/, '').replace(/~/g, '');
  return p.ecosystem === 'apk' ? p.version.replace(/-r\d+$/, '') : p.version;
}

export function softwareSection(inv: Inventory): string[] {
  const lines = ['## Software in the image', ''];
  // Every version of each runtime (an image may hold Debian's Python and its own), each from its best source.
  const runtimes = RUNTIMES.flatMap(([label, is]) => {
    const best = new Map<string, Package>();
    for (const p of inv.packages.filter(is).sort((a, b) => ORDER.indexOf(a.ecosystem) - ORDER.indexOf(b.ecosystem))) if (!best.has(upstream(p))) best.set(upstream(p), p);
    return [...best]
      .sort(([a], [b]) => compareVersions(a, b))
      .map(([, found]) => {
        const from = FROM[found.ecosystem];
        return `- ${label} \`${found.version}\`${from ? ` (${from} \`${found.name}\`)` : ''}`;
      });
  });
  // In a code span, as every name here: a release's own words (PRETTY_NAME) could otherwise be a link or markup.
  if (inv.os?.prettyName || inv.os?.id) lines.push(`- Operating system: \`${inv.os.prettyName ?? `${inv.os.id} ${inv.os.versionId ?? ''}`.trim()}\``);
  lines.push(...runtimes);
  for (const eco of ORDER) {
    const label = COUNTED[eco];
    const count = inv.packages.filter((p) => p.ecosystem === eco).length;
    if (label && count) lines.push(`- ${count} ${label}`);
  }
  if (lines.length === 2) lines.push('No operating system release or package database was found in the image.');
  for (const eco of ORDER) {
    const label = LISTED[eco];
    const pkgs = inv.packages.filter((p) => p.ecosystem === eco);
    if (!label || pkgs.length === 0) continue;
    lines.push('', `${label}:`, '');
    const names = pkgs.slice(0, MAX_LISTED).map((p) => `\`${p.name} ${p.version}\``);
    lines.push(names.join(', ') + (pkgs.length > MAX_LISTED ? `, and ${pkgs.length - MAX_LISTED} more` : ''));
  }
  if (inv.incomplete?.length) {
    lines.push('', `The image's package databases were read only in part (${inv.incomplete.join('; ')}): the packages listed here and in \`sbom.cdx.json\` may not be all it holds.`);
  }
  lines.push('', `${inv.incomplete?.length ? 'Every package read' : 'Every package'}, with its version, Package URL and licence where it states one, is in \`sbom.cdx.json\` (CycloneDX 1.6).`, '');
  return lines;
}
