// Reads the headers of a tar that lies in a file (a whole archive, or one
// layer inside `docker save` output) without reading the file bodies: each
// entry's fields and where its bytes are, so a layer can be rewritten in
// another order by reading byte ranges. The tar may be hostile: header sizes,
// long names, pax records and the entry count are bounded, and a size that
// runs past the end of the range is an error, never a read beyond it.
import { readSync } from 'node:fs';

export interface TarHeader {
  /** The name as the archive has it (pax path / GNU long name applied). */
  name: string;
  /** ustar type flag: '0' file, '1' hard link, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo. */
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Absolute offset of the body in the file. */
  offset: number;
}

export interface TarBounds {
  /** Entries at most (default 4 million). */
  maxEntries: number;
  /** Bytes of one pax header or GNU long name at most (default 1 MiB). */
  maxMeta: number;
}

export const DEFAULT_TAR_BOUNDS: TarBounds = { maxEntries: 4_000_000, maxMeta: 1 << 20 };

export class TarError extends Error {}

const BLOCK = 512;
const pad = (n: number) => Math.ceil(n / BLOCK) * BLOCK;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A NUL-terminated string field, UTF-8 (a name that is not would be rewritten as another name: refused). */
const str = (b: Buffer, at: number, len: number) => {
  // Read in place, without a Buffer per field (a layer of 100k entries read several fields of each).
  const end = at + len;
  let i = at;
  let ascii = true;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === 0) break;
    if (c >= 0x80) ascii = false;
  }
  // ASCII (most names and every number) reads the same in Latin-1, without a decoder.
  if (ascii) return b.toString('latin1', at, i);
  try {
    return utf8.decode(b.subarray(at, i));
  } catch {
    throw new TarError('a name in a tar header is not UTF-8');
  }
};

/** A numeric field: octal text, or GNU base-256 (high bit set); beyond 2^53 it is refused. */
function num(b: Buffer, at: number, len: number, what: string): number {
  if (b[at]! & 0x80) {
    if (b[at] === 0xff) throw new TarError(`negative ${what} in a tar header`);
    let n = b[at]! & 0x7f;
    for (let i = 1; i < len; i++) {
      n = n * 256 + b[at + i]!;
      if (n > Number.MAX_SAFE_INTEGER) throw new TarError(`${what} too large in a tar header`);
    }
    return n;
  }
  // Octal digits between blanks, ended by a NUL or the field's end (what tar writers write): read as they are.
  const end = at + len;
  let i = at;
  while (i < end && b[i] === 0x20) i++;
  let value = 0;
  while (i < end && b[i]! >= 0x30 && b[i]! <= 0x37) value = value * 8 + (b[i++]! - 0x30);
  while (i < end && b[i] === 0x20) i++;
  if (i === end || b[i] === 0) return value;
  // Anything else (other blanks, other characters) as the text it is.
  const text = str(b, at, len).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarError(`${what} is not a number in a tar header`);
  const n = parseInt(text, 8);
  if (!Number.isSafeInteger(n)) throw new TarError(`${what} too large in a tar header`);
  return n;
}

function checksumOk(b: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[i]!;
  // Octal digits between blanks, ended by a NUL or the field's end (what tar writers write): read in place.
  let i = 148;
  while (i < 156 && b[i] === 0x20) i++;
  const digits = i;
  let value = 0;
  while (i < 156 && b[i]! >= 0x30 && b[i]! <= 0x37) value = value * 8 + (b[i++]! - 0x30);
  if (i > digits) {
    while (i < 156 && b[i] === 0x20) i++;
    if (i === 156 || b[i] === 0) return value === sum;
  }
  // Anything else as the text it is.
  const want = str(b, 148, 8).trim();
  return /^[0-7]+$/.test(want) && parseInt(want, 8) === sum;
}

const PAX_KEYS = new Set(['path', 'linkpath', 'size', 'uid', 'gid', 'mtime']);

