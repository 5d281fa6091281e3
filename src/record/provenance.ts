// From a finished build to its provenance statement and the files it names.
import path from 'node:path';
import { prettyJsonPieces } from '../canonical.js';
import { fail, ok, type Result } from '../diag.js';
import { sha256Hex, type HashedFile } from '../context/hash.js';
import { contextListingSha256 } from '../context/listing.js';
import { writeFileAtomicPieces } from '../state/files.js';
import { statePath } from '../state/paths.js';
import { stateFileToWrite } from '../state/state.js';
import type { Engine } from '../engine/engine.js';
import { stageOf } from '../graph/dag.js';
import { baseImages, pinOf, resolverFor } from '../lock/lockfile.js';
import type { PlannedStep } from '../plan/plan.js';
import { pinned } from '../plan/key.js';
import type { Project } from '../project.js';
import { provenanceStatement, type ProvenanceInput, type Statement } from '../emit/provenance.js';

/** The context as the statement's subject: the listing of its files (a build), or the archive a bundle holds (publish). */
function contextSubject(b: RecordedBuild): ProvenanceInput['context'] {
  if ('archive' in b.context) return { name: 'context.tar', sha256: b.context.archive };
  return { name: 'context', sha256: contextListingSha256(b.context.listed), annotations: { kind: 'context-files' } };
}

export interface RecordedBuild {
  /**
   * The context as the statement cites it: its files, hashed (through the
   * build's stat cache) when its inputs were, cited by their listing; or the
   * sha256 (hex) of its deterministic archive, context.tar, which `rep
   * publish` wrote for the bundle before it built.
   */
  context: { listed: readonly HashedFile[] } | { archive: string };
  steps: PlannedStep[];
  outputsDigests: Map<string, string>;
  dockerfileText: string;
  image?: { configDigest: string; repoDigest?: string };
  engine: Engine;
  /** The platform the engine built for, as the keys hold it (EngineFacts). */
  platform?: string;
  /**
   * The image ids of the bases no digest pins, as the keys hold them (EngineFacts): recorded as
   * they were keyed, not asked again (a base pulled by the build, or moved meanwhile, would
   * record an id no key was made of, and verify would find the keys wrong).
   */
  baseIds?: ReadonlyMap<string, string>;
  network?: string;
  startedOn: Date;
  finishedOn: Date;
}

export async function buildProvenance(project: Project, b: RecordedBuild): Promise<Statement> {
  const { recipe, dag } = project;
  const lock = project.lock?.value;
  const resolve = resolverFor(lock);
  const refs = baseImages(dag);
  // A base the Repfile names by digest (name@sha256:…) is asked for its id: that names one image whatever happens.
  const loose = refs.filter((r) => pinOf(lock, r) === undefined);
  const asked = b.baseIds ? loose.filter((r) => pinned(r)) : loose;
  const ids = new Map<string, string | undefined>([...(asked.length ? await b.engine.imageIds(asked) : []), ...(b.baseIds ?? [])]);
  const bases = refs.map((ref) => {
    const pin = pinOf(lock, ref);
    if (pin) return { ref, resolved: resolve(ref), digest: pin, source: 'lock' as const };
    const id = ids.get(ref);
    return id ? { ref, resolved: ref, digest: id, source: 'image-id' as const } : { ref, resolved: ref, source: 'none' as const };
  });
  // Each input once, by path, as the steps hashed it: no copy of its path and hash (100k of them at times).
  const inputs = new Map<string, HashedFile>();
  for (const s of b.steps) for (const f of s.inputs) inputs.set(f.path, f);
  const rel = (p: string) => path.relative(recipe.contextDir, p).split(path.sep).join('/');
  return provenanceStatement({
    repfile: { path: rel(recipe.path), sha256: recipe.sha256 },
    ...(project.lock ? { lock: { path: rel(project.lock.file), sha256: sha256Hex(project.lock.bytes) } } : {}),
    target: dag.target,
    tag: recipe.image.tag,
    engine: b.engine.name,
    engineVersion: await b.engine.describe(),
    platform: b.platform,
    network: b.network,
    image: b.image,
    dockerfile: { name: 'Dockerfile', sha256: sha256Hex(b.dockerfileText) },
    context: contextSubject(b),
    bases,
    inputs: [...inputs.values()].sort((x, y) => (x.path < y.path ? -1 : 1)),
    steps: b.steps.map((s) => ({
      name: s.name,
      key: s.key,
      stage: stageOf(dag, s.name).name,
      outputsDigest: b.outputsDigests.get(s.name),
      nonce: s.material.nonce,
    })),
    startedOn: b.startedOn,
    finishedOn: b.finishedOn,
  });
}

/**
 * The provenance statement of a finished build, written to .rep/provenance.json.
 * A write that fails is an io problem (exit 1): the build is not done.
 */
export async function writeProvenance(project: Project, b: RecordedBuild): Promise<Result<Statement>> {
  const provenance = await buildProvenance(project, b);
  const file = statePath(project.ctx.dir, 'provenance');
  try {
    writeFileAtomicPieces(stateFileToWrite(project.ctx.dir, 'provenance'), (put) => prettyJsonPieces(provenance, put));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return fail({ kind: 'io', file: path.relative(process.cwd(), file) || file, message: `cannot write it (${code}); the build is not recorded as done` });
  }
  return ok(provenance);
}
