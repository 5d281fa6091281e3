// The synchronous tar writer of the canonical rewrite writes what tar-stream's
// pack writes, byte for byte, for every kind of entry rep writes: a canonical
// layer's diff id (and so the image ID a paper cites) does not depend on which
// of the two wrote it. And a layer written into the archive that holds it
// gets a header that names its own size and digest.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import fc from 'fast-check';
import tar from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { DockerArchiveWriter, readSaved } from '../../src/repro/archive.js';
import { canonicalConfig } from '../../src/repro/config.js';
import { addLayer } from '../../src/repro/canonical.js';
import { layerDigest, writeLayerEntries, type CanonicalEntry } from '../../src/repro/layer.js';
import { LayerError } from '../../src/repro/merge.js';
import { headerBlocks, TarWriter, type TarHeader, type TarType } from '../../src/repro/tarwriter.js';
import { TarError, tarHeaders } from '../../src/repro/tarindex.js';
import { ArchiveReadError, asEntries, writeTar } from '../../src/context/tar.js';
import { walkContext } from '../../src/context/files.js';
import { DockerIgnore } from '../../src/context/dockerignore.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rep-tarwriter-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What tar-stream's pack writes for `entries`. */
async function packed(entries: { h: TarHeader; body?: Buffer }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.pipe(new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) })).on('finish', resolve).on('error', reject);
  });
  for (const { h, body } of entries) {
    const header = { ...h, mode: 0o100000 | h.mode, mtime: new Date(h.mtime * 1000), size: h.type === 'file' ? (body?.length ?? 0) : 0, uname: h.uname ?? '', gname: h.gname ?? '' };
    await new Promise<void>((resolve, reject) => pack.entry(header, body ?? Buffer.alloc(0), (e) => (e ? reject(e) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** What TarWriter writes for them. */
function written(entries: { h: TarHeader; body?: Buffer }[]): Buffer {
  const chunks: Buffer[] = [];
  const w = new TarWriter((b) => chunks.push(b));
  for (const { h, body } of entries) w.entry(h, body);
  const size = w.finish();
  const all = Buffer.concat(chunks);
  expect(all.length).toBe(size);
  return all;
}

const segment = fc.stringMatching(/^[a-z0-9._-]{1,40}$/);
const name = fc.oneof(
  fc.array(segment, { minLength: 1, maxLength: 8 }).map((p) => p.join('/')),
  // Past 100 bytes without a slash to split at, and names that are not ASCII: a pax header.
  fc.stringMatching(/^[a-z]{101,140}$/),
  fc.tuple(segment, fc.constantFrom('é', 'ü', '日本', 'ß')).map(([a, b]) => `${a}/${b}`),
);
const TYPES: TarType[] = ['file', 'link', 'symlink', 'character-device', 'block-device', 'directory', 'fifo'];
const entry = fc.record({
  name,
  type: fc.constantFrom(...TYPES),
  mode: fc.integer({ min: 0, max: 0o7777 }),
  uid: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 70000 }), fc.integer({ min: 0o777777 + 1, max: 2 ** 31 })),
  gid: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 70000 })),
  // tar-stream wraps a time at 2^31 ("| 0"); rep writes one past it as it is (test/unit/tarstream.test.ts).
  mtime: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  linkname: fc.oneof(name, fc.stringMatching(/^[a-z/]{101,160}$/)),
  dev: fc.tuple(fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 0, max: 4095 })),
  body: fc.uint8Array({ maxLength: 2000 }),
});

function toEntry(e: { name: string; type: TarType; mode: number; uid: number; gid: number; mtime: number; linkname: string; dev: [number, number]; body: Uint8Array }) {
  const big = e.uid > 0o777777 || e.gid > 0o777777;
  const h: TarHeader = { name: e.type === 'directory' ? `${e.name}/` : e.name, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, size: 0 };
  if (e.type === 'link' || e.type === 'symlink') h.linkname = e.linkname;
  if (e.type === 'character-device' || e.type === 'block-device') Object.assign(h, { devmajor: e.dev[0], devminor: e.dev[1] });
  if (big) h.pax = { uid: String(e.uid), gid: String(e.gid) };
  const body = e.type === 'file' ? Buffer.from(e.body) : undefined;
  return { h: { ...h, size: body?.length ?? 0 }, body };
}

