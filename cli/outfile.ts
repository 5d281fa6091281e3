// The files a flag names for rep to write (--tar, -o): opened as regular files only, and why not, in words.
import { closeSync, constants, fstatSync, openSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
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

/** Files that are not regular that an output may still name: writing to them is what the user asks. */
const STREAMS = new Set(['/dev/null', '/dev/stdout', '/dev/stderr']);

/** What a file that is not regular is, when it is one rep does not write to (a FIFO blocks the write until read: rep hung). */
function notAFile(st: Stats): string | undefined {
  if (st.isFIFO()) return 'a named pipe, not a regular file';
  if (st.isSocket()) return 'a socket, not a regular file';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device, not a regular file';
  return undefined;
}

/**
 * `file` opened for writing (created or emptied), or why not. A named pipe, a socket or a device is refused
 * (but /dev/null, /dev/stdout and /dev/stderr), before opening and again after: one put there in between
 * is opened without waiting for a reader (O_NONBLOCK) and closed.
 */
export function openOutput(file: string): { fd: number } | { problem: string } {
  if (STREAMS.has(path.resolve(file))) {
    try {
      return { fd: openSync(file, 'w') };
    } catch (e) {
      return { problem: cannotWrite(e) };
    }
  }
  let before: Stats | undefined;
  try {
    before = statSync(file, { throwIfNoEntry: false });
  } catch {
    before = undefined; // said by the open below
  }
  const kind = before && notAFile(before);
  if (kind) return { problem: kind };
  let fd: number;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NONBLOCK, 0o666);
  } catch (e) {
    return { problem: cannotWrite(e) };
  }
  const now = notAFile(fstatSync(fd));
  if (now) {
    closeSync(fd);
    return { problem: now };
  }
  return { fd };
}
