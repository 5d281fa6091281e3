// The provenance statement of a build: an in-toto Statement v1 with a SLSA
// Provenance v1 predicate. Deterministic apart from the start and finish times.
import { VERSION } from '../version.js';
import { KEY_FORMAT } from '../plan/key.js';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PREDICATE_TYPE = 'https://slsa.dev/provenance/v1';
/** What kind of build this is: a Repfile built step by step by rep (parameters below). */
export const BUILD_TYPE = 'urn:rep:buildtype:repfile:v1';

export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  mediaType?: string;
  digest?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Statement {
  _type: string;
  subject: ResourceDescriptor[];
  predicateType: string;
  predicate: {
    buildDefinition: {
      buildType: string;
      externalParameters: Record<string, unknown>;
      internalParameters: Record<string, unknown>;
      resolvedDependencies: ResourceDescriptor[];
    };
    runDetails: {
      builder: { id: string; version: Record<string, string> };
      metadata: { startedOn: string; finishedOn: string };
      byproducts: ResourceDescriptor[];
    };
  };
}

export interface ProvenanceInput {
  repfile: { path: string; sha256: string };
  lock?: { path: string; sha256: string };
  target: string;
  tag: string;
  engine: string;
  engineVersion: string;
  /** The platform the engine built for (os/arch), which the keys of steps on a base image hold. */
  platform?: string;
  network?: string;
  /** The image, when one was built: its config digest, and its repo digest once pushed. */
  image?: { configDigest: string; repoDigest?: string };
  dockerfile: { name: string; sha256: string };
  /** The context: its archive (context.tar), or the listing of its files (see record/provenance.ts contextListing), so annotated. */
  context: { name: string; sha256: string; annotations?: Record<string, string> };
  bases: { ref: string; resolved: string; digest?: string; source: 'lock' | 'image-id' | 'none' }[];
  inputs: { path: string; sha256: string }[];
  steps: { name: string; key: string; stage: string; outputsDigest?: string; nonce?: string }[];
  startedOn: Date;
  finishedOn: Date;
}

const hex = (d: string) => d.replace(/^sha256:/, '');
const byName = (a: ResourceDescriptor, b: ResourceDescriptor) => ((a.name ?? '') < (b.name ?? '') ? -1 : 1);

/** Every input's annotations: one object, shared (a statement lists each input of the context, 100k of them at times). */
const INPUT: Record<string, string> = Object.freeze({ kind: 'input' });

/**
 * A context path as a relative file: URI, each segment percent-encoded whole: encodeURI
 * would leave `#` and `?`, so data#v2.csv read as the file "data" with a fragment.
 */
const fileUri = (rel: string) => `file:${rel.split('/').map(encodeURIComponent).join('/')}`;

export function provenanceStatement(p: ProvenanceInput): Statement {
  const subject: ResourceDescriptor[] = [
    { name: p.dockerfile.name, digest: { sha256: p.dockerfile.sha256 } },
    { name: p.context.name, digest: { sha256: p.context.sha256 }, ...(p.context.annotations ? { annotations: p.context.annotations } : {}) },
  ];
  if (p.image) {
    subject.push({
      name: p.tag,
      digest: { sha256: hex(p.image.configDigest) },
      annotations: { kind: 'image-config', ...(p.image.repoDigest ? { repoDigest: p.image.repoDigest } : {}) },
    });
  }
  const resolvedDependencies: ResourceDescriptor[] = p.bases.map((b) => ({
    name: b.ref,
    uri: `docker-image://${b.resolved}`,
    ...(b.digest ? { digest: { sha256: hex(b.digest) } } : {}),
    annotations: { kind: 'base-image', digestSource: b.source },
  }));
  // Keys in sorted order: written as they are, not copied (canonical.ts). Pushed, not spread: 100k of them at times.
  for (const f of p.inputs) resolvedDependencies.push({ annotations: INPUT, digest: { sha256: f.sha256 }, name: f.path, uri: fileUri(f.path) });
  return {
    _type: STATEMENT_TYPE,
    subject: subject.sort(byName),
    predicateType: PREDICATE_TYPE,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: {
          repfile: p.repfile,
          ...(p.lock ? { lock: p.lock } : {}),
          target: p.target,
          tag: p.tag,
        },
        internalParameters: { engine: p.engine, keyFormat: KEY_FORMAT, ...(p.network ? { network: p.network } : {}), ...(p.platform ? { platform: p.platform } : {}) },
        resolvedDependencies,
      },
      runDetails: {
        builder: { id: `urn:rep:builder:${p.engine}`, version: { rep: VERSION, node: process.versions.node, engine: p.engineVersion } },
        metadata: { startedOn: p.startedOn.toISOString(), finishedOn: p.finishedOn.toISOString() },
        byproducts: p.steps.map((s) => ({
          name: `step:${s.name}`,
          digest: { sha256: hex(s.key) },
          annotations: { stage: s.stage, ...(s.outputsDigest ? { outputsDigest: s.outputsDigest } : {}), ...(s.nonce ? { nonce: s.nonce } : {}) },
        })),
      },
    },
  };
}
