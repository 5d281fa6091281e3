// Opening a file the walk listed, to read it after the walk: by then a cloned repository's
// script (or anyone) may have put a link or a pipe at its name. Hashing and the archive both
// open files this way, so neither reads through a link nor waits on a pipe.
import { closeSync, constants, fstatSync, openSync } from 'node:fs';

/** Why a listed file could not be opened as one: `code` is the errno, or ENOTREG for a file that is no longer a regular file. */
export type ListedOpenError = Error & { code: string };

/**
 * Opens `abs` to read: never through a link (ELOOP), never blocking on a pipe with no writer
 * (O_NONBLOCK, a FIFO opens at once), and only while it is still a regular file (else ENOTREG,
 * and EISDIR for a folder, as a read of one says). Returns it and its size now.
 */
export function openListedFile(abs: string): { fd: number; size: number } {
  const fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    const e = new Error('is no longer a regular file') as ListedOpenError;
    e.code = st.isDirectory() ? 'EISDIR' : 'ENOTREG';
    throw e;
  }
  return { fd, size: st.size };
}
