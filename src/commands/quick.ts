// `rep build` with nothing to do, and `rep status` with every step fresh,
// answered before the rest of rep loads: no YAML parser, no schema, no engine
// client process. It reads the no-op record the last successful build left in
// .rep/noop.json, walks the context once, asks the docker engine over its
// socket, and either answers or answers nothing, leaving the command to the
// full pipeline (which checks the same stamp, see scheduler/noop.ts). It writes
// nothing of the project's (checking a seal makes the user's seal key when
// there is none, state/seal.ts).
//
// Only for what it can decide exactly: docker (podman has no socket to ask
// by default), plain `rep build` and `rep status` options. Anything else goes
// the long way.
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { lockBytes, noopImagesHold, noopRefs, noopStamp, racyFilesHold, readNoop, type NoopRecord } from '../scheduler/noop.js';
import { prettyJson } from '../canonical.js';
import { terminalJson } from '../diag.js';
import { formatStatus, statusReport, type StepReport } from './statusreport.js';
import { loadContext } from '../context/context.js';
import { handOverWalk, walkContext } from '../context/files.js';
import { sha256Hex } from '../context/hash.js';
import { askedPlatform, askedPlatformProblem, engineIdentity } from '../engine/engine.js';
import { dockerSocket, imageId, serverVersion } from '../engine/socket.js';
import { projectPaths, resolveDockerfile } from '../projectpaths.js';
import { BUILD_OPTIONS, DEFAULT_DOCKERFILE, optionNamed, optionValue, PROJECT_OPTIONS, type BuildFlags, type ProjectFlags } from '../options.js';
import { isRegularFile, lexists, lstatQuiet, readBounded } from '../safefs.js';
import { FILE_ENTRIES, statePath } from '../state/paths.js';

export interface QuickBuildArgs extends ProjectFlags {
  command: 'build';
  engine: 'auto' | 'docker';
  dockerfile: string;
  /** false with --no-reproducible. */
  reproducible?: boolean;
}

export interface QuickStatusArgs extends ProjectFlags {
  command: 'status';
  engine: 'auto' | 'docker';
  json?: boolean;
  question?: boolean;
}

export type QuickArgs = QuickBuildArgs | QuickStatusArgs;

export interface QuickAnswer {
  engine: 'docker';
  tag: string;
  steps: number;
}

/**
 * The options of `rep build` this path can vouch for (names, defaults and
 * values from the one table, src/options.ts): `keep` changes what a no-op
 * answers, `check` does not but must be a value the full parser takes. Any
 * other option goes the long way.
 */
const VOUCHED: Partial<Record<keyof BuildFlags | keyof ProjectFlags, 'keep' | 'check'>> = {
  file: 'keep',
  context: 'keep',
  engine: 'keep',
  buildkit: 'check',
  dockerfile: 'keep',
  jobs: 'check',
  network: 'check',
  reproducible: 'keep',
};

/** `rep status`'s own switches (cli/program.ts), by how they are spelled. */
const STATUS_SWITCHES: Record<string, 'json' | 'question'> = { '--json': 'json', '-q': 'question', '--question': 'question' };

/**
 * The options of a plain `rep build` or `rep status`, or undefined for any
 * command line this cannot answer (another command, --dry-run, --cache-to,
 * help, a value the full parser would refuse...).
 */
export function quickArgs(argv: readonly string[]): QuickArgs | undefined {
  const args: Record<string, string | number | boolean> = {};
  for (const o of BUILD_OPTIONS) if (VOUCHED[o.key] === 'keep' && o.default !== undefined) args[o.key] = o.default;
  let command: 'build' | 'status' | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if ((arg === 'build' || arg === 'status') && command === undefined) {
      command = arg;
      continue;
    }
    if (command === 'status' && Object.hasOwn(STATUS_SWITCHES, arg)) {
      args[STATUS_SWITCHES[arg]!] = true;
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    // Project options go anywhere; build options only after `build`, as commander takes them (status takes --engine alone).
    const o = optionNamed(PROJECT_OPTIONS, name) ?? (command === 'build' || (command === 'status' && name === '--engine') ? optionNamed(BUILD_OPTIONS, name) : undefined);
    const vouched = o && VOUCHED[o.key];
    if (!o || !vouched) return undefined;
    // A switch spelled --no-X sets X false, as commander has it.
    let v: string | number | boolean | undefined = !o.long.startsWith('--no-');
    if (o.value) {
      const text = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      v = text ? optionValue(o, text) : undefined;
    } else if (eq > 0) v = undefined;
    if (v === undefined) return undefined;
    if (o.key === 'engine' && v !== 'auto' && v !== 'docker') return undefined;
    if (vouched === 'keep') args[o.key] = v;
  }
  if (command === 'status') {
    // What a build stamps with the default Dockerfile (status writes none).
    const { file, context, engine, json, question } = args as unknown as QuickStatusArgs;
    return { command, file, context, engine, json, question };
  }
  return command ? ({ ...args, command } as unknown as QuickBuildArgs) : undefined;
}

/** The path of `bin` as the client would be found: absolute, relative, or on PATH. */
function onPath(bin: string, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  const runnable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (bin.includes('/')) {
    const p = path.resolve(cwd, bin);
    return runnable(p) ? p : undefined;
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && runnable(path.join(dir, bin))) return path.join(dir, bin);
  }
  return undefined;
}

/** The Repfile's bytes, read as the full path reads them (regular, bounded); throws otherwise. */
function repfileBytes(file: string): Buffer {
  const r = readBounded(file, { follow: true });
  if (!r.ok) throw new Error(r.message);
  return r.bytes;
}

