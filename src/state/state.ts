// .rep/state.json: what the last build recorded for each step. Read to decide
// freshness (engine "none") and to explain staleness; written atomically.
// Also where every .rep/ entry (named in paths.ts) is reached for reading or
// writing, never through a link.
import { lstatSync } from 'node:fs';
import path from 'node:path';
import { isJsonMap, prettyJsonPieces, shallowJson } from '../canonical.js';
import type { FileProblem } from '../diag.js';
import type { StepMaterial } from '../plan/key.js';
import type { Project } from '../project.js';
import { contextProblem } from '../projectpaths.js';
import { writeFileAtomicPieces } from './files.js';
import { appendHistory } from './history.js';
import { isRealDir, kindOf, lstatQuiet, ownDir, readBounded } from '../safefs.js';
import { FILE_ENTRIES, stateDir, statePath, type StateEntry } from './paths.js';
import { isMaterial, materialReader, pruneMaterials, vouched, writeMaterials } from './materials.js';
import { seal, sealHolds } from './seal.js';

/** Version 2 names each step's key; its material is in .rep/materials/. Version 1 (read, never written) held the materials too. */
export const STATE_VERSION = 2;

export interface StepRecord {
  key: string;
  /** What the key was computed from: in memory after a build, and inline in a version 1 state; otherwise read from .rep/materials/ when asked (materialOf). */
  material?: StepMaterial;
  /** Content digest of the step's declared outputs, when an engine measured it. */
  outputsDigest?: string;
  /** Image id the engine built for this key. */
  image?: string;
  /**
   * In memory only: the record was read without a seal this user's rep made
   * (seal.ts). Its outputs digest was left out, and its key is acted on by
   * nothing (no image removed for it, no history line written with it).
   */
  unsealed?: true;
}

export interface State {
  version: number;
  repfileSha256: string;
  engine: string;
  target: string;
  steps: Record<string, StepRecord>;
}

/**
 * Why .rep cannot hold rep's state: it is a link (a cloned repository may
 * carry one, leading anywhere) or not a folder. Undefined when it is a
 * folder or missing. rep refuses the project rather than remove it. A
 * context that cannot hold one (a file, a path too long, a folder rep may
 * not read) is said as projectpaths.ts's contextProblem says it.
 */
