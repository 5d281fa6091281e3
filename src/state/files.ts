// Atomic file writes: a killed process leaves the old file or the new one, never half of either.
// Neither the write nor the read follows a link at the file's name (see safefs.ts).
import { closeSync, fsyncSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { createExclusive, readBounded, JSON_LIMIT, tempBeside, type ReadOptions } from '../safefs.js';
import { shallowJson } from '../canonical.js';

/**
 * Writes `file` through a temp file created exclusively next to it (a link
 * planted at that name is never followed), then renamed over `file`: a link
 * at `file` is replaced by the file, its target left alone.
 */
export function writeFileAtomic(file: string, data: string | Buffer): void {
  writeAtomicWith(file, (fd) => writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data));
}

/** Text is gathered up to this many characters before it is written. */
const WRITE_CHUNK = 1 << 20;

/**
 * writeFileAtomic, for text that `write` hands over a piece at a time (see
 * prettyJsonPieces): written as it comes, never held whole.
 */
export function writeFileAtomicPieces(file: string, write: (put: (text: string) => void) => void): void {
  writeAtomicWith(file, (fd) => {
    let held: string[] = [];
    let size = 0;
    const flush = () => {
      writeAll(fd, Buffer.from(held.join('')));
      held = [];
      size = 0;
    };
    write((text) => {
      held.push(text);
      size += text.length;
      if (size >= WRITE_CHUNK) flush();
    });
    flush();
  });
}

/** All of `data` (writeSync may write less than it is given). */
function writeAll(fd: number, data: Buffer): void {
  for (let at = 0; at < data.length; ) at += writeSync(fd, data, at);
}

/** A temp file rep makes next to the file it writes (safefs tempBeside): the name, the pid of the process writing it, random hex. */
const TEMP = /^.+\.(\d+)\.[0-9a-f]{12}\.tmp$/;

/** How old a temp file must be before removeDeadTemps takes it for a dead process's. */
const DEAD_TEMP_MS = 10 * 60_000;

/**
 * Removes from `dir` the temp files of atomic writes whose process is gone (`alive` says) and
 * which nothing has written for ten minutes: a process killed while it wrote (SIGKILL, out of
 * memory) left one behind, as large as the file. Those of processes still running are theirs
 * (and the age spares a writer whose pid this process cannot see: another pid namespace).
 * Removes files and links only, a link itself; what cannot be removed is left. With
 * `ownFolderOnly`, `dir` is listed only when it is a folder itself, not a link to one.
 */
export function removeDeadTemps(dir: string, alive: (pid: number) => boolean, now = Date.now(), ownFolderOnly = false): void {
  let names: string[];
  try {
    // A folder that is a link (or not a folder) is not listed: its files are not rep's.
    if (ownFolderOnly && !lstatSync(dir).isDirectory()) return;
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(TEMP.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || alive(pid)) continue;
    const file = path.join(dir, name);
    try {
      const st = lstatSync(file);
      if ((st.isFile() || st.isSymbolicLink()) && now - st.mtimeMs > DEAD_TEMP_MS) unlinkSync(file);
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
}

/**
 * Removes the temp files a dead process left beside `file` (tempBeside's names for it), whatever
 * their age: for the files rep writes inside the build context (the standalone Dockerfile, the
 * lock), where a write killed halfway left `Dockerfile.PID.HEX.tmp` in every later build's
 * context, its steps' inputs and its images. Called under the project's mutex, so no build of
 * this project writes them meanwhile. Says which it removed.
 */
export function removeDeadTempsOf(file: string, alive: (pid: number) => boolean): string[] {
  const base = path.basename(file);
  let names: string[];
  const removed: string[] = [];
  try {
    names = readdirSync(path.dirname(file));
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(`${base}.`)) continue;
    const m = TEMP.exec(name);
    const pid = Number(m?.[1]);
    if (!m || name !== `${base}.${m[1]}.${name.slice(-16, -4)}.tmp` || !Number.isInteger(pid) || pid <= 0 || pid === process.pid || alive(pid)) continue;
    try {
      const st = lstatSync(path.join(path.dirname(file), name));
      if (st.isFile() || st.isSymbolicLink()) {
        unlinkSync(path.join(path.dirname(file), name));
        removed.push(path.join(path.dirname(file), name));
      }
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
  return removed;
}

function writeAtomicWith(file: string, write: (fd: number) => void): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = tempBeside(file);
  const fd = createExclusive(tmp);
  try {
    try {
      write(fd);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * A JSON file, or undefined when it is missing, unreadable, not a regular
 * file, a link (unless `read.follow`), larger than its bound, or fails
 * `valid` (e.g. another format version). Bounded by JSON_LIMIT by default.
 */
export function readJsonFile<T>(file: string, valid: (value: T) => boolean = () => true, read: ReadOptions = {}): T | undefined {
  const r = readBounded(file, { limit: JSON_LIMIT, ...read });
  if (!r.ok) return undefined;
  try {
    const value = shallowJson(r.bytes.toString('utf8')) as T;
    return valid(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
