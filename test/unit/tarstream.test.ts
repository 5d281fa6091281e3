// Tar streams read as Go reads them (src/repro/tarstream.ts): the same
// entries as the file reader of layers, however the stream is cut into
// chunks, and the spellings that tar readers answer differently refused, in a
// bundle (.tar.gz, context.tar) and in an image archive. Found by an
// adversarial review: a global pax header made `tar -xf` (and docker load)
// take other files than the ones rep verified.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../src/publish/limits.js';
import { ExtractError, extractTar } from '../../src/publish/extract.js';
import { readImageArchive } from '../../src/publish/imagearchive.js';
import { TarError, tarHeaders, type TarHeader } from '../../src/repro/tarindex.js';
import { TarStreamReader } from '../../src/repro/tarstream.js';
import { TarWriter } from '../../src/repro/tarwriter.js';
import { tempFolders } from '../helpers.js';

const folders = tempFolders();

/** A ustar header block, checksum and all. */
function header(name: string, type: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h[156] = type.charCodeAt(0);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/** One member: header, body, padding. */
const member = (name: string, type: string, body: Buffer | string = '') => {
  const b = Buffer.from(body);
  return Buffer.concat([header(name, type, b.length), b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
};

/** A pax header's records ("LEN key=value\n"). */
const paxBody = (records: Record<string, string>) =>
  Object.entries(records)
    .map(([k, v]) => {
      const rest = ` ${k}=${v}\n`;
      let len = rest.length + 1;
      while (String(len).length + rest.length !== len) len++;
      return `${len}${rest}`;
    })
    .join('');

const END = Buffer.alloc(1024);

async function packed(entries: { name: string; body?: string; type?: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.body !== undefined) pack.entry({ name: e.name, mtime: new Date(0) }, e.body);
    else pack.entry({ name: e.name, type: e.type ?? 'directory', linkname: e.linkname, mtime: new Date(0) });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Every entry the stream reader finds in `bytes` fed `size` bytes at a time, with its body. */
function streamed(bytes: Buffer, size: number): (TarHeader & { body: string })[] {
  const out: (TarHeader & { body: string })[] = [];
  const reader = new TarStreamReader((h) => {
    const chunks: Buffer[] = [];
    return { data: (c) => chunks.push(Buffer.from(c)), end: () => out.push({ ...h, body: Buffer.concat(chunks).toString('utf8') }) };
  });
  for (let at = 0; at < bytes.length; at += size) reader.push(bytes.subarray(at, at + size));
  reader.finish();
  return out;
}

function filed(bytes: Buffer): (TarHeader & { body: string })[] {
  const file = path.join(folders.make('rep-tarstream-'), 't.tar');
  writeFileSync(file, bytes);
  const fd = openSync(file, 'r');
  try {
    return [...tarHeaders(fd, 0, bytes.length)].map((h) => ({ ...h, body: bytes.subarray(h.offset, h.offset + h.size).toString('utf8') }));
  } finally {
    closeSync(fd);
  }
}

const refusal = (bytes: Buffer) => {
  try {
    streamed(bytes, 100);
    return 'read';
  } catch (e) {
    if (!(e instanceof TarError)) throw e;
    return e.message;
  }
};

describe('TarStreamReader', () => {
  it('reads what the layer reader reads, however the stream is cut', async () => {
    const bytes = await packed([
      { name: 'd', type: 'directory' },
      { name: 'd/a.txt', body: 'a\n' },
      { name: `d/${'long'.repeat(40)}.txt`, body: 'x'.repeat(1500) },
      { name: 'd/empty', body: '' },
      { name: 'd/l', type: 'symlink', linkname: 'a.txt' },
      { name: 'd/h', type: 'link', linkname: 'd/a.txt' },
      { name: 'd/é', body: 'é' },
    ]);
    const want = filed(bytes);
    expect(want.map((e) => e.name)).toEqual(['d', 'd/a.txt', `d/${'long'.repeat(40)}.txt`, 'd/empty', 'd/l', 'd/h', 'd/é']);
    for (const size of [1, 7, 511, 512, 513, 4096, bytes.length]) expect(streamed(bytes, size), `chunks of ${size}`).toEqual(want);
  });

  it('refuses a global pax header, a pax header with a long name, two pax headers, data after the end, and a tar cut short', () => {
    const file = member('a', '0', 'a');
    expect(refusal(Buffer.concat([member('pax_global_header', 'g', paxBody({ path: 'a' })), file, END]))).toBe('a tar entry of type "g", which an image layer does not hold');
    expect(refusal(Buffer.concat([member('././@LongLink', 'L', 'b\0'), member('PaxHeader', 'x', paxBody({ path: 'c' })), file, END]))).toBe('a tar entry named both by a pax header and by a GNU long name');
    expect(refusal(Buffer.concat([member('PaxHeader', 'x', paxBody({ comment: '1' })), member('PaxHeader', 'x', paxBody({ path: 'c' })), file, END]))).toBe('a tar entry with two pax headers');
    expect(refusal(Buffer.concat([file, END, member('b', '0', 'evil'), END]))).toBe('data after the end of the tar, at byte 2048');
    expect(refusal(Buffer.concat([file, Buffer.alloc(512), member('b', '0', 'evil')]))).toBe('data after the end of the tar, at byte 1536');
    expect(refusal(file)).toBe('the tar ends without its end-of-archive block (cut short?)');
    expect(refusal(file.subarray(0, 700))).toBe('the tar ends inside an entry (cut short?)');
    expect(refusal(file.subarray(0, 300))).toBe('the tar ends inside a header (cut short?)');
    // Zeros after the end (a record's padding) are the end still.
    expect(streamed(Buffer.concat([file, END, Buffer.alloc(8192)]), 1000).map((e) => e.body)).toEqual(['a']);
  });
});

/** `m` with the 12-byte numeric field at `at` spelled `text` (NULs after it), its checksum made again (unless `sum` says it). */
function respelled(m: Buffer, at: number, text: string, sum?: string): Buffer {
  const out = Buffer.from(m);
  out.fill(0, at, at + 12);
  out.write(text, at, 'latin1');
  out.write('        ', 148);
  let total = 0;
  for (let i = 0; i < 512; i++) total += out[i]!;
  out.write(sum ?? `${total.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return out;
}

describe('spellings GNU tar and Go read apart (found by a review of the reader)', () => {
  const body = 'x'.repeat(600);
  const file = member('f', '0', body);
  const size = (600).toString(8);
  it('refuses a size or checksum GNU tar reads as another number, and takes the spellings both read alike', () => {
    for (const spelled of [`\0\0${size.padStart(9, '0')}\0`, ` \0${size.padStart(9, '0')}\0`, `\t${size.padStart(10, '0')}\0`, `${size} 12\0`, '\0\0\0\0\0\0\0\0\0\0\0\0']) {
      expect(refusal(Buffer.concat([respelled(file, 124, spelled), END])), JSON.stringify(spelled)).toBe('size is not a number tar readers read alike in a tar header');
    }
    for (const spelled of [`${size.padStart(11, '0')}\0`, `${size.padStart(11, ' ')}\0`, `\0  ${size}\0 `, `${size.padStart(11, '0')} `]) {
      expect(refusal(Buffer.concat([respelled(file, 124, spelled), END])), JSON.stringify(spelled)).toBe('read');
    }
    const h = file.subarray(0, 512);
    let total = 8 * 32;
    for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) total += h[i]!;
    expect(refusal(Buffer.concat([respelled(file, 124, `${size.padStart(11, '0')}\0`, `\0\0${total.toString(8).padStart(5, '0')}\0`), END]))).toBe('a tar header at byte 0 has a bad checksum');
  });

  it('refuses a file whose name ends in "/" (a folder to GNU tar, which then reads its bytes as entries), a pax size "+N" and an empty pax path', () => {
    expect(refusal(Buffer.concat([member('context.tar/', '0', 'inner'), END]))).toBe('a tar entry "context.tar/" whose name ends in "/" but is no folder');
    expect(refusal(Buffer.concat([member('PaxHeader', 'x', paxBody({ path: 'image.oci.tar/' })), member('x', '0', 'inner'), END]))).toBe('a tar entry "image.oci.tar/" whose name ends in "/" but is no folder');
    expect(refusal(Buffer.concat([member('PaxHeader', 'x', paxBody({ size: '+3' })), member('f', '0', 'abc'), END]))).toBe('pax size is not a whole number');
    expect(refusal(Buffer.concat([member('PaxHeader', 'x', paxBody({ path: '' })), member('f', '0', 'abc'), END]))).toBe('a pax path that is empty');
    // A link or folder that says it has bytes: where the next header lies would be a question.
    expect(refusal(Buffer.concat([member('d', '5', 'x'.repeat(600)), END]))).toBe('a tar entry "d" of a type without bytes that says it has some');
    expect(refusal(Buffer.concat([member('PaxHeader', 'x', paxBody({ size: '512' })), member('l', '2'), END]))).toBe('a tar entry "l" of a type without bytes that says it has some');
    // A folder so named is a folder to both.
    expect(streamed(Buffer.concat([member('d/', '5'), END]), 512).map((e) => e.name)).toEqual(['d/']);
  });

  it('refuses a pax key with a blank before it, a record length "+N", a pax mtime "+N" and an mtime of blanks (found by a second review)', () => {
    // GNU tar skips the blanks and takes the record; Go and rep took " size" for a key nobody knows.
    expect(refusal(Buffer.concat([member('PaxHeader', 'x', '11  size=3\n'), member('notes.txt', '0', 'x'.repeat(2048)), END]))).toBe('a pax record whose key holds a blank');
    expect(refusal(Buffer.concat([member('PaxHeader', 'x', '15 \tpath=ppath\n'), member('f', '0', 'abc'), END]))).toBe('a pax record whose key holds a blank');
    expect(refusal(Buffer.concat([member('PaxHeader', 'x', '+15 path=ppath\n'), member('f', '0', 'abc'), END]))).toBe('a malformed pax record');
    expect(refusal(Buffer.concat([member('PaxHeader', 'x', paxBody({ mtime: '+5' })), member('f', '0', 'abc'), END]))).toBe('pax mtime is not a time');
    expect(refusal(Buffer.concat([respelled(member('f', '0', 'abc'), 136, '           '), END]))).toBe('mtime is not a number tar readers read alike in a tar header');
    // Spelled as writers spell them, they are read.
    expect(streamed(Buffer.concat([member('PaxHeader', 'x', paxBody({ path: 'p', mtime: '5' })), member('f', '0', 'abc'), END]), 100).map((e) => [e.name, e.mtime])).toEqual([['p', 5]]);
  });

  it("rep's own writer writes a time past 2038 and past 2242 as it is, and reads it back (it wrapped at 2^31; found by a second review)", () => {
    const chunks: Buffer[] = [];
    const tar = new TarWriter((b) => void chunks.push(b));
    for (const mtime of [2_200_000_000, 12_307_334_400]) tar.entry({ name: `t${mtime}`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, size: 1 }, Buffer.from('x'));
    tar.finish();
    expect(streamed(Buffer.concat(chunks), 700).map((e) => e.mtime)).toEqual([2_200_000_000, 12_307_334_400]);
  });

  it('reads no more than a megabyte of zeros after the end', () => {
    expect(refusal(Buffer.concat([file, END, Buffer.alloc(2 << 20)]))).toBe('more than 1048576 bytes after the end of the tar');
  });
});

describe('an archive tar readers unpack differently is refused', () => {
  const limits = { ...DEFAULT_LIMITS };
  const extractInto = async (bytes: Buffer) => {
    const dir = path.join(folders.make('rep-tarstream-x-'), 'out');
    mkdirSync(dir);
    try {
      await extractTar(Readable.from([bytes]), dir, { label: 'b.tar.gz', limits, links: false, archiveSize: bytes.length });
      return readdirSync(dir).sort();
    } catch (e) {
      if (!(e instanceof ExtractError)) throw e;
      return e.message;
    }
  };

  it('a bundle whose "./" entry GNU tar unpacks as a file the global header names', async () => {
    const honest = await packed([{ name: 'provenance.json', body: '{"honest":true}\n' }]);
    const attack = Buffer.concat([honest.subarray(0, honest.length - 1024), member('pax_global_header', 'g', paxBody({ path: 'provenance.json' })), member('./', '0', 'EVIL\n'), END]);
    // What GNU tar makes of it: the global header names the "./" entry, which replaces the honest file.
    const dir = folders.make('rep-tarstream-gnu-');
    writeFileSync(path.join(dir, 'b.tar'), attack);
    const gnu = spawnSync('tar', ['-xOf', path.join(dir, 'b.tar'), 'provenance.json'], { encoding: 'utf8' });
    expect(gnu.stdout).toBe('{"honest":true}\nEVIL\n');
    expect(await extractInto(attack)).toBe('b.tar.gz: cannot unpack: a tar entry of type "g", which an image layer does not hold');
  });

  it('a file named "./" is refused, not passed over; a folder so named is the root', async () => {
    expect(await extractInto(Buffer.concat([member('./', '0', 'EVIL\n'), END]))).toBe('b.tar.gz: cannot unpack: a tar entry "./" whose name ends in "/" but is no folder');
    expect(await extractInto(Buffer.concat([member('./', '5'), member('./a', '0', 'a'), END]))).toEqual(['a']);
  });

  it('an image archive that Go reads another way is a finding', async () => {
    const archive = Buffer.concat([member('pax_global_header', 'g', paxBody({ path: 'x.json' })), member('PaxHeader', 'x', paxBody({ comment: 'a' })), member('decoy.json', '0', '{}'), END]);
    const found = await readImageArchive(Readable.from([archive]), { label: 'image.oci.tar' });
    expect(found.problems).toEqual(['image.oci.tar is not a readable tar archive: a tar entry of type "g", which an image layer does not hold']);
    const trailing = Buffer.concat([member('manifest.json', '0', '[]'), END, member('manifest.json', '0', '[{}]'), END]);
    expect((await readImageArchive(Readable.from([trailing]), { label: 'image.oci.tar' })).problems).toEqual(['image.oci.tar is not a readable tar archive: data after the end of the tar, at byte 2048']);
  });

  it('an image archive link read one way here and another by docker is a finding: absolute, or climbing after a name', async () => {
    const archive = await packed([
      { name: 'good.json', body: '{}' },
      { name: 'z', type: 'directory' },
      { name: 'q', type: 'symlink', linkname: 'z' },
      { name: 'abs.json', type: 'symlink', linkname: '/good.json' },
      { name: 'climb.json', type: 'symlink', linkname: 'q/../good.json' },
      { name: 'z/up.json', type: 'symlink', linkname: '../good.json' },
      { name: 'hard.json', type: 'link', linkname: 'z/../good.json' },
    ]);
    const found = await readImageArchive(Readable.from([archive]), { label: 'image.oci.tar' });
    expect(found.problems.filter((p) => p.includes('links to'))).toEqual([
      'image.oci.tar: entry abs.json links to "/good.json": an absolute target, outside the archive',
      'image.oci.tar: entry climb.json links to "q/../good.json": a ".." after a name; a link may go up only at the start of its target',
      'image.oci.tar: entry hard.json links to "z/../good.json": it has a ".." segment',
    ]);
  });

  it("a read cut short leaves the blob it was storing under its part name, never under a digest", async () => {
    const blobs = folders.make('rep-tarstream-blobs-');
    const cut = Buffer.concat([member('blob', '0', 'x'.repeat(2000))]).subarray(0, 1500);
    const found = await readImageArchive(Readable.from([cut]), { label: 'image.tar', blobsTo: blobs });
    expect(found.problems).toEqual(['image.tar is not a readable tar archive: the tar ends inside an entry (cut short?)']);
    expect(readFileSync(path.join(blobs, '.part0'), 'utf8')).toBe('x'.repeat(988));
  });
});
