// ro-crate-metadata.json (RO-Crate 1.2): the bundle as a Dataset, and the
// build as a CreateAction with rep as instrument, the Repfile, context and
// inputs as object, and the image, Dockerfile and provenance as result.
import type { PublishDoc } from '../repfile/schema.js';
import { VERSION } from '../version.js';
import { orcidUrl } from './citation.js';

export const RO_CRATE_CONTEXT = 'https://w3id.org/ro/crate/1.2/context';
export const RO_CRATE_SPEC = 'https://w3id.org/ro/crate/1.2';

type Entity = Record<string, unknown> & { '@id': string; '@type': string | string[] };

export interface CrateFile {
  path: string;
  sha256: string;
  size: number;
  encodingFormat: string;
  description: string;
}

export interface CrateInput {
  name: string;
  title?: string;
  publish?: PublishDoc;
  files: CrateFile[];
  inputs: { path: string; sha256: string }[];
  image: { tag: string; configDigest?: string; file?: string };
  /** The SBOM file, which is about the image. */
  sbom?: string;
  startTime: string;
  endTime: string;
  engine: string;
}

export function roCrate(c: CrateInput): object {
  const p = c.publish;
  const everyone: Entity[] = (p?.authors ?? []).map((a, i) => ({
    '@id': a.orcid ? orcidUrl(a.orcid) : `#author-${i + 1}`,
    '@type': a.name !== undefined && a.family === undefined ? 'Organization' : 'Person',
    name: a.name ?? [a.given, a.family].filter(Boolean).join(' '),
    ...(a.given ? { givenName: a.given } : {}),
    ...(a.family ? { familyName: a.family } : {}),
    ...(a.affiliation ? { affiliation: a.affiliation } : {}),
  }));
  // One entity an @id: two authors with one ORCID iD are one person (JSON-LD would merge them anyway, types and all).
  const people = everyone.filter((x, i) => everyone.findIndex((y) => y['@id'] === x['@id']) === i);
  // An SPDX identifier is a license's page; an expression (MIT OR Apache-2.0) has none, and stays text.
  const licenseId = p?.license !== undefined && /^[A-Za-z0-9.+-]+$/.test(p.license) ? `https://spdx.org/licenses/${p.license}` : undefined;
  const files: Entity[] = c.files.map((f) => ({
    '@id': f.path,
    '@type': 'File',
    name: f.path,
    description: f.description,
    encodingFormat: f.encodingFormat,
    contentSize: String(f.size),
    sha256: f.sha256,
  }));
  const imageId = c.image.file ?? '#image';
  // The image shipped as a file is still the image of that tag and digest: said of the file, since #image is not written then.
  const imageFile = files.find((f) => f['@id'] === c.image.file);
  if (imageFile) Object.assign(imageFile, { alternateName: c.image.tag, ...(c.image.configDigest ? { identifier: c.image.configDigest } : {}) });
  const sbom = files.find((f) => f['@id'] === c.sbom);
  if (sbom) sbom.about = { '@id': imageId };
  const image: Entity | undefined = c.image.file
    ? undefined
    : { '@id': '#image', '@type': 'CreativeWork', name: c.image.tag, ...(c.image.configDigest ? { identifier: c.image.configDigest } : {}), description: 'Container image built from this bundle' };
  const inputs: Entity[] = c.inputs.map((f) => ({ '@id': `#input/${f.path.split('/').map(encodeURIComponent).join('/')}`, '@type': 'CreativeWork', name: f.path, sha256: f.sha256, isPartOf: { '@id': 'context.tar' } }));
  const has = (path: string) => c.files.some((f) => f.path === path);
  const build: Entity = {
    '@id': '#build',
    '@type': 'CreateAction',
    name: `rep build of ${c.name}`,
    instrument: { '@id': '#rep' },
    object: [...['Repfile', 'Repfile.lock', 'context.tar'].filter(has), ...inputs.map((i) => i['@id'])].map((id) => ({ '@id': id })),
    result: [imageId, ...['Dockerfile', 'provenance.json', ...(c.sbom ? [c.sbom] : [])].filter(has)].map((id) => ({ '@id': id })),
    startTime: c.startTime,
    endTime: c.endTime,
    ...(people.length ? { agent: { '@id': people[0]!['@id'] } } : {}),
  };
  const root: Entity = {
    '@id': './',
    '@type': 'Dataset',
    name: c.title ?? c.name,
    description: p?.abstract ?? `Computational environment ${c.name}, built with rep from its Repfile.`,
    datePublished: p?.['date-released'] ?? c.endTime.slice(0, 10),
    ...(p?.license ? { license: licenseId ? { '@id': licenseId } : p.license } : {}),
    ...(p?.doi ? { identifier: `https://doi.org/${p.doi}` } : {}),
    ...(p?.keywords?.length ? { keywords: p.keywords.join(', ') } : {}),
    ...(people.length ? { author: people.map((x) => ({ '@id': x['@id'] })) } : {}),
    hasPart: c.files.map((f) => ({ '@id': f.path })),
    mentions: { '@id': '#build' },
  };
  const rep: Entity = {
    '@id': '#rep',
    '@type': 'SoftwareApplication',
    name: 'rep',
    version: VERSION,
    description: `Builds container images from a Repfile, step by step (engine: ${c.engine}).`,
  };
  return {
    '@context': RO_CRATE_CONTEXT,
    '@graph': [
      { '@id': 'ro-crate-metadata.json', '@type': 'CreativeWork', conformsTo: { '@id': RO_CRATE_SPEC }, about: { '@id': './' } },
      root,
      ...files,
      build,
      rep,
      ...(image ? [image] : []),
      ...inputs,
      ...people,
      ...(licenseId ? [{ '@id': licenseId, '@type': 'CreativeWork', name: p!.license! }] : []),
    ],
  };
}
