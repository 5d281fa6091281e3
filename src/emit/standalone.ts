// The standalone Dockerfile a build writes: where it lies against the
// context, the context it describes (itself in it when it lies there), and
// emitting and writing it. A build writes it before hashing the steps: when
// it lies in the context, a step whose inputs take it copies the very bytes
// this build wrote, and the text names it.
import path from 'node:path';
import { ok, type Diagnostic, type Result } from '../diag.js';
import { lexists } from '../safefs.js';
import type { BuildContext } from '../context/context.js';
import { byPath, ContextIndex, statEntry, type ContextFile } from '../context/files.js';
import type { Dag } from '../graph/dag.js';
import { emitDockerfile, type EmitOptions } from './dockerfile.js';
import { writeDockerfile } from './write.js';

/** Where the standalone Dockerfile goes. */
export interface DockerfilePlace {
  /** Absolute. */
  path: string;
  /** From the context, '/'-separated: starts with ../ (or is absolute) outside it. */
  rel: string;
  /** It lies in the context folder. */
  inFolder: boolean;
  /** It lies in the context folder and .dockerignore keeps it: the context holds it. */
  inContext: boolean;
}

/** The standalone Dockerfile as a build leaves it: written is false when the file already held `text` (or on a dry run). */
export interface StandaloneDockerfile {
  path: string;
  written: boolean;
  text: string;
}

export function placeDockerfile(ctx: BuildContext, file: string): DockerfilePlace {
  const rel = path.relative(ctx.dir, file).split(path.sep).join('/');
  const inFolder = !rel.startsWith('../') && !path.isAbsolute(rel);
  return { path: file, rel, inFolder, inContext: inFolder && !ctx.ignore.excludes(rel) };
}

/**
 * BuildKit reads `<Dockerfile>.dockerignore` beside the Dockerfile, when there is one, instead of the
 * context's .dockerignore: `docker build` of the emitted Dockerfile would then send another context
 * than the one rep hashed and cites. A problem naming that file, or undefined.
 */
export function ownIgnoreProblem(place: DockerfilePlace): Diagnostic | undefined {
  const own = `${place.path}.dockerignore`;
  if (!lexists(own)) return undefined;
  const name = path.basename(place.path);
  return { file: path.relative(process.cwd(), own) || own, message: `BuildKit reads this file instead of .dockerignore when it builds ${name}, and rep follows .dockerignore: merge its patterns into .dockerignore and remove it, or write the Dockerfile elsewhere with --dockerfile` };
}

/**
 * The context with the Dockerfile in it as it will be once written (when it
 * lies in the context and is not there yet): what the Dockerfile describes.
 */
export function withPlaceholder(index: ContextIndex, dir: string, place: DockerfilePlace): ContextIndex {
  if (!place.inContext || index.get(place.rel)) return index;
  return new ContextIndex([...index.files, { path: place.rel, abs: path.join(dir, place.rel), type: 'file' as const, mode: 0o644, size: 0, stamp: '0:0:0:0:0' }].sort(byPath));
}

/**
 * The standalone Dockerfile's text for the inputs `resolved` against `described`: what a build
 * writes, and what rep verify emits again from a bundle's Repfile and context.tar.
 */
export function standaloneText(
  dag: Dag,
  ctx: BuildContext,
  described: ContextIndex,
  resolved: ReadonlyMap<string, readonly ContextFile[]>,
  opts: Pick<EmitOptions, 'resolveBase' | 'dockerfile' | 'whole' | 'generatedBy'>,
): string {
  const inputsOf = (name: string) => resolved.get(name)!.map((f) => f.path);
  return emitDockerfile(dag, { ...opts, context: described.files, ignore: ctx.ignore, inputsOf });
}

/**
 * Emits the standalone Dockerfile for the inputs `resolved` against
 * `described` (withPlaceholder of `index`) and writes it (see write.ts). When
 * it lies in the context and changed, its new stat takes the placeholder's
 * place in the context returned and in `resolved`, which is updated in place.
 */
export function writeStandalone(
  dag: Dag,
  ctx: BuildContext,
  index: ContextIndex,
  described: ContextIndex,
  resolved: Map<string, ContextFile[]>,
  place: DockerfilePlace,
  opts: { resolveBase: (ref: string) => string; shownAs?: string },
): Result<{ dockerfile: StandaloneDockerfile; context: readonly ContextFile[] }> {
  const text = standaloneText(dag, ctx, described, resolved, { resolveBase: opts.resolveBase, dockerfile: opts.shownAs ?? (place.inFolder ? place.rel : place.path) });
  const written = writeDockerfile(place.path, text, path.relative(process.cwd(), place.path) || place.path, ctx.dir);
  if (!written.ok) return written;
  let context = index.files;
  if (written.value && place.inContext) {
    const now = statEntry(ctx.dir, place.rel)!;
    context = [...context.filter((f) => f.path !== place.rel), now].sort(byPath);
    for (const [name, files] of resolved) resolved.set(name, files.map((f) => (f.path === place.rel ? now : f)));
  }
  return ok({ dockerfile: { path: place.path, written: written.value, text }, context });
}
