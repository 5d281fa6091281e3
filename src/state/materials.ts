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
import { isRealDir } from '../safefs.js';
import { readJsonFile, writeFileAtomicPieces } from './files.js';
import { statePath } from './paths.js';

const KEY = /^sha256:([0-9a-f]{64})$/;
const FILE = /^([0-9a-f]{64})\.json$/;

const mapOf = (x: unknown, each: (v: unknown) => boolean) => isJsonMap(x) && Object.values(x).every(each);

/** Whether `m` has a material's shape (its parts the explanations read). */
export function isMaterial(m: unknown): m is StepMaterial {
  return (
    isJsonMap(m) && typeof m.format === 'number' && isJsonMap(m.def) &&
    mapOf(m.inputs, (i) => isJsonMap(i) && typeof i.sha256 === 'string') &&
    mapOf(m.imports, (i) => isJsonMap(i) && typeof i.digest === 'string' && Array.isArray(i.paths))
  );
}

/** The folder, for reading: undefined unless .rep and it are folders of their own (never a link). */
function folderToRead(contextDir: string): string | undefined {
  const dir = statePath(contextDir, 'materials');
  return isRealDir(path.dirname(dir)) && isRealDir(dir) ? dir : undefined;
}

/** The material recorded for `key`, when its file is there and hashes to the key; undefined otherwise. */
export function readMaterial(contextDir: string, key: string): StepMaterial | undefined {
  const hex = KEY.exec(key)?.[1];
  const dir = hex ? folderToRead(contextDir) : undefined;
  if (!dir) return undefined;
  const m = readJsonFile<unknown>(path.join(dir, `${hex}.json`));
  try {
    return isMaterial(m) && stepKey(m) === key ? m : undefined;
  } catch {
    // Not JSON that canonicalises (nested past the stack, say): not rep's.
    return undefined;
  }
}

/**
 * Writes the material of each key that has none yet, into `dir` (the folder,
 * made rep's own by the caller). A file already there under its key's name is
 * kept when it is a regular file: it holds the same bytes, or it is not
 * believed when read. Anything else there (a link, a folder) is replaced.
 */
export function writeMaterials(dir: string, records: Iterable<{ key: string; material?: StepMaterial }>): void {
  for (const { key, material } of records) {
    const hex = KEY.exec(key)?.[1];
    if (!hex || !material) continue;
    const file = path.join(dir, `${hex}.json`);
    const st = lstatSync(file, { throwIfNoEntry: false });
    if (st?.isFile()) continue;
    if (st) rmSync(file, { recursive: true, force: true });
    writeFileAtomicPieces(file, (put) => canonicalPieces(material, put));
  }
}

/** Removes from `dir` every entry but the materials of `keep` (keys): the folder holds the current state's steps only. */
export function pruneMaterials(dir: string, keep: Iterable<string>): void {
  const kept = new Set([...keep].map((k) => KEY.exec(k)?.[1]).filter((h): h is string => h !== undefined));
  for (const name of readdirSync(dir)) {
    const hex = FILE.exec(name)?.[1];
    // rmSync removes a link itself, never what it leads to.
    if (!hex || !kept.has(hex)) rmSync(path.join(dir, name), { recursive: true, force: true });
  }
}
