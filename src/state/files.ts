// Atomic file writes: a killed process leaves the old file or the new one, never half of either.
// Neither the write nor the read follows a link at the file's name (see safefs.ts).
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { createExclusive, readBounded, JSON_LIMIT, type ReadOptions } from '../safefs.js';

/**
 * Writes `file` through a temp file created exclusively next to it (a link
 * planted at that name is never followed), then renamed over `file`: a link
 * at `file` is replaced by the file, its target left alone.
 */
export function writeFileAtomic(file: string, data: string | Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = createExclusive(tmp);
  try {
    try {
      writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
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
    const value = JSON.parse(r.bytes.toString('utf8')) as T;
    return valid(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
