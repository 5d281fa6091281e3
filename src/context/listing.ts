// What a build's provenance cites as its context (record/provenance.ts), and
// what `rep context --sums` prints: every file and link with its hash.
import type { HashedFile } from './hash.js';

/**
 * The listing of a context's files that a build's provenance cites (its sha256
 * is the subject "context"): one line per file or link, sorted by path,
 * `SHA256 TYPE MODE SIZE "PATH"`, the hash of a link being that of its text.
 * `rep context --sums` prints it. Made from the hashes the stat cache keeps, it
 * costs a build one lstat per unchanged file, where the archive is read whole.
 */
export function contextListing(files: readonly HashedFile[]): string {
  return [...files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => `${f.sha256} ${f.type} ${f.mode.toString(8)} ${f.size} ${JSON.stringify(f.path)}\n`)
    .join('');
}
