// Where a project's files are, from -f, -C and --dockerfile: the Repfile, the
// build context and the standalone Dockerfile. The one place these paths are
// resolved (openProject, watch, build and the quick no-op path all ask here);
// light, since the quick path loads it before the rest of rep.
import path from 'node:path';
import { findRepfile } from './repfile/find.js';
import { DEFAULT_DOCKERFILE, type ProjectFlags } from './options.js';

export interface PathOptions extends ProjectFlags {
  /** What -f and -C are taken against (default: the working directory). */
  cwd?: string;
}

export interface ProjectPaths {
  /** The Repfile, absolute: -f against the working directory, else the one found there. */
  repfile: string;
  /** The build context, absolute: -C against the working directory, else the Repfile's folder. */
  contextDir: string;
}

export function projectPaths(opts: PathOptions = {}): ProjectPaths {
  const cwd = opts.cwd ?? process.cwd();
  const repfile = opts.file ? path.resolve(cwd, opts.file) : findRepfile(cwd);
  const contextDir = opts.context ? path.resolve(cwd, opts.context) : path.dirname(repfile);
  return { repfile, contextDir };
}

/** The standalone Dockerfile, absolute: --dockerfile (default Dockerfile) against the context. */
export function resolveDockerfile(contextDir: string, dockerfile: string = DEFAULT_DOCKERFILE): string {
  return path.resolve(contextDir, dockerfile);
}
