// One reading of a zip file. A zip says most things twice: each entry's local
// header (read by Info-ZIP unzip for the compression method, flags and sizes)
// and the central directory (read by yauzl, so by rep). Where the two differ,
// or bytes lie outside every entry, readers unpack different files; such an
// archive is refused here: every local header must say what the central
// directory says, and entries, central directory and end records must follow
// one another from byte 0 to the end of the file, in the central directory's
// order, with nothing between them.
import { readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import type { Entry } from 'yauzl';
import { shown } from './bundlefs.js';

const LOCAL = 0x04034b50;
const DESCRIPTOR = 0x08074b50;
const END = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_END = 0x06064b50;
const SAT32 = 0xffffffff;
/** Flags a bundle may use: 1-2 (deflate's level, a note), 3 (CRC and sizes in a data descriptor), 11 (the name is UTF-8). Not encryption (0, 6, 13) nor patch data (5). */
const ALLOWED_FLAGS = 0x0002 | 0x0004 | 0x0008 | 0x0800;
const HAS_DESCRIPTOR = 0x0008;
const METHODS: Record<number, string> = { 0: 'stored', 8: 'deflate' };

/** Where an entry's bytes lie: its local header's offset, and where they may end (a data descriptor may be 16 or 24 bytes long). */
export interface Span {
  start: number;
  ends: number[];
}

/** The central directory's place, as the end records say. */
export interface Layout {
  cdStart: number;
  cdEnd: number;
}

/** `length` bytes of the file at `pos`, or fewer where the file ends. */
function readAt(fd: number, size: number, pos: number, length: number): Buffer {
  const b = Buffer.alloc(Math.max(0, Math.min(length, size - pos)));
  let got = 0;
  while (got < b.length) {
    const n = readSync(fd, b, got, b.length - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return b.subarray(0, got);
}

const u64 = (b: Buffer, at: number): number => b.readUInt32LE(at + 4) * 0x100000000 + b.readUInt32LE(at);
export const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
const method = (m: number): string => `${m}${METHODS[m] ? ` (${METHODS[m]})` : ''}`;
const quoted = (name: Buffer): string => `"${shown(name.toString('utf8'))}"`;

/** The name of an Info-ZIP Unicode Path field (0x7075) that readers which know it take instead of the entry's name, when it is not that name. */
function otherUnicodeName(entry: Entry): Buffer | undefined {
  for (const f of entry.extraFields) {
    if (f.id !== 0x7075 || f.data.length < 6 || f.data[0] !== 1 || f.data.readUInt32LE(1) !== crc32(entry.fileNameRaw)) continue;
    const name = f.data.subarray(5);
    return name.equals(entry.fileNameRaw) ? undefined : name;
  }
  return undefined;
}

/**
 * The central directory's place from the end records, found as yauzl finds
 * them (the last end-of-central-directory signature; a zip64 locator just
 * before it): it must end where the zip64 end record or the end record begins,
 * or unzip (which then shifts every offset) and yauzl read different entries.
 */
export function zipLayout(fd: number, size: number): Layout | { problem: string } {
  const tailStart = Math.max(0, size - (22 + 0xffff + 20));
  const tail = readAt(fd, size, tailStart, size - tailStart);
  let i = tail.length - 22;
  while (i >= 0 && tail.readUInt32LE(i) !== END) i--;
  if (i < 0) return { problem: 'no end of central directory record' };
  const end = tailStart + i;
  const e = tail.subarray(i);
  if (e.readUInt16LE(20) !== e.length - 22) return { problem: 'bytes follow the end of central directory record' };
  if (e.readUInt16LE(4) !== 0 || e.readUInt16LE(6) !== 0 || e.readUInt16LE(8) !== e.readUInt16LE(10)) return { problem: 'it spans more than one disk' };
  const count = e.readUInt16LE(10);
  let cdSize = e.readUInt32LE(12);
  let cdStart = e.readUInt32LE(16);
  let cdEnd = end;
  if (i >= 20 && tail.readUInt32LE(i - 20) === ZIP64_LOCATOR) {
    const at = u64(tail, i - 20 + 8);
    const r = readAt(fd, size, at, 56);
    if (r.length < 56 || r.readUInt32LE(0) !== ZIP64_END) return { problem: 'its zip64 locator points at no zip64 end record' };
    if (at + 12 + u64(r, 4) !== end - 20) return { problem: 'its zip64 end record does not end where the zip64 locator begins' };
    if (r.readUInt32LE(16) !== 0 || r.readUInt32LE(20) !== 0 || u64(r, 24) !== u64(r, 32)) return { problem: 'it spans more than one disk' };
    // The 32-bit fields of the end record are either full (0xffff...) or the same as the zip64 ones.
    const same = (short: number, full: number, long: number) => short === full || short === long;
    if (!same(count, 0xffff, u64(r, 32)) || !same(cdSize, SAT32, u64(r, 40)) || !same(cdStart, SAT32, u64(r, 48))) {
      return { problem: 'its end record and zip64 end record disagree' };
    }
    [cdSize, cdStart, cdEnd] = [u64(r, 40), u64(r, 48), at];
  }
  if (cdStart + cdSize !== cdEnd) return { problem: `its central directory (bytes ${cdStart} to ${cdStart + cdSize}) does not end where the end records begin (byte ${cdEnd})` };
  return { cdStart, cdEnd };
}

/** The zip64 field (id 1) of an extra field, read for the sizes saturated (0xffffffff) in a local header, in order. */
function localZip64(extra: Buffer, usize: number, csize: number): { usize: number; csize: number } | undefined {
  if (usize !== SAT32 && csize !== SAT32) return { usize, csize };
  for (let i = 0; i + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(i);
    const len = extra.readUInt16LE(i + 2);
    const data = extra.subarray(i + 4, i + 4 + len);
    i += 4 + len;
    if (id !== 1) continue;
    let at = 0;
    const next = (v: number): number | undefined => (v !== SAT32 ? v : at + 8 <= data.length ? u64(data, (at += 8) - 8) : undefined);
    const u = next(usize);
    const c = next(csize);
    return u === undefined || c === undefined ? undefined : { usize: u, csize: c };
  }
  return undefined;
}

/**
 * Where the entry's bytes lie, or why its local header (or data descriptor)
 * does not say what the central directory says about it.
 */
export function localSpan(fd: number, size: number, entry: Entry): Span | { problem: string } {
  const start = entry.relativeOffsetOfLocalHeader;
  const h = readAt(fd, size, start, 30);
  if (h.length < 30 || h.readUInt32LE(0) !== LOCAL) return { problem: `no local file header at byte ${start}` };
  const flags = entry.generalPurposeBitFlag;
  const differ = (what: string, local: string, central: string) => ({ problem: `its local header says ${what} ${local}, the central directory ${central}` });
  if (h.readUInt16LE(6) !== flags) return differ('flags', hex(h.readUInt16LE(6)), hex(flags));
  if ((flags & ~ALLOWED_FLAGS) !== 0) return { problem: `it uses zip flags rep does not read (${hex(flags & ~ALLOWED_FLAGS)}: encryption or patch data)` };
  if (h.readUInt16LE(8) !== entry.compressionMethod) return differ('compression method', method(h.readUInt16LE(8)), method(entry.compressionMethod));
  if (!METHODS[entry.compressionMethod]) return { problem: `its compression method ${entry.compressionMethod} is not stored (0) or deflate (8)` };
  const nameLength = h.readUInt16LE(26);
  const rest = readAt(fd, size, start + 30, nameLength + h.readUInt16LE(28));
  if (rest.length < nameLength + h.readUInt16LE(28)) return { problem: 'its local header runs past the end of the archive' };
  const name = rest.subarray(0, nameLength);
  if (!name.equals(entry.fileNameRaw)) return differ('name', quoted(name), quoted(entry.fileNameRaw));
  const unicode = otherUnicodeName(entry);
  if (unicode) return { problem: `its Unicode Path field names it ${quoted(unicode)}, its name field ${quoted(entry.fileNameRaw)}` };
  const sizes = localZip64(rest.subarray(nameLength), h.readUInt32LE(22), h.readUInt32LE(18));
  if (!sizes) return { problem: 'its local header gives sizes as zip64 but holds no zip64 field for them' };
  const crc = h.readUInt32LE(14);
  // With a data descriptor, the local header's CRC and sizes may be 0 (they were not known when it was written).
  const described = (flags & HAS_DESCRIPTOR) !== 0;
  const agree = (local: number, central: number) => local === central || (described && local === 0);
  if (!agree(crc, entry.crc32)) return differ('CRC-32', hex(crc), hex(entry.crc32));
  if (!agree(sizes.csize, entry.compressedSize)) return differ('compressed size', String(sizes.csize), String(entry.compressedSize));
  if (!agree(sizes.usize, entry.uncompressedSize)) return differ('size', String(sizes.usize), String(entry.uncompressedSize));
  const dataEnd = start + 30 + rest.length + entry.compressedSize;
  if (dataEnd > size) return { problem: 'its data runs past the end of the archive' };
  if (!described) return { start, ends: [dataEnd] };
  // A data descriptor, signed as every zip writer signs it: 32-bit sizes (16 bytes) or zip64 ones (24).
  const d = readAt(fd, size, dataEnd, 24);
  const ends: number[] = [];
  if (d.length >= 16 && d.readUInt32LE(0) === DESCRIPTOR && d.readUInt32LE(4) === entry.crc32) {
    if (d.readUInt32LE(8) === entry.compressedSize && d.readUInt32LE(12) === entry.uncompressedSize) ends.push(dataEnd + 16);
    if (d.length >= 24 && u64(d, 8) === entry.compressedSize && u64(d, 16) === entry.uncompressedSize) ends.push(dataEnd + 24);
  }
  if (ends.length === 0) return { problem: 'its data descriptor is missing or does not say what the central directory says' };
  return { start, ends };
}

/** Entries in the central directory's order, each beginning where the one before it ends: no byte before, between or after them unread, none read twice. */
export class Tiling {
  private ends = [0];
  private cdBytes = 0;

  constructor(private readonly layout: Layout) {}

  /** Why `span` does not begin where the entry before it ends (the first, where the archive begins). */
  next(entry: Entry, span: Span): string | undefined {
    this.cdBytes += 46 + entry.fileNameLength + entry.extraFieldLength + entry.fileCommentLength;
    if (!this.ends.includes(span.start)) {
      const where = this.ends[0] === 0 ? 'the start of the archive (byte 0)' : `the end of the entry before it (byte ${this.ends.join(' or ')})`;
      return `it begins at byte ${span.start}, not at ${where}: the archive has bytes outside its entries, overlapping entries, or entries out of order`;
    }
    this.ends = span.ends;
    return undefined;
  }

  /** Why the central directory does not follow the last entry, or holds more than its entries. */
  finish(): string | undefined {
    const { cdStart, cdEnd } = this.layout;
    if (!this.ends.includes(cdStart)) return `its central directory begins at byte ${cdStart}, not where its last entry ends (byte ${this.ends.join(' or ')})`;
    if (cdStart + this.cdBytes !== cdEnd) return `its central directory holds ${cdEnd - cdStart - this.cdBytes} bytes besides its entries`;
    return undefined;
  }
}
