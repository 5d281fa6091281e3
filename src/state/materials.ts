// .rep/materials/: what each recorded step was keyed from (its material), one
// file per key, named by it: `<hex of the key>.json`, canonical JSON. The
// state (state.ts) names each step's key only, so a build reads and writes
// what changed, never a record of every file the project has: a step's
// material is read back only to explain why it is stale, and written once per
// key. A key is the sha256 of its material's canonical JSON, so a file is
// checked against its name: one rep did not write (a .rep/ committed to a
// repository may hold anything) is not believed.
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { canonicalPieces, isJsonMap } from '../canonical.js';
import { stepKey, type StepMaterial } from '../plan/key.js';
import { isRealDir, JSON_LIMIT } from '../safefs.js';
import { readJsonFile, writeFileAtomicPieces } from './files.js';
import { statePath } from './paths.js';

const KEY = /^sha256:([0-9a-f]{64})$/;
const FILE = /^([0-9a-f]{64})\.json$/;

const mapOf = (x: unknown, each: (v: unknown) => boolean) => isJsonMap(x) && Object.values(x).every(each);
const isString = (x: unknown): x is string => typeof x === 'string';
const strings = (x: unknown) => Array.isArray(x) && x.every(isString);
const stringMap = (x: unknown) => mapOf(x, isString);
const optional = (x: unknown, is: (v: unknown) => boolean) => x === undefined || is(x);

/**
 * Whether `m` has a material's shape, member by member as the planner makes it (plan/key.ts):
 * what the explanations compare is flat (strings, lists of strings, maps of strings), never a
 * structure nested deeper than a material is.
 */
export function isMaterial(m: unknown): m is StepMaterial {
  if (!isJsonMap(m) || typeof m.format !== 'number' || !optional(m.base, isString) || !optional(m.parent, isString) || !optional(m.nonce, isString)) return false;
  const { stage, def } = m;
  if (stage !== undefined && !(isJsonMap(stage) && isString(stage.workdir) && stringMap(stage.env) && optional(stage.epoch, (e) => typeof e === 'number') && optional(stage.platform, isString) && optional(stage.baseId, isString))) return false;
  if (!isJsonMap(def) || !strings(def.run) || !stringMap(def.env) || !isString(def.workdir) || typeof def.phony !== 'boolean') return false;
  if (!optional(def.user, isString) || !optional(def.shell, strings) || !optional(def.secrets, strings) || !optional(def.imports, strings) || !optional(def.outputs, strings)) return false;
  return (
    mapOf(m.inputs, (i) => isJsonMap(i) && (i.type === 'file' || i.type === 'symlink') && isString(i.mode) && isString(i.sha256)) &&
    mapOf(m.imports, (i) => isJsonMap(i) && isString(i.digest) && strings(i.paths))
  );
}

/** The folder, for reading: undefined unless .rep and it are folders of their own (never a link). */
function folderToRead(contextDir: string): string | undefined {
  const dir = statePath(contextDir, 'materials');
  return isRealDir(path.dirname(dir)) && isRealDir(dir) ? dir : undefined;
}

/**
 * Reads recorded materials for one command, at most `budget` bytes in all (a .rep/ may name as
 * many keys, each with a file as large, as it likes): returns the material for a key when its
 * file is there, within what is left, and hashes to the key; undefined otherwise.
 */
export function materialReader(contextDir: string, budget = JSON_LIMIT): (key: string) => StepMaterial | undefined {
  let left = budget;
  return (key) => {
    const hex = KEY.exec(key)?.[1];
    const dir = hex ? folderToRead(contextDir) : undefined;
    if (!dir || left <= 0) return undefined;
    const file = path.join(dir, `${hex}.json`);
    const size = lstatSync(file, { throwIfNoEntry: false })?.size ?? 0;
    if (size > left) return undefined;
    left -= size;
    return vouched(readJsonFile<unknown>(file, () => true, { limit: size }), key);
  };
}

/** `m` when it is a material that hashes to `key` (then it is what rep computed the key from, no field more), else undefined. */
export function vouched(m: unknown, key: string): StepMaterial | undefined {
  try {
    return isMaterial(m) && stepKey(m) === key ? m : undefined;
  } catch {
    // Not JSON that canonicalises (or nested past the stack): not rep's.
    return undefined;
  }
}

/**
 * Writes the material of each key into `dir` (the folder, made rep's own by the
 * caller). A regular file already there under its key's name is kept when the
 * key is `known` (the state before this one named it: its file was written
 * then, and is believed only if it hashes to the key); for a key new to the
 * state it is written over, so that a file planted ahead under a key a build
 * will come to never stands in for it. Anything else there (a link, a folder)
 * is replaced.
 */
export function writeMaterials(dir: string, records: Iterable<{ key: string; material?: StepMaterial }>, known: ReadonlySet<string>): void {
  for (const { key, material } of records) {
    const hex = KEY.exec(key)?.[1];
    if (!hex || !material) continue;
    const file = path.join(dir, `${hex}.json`);
    const st = lstatSync(file, { throwIfNoEntry: false });
    if (st?.isFile() && known.has(key)) continue;
    if (st) rmSync(file, { recursive: true, force: true });
    writeFileAtomicPieces(file, (put) => canonicalPieces(material, put));
  }
}

/**
 * Removes from `dir` every entry but the materials of `keep` (keys): the folder holds the current
 * state's steps only, as far as rep may remove the rest. What it may not (a folder a clone brought
 * with mode 555 and a file in it) is left, and the next build tries again: it failed every build.
 */
export function pruneMaterials(dir: string, keep: Iterable<string>): void {
  const kept = new Set([...keep].map((k) => KEY.exec(k)?.[1]).filter((h): h is string => h !== undefined));
  for (const name of readdirSync(dir)) {
    const hex = FILE.exec(name)?.[1];
    if (hex && kept.has(hex)) continue;
    try {
      // rmSync removes a link itself, never what it leads to.
      rmSync(path.join(dir, name), { recursive: true, force: true });
    } catch {
      // Left: a file nothing reads (a material is read by its key's name only, and believed only when it hashes to it).
    }
  }
}
