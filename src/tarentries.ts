// Reading a tar stream as a manifest: each entry's header fields (name, type,
// mode, owner, link target) and the sha256 of a file's content, streamed, no
// timestamps. Callers name and filter the entries (the outputs digest of a
// step, an image's filesystem.json); the fields are spelled here once.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';

export interface TarEntry {
  /** The name as the archive has it. */
  name: string;
  type: string;
  /** Permission bits in octal, e.g. "755". */
  mode: string;
  uid: number;
  gid: number;
  /** The target of a symlink or hard link. */
  linkname?: string;
  /** The content's sha256 (hex), for a regular file. */
  sha256?: string;
}

/** The entries of the tar stream `input`, in archive order; an unreadable archive or stream throws. */
export async function* tarEntries(input: Readable): AsyncGenerator<TarEntry> {
  const extract = tar.extract();
  input.on('error', (e) => extract.destroy(e));
  input.pipe(extract);
  for await (const body of extract) {
    const h = body.header;
    const hash = createHash('sha256');
    for await (const c of body) hash.update(c as Buffer);
    yield {
      name: h.name,
      type: h.type ?? 'file',
      mode: ((h.mode ?? 0) & 0o7777).toString(8),
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      ...(h.linkname ? { linkname: h.linkname } : {}),
      ...(h.type === 'file' ? { sha256: hash.digest('hex') } : {}),
    };
  }
}
