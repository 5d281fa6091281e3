// The "software and versions" a reader of REPRODUCE.md needs, from the
// inventory: the OS release, the language runtimes (Python, R, Julia, from
// whichever source found them), and the packages of each ecosystem (language
// packages listed, Debian's counted: sbom.cdx.json has them all). Only names
// and versions package.ts accepted reach here, so they are safe in Markdown code spans.
import type { Inventory } from './inventory.js';
import type { Ecosystem, Package } from './package.js';

/** Where each runtime's version may be found, best first. */
const RUNTIMES: [string, (p: Package) => boolean][] = [
  ['Python', (p) => (p.ecosystem === 'generic' && p.name === 'python') || (p.ecosystem === 'conda' && p.name === 'python') || (p.ecosystem === 'deb' && /^python3\.\d+-minimal$/.test(p.name))],
  ['R', (p) => (p.ecosystem === 'generic' && p.name === 'R') || (p.ecosystem === 'conda' && p.name === 'r-base') || (p.ecosystem === 'deb' && p.name === 'r-base-core')],
  ['Julia', (p) => (p.ecosystem === 'generic' && p.name === 'julia') || (p.ecosystem === 'conda' && p.name === 'julia') || (p.ecosystem === 'deb' && p.name === 'julia')],
];
const ORDER: Ecosystem[] = ['generic', 'conda', 'deb', 'pypi', 'cran', 'bioconductor'];
const LISTED: Partial<Record<Ecosystem, string>> = { pypi: 'Python packages (PyPI)', cran: 'R packages (CRAN)', bioconductor: 'R packages (Bioconductor)', conda: 'conda packages' };
/** More than this many of one kind are counted, not listed. */
const MAX_LISTED = 300;

export function softwareSection(inv: Inventory): string[] {
  const lines = ['## Software in the image', ''];
  const runtimes = RUNTIMES.flatMap(([label, is]) => {
    const found = inv.packages.filter(is).sort((a, b) => ORDER.indexOf(a.ecosystem) - ORDER.indexOf(b.ecosystem))[0];
    if (!found) return [];
    const from = found.ecosystem === 'deb' ? ` (Debian package \`${found.name}\`)` : found.ecosystem === 'conda' ? ` (conda package \`${found.name}\`)` : '';
    return [`- ${label} \`${found.version}\`${from}`];
  });
  // In a code span, as every name here: a release's own words (PRETTY_NAME) could otherwise be a link or markup.
  if (inv.os?.prettyName || inv.os?.id) lines.push(`- Operating system: \`${inv.os.prettyName ?? `${inv.os.id} ${inv.os.versionId ?? ''}`.trim()}\``);
  lines.push(...runtimes);
  const debs = inv.packages.filter((p) => p.ecosystem === 'deb').length;
  if (debs) lines.push(`- ${debs} Debian packages`);
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
