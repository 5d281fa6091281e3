// The SBOM file: an inventory as CycloneDX 1.6 JSON, through the CycloneDX
// library (its models and normalizer write what the schema allows). Same image,
// same bytes: the serial number is a name-based UUID of the image digest, bom-refs
// are purls, lists are in the inventory's order (sorted by code unit), and there
// is no timestamp unless an epoch is given.
import { createHash } from 'node:crypto';
import { Contrib, Enums, Models, Serialize, Spec } from '@cyclonedx/cyclonedx-library';
import parseSpdx from 'spdx-expression-parse';
import { VERSION } from '../version.js';
import type { Inventory } from './inventory.js';
import type { Ecosystem } from './package.js';

/** RFC 9562's namespace for URLs: the name hashed with it is a URN of rep's. */
const URL_NAMESPACE = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');

/** A version-5 (name-based, SHA-1) UUID of `name`, as a URN. */
export function nameUuid(name: string): string {
  const b = createHash('sha1').update(URL_NAMESPACE).update(name).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `urn:uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export interface SbomSubject {
  /** The image's tag and config digest (sha256:…). */
  tag: string;
  digest: string;
  /** The time the BOM states (SOURCE_DATE_EPOCH), or none. */
  epoch?: Date;
}

const TYPES: Record<Ecosystem, Enums.ComponentType> = {
  generic: Enums.ComponentType.Application,
  deb: Enums.ComponentType.Library,
  apk: Enums.ComponentType.Library,
  pypi: Enums.ComponentType.Library,
  cran: Enums.ComponentType.Library,
  bioconductor: Enums.ComponentType.Library,
  conda: Enums.ComponentType.Library,
};

export function cyclonedxJson(inv: Inventory, image: SbomSubject): string {
  const licences = new Contrib.License.Factories.LicenseFactory((s: string) => void parseSpdx(s));
  const hex = image.digest.replace(/^sha256:/, '');
  const bom = new Models.Bom({ serialNumber: nameUuid(`urn:rep:sbom:image:sha256:${hex}`) });
  bom.metadata.component = new Models.Component(Enums.ComponentType.Container, image.tag, { bomRef: 'image', version: `sha256:${hex}` });
  bom.metadata.component.hashes.set(Enums.HashAlgorithm['SHA-256'], hex);
  bom.metadata.tools.components.add(new Models.Component(Enums.ComponentType.Application, 'rep', { version: VERSION }));
  if (image.epoch) bom.metadata.timestamp = image.epoch;
  // A bound the inventory reached: the list below is not all the image holds.
  for (const why of inv.incomplete ?? []) bom.metadata.properties.add(new Models.Property('rep:incomplete', why));
  if (inv.os?.id) {
    bom.components.add(new Models.Component(Enums.ComponentType.OperatingSystem, inv.os.id, { bomRef: 'os', version: inv.os.versionId, description: inv.os.prettyName }));
  }
  for (const p of inv.packages) {
    const c = new Models.Component(TYPES[p.ecosystem]!, p.name, { bomRef: p.purl, version: p.version, purl: p.purl });
    if (p.licence) c.licenses.add(licences.makeFromString(p.licence));
    for (const where of p.paths) c.properties.add(new Models.Property('rep:path', `/${where}`));
    bom.components.add(c);
  }
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6));
  // Not the library's sortLists: it collates with localeCompare, in the locale of whoever publishes (Danish puts
  // "aardvark" after "zope"), so the bytes would change with LANG. Each list keeps the order it was added in, which
  // rep decides: components by purl, paths and `incomplete` sorted (inventory.ts), one hash, licence and tool each,
  // and dependencies in the components' order.
  return `${serializer.serialize(bom, { space: 2 })}\n`;
}
