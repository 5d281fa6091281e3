// What a bundle says about its image, from one export of the image's
// filesystem: filesystem.json (every path, to compare a rebuild with), and
// sbom.cdx.json (the software its package databases list) with the lines
// REPRODUCE.md shows of it.
import { prettyJson } from '../canonical.js';
import { sourceDateEpoch } from '../context/tar.js';
import type { Engine } from '../engine/engine.js';
import type { ResourceDescriptor, Statement } from '../emit/provenance.js';
import { cyclonedxJson } from '../sbom/cyclonedx.js';
import { SBOM_FILE, SBOM_MEDIA_TYPE } from '../sbom/sbomfile.js';
import { inventory, packageFiles } from '../sbom/inventory.js';
import { LINKED_LISTS } from '../sbom/unread.js';
import { softwareSection } from '../sbom/summary.js';
import { imageContents } from './filesystem.js';

export interface ImageFiles {
  filesystem: string;
  sbom?: string;
  /** REPRODUCE.md's section on the software in the image. */
  software?: string[];
}

/** `digest`: the image's config digest; without one (nothing was built) there is no SBOM. */
export async function describeImage(engine: Engine, tag: string, digest: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<ImageFiles> {
  const wanted = packageFiles();
  // The image built, by its id: the tag can have moved since (a push, another build, docker tag), and the SBOM names the digest.
  const { manifest, files } = await imageContents(engine, digest ?? tag, wanted.keep);
  if (!digest) return { filesystem: prettyJson(manifest) };
  // A package list that is a link is never followed (the tar reader shows packageFiles regular files only): said, not skipped.
  const linked = [...LINKED_LISTS].filter(([p]) => Object.hasOwn(manifest, p) && manifest[p]!.type === 'symlink').map(([, why]) => why);
  const inv = inventory(files, [...wanted.missed(), ...linked]);
  const { seconds } = sourceDateEpoch(env);
  const epoch = seconds === undefined ? undefined : new Date(seconds * 1000);
  return { filesystem: prettyJson(manifest), sbom: cyclonedxJson(inv, { tag, digest, epoch }), software: softwareSection(inv) };
}

/**
 * The statement with the SBOM as a byproduct: SLSA v1 keeps subjects for the
 * artifacts a build outputs (the image, the Dockerfile, the context) and
 * byproducts for what else it made that a reader may need; an SBOM describes
 * the image rather than being an output of its own.
 */
export function withSbom(statement: Statement, sha256: string): Statement {
  const sbom: ResourceDescriptor = { name: SBOM_FILE, digest: { sha256 }, mediaType: SBOM_MEDIA_TYPE, annotations: { kind: 'sbom' } };
  const details = statement.predicate.runDetails;
  return { ...statement, predicate: { ...statement.predicate, runDetails: { ...details, byproducts: [...details.byproducts, sbom] } } };
}