/** pax records "LEN key=value\n", those rep reads (path, linkpath, size, uid, gid). */
function paxRecords(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < buf.length) {
    const sp = buf.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(buf.subarray(i, sp).toString('ascii'));
    if (!Number.isSafeInteger(len) || len <= sp - i || i + len > buf.length) throw new TarError('a malformed pax record');
    const eq = buf.indexOf(0x3d, sp + 1);
    if (eq > sp + 1 && eq < i + len - 1) {
      const key = buf.subarray(sp + 1, eq).toString('latin1');
      // Only the records rep reads are decoded: others (binary xattrs) are skipped as they are.
      if (PAX_KEYS.has(key)) out[key] = str(buf, eq + 1, i + len - 1 - (eq + 1));
    }
    i += len;
  }
  return out;
}

/**
 * Reads ahead through a range of a file, WINDOW bytes at a time: the headers
 * of a layer of small files come 40 to a read instead of one (a read each was
 * most of the time a rewrite spends on a layer's headers), and so do their
 * bodies when a layer is written out (layer.ts). What it hands out is valid
 * until the next call.
 */
export class ReadAhead {
  static readonly WINDOW = 1 << 16;
  private static readonly FAR = 1 << 12;
  private readonly buf = Buffer.allocUnsafe(ReadAhead.WINDOW);
  private from = 0;
  private to = 0;

  constructor(
    private readonly fd: number,
    private readonly end: number,
  ) {}

  /** `len` bytes at `at`, from the window when they lie in it (or can be made to). */
  bytes(at: number, len: number): Buffer {
    if (at + len > this.end) throw new TarError('the tar ends inside an entry');
    if (len > ReadAhead.WINDOW) return readExactly(this.fd, at, len, this.end);
    if (at < this.from || at + len > this.to) {
      // After a body longer than a window the next header may be as lonely: a few blocks, not a window.
      // So may bytes behind the window (a layer written in another order than its files lie).
      const far = this.to > 0 && (at > this.to + ReadAhead.WINDOW || at < this.from);
      const want = Math.min(Math.max(far ? ReadAhead.FAR : ReadAhead.WINDOW, len), this.end - at);
      let got = 0;
      while (got < want) {
        const n = readSync(this.fd, this.buf, got, want - got, at + got);
        if (n === 0) break;
        got += n;
      }
      this.from = at;
      this.to = at + got;
      if (got < len) throw new TarError('the file ends inside a tar entry');
    }
    return this.buf.subarray(at - this.from, at - this.from + len);
  }
}

const ZERO_BLOCK = Buffer.alloc(512);

function readExactly(fd: number, at: number, len: number, end: number): Buffer {
  if (at + len > end) throw new TarError('the tar ends inside an entry');
  const b = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, b, got, len - got, at + got);
    if (n === 0) throw new TarError('the file ends inside a tar entry');
    got += n;
  }
  return b;
}

