// The projects this user's rep has built, so that `rep gc` in one keeps the
// step images another still uses: keys are content-only, so two projects (or
// two clones of one repository) share rep-cache:K. One project folder (its
// real path, as JSON) a line in projects.jsonl, next to the seal key
// ($XDG_STATE_HOME/rep, seal.ts): appended when a project writes its state,
// and by gc; again when a project not among the last few builds, so that the
// order is that of use (the last line of a folder counts). Bounded: past
// MAX_PROJECTS lines it is rewritten with the most recently used, folders that
// no longer hold a .rep/ dropped. One that cannot be read (too large, a link, a
// pipe) is said by gc, and written afresh by the next build.
//
// What another project's .rep/ says is a stranger's word (a clone may carry
// one): read with the bounded, no-follow readers rep uses for its own state,
// and only ever to keep an image. gc removes nothing but keys this project's
// own sealed history names (history.ts); another project's state.json or
// history can add keys to keep, never a key to remove. So its keys are taken
// sealed or not (a hostile one can only make gc keep more), and a project
// that is missing or cannot be read is passed over. Read small: a state.json
// up to OTHER_STATE_LIMIT, for its keys only, the last OTHER_HISTORY_TAIL
// bytes of a history, and REGISTER_BUDGET bytes for all of them together (a
// state.json of 248 MiB of brackets in one registered folder, left there by a
// `git checkout .` of a tracked .rep/, aborted gc in every other project).
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { appendNoFollow, isRealDir, readBounded } from '../safefs.js';
import { KEY, readNewestState } from '../state/history.js';
import { writeFileAtomic } from '../state/files.js';
import { stateDir } from '../state/paths.js';
import { sealKeyFile } from '../state/seal.js';
import { parseShallowJson, stateFileToRead } from '../state/state.js';
import { isJsonMap, shallowJson } from '../canonical.js';

/** The most projects the register names; past it, those used longest ago are forgotten (their images are then only as safe as before). */
export const MAX_PROJECTS = 1000;
/** A project among this many most recently used is not registered again when it builds. */
const RECENT = 16;
/** The most bytes read: more is not the register rep writes. */
const REGISTER_LIMIT = 16 << 20;
/** The most bytes read of another project's state.json (rep writes some 200 bytes a step): a larger one is passed over. */
export const OTHER_STATE_LIMIT = 4 << 20;
/** The most bytes read from the end of another project's history, for its newest line. */
export const OTHER_HISTORY_TAIL = 4 << 20;
/** The most bytes read of all the other projects together: past it, the rest are passed over. */
export const REGISTER_BUDGET = 64 << 20;

/** The register's file: in the folder of the seal key; undefined where rep keeps no per-user state. */
export function registerFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const key = sealKeyFile(env);
  return key && path.join(path.dirname(key), 'projects.jsonl');
}

/** The projects registered, used longest ago first, each once (absolute paths; malformed lines left out). */
export function readRegister(env: NodeJS.ProcessEnv = process.env): string[] {
  return readRegisterFile(env).dirs;
}

/** What the register holds: its projects (as readRegister), its lines, and why it cannot be read, when it cannot (missing is empty). */
function readRegisterFile(env: NodeJS.ProcessEnv): { dirs: string[]; lines: number; problem?: string } {
  const file = registerFile(env);
  const r = file ? readBounded(file, { limit: REGISTER_LIMIT }) : undefined;
  if (!r?.ok) return { dirs: [], lines: 0, ...(r && r.code !== 'ENOENT' ? { problem: `${file}: ${r.message}` } : {}) };
  const seen = new Set<string>();
  const lines = r.bytes.toString('utf8').split('\n');
  for (const line of lines) {
    try {
      const dir: unknown = line && shallowJson(line);
      if (typeof dir === 'string' && path.isAbsolute(dir) && !dir.includes('\0')) {
        seen.delete(dir);
        seen.add(dir);
      }
    } catch {
      // not a line rep wrote
    }
  }
  // All of them: lines appended at once by several builds may be past MAX_PROJECTS until the next rewrite.
  return { dirs: [...seen], lines: lines.length - 1 };
}

