// Atomic file writes: a killed process leaves the old file or the new one, never half of either.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';

export function writeFileAtomic(file: string, data: string | Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** A JSON file rep wrote, or undefined when it is missing, unreadable or fails `valid` (e.g. another format version). */
export function readJsonFile<T>(file: string, valid: (value: T) => boolean = () => true): T | undefined {
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as T;
    return valid(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
