// Reads the headers of a tar that lies in a file (a whole archive, or one
// layer inside `docker save` output) without reading the file bodies: each
// entry's fields and where its bytes are, so a layer can be rewritten in
// another order by reading byte ranges. The tar may be hostile: header sizes,
// long names, pax records and the entry count are bounded, and a size that
// runs past the end of the range is an error, never a read beyond it.
import { readSync } from 'node:fs';
import { utf8Name } from '../utf8.js';
import { printable } from '../diag.js';

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

export const BLOCK = 512;
export const pad = (n: number) => Math.ceil(n / BLOCK) * BLOCK;

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
  // A leading U+FEFF is kept: "\uFEFFetc" is another folder than "etc" to the engine.
  const name = utf8Name(b.subarray(at, i));
  if (name === undefined) throw new TarError('a name in a tar header is not UTF-8');
  return name;
};

const blank = (c: number) => c === 0x20 || c === 0;

/** Whether a numeric field is one NUL at most, spaces, octal digits (some, when `digits`), then spaces and NULs alone. */
function spelledAlike(b: Buffer, at: number, len: number, digits: boolean): boolean {
  const end = at + len;
  let i = at;
  if (i < end && b[i] === 0) i++;
  // A field of NULs alone (a device number Go leaves empty) is 0 to both.
  if (!digits && b.subarray(at, end).every((c) => c === 0)) return true;
  while (i < end && b[i] === 0x20) i++;
  const first = i;
  while (i < end && b[i]! >= 0x30 && b[i]! <= 0x37) i++;
  if (digits && i === first) return false;
  for (; i < end; i++) if (!blank(b[i]!)) return false;
  return true;
}

/**
 * A numeric field as Go's archive/tar reads it (docker and podman apply layers with it): GNU base-256
 * when the high bit is set, else octal text with spaces and NULs trimmed from both ends, up to a NUL
 * left inside. Anything else Go refuses, and so does rep; beyond 2^53 or negative, rep refuses too.
 */
function num(b: Buffer, at: number, len: number, what: string, strict = false): number {
  if (b[at]! & 0x80) {
    if (b[at]! & 0x40) throw new TarError(`negative ${what} in a tar header`);
    let n = b[at]! & 0x7f;
    for (let i = 1; i < len; i++) {
      n = n * 256 + b[at + i]!;
      if (n > Number.MAX_SAFE_INTEGER) throw new TarError(`${what} too large in a tar header`);
    }
    return n;
  }
  // Strict (an archive a person may unpack with GNU tar): spelled so that GNU reads it alike, one NUL
  // at most, then spaces, octal digits, then only spaces and NULs. GNU skips one NUL and reads up to
  // the first space; Go trims both from both ends and reads up to the first NUL: "\0\0755" or
  // "12 34" they read apart, and a bundle would unpack otherwise than rep read it.
  if (strict && !spelledAlike(b, at, len, what === 'size' || what === 'checksum' || what === 'mtime')) throw new TarError(`${what} is not a number tar readers read alike in a tar header`);
  let i = at;
  let end = at + len;
  while (i < end && blank(b[i]!)) i++;
  while (end > i && blank(b[end - 1]!)) end--;
  let value = 0;
  for (; i < end && b[i] !== 0; i++) {
    const c = b[i]!;
    if (c < 0x30 || c > 0x37) throw new TarError(`${what} is not a number in a tar header`);
    value = value * 8 + (c - 0x30);
    if (value > Number.MAX_SAFE_INTEGER) throw new TarError(`${what} too large in a tar header`);
  }
  return value;
}

/** Go takes a header whose checksum field holds the sum of its bytes read unsigned, or signed. */
function checksumOk(b: Buffer, strict: boolean): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 32 : b[i]!;
    unsigned += c;
    signed += c >= 0x80 ? c - 256 : c;
  }
  // Go reads the checksum as octal text only, never base-256.
  if (b[148]! & 0x80) return false;
  try {
    const want = num(b, 148, 8, 'checksum', strict);
    return want === unsigned || want === signed;
  } catch {
    return false;
  }
}

/** The header formats Go tells apart by the magic, version and trailer fields. */
type Format = 'v7' | 'ustar' | 'gnu' | 'star';

