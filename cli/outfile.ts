// The files a flag names for rep to write (--tar, -o): opened as regular files only, and why not, in words.
import { closeSync, constants, fstatSync, openSync, statSync, type Stats } from 'node:fs';
import { errnoWords } from '../src/diag.js';

/** Why a file cannot be written, in words (an errno said alone is not a message). */
export function cannotWrite(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such folder';
    case 'EISDIR':
      return 'a folder';
    case 'EEXIST':
      return 'it exists; rep does not overwrite it';
    default:
      return errnoWords(code, String((e as Error).message));
  }
}

/** What a file is that rep writes no output to: a socket, or a disk (a block device). */
function refused(st: Stats): string | undefined {
  if (st.isSocket()) return 'a socket, not a regular file';
  if (st.isBlockDevice()) return 'a block device, not a regular file';
  return undefined;
}

/**
 * `file` opened for writing (created or emptied), or why not. A pipe or a character device is written to as the
 * user asks (`--tar >(gzip > x.gz)`, /dev/fd/1, /dev/tty, a FIFO something reads), but a named pipe nothing reads
 * is refused rather than waited on (rep hung: a review); a socket or a block device is refused.
 */
export function openOutput(file: string): { fd: number } | { problem: string } {
  let before: Stats | undefined;
  try {
    before = statSync(file, { throwIfNoEntry: false });
  } catch {
    before = undefined; // said by the open below
  }
  const kind = before && refused(before);
  if (kind) return { problem: kind };
  let fd: number;
  try {
    // Without waiting for a reader: a FIFO with none answers ENXIO at once.
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NONBLOCK, 0o666);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENXIO') return { problem: 'a named pipe nothing reads (start what reads it first)' };
    return { problem: cannotWrite(e) };
  }
  const now = fstatSync(fd);
  const bad = refused(now);
  if (bad) {
    closeSync(fd);
    return { problem: bad };
  }
  if (!now.isFIFO() && !now.isCharacterDevice()) return { fd };
  // A reader is there: opened again to write as a stream (blocking, so that no write is refused with EAGAIN).
  try {
    return { fd: openSync(file, constants.O_WRONLY) };
  } catch (e) {
    return { problem: cannotWrite(e) };
  } finally {
    closeSync(fd);
  }
}