describe('TarWriter', () => {
  it('writes what tar-stream writes, byte for byte, for every kind of entry a layer holds', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 12 }), async (list) => {
        const entries = list.map(toEntry);
        expect(written(entries).equals(await packed(entries))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('writes each header as headerBlocks does, across buffer flushes, long owner names and numbers of every kind', () => {
    // Enough entries to pass the writer's 1 MiB buffer several times, each header where a flush may fall.
    const odd = [
      { uname: `${'a'.repeat(246)}é` },
      { gname: `${'g'.repeat(214)}é` },
      { pax: {} },
      { mtime: -1 },
      { mtime: 2 ** 33 },
      { mode: 0o7777, uid: 0o777777 + 1 },
      { type: 'directory' as const, size: 5 },
      { name: `${'d'.repeat(120)}/${'n'.repeat(90)}` },
      { linkname: 'l'.repeat(100), type: 'symlink' as const },
    ];
    const headers: TarHeader[] = Array.from({ length: 2600 }, (_, n) => ({ name: `f/${n}`, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime: 1, size: n % 700, ...odd[n % (odd.length + 3)] }));
    const chunks: Buffer[] = [];
    const tar = new TarWriter((b) => void chunks.push(b));
    const want: Buffer[] = [];
    const padOf = (size: number) => Buffer.alloc((512 - (size % 512)) % 512);
    headers.forEach((h, n) => {
      const size = h.type === 'file' ? h.size : 0;
      const body = Buffer.alloc(size, n & 0xff);
      // Three ways in: a header alone and its bytes, an entry with its content, and one read from a file.
      if (n % 3 === 0) {
        tar.header(h);
        tar.write(body);
        tar.endMember(size);
      } else {
        tar.entry(h, h.type === 'file' ? body : undefined);
      }
      want.push(...headerBlocks({ ...h, size }), body, padOf(size));
    });
    const total = tar.finish();
    want.push(Buffer.alloc(1024));
    const got = Buffer.concat(chunks);
    expect(chunks.length).toBeGreaterThan(2);
    expect(total).toBe(got.length);
    expect(got.equals(Buffer.concat(want))).toBe(true);
  });

  it('copies a file from a byte range of another file, and says so when the range is cut short', async () => {
    const src = path.join(dir, 'src.bin');
    const bytes = Buffer.from(Array.from({ length: 3 << 20 }, (_, i) => (i * 7) & 0xff));
    writeFileSync(src, bytes);
    const fd = openSync(src, 'r');
    try {
      const h: TarHeader = { name: 'big', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: bytes.length - 100 };
      const chunks: Buffer[] = [];
      const w = new TarWriter((b) => chunks.push(b));
      w.entryFrom(h, fd, 100);
      w.finish();
      expect(Buffer.concat(chunks).equals(await packed([{ h, body: bytes.subarray(100) }]))).toBe(true);
      expect(() => new TarWriter(() => {}).entryFrom({ ...h, size: bytes.length }, fd, 100)).toThrow(/ends 100 bytes early/);
    } finally {
      closeSync(fd);
    }
  });
});

describe('DockerArchiveWriter', () => {
  const layerEntries = [
    { h: { name: 'etc/', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 5, size: 0 } as TarHeader },
    { h: { name: 'etc/x', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 5, size: 3 } as TarHeader, body: Buffer.from('abc') },
  ];
  const base = `sha256:${'b'.repeat(64)}`;
  const write = (file: string, present: boolean) => {
    const a = new DockerArchiveWriter(file, 7);
    if (present) a.present(base);
    const diffId = a.layer((t) => layerEntries.forEach(({ h, body }) => t.entry(h, body)));
    const config = canonicalConfig({ built: {}, base: {}, diffIds: present ? [base, diffId] : [diffId], steps: [], epoch: 7 });
    a.finish(config);
    return { diffId, config, bytes: readFileSync(file) };
  };

  it('writes a layer into its member, its header naming its diff id and size, and reads back as the image', () => {
    const file = path.join(dir, 'archive.tar');
    const expected = written(layerEntries);
    const one = write(file, false);
    expect(one.diffId).toBe(`sha256:${createHash('sha256').update(expected).digest('hex')}`);
    // The same layers and config give the same bytes.
    expect(write(file, false).bytes.equals(one.bytes)).toBe(true);
    const fd = openSync(file, 'r');
    try {
      const image = readSaved(fd, file).get(one.config.digest)!;
      expect(image.diffIds).toEqual([one.diffId]);
      // The member the manifest names holds the layer written, exactly.
      expect(one.bytes.subarray(image.layers[0]!.start, image.layers[0]!.end).equals(expected)).toBe(true);
    } finally {
      closeSync(fd);
    }
  });

  it('names a layer the engine has in the manifest without a member of its own', () => {
    const file = path.join(dir, 'present.tar');
    const { diffId, bytes } = write(file, true);
    const names: string[] = [];
    const ex = tar.extract();
    ex.on('entry', (h, s, next) => {
      names.push(h.name);
      if (h.name === 'manifest.json') {
        const chunks: Buffer[] = [];
        s.on('data', (c: unknown) => void chunks.push(c as Buffer));
        s.on('end', () => {
          expect((JSON.parse(Buffer.concat(chunks).toString()) as { Layers: string[] }[])[0]!.Layers).toEqual([`${base.slice(7)}/layer.tar`, `${diffId.slice(7)}/layer.tar`]);
          next();
        });
      } else {
        s.resume();
        s.on('end', next);
      }
    });
    return new Promise<void>((resolve, reject) => {
      ex.on('finish', () => {
        expect(names.filter((n) => n.endsWith('layer.tar'))).toEqual([`${diffId.slice(7)}/layer.tar`]);
        resolve();
      });
      ex.on('error', reject);
      ex.end(bytes);
    });
  });
});

describe('DockerArchiveWriter, given one layer twice (found by an adversarial review)', () => {
  it('writes its member once and names it twice in the manifest: two steps that leave the same changes gave two members of one name', () => {
    const file = path.join(dir, 'twice.tar');
    const a = new DockerArchiveWriter(file, 7);
    const entries = [
      { h: { name: 'etc/', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 7, size: 0 } as TarHeader },
      { h: { name: 'etc/x', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 7, size: 3 } as TarHeader, body: Buffer.from('abc') },
    ];
    const same = a.layer((t) => entries.forEach(({ h, body }) => t.entry(h, body)));
    expect(a.layer((t) => entries.forEach(({ h, body }) => t.entry(h, body)))).toBe(same);
    // A layer after the one taken back is written where it would have begun, and reads back whole.
    const other = a.layer((t) => t.entry({ ...entries[1]!.h, name: 'y' }, Buffer.from('y'.repeat(3))));
    const config = canonicalConfig({ built: {}, base: {}, diffIds: [same, same, other], steps: [], epoch: 7 });
    a.finish(config);
    const bytes = readFileSync(file);
    const fd = openSync(file, 'r');
    try {
      const members = [...tarHeaders(fd, 0, bytes.length)].map((h) => h.name);
      expect(members).toEqual([`${same.slice(7)}/layer.tar`, `${other.slice(7)}/layer.tar`, `${config.digest.slice(7)}.json`, 'manifest.json']);
      const image = readSaved(fd, file).get(config.digest)!;
      expect(image.diffIds).toEqual([same, same, other]);
      const [one, two, three] = image.layers.map((l) => bytes.subarray(l.start, l.end));
      expect(createHash('sha256').update(one!).digest('hex')).toBe(same.slice(7));
      expect(two!.equals(one!)).toBe(true);
      expect(createHash('sha256').update(three!).digest('hex')).toBe(other.slice(7));
    } finally {
      closeSync(fd);
    }
  });
});

describe('the context archive (writeTar)', () => {
  it('has the bytes tar-stream gave it: folders made explicit, a mode of 0 written as 644, a large file streamed, a link kept', async () => {
    const root = mkdtempSync(path.join(dir, 'ctx-'));
    const big = Buffer.from(Array.from({ length: (1 << 20) + 777 }, (_, i) => (i * 13) & 0xff));
    writeFileSync(path.join(root, 'big.bin'), big);
    writeFileSync(path.join(root, 'small.txt'), 'hello\n');
    const walked = walkContext(root, DockerIgnore.parse('').ignore);
    if (!walked.ok) throw new Error('walk');
    const files = [
      ...walked.value.map((f) => ({ name: `a/b/${f.path}`, file: f })),
      { name: 'Dockerfile', content: Buffer.from('FROM x\n'), mode: 0 },
      { name: 'a/link', file: { ...walked.value[0]!, type: 'symlink' as const, target: '../x', mode: 0o777, size: 0 } },
    ];
    const chunks: Buffer[] = [];
    await writeTar(files, new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }), new Date(1_000_000_000_000));
    const h = (name: string, type: TarType, mode: number, size = 0, linkname?: string): TarHeader => ({ name, type, mode, uid: 0, gid: 0, mtime: 1_000_000_000, size, ...(linkname ? { linkname } : {}) });
    const expected = await packed([
      { h: h('Dockerfile', 'file', 0o644), body: Buffer.from('FROM x\n') },
      { h: h('a/', 'directory', 0o755) },
      { h: h('a/b/', 'directory', 0o755) },
      { h: h('a/b/big.bin', 'file', 0o644), body: big },
      { h: h('a/b/small.txt', 'file', 0o644), body: Buffer.from('hello\n') },
      { h: h('a/link', 'symlink', 0o777, 0, '../x') },
    ]);
    expect(Buffer.concat(chunks).equals(expected)).toBe(true);
  });
});

