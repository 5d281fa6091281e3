// A synchronous tar writer for the archives rep makes of bytes it already
// holds (a step's canonical layer, the archive the engine loads): headers
// encoded as tar-stream encodes them, byte for byte (ustar, a name split
// into prefix and name when it is long, a pax header when it does not fit or
// when asked), written through a buffer into one sink. Without a stream per
// entry it writes small files several times faster than tar-stream's pack,
// and a member whose size is known only at its end (a layer written into the
// archive that holds it) gets its header once the size is known.
import { readSync, writeSync } from 'node:fs';

export type TarType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';

export interface TarHeader {
  name: string;
  type: TarType;
  /** Permission bits (the file type bits are masked out). */
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  /** Seconds since 1970. */
  mtime: number;
  /** Bytes of content; 0 for anything but a regular file. */
  size: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** pax records to write (a pax header is written whenever there are some). */
  pax?: Record<string, string>;
}

const TYPEFLAG: Record<TarType | 'pax-header', number> = { file: 0, link: 1, symlink: 2, 'character-device': 3, 'block-device': 4, directory: 5, fifo: 6, 'pax-header': 72 };
const BLOCK = 512;
const ZEROS = Buffer.alloc(1024);

function octal(value: number, digits: number): string {
  const s = value.toString(8);
  return s.length > digits ? `${'7'.repeat(digits)} ` : `${'0'.repeat(digits - s.length)}${s} `;
}

/** octal(value, digits) written at `at`: digits in place for a whole number that fits (most), else as text. */
function putOctal(b: Buffer, at: number, value: number, digits: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= 8 ** digits) {
    b.write(octal(value, digits), at);
    return;
  }
  for (let i = digits - 1, n = value; i >= 0; i--, n = Math.floor(n / 8)) b[at + i] = 0x30 + (n % 8);
  b[at + digits] = 0x20;
}

/**
 * A device number: six octal digits as tar-stream writes them (the canonical bytes of every layer so
 * far), and past those (Linux minors go to 2^20 - 1) seven and the field's NUL, as Go's writer does;
 * base-256 past seven digits. tar-stream would write 777777, another device.
 */
function putDevice(b: Buffer, at: number, value: number): void {
  if (value <= 0o777777) putOctal(b, at, value, 6);
  else if (value <= 0o7777777) b.write(`${value.toString(8).padStart(7, '0')}\0`, at, 'latin1');
  else putBase256(b, at, 8, value);
}

/** `value` in GNU's base-256 across the `len` bytes of a field at `at` (its first byte 0x80). */
function putBase256(b: Buffer, at: number, len: number, value: number): void {
  b[at] = 0x80;
  for (let i = len - 1, n = value; i > 0; i--, n = Math.floor(n / 0x100)) b[at + i] = n & 0xff;
}

/** A 12-byte number (a size, a time): 11 octal digits, base-256 past them, as tar-stream writes a size past 8 GiB. */
function putLarge(b: Buffer, at: number, value: number): void {
  if (value.toString(8).length > 11) putBase256(b, at, 12, value);
  else putOctal(b, at, value, 11);
}

/** What every ustar header holds before its fields: NULs, and the magic and version. */
const EMPTY_USTAR = Buffer.alloc(BLOCK);
EMPTY_USTAR.write('ustar\0', 257, 'latin1');
EMPTY_USTAR.write('00', 263);

/** The one 512-byte ustar header of `h`, or undefined when its names need a pax header. */
function ustar(h: Omit<TarHeader, 'type'> & { type: TarType | 'pax-header' }): Buffer | undefined {
  const b = Buffer.alloc(BLOCK);
  return ustarInto(h, b, 0) ? b : undefined;
}

/**
 * Writes the ustar header of `h` into `b` at `at` (512 bytes, whatever they
 * held); false, with those bytes in any state, when its names need a pax header.
 */
function ustarInto(h: Omit<TarHeader, 'type'> & { type: TarType | 'pax-header' }, b: Buffer, at: number): boolean {
  let name = h.name;
  let prefix = '';
  if (Buffer.byteLength(name) !== name.length) return false;
  while (name.length > 100) {
    const i = name.indexOf('/');
    if (i === -1) return false;
    prefix += prefix ? `/${name.slice(0, i)}` : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (prefix.length > 155) return false;
  if (h.linkname && Buffer.byteLength(h.linkname) > 100) return false;
  EMPTY_USTAR.copy(b, at);
  // Each text is written within the header's 512 bytes (the writer's buffer goes on past them).
  b.write(name, at, BLOCK);
  putOctal(b, at + 100, h.mode & 0o7777, 6);
  putOctal(b, at + 108, h.uid, 6);
  putOctal(b, at + 116, h.gid, 6);
  putLarge(b, at + 124, h.size);
  // A time past 2242 as a size past 8 GiB ("| 0" wrapped one past 2038).
  putLarge(b, at + 136, Math.max(0, Math.trunc(h.mtime)));
  b[at + 156] = 48 + TYPEFLAG[h.type];
  if (h.linkname) b.write(h.linkname, at + 157, BLOCK - 157);
  if (h.uname) b.write(h.uname, at + 265, BLOCK - 265);
  if (h.gname) b.write(h.gname, at + 297, BLOCK - 297);
  putDevice(b, at + 329, h.devmajor ?? 0);
  putDevice(b, at + 337, h.devminor ?? 0);
  if (prefix) b.write(prefix, at + 345, BLOCK - 345);
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += b[at + i]!;
  for (let i = 156; i < BLOCK; i++) sum += b[at + i]!;
  putOctal(b, at + 148, sum, 6);
  return true;
}

/** One pax record: its length (counting itself) and " key=value\n". */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const len = Buffer.byteLength(body);
  let digits = Math.floor(Math.log(len) / Math.log(10)) + 1;
  if (len + digits >= 10 ** digits) digits++;
  return `${len + digits}${body}`;
}