const realDir = (dir: string): string => {
  try {
    return realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
};

/**
 * Adds the project at `contextDir` to the register as the one used last, unless it is among
 * the RECENT used last already. Only
 * into a folder of this user's that exists (the seal key's, made when rep
 * first sealed a record): none is made for it. Never throws: a register that
 * cannot be written leaves gc as it was without one.
 */
export function registerProject(contextDir: string, env: NodeJS.ProcessEnv = process.env): void {
  try {
    const file = registerFile(env);
    if (!file) return;
    const home = statSync(path.dirname(file));
    if (!home.isDirectory() || home.uid !== (process.geteuid?.() ?? -1)) return;
    const dir = realDir(contextDir);
    const { dirs: known, lines, problem } = readRegisterFile(env);
    if (known.slice(-RECENT).includes(dir)) return;
    if (!problem && lines < MAX_PROJECTS) {
      appendNoFollow(file, `${JSON.stringify(dir)}\n`);
      return;
    }
    // Full (or not to be read, and so written afresh): the folders that still hold a .rep/, those used last, then this one.
    const kept = [...known.filter((d) => d !== dir && isRealDir(stateDir(d))), dir].slice(-MAX_PROJECTS);
    writeFileAtomic(file, kept.map((d) => `${JSON.stringify(d)}\n`).join(''));
  } catch {
    // a register that cannot be written: gc keeps what it would have kept without one
  }
}

/** What gc keeps for the other projects: their keys, how many it passed over (too large, or past the budget), and the bytes it read. */
export interface OthersKeys {
  keys: Set<string>;
  passedOver: number;
  read: number;
  /** Why the register cannot be read (then no project's keys are kept for it). */
  problem?: string;
}

/**
 * The keys the other registered projects' current states use: the steps of
 * each one's state.json and its newest history line (which also names the
 * canonical and final images it tagged), read within `budget` bytes in all.
 * For keeping only (see the top).
 */
export function keysOtherProjectsUse(contextDir: string, env: NodeJS.ProcessEnv = process.env, budget = REGISTER_BUDGET): OthersKeys {
  const me = realDir(contextDir);
  const { dirs, problem } = readRegisterFile(env);
  const out: OthersKeys = { keys: new Set(), passedOver: 0, read: 0, ...(problem ? { problem } : {}) };
  for (const dir of dirs) {
    if (dir === me) continue;
    const left = budget - out.read;
    const file = left > 0 ? stateFileToRead(dir, 'state') : undefined;
    const r = file ? readBounded(file, { limit: Math.min(OTHER_STATE_LIMIT, left) }) : undefined;
    if (left <= 0) {
      out.passedOver++;
      continue;
    }
    // A state.json too large: its history's newest line may still name its keys, but gc says it did not read it all.
    const tooLarge = r?.ok === false && r.code === 'EFBIG';
    if (r?.ok) {
      out.read += r.bytes.length;
      for (const k of stateKeys(r.bytes.toString('utf8'))) out.keys.add(k);
    }
    const newest = readNewestState(dir, Math.min(OTHER_HISTORY_TAIL, budget - out.read));
    out.read += newest.read;
    // Once for the project, whatever of it was not read.
    if (tooLarge || newest.missed) out.passedOver++;
    for (const k of newest.keys) out.keys.add(k);
  }
  return out;
}

/** The keys of a state.json's steps, its other fields unread (see the top); none when it is not JSON rep could have written. */
function stateKeys(text: string): string[] {
  const state = parseShallowJson(text);
  const steps = isJsonMap(state) && isJsonMap(state.steps) ? Object.values(state.steps) : [];
  return steps.flatMap((r) => (isJsonMap(r) && typeof r.key === 'string' && KEY.test(r.key) ? [r.key] : []));
}