function formatOf(h: Buffer): Format {
  const magic = h.toString('latin1', 257, 263);
  if (magic === 'ustar\0') return h.toString('latin1', 508, 512) === 'tar\0' ? 'star' : 'ustar';
  if (magic === 'ustar ' && h.toString('latin1', 263, 265) === ' \0') return 'gnu';
  return 'v7';
}

/** A pax record's value that is a whole number (Go's strconv.ParseInt, base 10); rep refuses negatives. */
function paxWhole(v: string, what: string, strict: boolean): number {
  // Strict, digits alone: Go takes "+N", GNU tar refuses it and keeps the header's own number.
  const n = (strict ? /^[0-9]+$/ : /^\+?[0-9]+$/).test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw new TarError(`pax ${what} is not a whole number`);
  return n;
}

/** A pax time ("seconds[.fraction]", Go's parsePAXTime), as whole seconds rounded down. */
function paxSeconds(v: string, what: string, strict = false): number {
  // Strict: no "+" (GNU tar refuses it).
  const m = (strict ? /^(-?[0-9]+)(?:\.([0-9]*))?$/ : /^([+-]?[0-9]+)(?:\.([0-9]*))?$/).exec(v);
  const secs = m ? Number(m[1]) : NaN;
  if (!Number.isSafeInteger(secs)) throw new TarError(`pax ${what} is not a time`);
  return m![1]!.startsWith('-') && /[1-9]/.test((m![2] ?? '').slice(0, 9)) ? secs - 1 : secs;
}

/** The pax records rep reads; the others are checked as Go checks them, and passed over. */
interface Pax {
  path?: string;
  linkpath?: string;
  size?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
}

const NAME_KEYS = new Set(['path', 'linkpath', 'uname', 'gname']);

/**
 * The records of a pax header ("LEN key=value\n"), spelled as Go's parsePAX demands or refused. As in
 * Go's mergePAX, a later record of a key replaces an earlier one and an empty value leaves the header's
 * own field. GNU's sparse records are refused: Go renames and resizes an entry by them, rep does not.
 */