/** The header blocks of `h`: one ustar header, or a pax header, its records and the entry's own header. */
export function headerBlocks(h: TarHeader): Buffer[] {
  const size = h.type === 'file' ? h.size : 0;
  const plain = h.pax ? undefined : ustar({ ...h, size });
  if (plain) return [plain];
  let records = paxRecord('path', h.name);
  if (h.linkname) records += paxRecord('linkpath', h.linkname);
  for (const [k, v] of Object.entries(h.pax ?? {})) records += paxRecord(k, v);
  const body = Buffer.from(records);
  const paxName = { ...h, name: 'PaxHeader', linkname: h.linkname ? 'PaxHeader' : undefined };
  const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
  return [ustar({ ...paxName, type: 'pax-header', size: body.length })!, body, ZEROS.subarray(0, pad), ustar({ ...paxName, size })!];
}

/** Where a writer puts its bytes: in order, each buffer once (it may keep none of them). */
export type Sink = (bytes: Buffer) => void;

/** A sink writing to the file `fd` from its current position. */
export function fileSink(fd: number): Sink {
  return (b) => {
    for (let at = 0; at < b.length; ) at += writeSync(fd, b, at, b.length - at);
  };
}

const CHUNK = 1 << 20;

/** The bytes an entry was to copy were not all there. */
export class ShortSourceError extends Error {}

/**
 * `size` bytes of the file `fd` from `offset`, read a megabyte at a time;
 * throws `short(bytes missing)` when the file ends before.
 */
export function* pieces(fd: number, offset: number, size: number, short: (missing: number) => Error): Generator<Buffer> {
  for (let done = 0; done < size; ) {
    const n = Math.min(CHUNK, size - done);
    const piece = Buffer.allocUnsafe(n);
    const got = readSync(fd, piece, 0, n, offset + done);
    if (got <= 0) throw short(size - done);
    yield got === n ? piece : piece.subarray(0, got);
    done += got;
  }
}

export class TarWriter {
  private buf = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  /** Bytes written so far (headers, content, padding). */
  written = 0;

  /**
   * `keeps`: whether the sink may keep what it is handed (a list, a stream): then it gets a copy of
   * its own. A sink that is done with it on return (a hash, a write to a file) gets the writer's own
   * buffer, a megabyte not made again per flush (at 100k files, megabytes held until a collection).
   */
  constructor(
    private readonly sink: Sink,
    private readonly keeps = true,
  ) {}

  /** Appends bytes as they are. */
  write(b: Buffer): void {
    this.written += b.length;
    if (b.length >= CHUNK) {
      this.flush();
      this.sink(b);
      return;
    }
    if (this.used + b.length > CHUNK) this.flush();
    b.copy(this.buf, this.used);
    this.used += b.length;
  }

  /** Hands what is buffered to the sink. */
  flush(): void {
    if (this.used === 0) return;
    this.sink(this.keeps ? Buffer.from(this.buf.subarray(0, this.used)) : this.buf.subarray(0, this.used));
    this.used = 0;
  }

  private pad(size: number): void {
    const rest = size % BLOCK;
    if (rest) this.write(ZEROS.subarray(0, BLOCK - rest));
  }

  /** Bytes buffered, not yet handed to the sink. */
  pending(): number {
    return this.used;
  }

  /** An entry's header alone: its `size` bytes of content follow through write(), then endMember(). */
  header(h: TarHeader): void {
    this.headerOf(h, h.type === 'file' ? h.size : 0);
  }

  /**
   * The header blocks of `h` with `size` (as headerBlocks writes them): a
   * plain ustar header straight into the buffer (a layer writes one per entry,
   * 100k at times), anything else through headerBlocks.
   */
  private headerOf(h: TarHeader, size: number): void {
    if (!h.pax) {
      if (this.used + BLOCK > CHUNK) this.flush();
      if (ustarInto(h.size === size ? h : { ...h, size }, this.buf, this.used)) {
        this.used += BLOCK;
        this.written += BLOCK;
        return;
      }
    }
    for (const b of headerBlocks(h.size === size ? h : { ...h, size })) this.write(b);
  }

  /** An entry with its content (none for anything but a file). */
  entry(h: TarHeader, content?: Buffer): void {
    const size = h.type === 'file' ? (content?.length ?? 0) : 0;
    this.headerOf(h, size);
    if (size) {
      this.write(content!);
      this.pad(size);
    }
  }

  /** A file entry of `h.size` bytes read from `fd` at `offset`; throws when fewer are there. */
  entryFrom(h: TarHeader, fd: number, offset: number): void {
    this.headerOf(h, h.type === 'file' ? h.size : 0);
    for (const piece of pieces(fd, offset, h.size, (missing) => new ShortSourceError(`${h.name}: the source ends ${missing} bytes early`))) this.write(piece);
    this.pad(h.size);
  }

  /** Pads a member whose `size` bytes were written with write() after its header (or its placeholder). */
  endMember(size: number): void {
    this.pad(size);
  }

  /** The end-of-archive blocks; flushes. Returns the archive's size. */
  finish(): number {
    this.write(ZEROS);
    this.flush();
    return this.written;
  }
}