/** The entries of the tar in `fd` between byte `start` and `end`, in archive order. */
export function* tarHeaders(fd: number, start: number, end: number, bounds: TarBounds = DEFAULT_TAR_BOUNDS): Generator<TarHeader> {
  let at = start;
  let count = 0;
  let pax: Record<string, string> = {};
  let paxSeen = false;
  let longName: string | undefined;
  let longLink: string | undefined;
  const file = new ReadAhead(fd, end);
  while (at + BLOCK <= end) {
    const h = file.bytes(at, BLOCK);
    if (h.equals(ZERO_BLOCK)) return;
    if (!checksumOk(h)) throw new TarError(`a tar header at byte ${at - start} has a bad checksum`);
    const type = String.fromCharCode(h[156] || 0x30);
    const size = num(h, 124, 12, 'size');
    const body = at + BLOCK;
    if (type === 'x' || type === 'L' || type === 'K' || type === 'g') {
      if (body + size > end) throw new TarError('a tar entry runs past the end of its archive');
      at = body + pad(size);
    }
    if (type === 'g') {
      // Go hands a global header out as an entry of its own, and an entry's pax header or long name
      // read before it is lost; rep would have named the next entry with it.
      if (paxSeen || longName !== undefined || longLink !== undefined) {
        throw new TarError("a tar global header between an entry's pax header or long name and the entry");
      }
      continue;
    }
    if (type === 'x' || type === 'L' || type === 'K') {
      if (size > bounds.maxMeta) throw new TarError(`a tar ${type === 'x' ? 'pax header' : 'long name'} of ${size} bytes (more than ${bounds.maxMeta})`);
      const meta = file.bytes(body, size);
      // Spellings tar readers answer differently (Go's, which docker and podman apply layers with, and
      // rep's): a second pax header or long name for one entry, an empty long name. The engine's
      // image and rep's reading of it could then differ; no tool that writes layers writes them.
      if ((type === 'x' && paxSeen) || (type === 'L' && longName !== undefined) || (type === 'K' && longLink !== undefined)) {
        throw new TarError(`a tar entry with two ${type === 'x' ? 'pax headers' : 'long names'}`);
      }
      if (type === 'x') {
        pax = paxRecords(meta);
        paxSeen = true;
      } else {
        const long = str(meta, 0, meta.length);
        if (long === '') throw new TarError('a tar long name that is empty');
        if (type === 'L') longName = long;
        else longLink = long;
      }
      continue;
    }
    if (++count > bounds.maxEntries) throw new TarError(`a tar with more than ${bounds.maxEntries} entries`);
    // The prefix field is read as Go reads it: when the magic is "ustar\0", whatever the version. The star
    // format's shorter prefix, and a pax path or linkpath beside a GNU long one, readers disagree on.
    const ustar = h.toString('latin1', 257, 263) === 'ustar\0';
    if (ustar && h.toString('latin1', 508, 512) === 'tar\0') throw new TarError('a tar header in the star format');
    if ((pax.path !== undefined && longName !== undefined) || (pax.linkpath !== undefined && longLink !== undefined)) {
      throw new TarError('a tar entry named both by a pax header and by a GNU long name');
    }
    const prefix = ustar ? str(h, 345, 155) : '';
    const name = pax.path ?? longName ?? (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
    // The old regular type (NUL) on a name ending in "/" is a folder, as Go reads it.
    const oldFolder = h[156] === 0 && name.endsWith('/');
    const paxNum = (k: string, dflt: number) => {
      if (pax[k] === undefined) return dflt;
      const n = Number(pax[k]);
      if (!Number.isSafeInteger(n) || n < 0) throw new TarError(`pax ${k} is not a whole number`);
      return n;
    };
    // A header-only type (links, devices, folders, fifos) has no body for Go's reader, whatever its size
    // field or a pax size says (Go's writer leaves a link's size as it was given): the next header follows.
    // Elsewhere a pax size overrides the header's (files over 8 GiB).
    const headerOnly = oldFolder || '123456'.includes(type);
    const realSize = headerOnly ? 0 : paxNum('size', size);
    if (body + realSize > end) throw new TarError('a tar entry runs past the end of its archive');
    at = body + pad(realSize);
    yield {
      name,
      type: oldFolder ? '5' : type === '7' ? '0' : type,
      mode: num(h, 100, 8, 'mode'),
      uid: paxNum('uid', num(h, 108, 8, 'uid')),
      gid: paxNum('gid', num(h, 116, 8, 'gid')),
      mtime: Math.floor(Number(pax.mtime ?? num(h, 136, 12, 'mtime'))) || 0,
      size: realSize,
      linkname: pax.linkpath ?? longLink ?? str(h, 157, 100),
      devmajor: type === '3' || type === '4' ? num(h, 329, 8, 'devmajor') : 0,
      devminor: type === '3' || type === '4' ? num(h, 337, 8, 'devminor') : 0,
      offset: body,
    };
    pax = {};
    paxSeen = false;
    longName = longLink = undefined;
  }
}
