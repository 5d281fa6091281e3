// Every path under a project's .rep/ folder, rep's own state. The one module
// that names them (as wireit's getScriptDataDir does): no other spells ".rep"
// or an entry's file name. Names only: reading and writing them without
// following a link is state/state.ts's job. Dependency-free but for
// node:path, since the quick no-op path (commands/quick.ts) loads it.
import path from 'node:path';

/** The folder at the context root: never part of the context, a bundle or what watch sees. */
export const STATE_DIR = '.rep';

/** Each entry of .rep/, by what it holds: its name there. */
export const STATE_ENTRIES = {
  /** What the last build recorded for each step: its key (state/state.ts). */
  state: 'state.json',
  /** A folder: what each recorded key was computed from, one file per key (state/materials.ts). */
  materials: 'materials',
  /** The no-op record of the last successful build (scheduler/noop.ts). */
  noop: 'noop.json',
  /** Each context file's stat stamp -> sha256 (context/hash.ts). */
  statCache: 'statcache.json',
  /** Rows of the stat cache hashed since statcache.json was last written whole, one per line (context/hash.ts). */
  statCacheLog: 'statcache.jsonl',
  /** The step keys of past states, one line per state, oldest first (state/history.ts): what `rep gc` may remove. */
  history: 'history.jsonl',
  /** The last build's provenance statement (build.ts). */
  provenance: 'provenance.json',
  /** A folder: each step's build log, named by stepLogName (scheduler/run.ts). */
  logs: 'logs',
  /** One build at a time: the pid of the build that holds the project (state/mutex.ts). */
  buildMutex: 'build.pid',
  /** The standalone Dockerfile `rep verify --rebuild` writes into the unpacked context (publish/verify.ts). */
  rebuildDockerfile: 'Dockerfile',
} as const;

export type StateEntry = keyof typeof STATE_ENTRIES;

/**
 * The entries of .rep/ that are files rep writes whole: a folder at one of their names makes the project
 * unusable until removed (state/state.ts stateDirProblem; the quick path then leaves it to the full one).
 * Not provenance.json: a build that cannot write it says so, located, and is not recorded as done
 * (record/provenance.ts; test/integration/failures.test.ts makes that failure with a folder there).
 */
export const FILE_ENTRIES: readonly StateEntry[] = ['state', 'noop', 'statCache', 'statCacheLog', 'history', 'buildMutex'];

/** The .rep folder of the context `contextDir`. */
export const stateDir = (contextDir: string): string => path.join(contextDir, STATE_DIR);

/** Where `entry` lies, nothing checked (state/state.ts reads and writes it safely). */
export const statePath = (contextDir: string, entry: StateEntry): string => path.join(stateDir(contextDir), STATE_ENTRIES[entry]);

/** A step's log, in the logs folder. */
export const stepLogName = (step: string): string => `${step}.log`;

/** Whether `rel` (slash-separated, relative to the context) is .rep or lies inside it. */
export const inStateDir = (rel: string): boolean => rel === STATE_DIR || rel.startsWith(`${STATE_DIR}/`);

/** How a message names `entry`, e.g. ".rep/build.pid". */
export const shownEntry = (entry: StateEntry): string => `${STATE_DIR}/${STATE_ENTRIES[entry]}`;
