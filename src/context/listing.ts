// What a build's provenance cites as its context (record/provenance.ts), and
// what `rep context --sums` prints: every file and link with its hash.
import { createHash } from 'node:crypto';
import type { HashedFile } from './hash.js';

/**
 * The listing of a context's files that a build's provenance cites (its sha256
 * is the subject "context"): one line per file or link, sorted by path,
 * `SHA256 TYPE MODE SIZE "PATH"`, the hash of a link being that of its text.
 * `rep context --sums` prints it. Made from the hashes the stat cache keeps, it
 * costs a build one lstat per unchanged file, where the archive is read whole.
 */
export function contextListing(files: readonly HashedFile[]): string {
  return sortedByPath(files).map(listingLine).join('');
}

/** sha256 (hex) of contextListing(files), hashed a line at a time (at 100k files the listing is 13 MB). */
export function contextListingSha256(files: readonly HashedFile[]): string {
  const h = createHash('sha256');
  for (const f of sortedByPath(files)) h.update(listingLine(f));
  return h.digest('hex');
}

const listingLine = (f: HashedFile) => `${f.sha256} ${f.type} ${f.mode.toString(8)} ${f.size} ${JSON.stringify(f.path)}\n`;
const sortedByPath = (files: readonly HashedFile[]) => [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
