// What the engine gets for one step: a few-line Dockerfile on the parent's
// image, and a context holding only that step's inputs (or, for a builder
// that syncs folders, the context folder, from which it copies only those).
import { PassThrough, type Readable } from 'node:stream';
import { sha256Of } from '../canonical.js';
import type { ContextIndex } from '../context/files.js';
import { copiesFor } from '../context/folders.js';
import type { HashedFile } from '../context/hash.js';
import { writeTar, type TarEntry } from '../context/tar.js';
import { copyLine, epochLines, fromLine, imageInstructions, inputCopies, stagePreamble, stepInstructions } from '../emit/dockerfile.js';
import type { Dag } from '../graph/dag.js';
import { planCopies } from '../emit/copies.js';
import { KEY_FORMAT } from '../plan/key.js';
import { STEP_REPO } from '../lock/reference.js';
import type { PlannedStep } from '../plan/plan.js';
import type { Project } from '../project.js';

/** Step images are tagged rep-cache:<key hex>: "is it fresh?" is an image lookup. */
export const CACHE_REPO = STEP_REPO;
/**
 * Where an image rep does not keep is named for a moment to be removed (scheduler/run.ts discard): under
 * rep-verify/, which no Repfile may name (repfile/schema.ts); rep verify's own names there end in 12 hex
 * digits, these in 32. `rep gc` removes such names a rep killed in that moment left.
 */
export const DISCARD_REPO = 'rep-verify/discard';
/**
 * Where a cache folder's archive is loaded (scheduler/cache.ts): each of its step images named PID-START-RANDOM-KEY here,
 * the build's own, until the build is over; one whose key a step asks for is tagged rep-cache:<key> too. Under
 * rep-verify/ for the same reason; `rep gc` removes such names a killed rep left.
 */
export const LOAD_REPO = 'rep-verify/cache-load';
export const keyHex = (key: string) => key.replace(/^sha256:/, '');
export const cacheRef = (key: string) => `${CACHE_REPO}:${keyHex(key)}`;

/** Inputs travel under this folder of the step context, so nothing can collide with the Dockerfile. */
const INPUTS_DIR = 'inputs';
/** What a step context's own .dockerignore leaves out of what COPY sees: all but inputs/. */
const STEP_IGNORE = 'Dockerfile\n.dockerignore\n';

/**
 * COPY lines that put a step's inputs (`paths`) at their relative paths under
 * `workdir`: from the step's own tar (inputs/) unless the build reads the
 * context folder itself (then as the standalone Dockerfile copies them).
 */
export type StepCopies = (workdir: string, paths: readonly string[]) => string[];

const fromInputsDir: StepCopies = (workdir, paths) => (paths.length ? [copyLine([`${INPUTS_DIR}/`], workdir.replace(/\/?$/, '/'))] : []);

export function stepDockerfile(
  dag: Dag,
  name: string,
  planned: (step: string) => PlannedStep,
  resolveBase: (ref: string) => string = (r) => r,
  inputCopies: StepCopies = fromInputsDir,
  /** The image a step it builds on or copies from goes by (a run's pin: scheduler/pins.ts); its rep-cache tag if not said. */
  imageOf: (step: string) => string = (step) => cacheRef(planned(step).key),
): string {
  const node = dag.nodes.get(name)!;
  const p = planned(name);
  const lines: string[] = [];
  let inherited: string;
  if (node.parent.kind === 'image') {
    lines.push(fromLine(node.parent, resolveBase), ...epochLines(dag.recipe), ...stagePreamble(dag.recipe));
    inherited = dag.recipe.workdir;
  } else {
    lines.push(`FROM ${imageOf(node.parent.name)}`, ...epochLines(dag.recipe));
    inherited = planned(node.parent.name).material.def.workdir;
  }
  const workdir = p.material.def.workdir;
  const copies = inputCopies(workdir, p.inputs.map((f) => f.path));
  lines.push(...stepInstructions(dag, node, inherited, workdir, copies, imageOf));
  return `${lines.join('\n')}\n`;
}

/**
 * A tar stream: the Dockerfile, and the step's inputs under inputs/, all
 * dated `mtime` (the Repfile's epoch with reproducible images, the time the
 * canonical rewrite gives every file anyway).
 */
export function stepContext(dockerfile: string, inputs: readonly HashedFile[], mtime?: Date): Readable {
  const entries: TarEntry[] = [
    // The builders read the Dockerfile whatever .dockerignore says, and COPY sees neither: a base's `ONBUILD COPY . /x`
    // copied the Dockerfile, which names this run's pins (scheduler/pins.ts), into the image (a review).
    { name: '.dockerignore', content: Buffer.from(STEP_IGNORE), mode: 0o644 },
    { name: 'Dockerfile', content: Buffer.from(dockerfile), mode: 0o644 },
    ...inputs.map((f) => ({ name: `${INPUTS_DIR}/${f.path}`, file: f })),
  ];
  const out = new PassThrough();
  writeTar(entries, out, mtime).catch((e: Error) => out.destroy(e));
  return out;
}

/** stepContext's tar, held in memory (a step with few inputs: see Engine.smallArchive). */
export async function stepArchive(dockerfile: string, inputs: readonly HashedFile[], mtime?: Date): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stepContext(dockerfile, inputs, mtime)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The final image: the target step's image (`targetImage`, a run's pin of it, else its tag) with the Repfile's runtime settings. */
export function imageStep(dag: Dag, targetKey: string, targetImage = cacheRef(targetKey)): { key: string; dockerfile: string | undefined } {
  const lines = imageInstructions(dag.recipe.image);
  const key = `sha256:${sha256Of({ format: KEY_FORMAT, target: targetKey, image: lines })}`;
  return { key, dockerfile: lines.length ? `FROM ${targetImage}\n${lines.join('\n')}\n` : undefined };
}

/**
 * The folders a step's COPY lines take whole from the context folder (a builder that syncs it):
 * the image gets what they hold when the engine reads them, files added meanwhile included.
 */
export function wholeFolders(project: Project, index: ContextIndex, paths: readonly string[]): string[] {
  const { counts, wholeOk } = copiesFor(project.ctx.dir, project.ctx.ignore, index.files);
  return planCopies(paths, counts, wholeOk).flatMap((c) => (c.wholeDir ? [c.sources[0]!] : []));
}

/** COPY lines from the context folder, decided as for the standalone Dockerfile (which folders may be copied whole). */
export function folderCopies(project: Project, index: ContextIndex): StepCopies {
  const { counts, wholeOk } = copiesFor(project.ctx.dir, project.ctx.ignore, index.files);
  return (workdir, paths) => inputCopies(workdir, paths, counts, wholeOk);
}
