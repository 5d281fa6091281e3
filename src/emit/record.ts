// From a finished build to its provenance statement and the files it names.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { sha256Hex } from '../context/hash.js';
import { walkContext } from '../context/files.js';
import { asEntries, writeTar } from '../context/tar.js';
import type { Engine } from '../engine/engine.js';
import { baseImages, lockPath, readLock, resolverFor } from '../lock/lockfile.js';
import type { PlannedStep } from '../plan/plan.js';
import type { Project } from '../project.js';
import { provenanceStatement, type Statement } from './provenance.js';

/** sha256 (hex) of the deterministic context archive, streamed, never held whole. */
export async function contextArchiveSha(project: Project): Promise<string> {
  const h = createHash('sha256');
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      cb();
    },
  });
  await writeTar(asEntries(walkContext(project.ctx.dir, project.ctx.ignore)), sink);
  return h.digest('hex');
}

export interface RecordedBuild {
  steps: PlannedStep[];
  outputsDigests: Map<string, string>;
  dockerfileText: string;
  image?: { configDigest: string; repoDigest?: string };
  engine: Engine;
  network?: string;
  startedOn: Date;
  finishedOn: Date;
}

export async function buildProvenance(project: Project, b: RecordedBuild): Promise<Statement> {
  const { recipe, dag } = project;
  const lock = readLock(recipe.path);
  const resolve = resolverFor(lock);
  const bases = [];
  for (const ref of baseImages(dag)) {
    if (lock?.images[ref]) bases.push({ ref, resolved: resolve(ref), digest: lock.images[ref], source: 'lock' as const });
    else {
      const info = await b.engine.inspect(ref);
      bases.push(info ? { ref, resolved: ref, digest: info.id, source: 'image-id' as const } : { ref, resolved: ref, source: 'none' as const });
    }
  }
  const inputs = new Map<string, string>();
  for (const s of b.steps) for (const f of s.inputs) inputs.set(f.path, f.sha256);
  const stageOf = new Map(dag.stages.flatMap((st) => st.steps.map((s) => [s, st.name] as const)));
  const rel = (p: string) => path.relative(recipe.contextDir, p).split(path.sep).join('/');
  const lockFile = lockPath(recipe.path);
  return provenanceStatement({
    repfile: { path: rel(recipe.path), sha256: recipe.sha256 },
    ...(existsSync(lockFile) ? { lock: { path: rel(lockFile), sha256: sha256Hex(readFileSync(lockFile)) } } : {}),
    target: dag.target,
    tag: recipe.image.tag,
    engine: b.engine.name,
    engineVersion: await b.engine.describe(),
    network: b.network,
    image: b.image,
    dockerfile: { name: 'Dockerfile', sha256: sha256Hex(b.dockerfileText) },
    context: { name: 'context.tar', sha256: await contextArchiveSha(project) },
    bases,
    inputs: [...inputs].sort(([a], [c]) => (a < c ? -1 : 1)).map(([p, sha256]) => ({ path: p, sha256 })),
    steps: b.steps.map((s) => ({
      name: s.name,
      key: s.key,
      stage: stageOf.get(s.name)!,
      outputsDigest: b.outputsDigests.get(s.name),
      nonce: s.material.nonce,
    })),
    startedOn: b.startedOn,
    finishedOn: b.finishedOn,
  });
}
