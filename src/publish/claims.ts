// What a bundle's RO-Crate and SBOM say of its files and its image, checked
// against them: a reader (or a repository that indexes the crate) takes the
// crate's sha256 and size of each file, and the image digest it and the SBOM
// name, on trust. Both files are covered by SHA256SUMS, so these are checks
// of what their text claims, not of their bytes. The bundle is hostile: the
// JSON is read field by field, never assumed to have a shape.
import { shallowJson } from '../canonical.js';
import { OCI_ARCHIVE } from './ociarchive.js';
import { shown } from './bundlefs.js';

export const CRATE_FILE = 'ro-crate-metadata.json';
const CRATE = CRATE_FILE;

/** The types RO-Crate takes for a file (File is schema.org's MediaObject), as written bare or in full. */
const FILE_TYPES = new Set(['File', 'MediaObject', 'schema:MediaObject', 'http://schema.org/MediaObject', 'https://schema.org/MediaObject']);

const NOT_JSON = Symbol('not JSON');
/** The JSON `text` holds, or NOT_JSON: read depth-first bounded, as all JSON from a bundle (canonical.ts shallowJson). */
const parsed = (text: Buffer): unknown => {
  try {
    return shallowJson(text.toString('utf8'));
  } catch {
    return NOT_JSON;
  }
};

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const field = (o: Record<string, unknown>, k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);
const types = (e: Record<string, unknown>): unknown[] => {
  const t = field(e, '@type');
  return Array.isArray(t) ? t : [t];
};

/**
 * Where the crate's File entities disagree with the bundle's files (`hashes`,
 * `sizeOf`), or its image entity with the statement's image config digest
 * (`imageConfig`, hex, when the statement names one).
 */
export function crateProblems(text: Buffer, hashes: ReadonlyMap<string, string>, sizeOf: (file: string) => number | undefined, imageConfig?: string, most = 1001): string[] {
  const crate = parsed(text);
  if (crate === NOT_JSON) return [`${CRATE} is not JSON`];
  const graph = isObject(crate) ? field(crate, '@graph') : undefined;
  if (!Array.isArray(graph)) return [`${CRATE} has no @graph`];
  const out: string[] = [];
  for (const e of graph) {
    // A crate of 200,000 false entries is as false as one of a thousand: the listing stops there.
    if (out.length >= most) break;
    if (!isObject(e)) continue;
    const id = field(e, '@id');
    if (typeof id !== 'string') continue;
    if (types(e).some((t) => FILE_TYPES.has(t as string))) {
      const sha = field(e, 'sha256');
      const size = field(e, 'contentSize');
      if ((sha !== undefined || size !== undefined) && !hashes.has(id)) out.push(`${CRATE} describes ${shown(id)}, which the bundle does not hold`);
      else if (sha !== undefined && sha !== hashes.get(id)) out.push(`${CRATE}: the sha256 it gives ${shown(id)} is not the file's`);
      else if (size !== undefined && String(size) !== String(sizeOf(id))) out.push(`${CRATE}: the contentSize it gives ${shown(id)} is not the file's`);
    }
    const identifier = field(e, 'identifier');
    if (imageConfig !== undefined && (id === '#image' || id === OCI_ARCHIVE || id === 'image.tar') && identifier !== undefined && identifier !== `sha256:${imageConfig}`) {
      out.push(`${CRATE}: ${shown(id)} names another image than the statement (${shown(String(identifier))})`);
    }
  }
  return out;
}

/** Where the SBOM's image (metadata.component) is not the statement's image config. */
export function sbomImageProblems(text: Buffer, file: string, imageConfig: string): string[] {
  const bom = parsed(text);
  if (bom === NOT_JSON) return [`${file} is not JSON`];
  const metadata = isObject(bom) ? field(bom, 'metadata') : undefined;
  const component = isObject(metadata) ? field(metadata, 'component') : undefined;
  const version = isObject(component) ? field(component, 'version') : undefined;
  if (version === `sha256:${imageConfig}`) return [];
  return [`${file} describes another image than the statement (${typeof version === 'string' ? shown(version) : 'it names none'})`];
}
