// Where a project's files are, from -f, -C and --dockerfile: the Repfile, the
// build context and the standalone Dockerfile. The one place these paths are
// resolved (openProject, watch, build and the quick no-op path all ask here);
// light, since the quick path loads it before the rest of rep.
import { accessSync, constants, lstatSync, statSync } from 'node:fs';
import path from 'node:path';
import { errnoWords, type FileProblem, type FlagProblem } from './diag.js';
import { LEADS_NOWHERE, tempNameProblem } from './safefs.js';
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
  /** Why the context cannot be one (see contextProblem); undefined when it is a folder rep may read. */
  problem?: FileProblem;
}

export function projectPaths(opts: PathOptions = {}): ProjectPaths {
  const cwd = opts.cwd ?? process.cwd();
  const repfile = opts.file ? path.resolve(cwd, opts.file) : findRepfile(cwd);
  const contextDir = opts.context ? path.resolve(cwd, opts.context) : path.dirname(repfile);
  const problem = contextProblem(contextDir, opts.context ?? (path.relative(cwd, contextDir) || '.'));
  return { repfile, contextDir, ...(problem ? { problem } : {}) };
}

/**
 * Why `contextDir` cannot be a build context: missing, not a folder (-C naming
 * a file), a path too long, a folder rep may not read. Undefined when it is a
 * folder rep may read. `shown` is how the user named it.
 */
export function contextProblem(contextDir: string, shown: string): FileProblem | undefined {
  const problem = (message: string): FileProblem => ({ file: shown, message });
  try {
    const st = statSync(contextDir);
    if (!st.isDirectory()) return problem(`build context is not a directory (${st.isFile() ? 'a regular file' : 'not a folder'})`);
    accessSync(contextDir, constants.R_OK | constants.X_OK);
    return undefined;
  } catch (e) {
    switch ((e as NodeJS.ErrnoException).code) {
      case 'ENOENT':
        return problem('build context directory does not exist');
      case 'ENOTDIR':
        return problem('build context directory does not exist (a part of its path is a file)');
      case 'ENAMETOOLONG':
        return problem('build context path is too long');
      case 'EACCES':
      case 'EPERM':
        return problem('build context cannot be read (permission denied)');
      default:
        return problem(`build context cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
}

/** The standalone Dockerfile, absolute: --dockerfile (default Dockerfile) against the context. */
export function resolveDockerfile(contextDir: string, dockerfile: string = DEFAULT_DOCKERFILE): string {
  return path.resolve(contextDir, dockerfile);
}

/**
 * Why --dockerfile `dockerfile` names no place a file can be (a part of its path is a file, or it is too
 * long), said of the flag as given: a build found it where it looked for the file's own ignore file, and
 * stopped with the errno (a review). Undefined when a file can be there, whether one is or not.
 */
export function dockerfileProblem(contextDir: string, dockerfile?: string): FlagProblem | undefined {
  if (dockerfile === undefined) return undefined;
  const long = tempNameProblem(resolveDockerfile(contextDir, dockerfile));
  if (long) return { kind: 'flag', flag: `--dockerfile ${dockerfile}`, message: long };
  try {
    lstatSync(resolveDockerfile(contextDir, dockerfile), { throwIfNoEntry: false });
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Another errno (a folder on the way rep may not enter) is the write's to say, with the file's name.
    return code !== undefined && LEADS_NOWHERE.has(code) ? { kind: 'flag', flag: `--dockerfile ${dockerfile}`, message: errnoWords(code) } : undefined;
  }
}