const sink = () => new Writable({ write: (_c: Buffer, _e, cb) => cb() });

describe('the context archive: a listed file that changed before it was read', () => {
  for (const [what, big] of [['small', false], ['large (streamed)', true]] as const) {
    it(`a ${what} file replaced by a link is not read through it; one removed is named`, async () => {
      const root = mkdtempSync(path.join(dir, 'ctx-'));
      const secret = path.join(dir, `secret-${big}`);
      writeFileSync(secret, 'secret\n');
      writeFileSync(path.join(root, 'a.txt'), big ? Buffer.alloc((1 << 20) + 1) : 'a\n');
      const walked = walkContext(root, DockerIgnore.parse('').ignore);
      if (!walked.ok) throw new Error('walk');
      rmSync(path.join(root, 'a.txt'));
      symlinkSync(secret, path.join(root, 'a.txt'));
      await expect(writeTar(asEntries(walked.value), sink())).rejects.toThrow(new ArchiveReadError('a.txt', Object.assign(new Error('x'), { code: 'ELOOP' })));
      rmSync(path.join(root, 'a.txt'));
      const gone = writeTar(asEntries(walked.value), sink());
      await expect(gone).rejects.toBeInstanceOf(ArchiveReadError);
      await expect(gone).rejects.toMatchObject({ path: 'a.txt', message: 'a.txt: removed after the context was listed' });
      // A pipe put at its name: refused at once, never waited on.
      expect(spawnSync('mkfifo', [path.join(root, 'a.txt')]).status).toBe(0);
      await expect(writeTar(asEntries(walked.value), sink())).rejects.toMatchObject({ path: 'a.txt', message: 'a.txt: is no longer a regular file' });
    });
  }

  it('a file cut short, or grown past what is read whole, while it is archived: named', async () => {
    const root = mkdtempSync(path.join(dir, 'ctx-'));
    writeFileSync(path.join(root, 'big.bin'), Buffer.alloc((1 << 20) + 10));
    writeFileSync(path.join(root, 'small.txt'), 'a\n');
    const walked = walkContext(root, DockerIgnore.parse('').ignore);
    if (!walked.ok) throw new Error('walk');
    writeFileSync(path.join(root, 'small.txt'), Buffer.alloc((1 << 20) + 1));
    await expect(writeTar(asEntries(walked.value), sink())).rejects.toMatchObject({ path: 'small.txt', message: 'small.txt: grew while it was archived' });
    writeFileSync(path.join(root, 'small.txt'), 'a\n');
    // Cut short after its size was taken: the reader finds fewer bytes than the header said.
    let cut = false;
    const slow = new Writable({
      highWaterMark: 1,
      write: (_c: Buffer, _e, cb) => {
        if (!cut) {
          cut = true;
          writeFileSync(path.join(root, 'big.bin'), Buffer.alloc(100));
        }
        setTimeout(cb, 1);
      },
    });
    await expect(writeTar(asEntries(walked.value), slow)).rejects.toMatchObject({ path: 'big.bin', message: 'big.bin: got shorter while it was archived' });
  });
});