/**
 * "Nothing to build" when the project, its context and the engine are as the
 * last successful build left them and its images are all still there;
 * undefined when that is not certain (then the full build decides).
 */
export async function quickNoop(args: Omit<QuickBuildArgs, 'command'>, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<QuickAnswer | undefined> {
  const noop = await holdingRecord(args, args.dockerfile, args.reproducible !== false, env, cwd);
  return noop && { engine: 'docker', tag: noop.tag, steps: noop.steps.length };
}

/**
 * What `rep status` prints, and its exit code, when the last successful
 * build's record still holds (every step fresh, each with the key it was
 * built under); undefined otherwise, and then the full path plans.
 */
export async function quickStatus(args: QuickStatusArgs, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<{ text?: string; exitCode: number } | undefined> {
  // What a plain build stamps, with the canonical image or (after --no-reproducible) without: the steps are as fresh.
  const noop = await holdingRecord(args, DEFAULT_DOCKERFILE, 'either', env, cwd);
  if (!noop) return undefined;
  if (args.question) return { exitCode: noop.lock.length ? 1 : 0 };
  const plan = { steps: noop.steps.map(({ name, key }): StepReport => ({ name, key, state: 'fresh', reasons: [] })) };
  return { text: args.json ? terminalJson(prettyJson(statusReport(plan, noop.lock))) : [formatStatus(plan), ...noop.lock].join('\n'), exitCode: 0 };
}

/** Images the quick path asks the engine about at once, at most. */
const QUICK_REFS = 64;

/** The last successful build's no-op record, when the project, its context and the engine are still as it says. */
async function holdingRecord(args: ProjectFlags & { engine: 'auto' | 'docker' }, dockerfileFlag: string, canonical: boolean | 'either', env: NodeJS.ProcessEnv, cwd: string): Promise<NoopRecord | undefined> {
  const { repfile, contextDir } = projectPaths({ file: args.file, context: args.context, cwd });
  // Read only when .rep is a folder of its own, and never through a link.
  const noop = readNoop(contextDir);
  // A secret's file may have moved into the context: the full path checks (NoopRecord.secretFiles).
  if (!noop || noop.secretFiles) return undefined;
  // Another build holds the project (or something is planted at its mutex): let the full path see to it.
  if (lexists(statePath(contextDir, 'buildMutex'))) return undefined;
  // The full path reads the measured outputs from the state: without it, it decides.
  if (!isRegularFile(statePath(contextDir, 'state'))) return undefined;
  // A folder at one of rep's file names: the full path refuses the project, and says how to mend it.
  if (FILE_ENTRIES.some((e) => lstatQuiet(statePath(contextDir, e))?.isDirectory())) return undefined;
  const dockerfile = resolveDockerfile(contextDir, dockerfileFlag);
  if (!existsSync(dockerfile)) return undefined;
  // A Dockerfile's own ignore file (BuildKit reads it instead of .dockerignore, whatever .dockerignore
  // says of it, so it is not in the stamp): the full path refuses it (emit/standalone.ts ownIgnoreProblem).
  if (lexists(`${dockerfile}.dockerignore`)) return undefined;

  // The engine `--engine auto|docker` would pick, asked over its socket (the
  // client binary must be there all the same: the full path runs it).
  const bin = env.REP_DOCKER || 'docker';
  if (path.basename(bin) !== 'docker' || !onPath(bin, env, cwd)) return undefined;
  // A DOCKER_DEFAULT_PLATFORM that is no one platform: the full path says so.
  if (askedPlatformProblem(env)) return undefined;
  const socket = dockerSocket(env);
  if (!socket) return undefined;
  const refs = noopRefs(noop);
  // Asked all at once, before anything else is read (a few milliseconds over the socket): for a project of
  // many steps, one socket each would be many open at once, and the full path asks in one batch.
  if (refs.length > QUICK_REFS) return undefined;
  const version = serverVersion(socket);
  const ids = Promise.all(refs.map((r) => imageId(socket, r)));
  version.catch(() => undefined);
  ids.catch(() => undefined);

  const ctx = loadContext(contextDir);
  if (!ctx.ok) return undefined;
  const files = walkContext(contextDir, ctx.value.ignore);
  if (!files.ok) return undefined;
  // If this is no no-op, the build that follows takes this walk rather than making another.
  handOverWalk(contextDir, ctx.value.ignoreText, files.value);
  try {
    const server = await version;
    if (!server) return undefined;
    const repfileSha256 = sha256Hex(repfileBytes(repfile));
    const lock = lockBytes(repfile);
    const stamp = (c: boolean) =>
      noopStamp({ engine: engineIdentity('docker', server, askedPlatform(env)), dockerfile, repfile, repfileSha256, lockBytes: lock, ignoreText: ctx.value.ignoreText, files: files.value, canonical: c });
    // 'either': whether the last build left the canonical image or the engine's does not change what is fresh.
    if (stamp(canonical !== false) !== noop.stamp && (canonical !== 'either' || stamp(false) !== noop.stamp)) return undefined;
    if (!racyFilesHold(contextDir, noop)) return undefined;
    const found = await ids;
    if (!noopImagesHold(noop, new Map(refs.map((r, i) => [r, found[i]])))) return undefined;
  } catch {
    // The engine did not answer, the Repfile is missing, a file went away mid-walk...: the full path will say what.
    return undefined;
  }
  return noop;
}