export function stateDirProblem(contextDir: string): FileProblem | undefined {
  const dir = stateDir(contextDir);
  let st;
  try {
    st = lstatSync(dir, { throwIfNoEntry: false });
  } catch (e) {
    // Only "nothing there" is quiet: a context that is a file (ENOTDIR), a path too long, a folder rep may not read.
    const shown = path.relative(process.cwd(), contextDir) || '.';
    return contextProblem(contextDir, shown) ?? { file: path.relative(process.cwd(), dir) || dir, message: `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
  if (st?.isDirectory()) {
    // A folder where rep keeps a file of its own: rep replaces a file or a link there, never a folder
    // (writing it failed with EISDIR after the steps were built, half recorded).
    for (const entry of FILE_ENTRIES) {
      if (!lstatQuiet(statePath(contextDir, entry))?.isDirectory()) continue;
      const file = path.relative(process.cwd(), statePath(contextDir, entry)) || statePath(contextDir, entry);
      return { file, message: 'is a folder; rep keeps a file of its own there: remove it and run rep again' };
    }
    return undefined;
  }
  if (!st) return undefined;
  const file = path.relative(process.cwd(), dir) || dir;
  const what = st.isSymbolicLink() ? 'is a symbolic link' : `is not a folder (${st.isFile() ? 'a regular file' : kindOf(st)})`;
  const follow = st.isSymbolicLink() ? ' and follows no link there' : '';
  return { file, message: `${what}; rep keeps its own state in this folder${follow}: remove it and run rep again` };
}


/** Thrown where .rep turns out unusable after the project was opened (see stateDirProblem). */
export class StateDirError extends Error {}

/** .rep, made when missing; it must be a folder, not a link (StateDirError otherwise). */
function ownStateDir(contextDir: string): string {
  const problem = stateDirProblem(contextDir);
  if (problem) throw new StateDirError(`${problem.file}: ${problem.message}`);
  const dir = stateDir(contextDir);
  ownDir(dir);
  return dir;
}

/** The path of the file `entry` in .rep/, for writing: .rep is made rep's own first (see ownStateDir). */
export function stateFileToWrite(contextDir: string, entry: StateEntry): string {
  ownStateDir(contextDir);
  return statePath(contextDir, entry);
}

/** The folder `entry` in .rep/, made rep's own (ownDir) as .rep is. */
export function stateFolder(contextDir: string, entry: StateEntry): string {
  ownStateDir(contextDir);
  const dir = statePath(contextDir, entry);
  ownDir(dir);
  return dir;
}

/** The path of `entry` in .rep/ for reading; undefined when .rep is not a folder of its own (missing, a link...). */
export function stateFileToRead(contextDir: string, entry: StateEntry): string | undefined {
  return isRealDir(stateDir(contextDir)) ? statePath(contextDir, entry) : undefined;
}

/** The deepest rep nests what it writes in .rep/ (a version 1 state's inline material: 7 levels); deeper is not rep's. */
export const MAX_JSON_DEPTH = 16;

/** `text` as JSON (canonical.ts shallowJson), or undefined when it is not JSON or nests deeper than `maxDepth`. */
export function parseShallowJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  try {
    return shallowJson(text, maxDepth);
  } catch {
    return undefined;
  }
}

/**
 * The most rep reads of its own state.json. A version 2 state holds some 200 bytes a step, so this is
 * 160,000 steps; JSON's bound (256 MiB) let a forged one of 2.8 million steps take 22 s and 2.9 GB
 * of `rep status`, or ran it out of heap. A larger one is read as none, as one that is not rep's:
 * its steps are keyed afresh, and their freshness comes from the engine's tags.
 */
export const STATE_LIMIT = 32 << 20;

export function readState(contextDir: string): State | undefined {
  const file = stateFileToRead(contextDir, 'state');
  const r = file ? readBounded(file, { limit: STATE_LIMIT }) : undefined;
  const parsed = r?.ok ? parseShallowJson(r.bytes.toString('utf8')) : undefined;
  if (!isState(parsed)) return undefined;
  const state = parsed;
  // Steps by name without a prototype: a step named "constructor" or "toString" finds its own record or none.
  const steps = Object.create(null) as Record<string, StepRecord>;
  for (const [name, r] of Object.entries(state.steps as Record<string, StepRecord & { seal?: unknown }>)) {
    // The fields rep writes, and no other: a record's extra field, carried over for a step that did not
    // settle, was written again, and one nested two million lists deep overflowed the stack doing so.
    // A version 1 state's inline material only when it hashes to the key, as .rep/materials/ files are taken.
    const material = r.material !== undefined ? vouched(r.material, r.key) : undefined;
    const rec: StepRecord = { key: r.key, ...(material ? { material } : {}), ...(r.outputsDigest !== undefined ? { outputsDigest: r.outputsDigest } : {}), ...(r.image !== undefined ? { image: r.image } : {}) };
    const { outputsDigest: _, ...unvouched } = rec;
    steps[name] = sealHolds(contextDir, recordSealed(name, rec), r.seal) ? rec : { ...unvouched, unsealed: true };
  }
  return { version: state.version, repfileSha256: state.repfileSha256, engine: state.engine, target: state.target, steps };
}

/** What a step's seal covers: its name, key, outputs digest and image. */
const recordSealed = (name: string, r: StepRecord) => `rep state step\0${name}\0${r.key}\0${r.outputsDigest ?? ''}\0${r.image ?? ''}`;

/**
 * Whether `x` has the shape rep writes: a .rep/ committed to a repository may
 * hold anything, and a state that is not rep's own is no state at all.
 */
export function isState(x: unknown): x is State {
  if (!isJsonMap(x) || (x.version !== STATE_VERSION && x.version !== 1) || typeof x.repfileSha256 !== 'string' || typeof x.engine !== 'string' || typeof x.target !== 'string') return false;
  const inline = x.version === 1;
  return isJsonMap(x.steps) && Object.values(x.steps).every((r) => {
    if (!isJsonMap(r) || typeof r.key !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(r.key)) return false;
    if ((r.outputsDigest !== undefined && typeof r.outputsDigest !== 'string') || (r.image !== undefined && typeof r.image !== 'string') || (r.seal !== undefined && typeof r.seal !== 'string')) return false;
    return inline ? isMaterial(r.material) : r.material === undefined;
  });
}

/**
 * For one command: what a record's key was computed from: its own (in memory,
 * or a version 1 state's), else the file .rep/materials/ holds for its key (read
 * within one budget for the command, see materialReader). Undefined when there
 * is none that hashes to the key.
 */
export function materialOf(contextDir: string): (rec: StepRecord) => StepMaterial | undefined {
  const read = materialReader(contextDir);
  return (rec) => rec.material ?? read(rec.key);
}

/**
 * Writes the state, and records its keys in the history `rep gc` reads
 * (history.ts), with `more`: keys of other images the build tagged rep-cache
 * (the canonical image, the final image), so that gc knows them as this project's; `store`, the
 * image store the build ran against, whose pending keys the state takes over (history.ts). `previous`
 * is the state the build read (under the build mutex: what the file holds).
 */
export function writeState(contextDir: string, state: State, previous: State | undefined, more: readonly string[] = [], store?: string): void {
  // The materials first: a state names no key whose material a build could have written and did not.
  const records = Object.values(state.steps);
  const known = new Set(Object.values(previous?.steps ?? {}).map((r) => r.key));
  const materials = stateFolder(contextDir, 'materials');
  writeMaterials(materials, records, known);
  // A record read without a seal is written without one: rep vouches only for what it recorded itself.
  const steps = Object.fromEntries(
    Object.entries(state.steps).map(([name, { material: _, unsealed, ...rec }]) => [name, { ...rec, ...(unsealed ? {} : { seal: seal(contextDir, recordSealed(name, rec)) }) }]),
  );
  writeFileAtomicPieces(stateFileToWrite(contextDir, 'state'), (put) => prettyJsonPieces({ ...state, version: STATE_VERSION, steps }, put));
  // The history right after the state, before anything may fail: a prune that threw left a state whose keys gc never learned.
  appendHistory(contextDir, [...records.filter((r) => !r.unsealed).map((s) => s.key), ...more], store);
  pruneMaterials(materials, records.map((r) => r.key));
}

/**
 * The state after a build: what it settled (a step's outputs digest kept
 * while its key and image stay the same), the previous record for the other steps
 * still in the Repfile, none for steps no longer there.
 */
export function nextState(project: Project, engine: string, prev: State | undefined, settled: [string, StepRecord][]): State {
  const steps = Object.create(null) as Record<string, StepRecord>;
  const names = new Set(project.dag.order);
  for (const [name, rec] of Object.entries(prev?.steps ?? {})) if (names.has(name)) steps[name] = rec;
  for (const [name, rec] of settled) {
    // A digest measured before is the outputs of the image it was measured on: kept only while the key names that image.
    const before = prev && Object.hasOwn(prev.steps, name) ? prev.steps[name] : undefined;
    const kept = rec.outputsDigest === undefined && before?.key === rec.key && before.image !== undefined && before.image === rec.image;
    steps[name] = { ...rec, ...(kept ? { outputsDigest: before.outputsDigest } : {}) };
  }
  return { version: STATE_VERSION, repfileSha256: project.recipe.sha256, engine, target: project.dag.target, steps };
}