describe('a canonical layer the engine has already', () => {
  const entries: CanonicalEntry[] = [{ path: 'app', type: '5', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0, linkname: '', devmajor: 0, devminor: 0 }];
  const members = (file: string) => {
    const text = readFileSync(file).toString('latin1');
    return { layerFiles: text.match(/[0-9a-f]{64}\/layer\.tar/g)?.length ?? 0, manifest: text.match(/\[\{"Config".*?\}\]/)![0] };
  };
  const base = `sha256:${'c'.repeat(64)}`;
  const digest = layerDigest(entries);

  it("is only named when every layer below it and it itself are the previous image's", () => {
    const file = path.join(dir, 'same.tar');
    const a = new DockerArchiveWriter(file, 0);
    a.present(base);
    expect(addLayer(a, entries, [base], [base, digest])).toBe(digest);
    a.finish(canonicalConfig({ built: {}, base: {}, diffIds: [base, digest], steps: [], epoch: 0 }));
    // Named twice in the manifest, no member of its own.
    expect(members(file).layerFiles).toBe(2);
    expect(members(file).manifest).toContain(digest.slice(7));
  });

  it('is written when a layer below differs, or it does', () => {
    for (const [below, previous] of [
      [[`sha256:${'d'.repeat(64)}`], [base, digest]],
      [[base], [base, `sha256:${'e'.repeat(64)}`]],
      [[base], [base]],
    ] as const) {
      const file = path.join(dir, 'differs.tar');
      const a = new DockerArchiveWriter(file, 0);
      a.present(below[0]);
      expect(addLayer(a, entries, below, previous)).toBe(digest);
      a.finish(canonicalConfig({ built: {}, base: {}, diffIds: [below[0], digest], steps: [], epoch: 0 }));
      // The member, then the manifest naming both layers.
      expect(members(file).layerFiles).toBe(3);
    }
  });
});