function paxRecords(buf: Buffer, strict: boolean): Pax {
  const raw = new Map<string, Buffer>();
  let i = 0;
  while (i < buf.length) {
    const sp = buf.indexOf(0x20, i);
    const lenText = sp < 0 ? '' : buf.toString('latin1', i, sp);
    // Strict, digits alone: GNU tar drops a record whose length is "+N", and every record after it.
    const len = (strict ? /^[0-9]+$/ : /^[+-]?[0-9]+$/).test(lenText) ? Number(lenText) : NaN;
    if (!(len >= 5) || len > buf.length - i || len <= sp + 1 - i || buf[i + len - 1] !== 0x0a) throw new TarError('a malformed pax record');
    const eq = buf.indexOf(0x3d, sp + 1);
    if (eq <= sp + 1 || eq >= i + len - 1) throw new TarError('a malformed pax record');
    const key = buf.toString('latin1', sp + 1, eq);
    const value = buf.subarray(eq + 1, i + len - 1);
    if (NAME_KEYS.has(key) ? value.includes(0) : key.includes('\0')) throw new TarError('a pax record with a NUL in it');
    if (key.startsWith('GNU.sparse.')) throw new TarError('a sparse file in a tar (GNU pax sparse records)');
    // GNU tar skips blanks before a key (" path" is path to it, no key Go knows): no writer puts one there.
    if (strict && /\s/.test(key)) throw new TarError('a pax record whose key holds a blank');
    // Go keeps the header's own name for an empty one, GNU tar takes it for ".".
    if (strict && (key === 'path' || key === 'linkpath') && value.length === 0) throw new TarError(`a pax ${key} that is empty`);
    raw.set(key, value);
    i += len;
  }
  const text = (k: string) => {
    const v = raw.get(k);
    if (v === undefined || v.length === 0) return undefined;
    // Only the records rep reads are decoded: others (binary xattrs) are passed over as they are.
    if (v.includes(0)) throw new TarError(`a pax ${k} with a NUL in it`);
    return str(v, 0, v.length);
  };
  for (const k of ['atime', 'ctime']) {
    const v = text(k);
    if (v !== undefined) paxSeconds(v, k);
  }
  const whole = (k: string) => {
    const v = text(k);
    return v === undefined ? undefined : paxWhole(v, k, strict);
  };
  const mtime = text('mtime');
  return { path: text('path'), linkpath: text('linkpath'), size: whole('size'), uid: whole('uid'), gid: whole('gid'), mtime: mtime === undefined ? undefined : paxSeconds(mtime, 'mtime', strict) };
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

export const ZERO_BLOCK = Buffer.alloc(512);

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

/** The entry types an image layer holds, as docker and podman apply them (Go's NUL type is read as '0'). */
const ENTRY_TYPES = new Set(['0', '1', '2', '3', '4', '5', '6']);

/** The fields of a header Go parses whatever its type, refused where Go's reader refuses them. */
function fields(h: Buffer, format: Format, strict: boolean) {
  const f = { size: num(h, 124, 12, 'size', strict), mode: num(h, 100, 8, 'mode', strict), uid: num(h, 108, 8, 'uid', strict), gid: num(h, 116, 8, 'gid', strict), mtime: num(h, 136, 12, 'mtime', strict), devmajor: 0, devminor: 0 };
  if (format !== 'v7') {
    f.devmajor = num(h, 329, 8, 'devmajor', strict);
    f.devminor = num(h, 337, 8, 'devminor', strict);
  }
  // Go reads a GNU header's access and change times where they are not NUL; where they are no number
  // (a writer before Go 1.8 put a prefix there) it takes the field as the name's prefix. rep refuses it.
  if (format === 'gnu' && ((h[345] !== 0 && !isNum(h, 345)) || (h[357] !== 0 && !isNum(h, 357)))) {
    throw new TarError('a GNU tar header with a name prefix where its times are');
  }
  return f;
}

const isNum = (h: Buffer, at: number) => {
  try {
    num(h, at, 12, 'time');
    return true;
  } catch {
    return false;
  }
};

/** What one header block is, as Go reads it: an extended header whose bytes the next header takes, or an entry. */
export type HeaderRead = { meta: 'x' | 'L' | 'K'; size: number } | { entry: TarHeader };

/**
 * Go's reading of a tar's headers, one after another: the extended headers
 * (a pax header, GNU long names) an entry takes its name, link and numbers
 * from, and the spellings rep refuses. The caller finds the blocks (in a file,
 * or in a stream) and the end of the archive (zero blocks).
 */
export class HeaderReader {
  private pax: Pax = {};
  private paxSeen = false;
  private longName: string | undefined;
  private longLink: string | undefined;
  private count = 0;

  /**
   * `strict`: for an archive a person may unpack with GNU tar (a bundle, the archives in it), not
   * only load with docker: spellings GNU tar reads otherwise than Go are refused too (numbers, a pax
   * "+N" or empty name, a file named as a folder). A layer is read as Go reads it, and only so.
   */
  constructor(
    private readonly bounds: TarBounds = DEFAULT_TAR_BOUNDS,
    private readonly strict = false,
  ) {}

  /** The header block `h` (not a zero block), `at` bytes into the tar, its body (if any) at `offset`. */
  read(h: Buffer, at: number, offset: number): HeaderRead {
    if (!checksumOk(h, this.strict)) throw new TarError(`a tar header at byte ${at} has a bad checksum`);
    const format = formatOf(h);
    if (format === 'star') throw new TarError('a tar header in the star format');
    const type = String.fromCharCode(h[156] || 0x30);
    const f = fields(h, format, this.strict);
    if (type === 'x' || type === 'L' || type === 'K') {
      if (f.size > this.bounds.maxMeta) throw new TarError(`a tar ${type === 'x' ? 'pax header' : 'long name'} of ${f.size} bytes (more than ${this.bounds.maxMeta})`);
      // Spellings tar readers answer differently (Go's, which docker and podman apply layers with, and
      // rep's): a second pax header or long name for one entry, an empty long name. The engine's
      // image and rep's reading of it could then differ; no tool that writes layers writes them.
      if ((type === 'x' && this.paxSeen) || (type === 'L' && this.longName !== undefined) || (type === 'K' && this.longLink !== undefined)) {
        throw new TarError(`a tar entry with two ${type === 'x' ? 'pax headers' : 'long names'}`);
      }
      return { meta: type, size: f.size };
    }
    // Everything else docker and podman refuse, but for a global pax header ('g'), which they apply as
    // the removal of whatever its name is (whiteout prefix and all) and then pass over, and which GNU
    // tar applies to every entry after it; no layer writer writes one. Old GNU sparse files ('S') have
    // extension blocks after the header. rep refuses them all.
    if (!ENTRY_TYPES.has(type)) throw new TarError(`a tar entry of type "${printable(type)}", which an image layer does not hold`);
    if (++this.count > this.bounds.maxEntries) throw new TarError(`a tar with more than ${this.bounds.maxEntries} entries`);
    const { pax, longName, longLink } = this;
    if ((pax.path !== undefined && longName !== undefined) || (pax.linkpath !== undefined && longLink !== undefined)) {
      throw new TarError('a tar entry named both by a pax header and by a GNU long name');
    }
    // The prefix field is read as Go reads it: when the magic is "ustar\0", whatever the version.
    const prefix = format === 'ustar' ? str(h, 345, 155) : '';
    const name = pax.path ?? longName ?? (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
    // The old regular type (NUL) on a name ending in "/" is a folder, as Go reads it.
    const oldFolder = h[156] === 0 && name.endsWith('/');
    // A name ending in "/" is a folder to GNU tar whatever the type says, a file to Go when the type is '0'.
    if (this.strict && name.endsWith('/') && type !== '5' && !oldFolder) throw new TarError(`a tar entry "${printable(name)}" whose name ends in "/" but is no folder`);
    // A header-only type (links, devices, folders, fifos) has no body for Go's reader, whatever its size
    // field or a pax size says (Go's writer leaves a link's size as it was given): the next header follows.
    // Elsewhere a pax size overrides the header's (files over 8 GiB). Strict, such a size is refused:
    // where the next header lies is then no question for any reader.
    const headerOnly = oldFolder || type !== '0';
    if (this.strict && headerOnly && (f.size !== 0 || (pax.size ?? 0) !== 0)) throw new TarError(`a tar entry "${printable(name)}" of a type without bytes that says it has some`);
    const entry = {
      name,
      type: oldFolder ? '5' : type,
      mode: f.mode,
      uid: pax.uid ?? f.uid,
      gid: pax.gid ?? f.gid,
      mtime: pax.mtime ?? f.mtime,
      size: headerOnly ? 0 : (pax.size ?? f.size),
      linkname: pax.linkpath ?? longLink ?? str(h, 157, 100),
      devmajor: type === '3' || type === '4' ? f.devmajor : 0,
      devminor: type === '3' || type === '4' ? f.devminor : 0,
      offset,
    };
    this.pax = {};
    this.paxSeen = false;
    this.longName = this.longLink = undefined;
    return { entry };
  }

  /** The bytes of the extended header read() answered with `type`. */
  meta(type: 'x' | 'L' | 'K', bytes: Buffer): void {
    if (type === 'x') {
      this.pax = paxRecords(bytes, this.strict);
      this.paxSeen = true;
      return;
    }
    const long = str(bytes, 0, bytes.length);
    if (long === '') throw new TarError('a tar long name that is empty');
    if (type === 'L') this.longName = long;
    else this.longLink = long;
  }
}

/** The entries of the tar in `fd` between byte `start` and `end`, in archive order. */
export function* tarHeaders(fd: number, start: number, end: number, bounds: TarBounds = DEFAULT_TAR_BOUNDS): Generator<TarHeader> {
  let at = start;
  const headers = new HeaderReader(bounds);
  const file = new ReadAhead(fd, end);
  while (at < end) {
    // Go's reader refuses a header cut short, and a zero block that another block follows.
    if (at + BLOCK > end) throw new TarError('the tar ends inside a header');
    const h = file.bytes(at, BLOCK);
    if (h.equals(ZERO_BLOCK)) {
      const after = end - (at + BLOCK);
      if (after > 0 && after < BLOCK) throw new TarError('the tar ends inside a header');
      if (after >= BLOCK && !file.bytes(at + BLOCK, BLOCK).equals(ZERO_BLOCK)) throw new TarError('a tar with an empty block between its entries');
      return;
    }
    const body = at + BLOCK;
    const read = headers.read(h, at - start, body);
    const size = 'meta' in read ? read.size : read.entry.size;
    if (body + size > end) throw new TarError('a tar entry runs past the end of its archive');
    at = body + pad(size);
    if ('meta' in read) headers.meta(read.meta, file.bytes(body, size));
    else yield read.entry;
  }
}
