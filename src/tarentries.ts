// Reading a tar stream as a manifest: each entry's header fields (name, type,
// mode, owner, link target) and the sha256 of a file's content, streamed, no
// timestamps. Callers name and filter the entries (the outputs digest of a
// step, an image's filesystem.json); the fields are spelled here once. A
// caller may also keep the bytes of a few regular files it names (the SBOM's
// package databases), each bounded by what it asks for.
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

/**
 * Asked of each regular file (never a link) with its name and declared size:
 * whether to keep its bytes. Links are never followed or kept.
 */
export type KeepFile = (name: string, size: number) => boolean;

/** The entries of the tar stream `input`, in archive order; an unreadable archive or stream throws. */
export async function* tarEntries(input: Readable, keep?: KeepFile): AsyncGenerator<TarEntry & { data?: Buffer }> {
  const extract = tar.extract();
  input.on('error', (e) => extract.destroy(e));
  input.pipe(extract);
  for await (const body of extract) {
    const h = body.header;
    const hash = createHash('sha256');
    const kept: Buffer[] | undefined = h.type === 'file' && keep?.(h.name, h.size ?? 0) ? [] : undefined;
    for await (const c of body) {
      hash.update(c as Buffer);
      kept?.push(c as Buffer);
    }
    yield {
      name: h.name,
      type: h.type ?? 'file',
      mode: ((h.mode ?? 0) & 0o7777).toString(8),
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      ...(h.linkname ? { linkname: h.linkname } : {}),
      ...(h.type === 'file' ? { sha256: hash.digest('hex') } : {}),
      ...(kept ? { data: Buffer.concat(kept) } : {}),
    };
  }
}
