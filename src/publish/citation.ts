// Citation metadata for a bundle: CITATION.cff (CFF 1.2.0), and short
// Markdown and LaTeX snippets citing the image digest and the bundle hash.
import { stringify } from 'yaml';
import type { AuthorDoc, PublishDoc } from '../repfile/schema.js';

export const orcidUrl = (o: string) => (o.startsWith('https://') ? o : `https://orcid.org/${o}`);

function cffAuthor(a: AuthorDoc): Record<string, string> {
  const out: Record<string, string> = {};
  if (a.name !== undefined) out.name = a.name;
  if (a.family !== undefined) out['family-names'] = a.family;
  if (a.given !== undefined) out['given-names'] = a.given;
  if (a.orcid !== undefined) out.orcid = orcidUrl(a.orcid);
  if (a.affiliation !== undefined) out.affiliation = a.affiliation;
  if (a.email !== undefined) out.email = a.email;
  return out;
}

export function citationCff(p: PublishDoc, image: { tag: string; digest?: string }): string {
  const doc: Record<string, unknown> = {
    'cff-version': '1.2.0',
    message: 'If you use this environment, please cite it as below.',
    type: 'software',
    title: p.title,
    authors: p.authors.map(cffAuthor),
  };
  if (p.abstract) doc.abstract = p.abstract;
  if (p.version) doc.version = p.version;
  if (p.doi) doc.doi = p.doi;
  if (p.license) doc.license = p.license;
  if (p['date-released']) doc['date-released'] = p['date-released'];
  if (p.keywords?.length) doc.keywords = p.keywords;
  if (p.url) doc.url = p.url;
  if (image.digest) {
    doc.identifiers = [{ type: 'other', value: `${image.tag}@${image.digest}`, description: 'Container image (config digest) built by rep' }];
  }
  // Every string quoted: a YAML 1.1 reader (PyYAML, Ruby) takes a plain `yes` for true, `1:20` for 80,
  // `2026-01-01` for a date; quoted, 1.1 and 1.2 readers read the same strings.
  return stringify(doc, { lineWidth: 0, defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' });
}

const authorLine = (p?: PublishDoc) =>
  (p?.authors ?? []).map((a) => a.name ?? [a.given, a.family].filter(Boolean).join(' ')).join(', ');

export interface CiteInfo {
  title: string;
  tag: string;
  imageDigest?: string;
  bundleSha256: string;
  publish?: PublishDoc;
}

/**
 * Text from the Repfile as Markdown shows it, not as Markdown reads it: the
 * characters that open markup (emphasis, code, links, HTML and its comments,
 * headings, tables, entities) backslash-escaped, as CommonMark allows for any
 * ASCII punctuation. A title like `x <!--` would otherwise hide what follows.
 */
export const markdownText = (s: string) =>
  s
    .replace(/[\\`*_{}[\]<>#!|~&]/g, (ch) => `\\${ch}`)
    // At the start of a line, blanks make code and `- `, `+ `, `1. ` or `1) ` a list: the text starts where it starts.
    .replace(/^\s+/, '')
    .replace(/^(\d+)([.)])/, '$1\\$2')
    .replace(/^[-+]/, (ch) => `\\${ch}`);

export function citeMarkdown(c: CiteInfo): string {
  const who = authorLine(c.publish);
  const doi = c.publish?.doi ? ` <${doiUrl(c.publish.doi)}>` : '';
  return [
    // A number alone before ". " would open an ordered list: its dot escaped.
    `${who ? `${markdownText(who)}${/^\d+$/.test(who.trim()) ? '\\.' : '.'} ` : ''}*${markdownText(c.title)}*: computational environment.${doi}`,
    '',
    `- Image: \`${c.tag}\`${c.imageDigest ? ` (config \`${c.imageDigest}\`)` : ''}`,
    `- Bundle: \`sha256:${c.bundleSha256}\` (sha256 of SHA256SUMS; check with \`rep verify\`)`,
    '',
  ].join('\n');
}

const tex = (s: string) => s.replace(/[\\{}$&#^_%~]/g, (ch) => (ch === '\\' ? '\\textbackslash{}' : ch === '~' ? '\\textasciitilde{}' : ch === '^' ? '\\textasciicircum{}' : `\\${ch}`));

/** A DOI as a URL that \url takes literally: everything but unreserved characters and "/" percent-encoded. */
const doiUrl = (doi: string) => `https://doi.org/${[...doi].map((ch) => (/^[A-Za-z0-9._~/:;()-]$/.test(ch) ? ch : encodeURIComponent(ch).replace(/[!'*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))).join('')}`;

export function citeLatex(c: CiteInfo): string {
  const who = authorLine(c.publish);
  return [
    // A comment ends at any line break TeX knows (CR as well as LF): the title stays on this line.
    `% Cite the computational environment of "${c.title.replace(/[\x00-\x1f\x7f\u2028\u2029]+/g, ' ')}"`,
    `${who ? `${tex(who)}. ` : ''}\\emph{${tex(c.title)}}: computational environment.`,
    `Image \\texttt{${tex(c.tag)}}${c.imageDigest ? ` (config \\texttt{${tex(c.imageDigest)}})` : ''},`,
    `bundle \\texttt{sha256:${c.bundleSha256}}${c.publish?.doi ? `, \\url{${doiUrl(c.publish.doi)}}` : ''}.`,
    '',
  ].join('\n');
}