describe('the context archive under pressure', () => {
  const files = (n: number, size: number) => {
    const root = mkdtempSync(path.join(dir, 'many-'));
    for (let i = 0; i < n; i++) writeFileSync(path.join(root, `f${String(i).padStart(3, '0')}`), Buffer.alloc(size, i));
    const walked = walkContext(root, DockerIgnore.parse('').ignore);
    if (!walked.ok) throw new Error('walk');
    return walked.value;
  };

  it('waits for a reader that does not keep up: what it holds stays bounded, and it all arrives', async () => {
    const list = files(100, 500_000);
    const out = new PassThrough({ highWaterMark: 1 << 16 });
    let got = 0;
    const done = writeTar(asEntries(list), out);
    // Nothing read yet: the writer must be waiting, not filling memory.
    await new Promise((r) => setTimeout(r, 200));
    expect(out.readableLength + out.writableLength).toBeLessThan(4 << 20);
    out.on('data', (c: Buffer) => void (got += c.length));
    await done;
    await new Promise((r) => setImmediate(r));
    expect(got).toBeGreaterThan(100 * 500_000);
  });

  it('rejects when a file went away after the walk, without an uncaught error', async () => {
    const list = files(3, 10);
    rmSync(list[1]!.abs);
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      const sink = new Writable({ write: (_c, _e, cb) => cb() });
      await expect(writeTar(asEntries(list), sink)).rejects.toThrow(/: removed after the context was listed$/);
      await new Promise((r) => setTimeout(r, 50));
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});

describe('a canonical layer', () => {
  it('keeps a device number six octal digits cannot hold (Linux minors go to 2^20 - 1), as readers see it', async () => {
    const devices: [number, number][] = [[4095, 1_048_575], [8, 262_144], [1, 2 ** 30], [1, 3]];
    const entries: CanonicalEntry[] = devices.map(([devmajor, devminor], i) => ({ path: `dev/d${i}`, type: '3', mode: 0o600, uid: 0, gid: 0, mtime: 0, size: 0, linkname: '', devmajor, devminor }));
    const chunks: Buffer[] = [];
    const tarw = new TarWriter((b) => chunks.push(b));
    writeLayerEntries(entries, tarw);
    tarw.finish();
    const bytes = Buffer.concat(chunks);
    // rep's own reader (as Go's reads), tar-stream, and GNU tar each read the numbers written.
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-dev-'));
    try {
      const file = path.join(dir, 'layer.tar');
      writeFileSync(file, bytes);
      const fd = openSync(file, 'r');
      try {
        expect([...tarHeaders(fd, 0, bytes.length)].map((h) => [h.devmajor, h.devminor])).toEqual(devices);
      } finally {
        closeSync(fd);
      }
      const gnu = spawnSync('tar', ['--numeric-owner', '-tvf', file], { encoding: 'utf8' });
      expect(gnu.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[2])).toEqual(devices.map(([a, b]) => `${a},${b}`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const seen: [number, number][] = [];
    const ex = tar.extract();
    ex.on('entry', (h, s, next) => {
      seen.push([h.devmajor ?? -1, h.devminor ?? -1]);
      s.resume();
      s.on('end', next);
    });
    await new Promise<void>((resolve, reject) => {
      ex.on('finish', resolve);
      ex.on('error', reject);
      ex.end(bytes);
    });
    expect(seen.slice(0, 2)).toEqual(devices.slice(0, 2));
  });

  it('keeps an owner that six octal digits cannot hold (a pax record), as a reader sees it', async () => {
    const chunks: Buffer[] = [];
    const tarw = new TarWriter((b) => chunks.push(b));
    const entry: CanonicalEntry = { path: 'home/u/x', type: '0', mode: 0o600, uid: 1_000_000, gid: 300_000, mtime: 0, size: 0, linkname: '', devmajor: 0, devminor: 0 };
    writeLayerEntries([entry], tarw);
    tarw.finish();
    // tar-stream leaves pax records to its caller; Go's archive/tar (docker) and GNU tar apply them.
    const seen: [number, number][] = [];
    const ex = tar.extract();
    ex.on('entry', (h, s, next) => {
      const pax = h.pax as Record<string, string> | undefined;
      seen.push([Number(pax?.uid ?? h.uid), Number(pax?.gid ?? h.gid)]);
      s.resume();
      s.on('end', next);
    });
    await new Promise<void>((resolve, reject) => {
      ex.on('finish', resolve);
      ex.on('error', reject);
      ex.end(Buffer.concat(chunks));
    });
    expect(seen).toEqual([[1_000_000, 300_000]]);
  });

  it("copies each file's bytes from where they lie, small ones a window at a time, in whatever order and from whichever file", async () => {
    // Two source files; bodies of several sizes (one past a read-ahead window), read out of their order.
    const sizes = [10, 70_000, 512, 1, 3000, 65_536, 65_537, 0, 200];
    const sources = [0, 1].map((n) => {
      const file = path.join(dir, `bodies-${n}.bin`);
      let at = 0;
      const spans = sizes.map((size, i) => {
        const bytes = Buffer.alloc(size, (n * 50 + i * 7 + 1) & 0xff);
        const span = { at, bytes };
        at += size + 37;
        return span;
      });
      writeFileSync(file, Buffer.concat(spans.flatMap((x) => [x.bytes, Buffer.alloc(37, 0xee)])));
      return { fd: openSync(file, 'r'), spans };
    });
    try {
      const order = [8, 2, 0, 1, 5, 3, 6, 4, 7];
      const entries: CanonicalEntry[] = [];
      const want = new Map<string, Buffer>();
      for (const i of order) {
        for (const [n, src] of sources.entries()) {
          const p = `f/${n}-${i}`;
          const span = src.spans[i]!;
          want.set(p, span.bytes);
          entries.push({ path: p, type: '0', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: span.bytes.length, linkname: '', devmajor: 0, devminor: 0, data: { fd: src.fd, offset: span.at } });
        }
      }
      const chunks: Buffer[] = [];
      const tarw = new TarWriter((b) => chunks.push(b));
      writeLayerEntries(entries, tarw);
      tarw.finish();
      const got = new Map<string, Buffer>();
      const ex = tar.extract();
      ex.on('entry', (h, st, next) => {
        const parts: Buffer[] = [];
        st.on('data', (c: unknown) => void parts.push(c as Buffer));
        st.on('end', () => {
          got.set(h.name, Buffer.concat(parts));
          next();
        });
      });
      await new Promise<void>((resolve, reject) => {
        ex.on('finish', resolve);
        ex.on('error', reject);
        ex.end(Buffer.concat(chunks));
      });
      expect([...got.keys()]).toEqual(entries.map((e) => e.path));
      for (const [p, bytes] of want) expect(got.get(p)!.equals(bytes), p).toBe(true);
      // A body that runs past the end of its file: the layer is refused, naming the path.
      const past = { ...entries[0]!, path: 'f/past', size: 100, data: { fd: sources[0]!.fd, offset: sources[0]!.spans[8]!.at + 150 } };
      expect(() => writeLayerEntries([past], new TarWriter(() => undefined))).toThrow(LayerError);
      expect(() => writeLayerEntries([past], new TarWriter(() => undefined))).toThrow(/f\/past/);
      const big = { ...past, size: 70_000 };
      expect(() => writeLayerEntries([big], new TarWriter(() => undefined))).toThrow(LayerError);
    } finally {
      for (const src of sources) closeSync(src.fd);
    }
  });
});

describe('a tar header read back', () => {
  /**
   * The number an octal field holds as Go's archive/tar reads it (parseOctal), the oracle: spaces and NULs
   * trimmed from both ends, the text up to a NUL left inside, octal digits or an error; nothing left is 0.
   */
  const goOctal = (field: Buffer): number | string => {
    const trimmed = field.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
    if (trimmed === '') return 0;
    const text = trimmed.split('\0')[0]!;
    return /^[0-7]+$/.test(text) ? parseInt(text, 8) : 'mode is not a number in a tar header';
  };
  const file = path.join(dir, 'one-header.tar');

  it('reads a numeric field as Go does: blanks and NULs at either end, a NUL inside, other characters, bytes that are not ASCII', () => {
    const bytes = fc.constantFrom(0x30, 0x31, 0x37, 0x38, 0x20, 0x00, 0x09, 0x0a, 0x78, 0xc2, 0xa0, 0xc3, 0xa9, 0x7f);
    fc.assert(
      // A first byte with its high bit set is GNU base-256, read as before (not a text).
      fc.property(fc.array(bytes, { minLength: 8, maxLength: 8 }).filter((f) => f[0]! < 0x80), (field) => {
        const h = headerBlocks({ name: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 })[0]!;
        Buffer.from(field).copy(h, 100);
        // The checksum over the changed header, as a writer would have written it.
        h.fill(0x20, 148, 156);
        let sum = 0;
        for (const b of h) sum += b;
        h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
        writeFileSync(file, Buffer.concat([h, Buffer.alloc(1024)]));
        const fd = openSync(file, 'r');
        let got: number | string;
        try {
          got = [...tarHeaders(fd, 0, 1536)][0]!.mode;
        } catch (e) {
          if (!(e instanceof TarError)) throw e;
          got = e.message;
        } finally {
          closeSync(fd);
        }
        expect(got).toBe(goOctal(Buffer.from(field)));
      }),
      { numRuns: 2000 },
    );
  });

  /** The first entry of a tar of one header whose bytes `edit` changed (the checksum written over them unless `sum` says not), or the TarError's message. */
  const readBack = (edit: (h: Buffer) => void, sum: (h: Buffer, total: number) => void = (h, total) => void h.write(`${total.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')) => {
    const h = headerBlocks({ name: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 })[0]!;
    edit(h);
    h.fill(0x20, 148, 156);
    let total = 0;
    for (const b of h) total += b;
    sum(h, total);
    writeFileSync(file, Buffer.concat([h, Buffer.alloc(1024)]));
    const fd = openSync(file, 'r');
    try {
      return [...tarHeaders(fd, 0, 1536)][0]!;
    } catch (e) {
      if (!(e instanceof TarError)) throw e;
      return e.message;
    } finally {
      closeSync(fd);
    }
  };
  const decoded = (field: Buffer): string | undefined => {
    const nul = field.indexOf(0);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(field.subarray(0, nul < 0 ? field.length : nul));
    } catch {
      return undefined;
    }
  };

  it('checks the checksum as Go reads it: blanks, leading zeros, NULs at either end, other characters, bytes that are not ASCII', () => {
    const noise = fc.constantFrom(0x30, 0x37, 0x38, 0x20, 0x00, 0x09, 0x0a, 0x78, 0xc3, 0xa9, 0xff);
    // The right number written many ways (most of them as writers do), and fields of any bytes.
    const field = (total: number) =>
      fc.oneof(
        fc.tuple(fc.nat(3), fc.nat(3), fc.array(noise, { maxLength: 8 })).map(([blanks, zeros, tail]) => Buffer.concat([Buffer.from(' '.repeat(blanks) + '0'.repeat(zeros) + total.toString(8), 'latin1'), Buffer.from(tail)]).subarray(0, 8)),
        fc.array(noise, { minLength: 8, maxLength: 8 }).map((b) => Buffer.from(b)),
      );
    // The sum does not depend on the field (it counts as blanks): what the header without it sums to.
    const probe = headerBlocks({ name: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 })[0]!;
    probe.fill(0x20, 148, 156);
    const total = probe.reduce((a, b) => a + b, 0);
    fc.assert(
      fc.property(field(total), (f) => {
        const got = readBack(() => {}, (h) => void Buffer.concat([f, Buffer.alloc(8)]).copy(h, 148, 0, 8));
        const want = f[0]! < 0x80 && goOctal(Buffer.concat([f, Buffer.alloc(8)]).subarray(0, 8)) === total ? 'read' : 'bad checksum';
        expect(typeof got === 'string' ? (got.includes('bad checksum') ? 'bad checksum' : got) : 'read').toBe(want);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads a name as UTF-8 up to its first NUL, and refuses one that is not UTF-8', () => {
    const bytes = fc.constantFrom(0x61, 0x2f, 0x2e, 0x00, 0x7f, 0xc3, 0xa9, 0xe6, 0x97, 0xa5, 0xff, 0x80);
    fc.assert(
      fc.property(fc.array(bytes, { minLength: 1, maxLength: 100 }), (name) => {
        const field = Buffer.alloc(100);
        Buffer.from(name).copy(field);
        const got = readBack((h) => field.copy(h, 0));
        const want = decoded(field);
        expect(typeof got === 'string' ? got : got.name).toBe(want ?? 'a name in a tar header is not UTF-8');
      }),
      { numRuns: 2000 },
    );
  });
});
