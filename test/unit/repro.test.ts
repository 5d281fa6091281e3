// The canonical rewrite without an engine: layers made here with tar-stream
// (and by hand, for hostile ones), merged and rewritten; exact bytes and
// digests for small inputs, the same result for the same changes however
// they are split into layers, and each attack on the reader refused.
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import picomatch from 'picomatch';
import tar, { type Header } from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalConfig, DEFAULT_PATH } from '../../src/repro/config.js';
import { DEFAULT_DROP, dropMatcher, engineArtefacts } from '../../src/repro/drop.js';
import { applyBaseLayer, canonicalEntries, layerDigest, Tree, writeLayerEntries } from '../../src/repro/layer.js';
import { TarWriter } from '../../src/repro/tarwriter.js';
import { checkFolders, LayerError, MAX_FOLDERS, mergeLayers, type LayerSource } from '../../src/repro/merge.js';
import { TarError, tarHeaders } from '../../src/repro/tarindex.js';
import { ArchiveError, DockerArchiveWriter, readSaved } from '../../src/repro/archive.js';
import { parseRepfile } from '../../src/repfile/load.js';
import { formatDiagnostic } from '../../src/diag.js';
import { fixChecksum, paxBody, rawEntry, rawTar } from './rawtar.js';
import { canonicalImage } from '../../src/repro/canonical.js';
import type { Engine } from '../../src/engine/engine.js';
import { NoneEngine } from '../../src/engine/none.js';
import type { PlannedStep } from '../../src/plan/plan.js';
import { makeProject, open } from '../helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rep-repro-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fds: number[] = [];
afterAll(() => fds.forEach((fd) => closeSync(fd)));

type Item = Partial<Header> & { name: string; body?: string };

async function tarBytes(items: Item[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((r) => pack.on('end', () => r()));
  for (const { body, ...h } of items) {
    await new Promise<void>((res, rej) => pack.entry({ mtime: new Date(1_700_000_000_000), uname: 'someone', gname: 'staff', mode: 0o644, ...h }, body ?? '', (e) => (e ? rej(e) : res())));
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** A layer held in a file of its own. */
function layerOf(bytes: Buffer): LayerSource {
  const file = path.join(dir, `l${n++}.tar`);
  writeFileSync(file, bytes);
  const fd = openSync(file, 'r');
  fds.push(fd);
  return { fd, start: 0, end: bytes.length };
}
const layer = async (items: Item[]) => layerOf(await tarBytes(items));
const none = () => false;

/** The canonical layer of `steps` on `base`: its tar listing and diff id. */
async function rewrite(base: Item[][], step: Item[][], drop: (p: string) => boolean = none, epoch = 315532800) {
  const tree = new Tree();
  for (const l of base) applyBaseLayer(tree, await layer(l));
  const merged = mergeLayers(await Promise.all(step.map(layer)), drop);
  const entries = canonicalEntries(tree, merged, epoch);
  // The layer as the rewrite writes it into the archive, and its diff id as the rewrite computes it.
  const chunks: Buffer[] = [];
  const out = new TarWriter((b) => chunks.push(b));
  writeLayerEntries(entries, out);
  out.finish();
  const bytes = Buffer.concat(chunks);
  const diffId = layerDigest(entries);
  expect(diffId).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  const listing: string[] = [];
  const ex = tar.extract();
  ex.on('entry', (h, s, next) => {
    listing.push(`${h.type} ${h.name}${h.linkname ? ` -> ${h.linkname}` : ''} ${h.mode?.toString(8)} ${h.uid}:${h.gid} ${h.uname}:${h.gname} ${h.mtime?.toISOString().slice(0, 10)}`);
    s.resume();
    s.on('end', next);
  });
  await new Promise<void>((r) => {
    ex.on('finish', () => r());
    ex.end(bytes);
  });
  return { diffId, listing, tree };
}

const BASE: Item[][] = [[
  { name: './', type: 'directory', mode: 0o755 },
  { name: './etc/', type: 'directory', mode: 0o755 },
  { name: './etc/os-release', body: 'debian\n' },
  { name: './var/', type: 'directory', mode: 0o755 },
  { name: './var/log/', type: 'directory', mode: 0o755 },
  { name: './var/log/dpkg.log', body: 'base\n' },
  { name: './old/', type: 'directory', mode: 0o755 },
  { name: './old/a', body: 'a' },
  { name: './old/b', body: 'b' },
]];

describe('canonical layer', () => {
  it('gives the same bytes however the engine split the step, whatever the times and user names', async () => {
    const one = await rewrite(BASE, [[
      { name: 'app/', type: 'directory', mode: 0o755 },
      { name: 'app/main.py', body: 'print(1)\n' },
      { name: 'etc/', type: 'directory', mode: 0o755 },
      { name: 'etc/app.conf', body: 'x=1\n' },
    ]]);
    const three = await rewrite(BASE, [
      [{ name: 'app/', type: 'directory', mode: 0o755, mtime: new Date(5) }],
      [{ name: 'app/', type: 'directory', mode: 0o755 }, { name: 'app/main.py', body: 'print(0)\n', uname: 'x' }],
      [{ name: 'etc/app.conf', body: 'x=1\n', mtime: new Date(1_800_000_000_000) }, { name: 'app/main.py', body: 'print(1)\n' }],
    ]);
    expect(three.listing).toEqual(one.listing);
    expect(three.diffId).toBe(one.diffId);
    expect(one.listing).toEqual([
      'directory app/ 755 0:0 : 1980-01-01',
      'file app/main.py 644 0:0 : 1980-01-01',
      'directory etc/ 755 0:0 : 1980-01-01',
      'file etc/app.conf 644 0:0 : 1980-01-01',
    ]);
    // Pinned: the format of a canonical layer is part of the image ID a paper cites.
    expect(one.diffId).toBe('sha256:6e77efc13a39bc81ddd013e2d159b8e10e74eda5bab47445f151e9f4f6583bd9');
  });

  it('sets every time to the epoch, earlier ones too (a builder\'s cache may hand back files of an earlier build)', async () => {
    const r = await rewrite(BASE, [[{ name: 'x', body: '', mtime: new Date(1000 * 1000 * 1000) }, { name: 'y', body: '' }]]);
    expect(r.listing).toEqual(['file x 644 0:0 : 1980-01-01', 'file y 644 0:0 : 1980-01-01']);
  });

  it('spells whiteouts one way: an opaque folder and explicit whiteouts give the same layer', async () => {
    const opaque = await rewrite(BASE, [[{ name: 'old/', type: 'directory', mode: 0o700 }, { name: 'old/.wh..wh..opq', body: '' }, { name: 'old/b', body: 'B' }]]);
    const explicit = await rewrite(BASE, [[{ name: 'old/', type: 'directory', mode: 0o700 }, { name: 'old/.wh.a', body: '' }, { name: 'old/b', body: 'B' }]]);
    expect(explicit.diffId).toBe(opaque.diffId);
    expect(opaque.listing).toEqual(['directory old/ 700 0:0 : 1980-01-01', 'file old/.wh.a 0 0:0 : 1980-01-01', 'file old/b 644 0:0 : 1980-01-01']);
  });

  it('whites out the topmost path that is gone, and nothing that was not there', async () => {
    const r = await rewrite(BASE, [[{ name: '.wh.old', body: '' }, { name: 'tmp/.wh.never-there', body: '' }], [{ name: 'new', body: 'n' }], [{ name: '.wh.new', body: '' }]]);
    expect(r.listing).toEqual(['file .wh.old 0 0:0 : 1980-01-01']);
    expect([...r.tree.keys()].sort()).toEqual(['etc', 'etc/os-release', 'var', 'var/log', 'var/log/dpkg.log']);
  });

  it('keeps a mode of 0 (a shadow file) as 0', async () => {
    const r = await rewrite(BASE, [[{ name: 'etc/shadow', body: 'root:*:', mode: 0o100000 }]]);
    expect(r.listing).toEqual(['directory etc/ 755 0:0 : 1980-01-01', 'file etc/shadow 0 0:0 : 1980-01-01']);
  });

  it('holds every folder it writes into, as it is below: an engine makes a missing one 755 (a sticky /tmp lost its 1777)', async () => {
    const base: Item[][] = [[{ name: './', type: 'directory', mode: 0o755 }, { name: './tmp/', type: 'directory', mode: 0o1777 }]];
    // The engine listed tmp/ (as classic and BuildKit do), or did not: the same layer.
    const listed = await rewrite(base, [[{ name: 'tmp/', type: 'directory', mode: 0o1777 }, { name: 'tmp/x', body: 'x' }]]);
    const unlisted = await rewrite(base, [[{ name: 'tmp/x', body: 'x' }]]);
    expect(listed.listing).toEqual(['directory tmp/ 1777 0:0 : 1980-01-01', 'file tmp/x 644 0:0 : 1980-01-01']);
    expect(unlisted.diffId).toBe(listed.diffId);
  });

  it('leaves out a folder that is there below as it is, and keeps one whose mode changed', async () => {
    const r = await rewrite(BASE, [[{ name: 'etc/', type: 'directory', mode: 0o755 }, { name: 'var/', type: 'directory', mode: 0o775 }]]);
    expect(r.listing).toEqual(['directory var/ 775 0:0 : 1980-01-01']);
  });

  it('drops the files of the drop list from the steps\' layers, never from the base', async () => {
    const drop = dropMatcher(DEFAULT_DROP);
    const r = await rewrite(BASE, [[{ name: 'var/log/dpkg.log', body: 'base\nnow\n' }, { name: 'var/lib/apt/lists/deb.debian.org_Release', body: 'r' }, { name: 'var/log/apt/', type: 'directory' }, { name: 'var/log/apt/term.log', body: 't' }, { name: 'usr/bin/x', body: 'x' }]], drop);
    expect(r.listing.map((l) => l.split(' ')[1])).toEqual(['usr/bin/x']);
    expect(r.tree.has('var/log/dpkg.log')).toBe(true);
  });

  it('drops a path when it or a folder above it matches, whatever order paths are asked in', () => {
    // The matcher keeps each folder's answer: it must say what trying every prefix says.
    const oracle = (patterns: string[]) => {
      const match = picomatch(patterns, { dot: true });
      return (p: string) => {
        const parts = p.split('/');
        return parts.some((_, n) => parts.slice(0, n + 1).join('') !== '' && match(parts.slice(0, n + 1).join('/')));
      };
    };
    const segment = fc.constantFrom('var', 'log', 'apt', 'a', 'b.log', '.x', 'lists', '(a)');
    const pathArb = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => s.join('/'));
    // '(a)' names itself, which its expression does not match: picomatch answers it by the text.
    const patternArb = fc.array(fc.constantFrom('var/log/apt/**', 'var/log/*.log', '**/b.log', 'a', 'var/*/lists', '.x/**', 'log', '(a)', 'var/(a)'), { minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(patternArb, fc.array(pathArb, { maxLength: 40 }), (patterns, paths) => {
        const drop = dropMatcher(patterns);
        const want = oracle(patterns);
        for (const p of paths) expect(drop(p), `${p} with ${patterns.join(' ')}`).toBe(want(p));
      }),
    );
    // A deep path first, then the folders above it, and the other way round.
    const deep = 'var/log/apt/x/y/z';
    const drop = dropMatcher(['var/log/apt']);
    expect([deep, 'var/log/apt', 'var/log', 'var'].map(drop)).toEqual([true, true, false, false]);
    const again = dropMatcher(['var/log/apt']);
    expect(['var', 'var/log', 'var/log/apt', deep, 'var/log/aptx/y'].map(again)).toEqual([false, false, true, true, false]);
    // The image's root (a layer's "./") is no path a pattern names, not even "**".
    expect(dropMatcher(['**'])('')).toBe(false);
    // A path tens of thousands of folders deep is answered without running out of stack.
    expect(dropMatcher(['q/**'])(Array.from({ length: 50000 }, () => 'd').join('/'))).toBe(false);
  });

  it('matches a path a step made without backtracking: V8 would take years for eight stars on a long name', () => {
    const drop = dropMatcher(['*a*a*a*a*a*a*a*a*b', '**/a/**/a/**/a/**/a/**/a/b']);
    expect(drop('a'.repeat(250))).toBe(false);
    expect(drop(`${'a'.repeat(250)}b`)).toBe(true);
    expect(drop(`${Array.from({ length: 2000 }, () => 'a').join('/')}/c`)).toBe(false);
  }, 30_000);

  it('keeps a name the drop list keeps that links to a file it drops, as a file with those bytes', async () => {
    const drop = dropMatcher(DEFAULT_DROP);
    // `RUN ln /var/lib/apt/lists/pkgs /var/lib/pkgs-snapshot`: the engine writes the list as the file and the copy as its link.
    const r = await rewrite(BASE, [[{ name: 'var/lib/apt/lists/pkgs', body: 'P' }, { name: 'var/lib/pkgs-snapshot', type: 'link', linkname: 'var/lib/apt/lists/pkgs' }]], drop);
    expect(r.listing.filter((l) => l.includes('pkgs'))).toEqual(['file var/lib/pkgs-snapshot 644 0:0 : 1980-01-01']);
    // Both names dropped: nothing of them is left.
    const both = await rewrite(BASE, [[{ name: 'var/lib/apt/lists/a', body: 'A' }, { name: 'var/lib/apt/lists/b', type: 'link', linkname: 'var/lib/apt/lists/a' }]], drop);
    expect(both.listing.filter((l) => l.includes('lists/'))).toEqual([]);
  });

  it('makes the first name of a hard-link group the file, whatever the engine chose', async () => {
    const r = await rewrite(BASE, [[{ name: 'usr/bin/perl5.36', body: '#!perl' }, { name: 'usr/bin/perl', type: 'link', linkname: 'usr/bin/perl5.36' }]]);
    expect(r.listing).toEqual(['file usr/bin/perl 644 0:0 : 1980-01-01', 'link usr/bin/perl5.36 -> usr/bin/perl 644 0:0 : 1980-01-01']);
  });

  it('leaves out the mount points an engine makes when the base lacks them, and keeps them with content', () => {
    const e = (type: string, size = 0) => ({ type, size });
    expect(engineArtefacts(new Map([['dev', e('5')], ['etc', e('5')], ['etc/hosts', e('0')], ['proc', e('5')], ['run', e('5')], ['run/app.pid', e('0', 3)]]), new Map()).sort()).toEqual(['dev', 'etc', 'etc/hosts', 'proc']);
    expect(engineArtefacts(new Map([['etc/hosts', e('0', 9)]]), new Map())).toEqual([]);
    expect(engineArtefacts(new Map([['etc/hosts', e('0')]]), new Map([['etc/hosts', undefined]]))).toEqual([]);
    // docker's /etc/mtab link is its own; a link the step made (to anywhere else, or at another name) is the step's.
    const link = (linkname: string) => ({ type: '2', size: 0, linkname });
    expect(engineArtefacts(new Map([['etc/mtab', link('/proc/mounts')]]), new Map())).toEqual(['etc/mtab']);
    expect(engineArtefacts(new Map([['etc/mtab', link('/etc/shadow')], ['etc/resolv.conf', link('/run/systemd/resolve/stub-resolv.conf')], ['etc/hosts', link('/proc/mounts')]]), new Map())).toEqual([]);
  });
});

describe('hostile layers', () => {
  const refused = async (items: Item[] | Buffer, why: RegExp | string) => {
    const l = Buffer.isBuffer(items) ? layerOf(items) : await layer(items);
    expect(() => mergeLayers([l], none)).toThrow(LayerError);
    expect(() => mergeLayers([l], none)).toThrow(why);
  };

  it('refuses a name with ".." and keeps an absolute one inside the image', async () => {
    await refused([{ name: '../etc/passwd', body: 'x' }], /outside the image/);
    await refused([{ name: 'a/../../b', body: 'x' }], /outside the image/);
    const m = mergeLayers([await layer([{ name: '/etc/x', body: 'x' }, { name: '//./etc/y', body: 'y' }])], none);
    expect([...m.entries.keys()]).toEqual(['etc/x', 'etc/y']);
  });

  it('refuses a whiteout of no name, of "." or "..", and an opaque root: a step made a file of that name (found by an adversarial review)', async () => {
    // `RUN touch /.wh.` was read as a whiteout of the root: the step's /data, made by an earlier layer, was lost.
    const l = [await layer([{ name: 'data/', type: 'directory' }, { name: 'data/x', body: 'x' }]), await layer([{ name: '.wh.', body: '' }])];
    expect(() => mergeLayers(l, none)).toThrow(LayerError);
    expect(() => mergeLayers(l, none)).toThrow('the layer entry ".wh." is a whiteout of "", which names no file: a step created a file whose name image layers cannot represent');
    await refused([{ name: './.wh.', body: '' }], /^the layer entry "\.wh\." is a whiteout of ""/);
    await refused([{ name: 'd/.wh.', body: '' }], 'the layer entry "d/.wh." is a whiteout of "", which names no file');
    await refused([{ name: 'd/.wh..', body: '' }], 'the layer entry "d/.wh.." is a whiteout of ".", which names no file');
    await refused([{ name: '/.wh...', body: '' }], 'the layer entry ".wh..." is a whiteout of "..", which names no file');
    await refused([{ name: 'data/x', body: 'x' }, { name: '.wh..wh..opq', body: '' }], 'the layer entry ".wh..wh..opq" marks the root folder opaque: a step created a file whose name image layers cannot represent');
    // A base image's layer is read the same way.
    expect(() => applyBaseLayer(new Tree(), l[1]!)).toThrow(/^the layer entry "\.wh\." is a whiteout of ""/);
    // Whiteouts of names, and an opaque folder, are as before.
    const m = mergeLayers([l[0]!, await layer([{ name: 'data/.wh..wh..opq', body: '' }, { name: '.wh.old', body: '' }, { name: 'd/.wh...x', body: '' }])], none);
    expect([[...m.entries.keys()], [...m.hideSelf], [...m.hideBelow]]).toEqual([['data'], ['old', 'd/..x'], ['data/x', 'data', 'old', 'd/..x']]);
  });

  it('refuses a hard link out of the image or to nothing in its layer', async () => {
    await refused([{ name: 'x', type: 'link', linkname: '../../etc/shadow' }], /outside the image/);
    await refused([{ name: 'x', type: 'link', linkname: 'etc/os-release' }], /does not hold as a file/);
  });

  it('refuses a hard link to a folder, of its own layer or an earlier one of the step (link(2) refuses one)', async () => {
    await refused([{ name: 'd/', type: 'directory' }, { name: 'x', type: 'link', linkname: 'd' }], /the hard link "x" points to "d", which its layer does not hold as a file, symlink, fifo or device/);
    const l = [await layer([{ name: 'd/', type: 'directory' }]), await layer([{ name: 'x', type: 'link', linkname: 'd/' }])];
    expect(() => mergeLayers(l, none)).toThrow(/points to "d", which its layer does not hold/);
  });

  it('bounds pax headers, entries and sizes', async () => {
    await refused([{ name: 'x', body: 'x', pax: { comment: 'y'.repeat(2 << 20) } } as Item], /pax header of \d+ bytes/);
    const ok = await tarBytes([{ name: 'x', body: 'hello' }]);
    // A size that runs past the end of the layer.
    const big = Buffer.from(ok);
    big.write('77777777777', 124, 'ascii');
    fixChecksum(big);
    await refused(big, /past the end/);
    const bad = Buffer.from(ok);
    bad[0] = 0x41;
    await refused(bad, /bad checksum/);
    const notUtf8 = Buffer.from(ok);
    notUtf8[0] = 0xff;
    fixChecksum(notUtf8);
    await refused(notUtf8, /not UTF-8/);
    const many = await layer(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, body: '' })));
    expect(() => mergeLayers([many], none, { maxEntries: 10, maxMeta: 1 << 20 })).toThrow(/more than 10 entries/);
  });

  it('reads every header of a layer of many entries, in a range of a larger file, as tar-stream reads them', async () => {
    // Small files, a file larger than the read-ahead window, a long name (pax) and links: headers on both sides of window edges.
    const items: Item[] = [];
    for (let i = 0; i < 300; i++) items.push({ name: `d${i % 7}/f${i}.txt`, body: 'x'.repeat((i * 37) % 1500) });
    items.push({ name: 'big.bin', body: Buffer.alloc(200_000, 1) as unknown as string });
    items.push({ name: `long/${'n'.repeat(150)}`, body: 'long' });
    items.push({ name: 'ln', type: 'symlink', linkname: 'big.bin' });
    for (let i = 0; i < 100; i++) items.push({ name: `after/g${i}`, body: 'y'.repeat(i * 11) });
    const bytes = await tarBytes(items);
    const expected: { name: string; size: number; body: string }[] = [];
    const ex = tar.extract();
    ex.on('entry', (h: Header, s, next) => {
      const parts: Buffer[] = [];
      s.on('data', (c: unknown) => void parts.push(c as Buffer));
      s.on('end', () => {
        expected.push({ name: h.name, size: h.size ?? 0, body: createHash('sha256').update(Buffer.concat(parts)).digest('hex') });
        next();
      });
    });
    await new Promise<void>((res, rej) => {
      ex.on('finish', res).on('error', rej);
      ex.end(bytes);
    });
    // The layer lies 1000 bytes into a file, with other bytes after it.
    const l = layerOf(Buffer.concat([Buffer.alloc(1000, 9), bytes, Buffer.alloc(3000, 7)]));
    const got = [...tarHeaders(l.fd, 1000, 1000 + bytes.length)].map((h) => {
      const body = Buffer.alloc(h.size);
      readSync(l.fd, body, 0, h.size, h.offset);
      return { name: h.name, size: h.size, body: createHash('sha256').update(body).digest('hex') };
    });
    expect(got).toEqual(expected);
    expect(got).toHaveLength(403);
    // Cut short inside the last window: refused, never read past the range.
    expect(() => [...tarHeaders(l.fd, 1000, 1000 + bytes.length - 2000)]).toThrow(/past the end/);
    // A range said to go on past the end of the file: refused where the file ends.
    const cut = layerOf(bytes.subarray(0, 70_000));
    expect(() => [...tarHeaders(cut.fd, 0, bytes.length)]).toThrow(/the file ends inside a tar entry|past the end/);
    expect(() => [...tarHeaders(cut.fd, 0, bytes.length)]).toThrow(TarError);
  });

  it('refuses device-less oddities: a tar type an image layer does not hold', async () => {
    const t = await tarBytes([{ name: 'x', body: 'x' }]);
    t[156] = 'Z'.charCodeAt(0);
    fixChecksum(t);
    await refused(t, /type "Z"/);
  });
});

const headerNames = (b: Buffer) => {
  const l = layerOf(b);
  return [...tarHeaders(l.fd, l.start, l.end)].map((h) => `${h.type} ${h.name}`);
};

describe('tar spellings that readers answer differently', () => {
  it('are refused: two pax headers or long names, an empty long name, pax beside GNU, a global header, star', () => {
    const file = rawEntry({ name: 'etc/secret', type: '0', body: 'x' });
    const cases: [Buffer, RegExp][] = [
      // Go drops an entry's pending pax header or long name at a global header; rep named the entry with it.
      [rawTar(rawEntry({ name: 'PaxHeaders/a', type: 'x', body: paxBody('path', 'decoy') }), rawEntry({ name: 'g', type: 'g', body: paxBody('comment', 'c') }), file), /type "g"/],
      [rawTar(rawEntry({ name: '././@LongLink', type: 'L', body: 'decoy' }), rawEntry({ name: 'g', type: 'g', body: paxBody('comment', 'c') }), file), /type "g"/],
      // A global header on its own too: docker applies one named ".wh.x" as the removal of x, and one named
      // "etc/passwd" as the removal of what is there (then passes it over as no file).
      [rawTar(rawEntry({ name: 'etc/.wh.passwd', type: 'g', body: paxBody('comment', 'c') }), file), /type "g"/],
      [rawTar(rawEntry({ name: 'etc/passwd', type: 'g', body: paxBody('comment', 'c') }), file), /type "g"/],
      [rawTar(rawEntry({ name: 'PaxHeaders/a', type: 'x', body: paxBody('path', 'decoy') }), rawEntry({ name: '././@LongLink', type: 'L', body: 'etc/secret' }), file), /both by a pax header and by a GNU long name/],
      [rawTar(rawEntry({ name: 'PaxHeaders/a', type: 'x', body: paxBody('path', 'a') }), rawEntry({ name: 'PaxHeaders/b', type: 'x', body: paxBody('mtime', '1') }), file), /two pax headers/],
      [rawTar(rawEntry({ name: '././@LongLink', type: 'L', body: 'a' }), rawEntry({ name: '././@LongLink', type: 'L', body: 'b' }), file), /two long names/],
      [rawTar(rawEntry({ name: '././@LongLink', type: 'L', body: '' }), file), /long name that is empty/],
      [rawTar(rawEntry({ name: 'x', type: '0', body: 'x', trailer: 'tar\0' })), /star format/],
    ];
    for (const [bytes, why] of cases) {
      expect(() => headerNames(bytes)).toThrow(TarError);
      expect(() => headerNames(bytes)).toThrow(why);
    }
    // Spelled once, as tools write them, they are read.
    expect(headerNames(rawTar(rawEntry({ name: 'PaxHeaders/a', type: 'x', body: paxBody('path', 'long/name') }), file))).toEqual(['0 long/name']);
    expect(headerNames(rawTar(rawEntry({ name: '././@LongLink', type: 'L', body: 'gnu/name' }), rawEntry({ name: 'x', type: '0', body: 'x', magic: 'ustar  \0' })))).toEqual(['0 gnu/name']);
  });

  it('give a header-only entry no body, whatever its size field or a pax size says, as Go does', () => {
    const file = rawEntry({ name: 'etc/secret', type: '0', body: 'x' });
    // Go reads no body after a folder, link, device or fifo: the next header is its own entry (rep used to
    // skip the claimed bytes, and lost it). Go's writer leaves a hard link's size as it was given.
    for (const type of ['1', '2', '3', '4', '5', '6']) {
      expect(headerNames(rawTar(rawEntry({ name: `e${type}`, type, size: 512 }), file))).toEqual([`${type} e${type}`, '0 etc/secret']);
    }
    expect(headerNames(rawTar(rawEntry({ name: 'PaxHeaders/l', type: 'x', body: paxBody('size', '512') }), rawEntry({ name: 'l', type: '1' }), file))).toEqual(['1 l', '0 etc/secret']);
    expect(headerNames(rawTar(rawEntry({ name: 'old/', type: '\0', size: 512 }), file))).toEqual(['5 old/', '0 etc/secret']);
    const l = layerOf(rawTar(rawEntry({ name: 'd', type: '5', size: 1 << 30 }), file));
    expect([...tarHeaders(l.fd, l.start, l.end)].map((h) => h.size)).toEqual([0, 1]);
  });

  it('are read as Go reads them: the prefix field of a POSIX header alone, an old regular entry named "d/" as a folder', () => {
    expect(headerNames(rawTar(rawEntry({ name: 'f', type: '0', prefix: 'usr/share', body: 'x' })))).toEqual(['0 usr/share/f']);
    // Go takes the prefix wherever the magic is "ustar\0", whatever the version field holds.
    expect(headerNames(rawTar(rawEntry({ name: 'f', type: '0', prefix: 'usr', magic: 'ustar\x0001', body: 'x' })))).toEqual(['0 usr/f']);
    expect(headerNames(rawTar(rawEntry({ name: 'f', type: '0', prefix: 'usr', magic: 'ustar\0\0\0', body: 'x' })))).toEqual(['0 usr/f']);
    expect(() => headerNames(rawTar(rawEntry({ name: 'f', type: '0', body: 'x', magic: 'ustar\x0001', trailer: 'tar\0' })))).toThrow(/star format/);
    // "ustarX" is no POSIX header: its prefix field is not part of the name.
    expect(headerNames(rawTar(rawEntry({ name: 'f', type: '0', prefix: 'hidden', magic: 'ustarX00', body: 'x' })))).toEqual(['0 f']);
    // Nor is GNU's "ustar  ": there the field holds times. Go reads them where they are octal, and takes
    // text that is not (what writers before Go 1.8 left) as the name's prefix: rep refuses that.
    expect(headerNames(rawTar(rawEntry({ name: 'f', type: '0', prefix: '00000000001\0' + '00000000002', magic: 'ustar  \0', body: 'x' })))).toEqual(['0 f']);
    expect(() => headerNames(rawTar(rawEntry({ name: 'f', type: '0', prefix: 'hidden', magic: 'ustar  \0', body: 'x' })))).toThrow(/name prefix where its times are/);
    expect(() => headerNames(rawTar(rawEntry({ name: 'f', type: '0', prefix: '0'.repeat(12) + 'usr', magic: 'ustar  \0', body: 'x' })))).toThrow(/name prefix where its times are/);
    expect(headerNames(rawTar(rawEntry({ name: 'd/', type: '\0' }), rawEntry({ name: 'plain', type: '\0', body: 'x' })))).toEqual(['5 d/', '0 plain']);
  });
});

/** `raw` with the bytes at `at` replaced by `text`, its checksum written again. */
const patched = (raw: Buffer, at: number, text: string | Buffer) => {
  const b = Buffer.from(raw);
  (typeof text === 'string' ? Buffer.from(text, 'latin1') : text).copy(b, at);
  fixChecksum(b);
  return b;
};

describe('tar headers read as Go reads them (docker and podman apply layers with Go\'s archive/tar)', () => {
  const file = rawEntry({ name: 'etc/secret', type: '0', body: 'x' });
  const sizes = (b: Buffer) => {
    const l = layerOf(b);
    return [...tarHeaders(l.fd, l.start, l.end)].map((h) => `${h.name} ${h.size} ${h.mode.toString(8)} ${h.uid}`);
  };

  it('trims NULs as well as spaces from both ends of a number, and stops at a NUL inside', () => {
    // A size field "\0" + "0000000001": Go reads 1 (a body of one block follows); rep read 0 and took the
    // body for the next header, or, with a crafted body, for an entry the engine never applies.
    const body = rawEntry({ name: 'a', type: '0', body: 'x' });
    expect(sizes(rawTar(patched(body, 124, '\x0000000000001'), file))).toEqual(['a 1 644 0', 'etc/secret 1 644 0']);
    expect(sizes(rawTar(patched(body, 124, '\0 \0 0001\0 \0'), file))).toEqual(['a 1 644 0', 'etc/secret 1 644 0']);
    expect(sizes(rawTar(patched(body, 124, '01\0garbage\0'), file))).toEqual(['a 1 644 0', 'etc/secret 1 644 0']);
    expect(sizes(rawTar(patched(body, 100, '\0\0\x30755\0\0'), file))).toEqual(['a 1 755 0', 'etc/secret 1 644 0']);
    expect(sizes(rawTar(patched(body, 108, '\x00001750'), file))).toEqual(['a 1 644 1000', 'etc/secret 1 644 0']);
    // What Go refuses: a blank inside the digits, another blank than a space, a digit that is not octal.
    for (const field of ['0 1\0', '\t01\0', '08\0', '1 \0 1']) {
      expect(() => sizes(rawTar(patched(body, 124, field.padEnd(12, '\0')), file))).toThrow(/size is not a number/);
    }
    // Go parses a device number in every ustar or GNU header, and refuses a header where it is no number.
    expect(() => sizes(rawTar(patched(body, 329, 'x\0'), file))).toThrow(/devmajor is not a number/);
    expect(() => sizes(rawTar(patched(body, 124, Buffer.from([0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])), file))).toThrow(/negative size/);
  });

  it('keeps a byte order mark at the start of a name: "\\uFEFFetc/passwd" is not etc/passwd to the engine', () => {
    const l = layerOf(rawTar(rawEntry({ name: '\uFEFFetc/passwd', type: '0', body: 'x' }), rawEntry({ name: 'PaxHeaders/a', type: 'x', body: paxBody('path', '\uFEFFp') }), file));
    expect([...tarHeaders(l.fd, l.start, l.end)].map((h) => h.name)).toEqual(['\uFEFFetc/passwd', '\uFEFFp']);
  });

  it('keeps the header\'s own field where a pax record is empty, and refuses pax records Go refuses', () => {
    const pax = (...records: string[]) => rawEntry({ name: 'PaxHeaders/a', type: 'x', body: records.join('') });
    const a = rawEntry({ name: 'a', type: '0', body: 'x' });
    // Empty values leave the header's: a size the engine reads as 1 and rep read as 0, a name rep read as "".
    expect(sizes(rawTar(pax(paxBody('size', '')), a, file))).toEqual(['a 1 644 0', 'etc/secret 1 644 0']);
    expect(sizes(rawTar(pax(paxBody('path', ''), paxBody('uid', '')), a, file))).toEqual(['a 1 644 0', 'etc/secret 1 644 0']);
    // A later record replaces an earlier one, an empty one too.
    expect(sizes(rawTar(pax(paxBody('path', 'decoy'), paxBody('path', '')), a, file))).toEqual(['a 1 644 0', 'etc/secret 1 644 0']);
    expect(sizes(rawTar(pax(paxBody('path', 'b'), paxBody('uid', '7'), paxBody('mtime', '1.5')), a, file))).toEqual(['b 1 644 7', 'etc/secret 1 644 0']);
    const cases: [Buffer, RegExp][] = [
      // rep read "a\0b" as "a"; Go refuses a NUL in a path, and in a number.
      [pax(paxBody('path', 'a\0b')), /NUL/],
      [pax(paxBody('size', '1\0x')), /NUL/],
      // Go's ParseInt, not JavaScript's Number: no hex, exponent or blank.
      [pax(paxBody('size', '0x1')), /pax size is not a whole number/],
      [pax(paxBody('uid', '1e3')), /pax uid is not a whole number/],
      [pax(paxBody('mtime', '1.x')), /pax mtime is not a time/],
      [pax(paxBody('atime', 'soon')), /pax atime is not a time/],
      // Records that are not "LEN key=value\n" from end to end.
      [pax(paxBody('comment', 'x'), 'trailing'), /malformed pax record/],
      [pax('9 path=a\0'), /malformed pax record/],
      [pax('8 =abcd\n'), /malformed pax record/],
      [pax('3 a=\n'), /malformed pax record/],
      [pax('0x8 a=bc\n'), /malformed pax record/],
      // GNU's sparse records rename and resize an entry in Go (GNU.sparse.name): refused.
      [pax(paxBody('GNU.sparse.major', '1'), paxBody('GNU.sparse.minor', '0'), paxBody('GNU.sparse.name', 'etc/passwd')), /sparse/],
    ];
    for (const [meta, why] of cases) {
      expect(() => sizes(rawTar(meta, a, file))).toThrow(TarError);
      expect(() => sizes(rawTar(meta, a, file))).toThrow(why);
    }
  });

  it('refuses the entry types docker and podman do not apply as files, and tars Go would not finish reading', () => {
    for (const type of ['S', '7', 'M', 'V', 'D', 'g']) {
      expect(() => sizes(rawTar(rawEntry({ name: 'a', type, body: 'x' }), file))).toThrow(/a tar entry of type/);
    }
    // Go refuses a zero block that an entry follows (rep stopped there, and missed the entry), and a
    // header cut short; an archive with no end blocks at all it reads to its end.
    expect(() => sizes(Buffer.concat([Buffer.alloc(512), file, Buffer.alloc(1024)]))).toThrow(/empty block between/);
    expect(() => sizes(Buffer.concat([file, file.subarray(0, 100)]))).toThrow(/ends inside a header/);
    expect(() => sizes(Buffer.concat([file, Buffer.alloc(512), Buffer.alloc(100)]))).toThrow(/ends inside a header/);
    expect(sizes(Buffer.concat([file, Buffer.alloc(512)]))).toEqual(['etc/secret 1 644 0']);
    expect(sizes(Buffer.concat([file, file]))).toEqual(['etc/secret 1 644 0', 'etc/secret 1 644 0']);
    // A checksum Go takes: the header's bytes summed as signed.
    const signed = rawEntry({ name: 'é', type: '0', body: 'x' });
    signed.fill(0x20, 148, 156);
    const sum = [...signed.subarray(0, 512)].reduce((t, c) => t + (c >= 0x80 ? c - 256 : c), 0);
    signed.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    expect(sizes(rawTar(signed))).toEqual(['é 1 644 0']);
  });
});

describe('canonical config', () => {
  const base = { architecture: 'amd64', os: 'linux', config: { Cmd: ['bash'] }, created: '2026-11-27T17:01:58Z', history: [{ created: '2026-11-27T17:01:58Z', comment: 'Imported from -' }], rootfs: { type: 'layers', diff_ids: ['sha256:aa'] } };
  const built = {
    architecture: 'amd64',
    os: 'linux',
    container: 'abc123',
    docker_version: '20.10.24',
    created: '2026-11-27T19:00:00Z',
    config: { Hostname: 'abc123', Cmd: ['python3', 'app.py'], Env: ['NAME=World'], Labels: { 'io.buildah.version': '1.28.2', title: 'hello' }, ExposedPorts: { '80/tcp': {} }, WorkingDir: '/app', User: '', Volumes: null, Image: 'sha256:ff' },
  };
  const input = { built, base, diffIds: ['sha256:aa', 'sha256:bb'], steps: [{ createdBy: 'rep step system', key: 'sha256:11', layer: true }, { createdBy: 'rep step app', key: 'sha256:22', layer: false }], epoch: 315532800 };

  it('keeps what a container runs, drops what only one engine or host writes, and times everything at the epoch', () => {
    const { bytes, digest } = canonicalConfig(input);
    const text = bytes.toString();
    expect(JSON.parse(text)).toEqual({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['python3', 'app.py'], Env: [DEFAULT_PATH, 'NAME=World'], ExposedPorts: { '80/tcp': {} }, Labels: { title: 'hello' }, WorkingDir: '/app' },
      created: '1980-01-01T00:00:00Z',
      history: [
        { created: '2026-11-27T17:01:58Z', comment: 'Imported from -' },
        { created: '1980-01-01T00:00:00Z', created_by: 'rep step system', comment: 'rep key sha256:11' },
        { created: '1980-01-01T00:00:00Z', created_by: 'rep step app', comment: 'rep key sha256:22', empty_layer: true },
      ],
      rootfs: { type: 'layers', diff_ids: ['sha256:aa', 'sha256:bb'] },
    });
    expect(text).not.toMatch(/abc123|docker_version|Hostname|"Image"/);
    expect(digest).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    expect(digest).toBe('sha256:1fb68afbeef8e734dffb38b84559c308c4cc167577f0ea7978c30b4d213d85f8');
  });

  it('gives the same bytes whatever order the engine wrote its fields in', () => {
    const shuffled = { ...input, built: JSON.parse(JSON.stringify({ config: built.config, os: 'linux', architecture: 'amd64' })) };
    expect(canonicalConfig(shuffled).digest).toBe(canonicalConfig(input).digest);
  });
});

describe('docker archive', () => {
  it('writes the same bytes every time, and reads back as the image it holds', async () => {
    const l = await layer([{ name: 'x', body: 'x' }]);
    const diffId = `sha256:${createHash('sha256').update(readFileSync(path.join(dir, `l${n - 1}.tar`))).digest('hex')}`;
    const config = canonicalConfig({ built: {}, base: {}, diffIds: [diffId], steps: [], epoch: 0 });
    const a = path.join(dir, 'a.tar');
    const b = path.join(dir, 'b.tar');
    for (const file of [a, b]) {
      // A layer copied as it is (podman's base layers, from the archive it saved).
      const w = new DockerArchiveWriter(file, 0);
      w.copy(diffId, l);
      w.finish(config);
    }
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    const fd = openSync(a, 'r');
    fds.push(fd);
    const images = readSaved(fd, a);
    expect([...images.keys()]).toEqual([config.digest]);
    expect(images.get(config.digest)!.diffIds).toEqual([diffId]);
  });

  it('refuses JSON nested deeper than a config ever is (written again canonically, it overflowed the stack)', async () => {
    for (const [depth, refused] of [[100, false], [10_000, true]] as const) {
      const file = path.join(dir, `deep${depth}.tar`);
      writeFileSync(file, await tarBytes([{ name: 'manifest.json', body: `${'['.repeat(depth)}${']'.repeat(depth)}` }]));
      const fd = openSync(file, 'r');
      fds.push(fd);
      // 100 deep is JSON rep reads (and finds no image in); 10,000 deep is refused as such.
      expect(() => readSaved(fd, file)).toThrow(refused ? /"manifest.json" in the engine's saved image nests more than 100 deep/ : /an entry of the saved manifest.json/);
    }
  });

  it('refuses a number JSON.parse makes infinite (a base image config with 1e999 stopped the build with a stack trace; found by an adversarial review)', async () => {
    const file = path.join(dir, 'huge.tar');
    writeFileSync(file, await tarBytes([{ name: 'manifest.json', body: '[{"Config":"c.json","Layers":[],"x":1e999}]' }]));
    const fd = openSync(file, 'r');
    fds.push(fd);
    expect(() => readSaved(fd, file)).toThrow(ArchiveError);
    expect(() => readSaved(fd, file)).toThrow('"manifest.json" in the engine\'s saved image holds a number too large for JSON');
  });
});

describe('the Repfile says', () => {
  const doc = (extra: string) => `rep: 1\nname: demo\nbase: busybox:latest\nsteps:\n  a:\n    run: echo hi\n${extra}`;
  it('reproducible images by default, at 1980-01-01, with no drop patterns of its own', () => {
    const r = parseRepfile(doc(''), { file: 'Repfile' });
    expect(r.ok && r.value.reproducible).toEqual({ epoch: 315532800, drop: [] });
  });
  it('an epoch and drop patterns of its own, or none at all', () => {
    const r = parseRepfile(doc('reproducible:\n  epoch: 1700000000\n  drop: [var/log/*.log]\n'), { file: 'Repfile' });
    expect(r.ok && r.value.reproducible).toEqual({ epoch: 1700000000, drop: ['var/log/*.log'] });
    const off = parseRepfile(doc('reproducible: false\n'), { file: 'Repfile' });
    expect(off.ok && off.value.reproducible).toBeUndefined();
  });
  it('no epoch that is not a whole number of seconds, and no pattern starting with "/", each at its place', () => {
    const bad = parseRepfile(doc('reproducible:\n  epoch: -1\n  drop: [/var/log]\n'), { file: 'Repfile' });
    expect(bad.ok ? [] : bad.errors.map(formatDiagnostic)).toEqual([
      'Repfile:8:10: reproducible.epoch: the epoch is a whole number of seconds since 1970-01-01T00:00:00Z',
      'Repfile:9:10: reproducible.drop[0]: a drop pattern is a path inside the image without the leading "/", e.g. var/log/*.log',
    ]);
  });
  it('no drop pattern whose expression rep does not run, at its place', () => {
    // picomatch keeps a glob's backslash escapes: "(a)\\1" is a backreference to JavaScript.
    const bad = parseRepfile(doc('reproducible:\n  drop: [ok/*, "(a)\\\\1"]\n'), { file: 'Repfile' });
    expect(bad.ok ? [] : bad.errors.map(formatDiagnostic)).toEqual([
      'Repfile:8:16: reproducible.drop[1]: this drop pattern cannot be matched: its regular expression has a backreference or octal escape (\\1), which rep does not run',
    ]);
    // Each fine alone, too large together (with the default list): refused in the Repfile, not after the build.
    const big = parseRepfile(doc('reproducible:\n  drop: ["[](?:a{1000}){600}", "[](?:b{1000}){600}"]\n'), { file: 'Repfile' });
    expect(big.ok ? [] : big.errors.map(formatDiagnostic)).toEqual([expect.stringMatching(/^Repfile:8:9: reproducible\.drop: these drop patterns cannot be matched together: its regular expression has an automaton (of )?over 1048576 (instructions|parts)/)]);
  });
});

describe('folders a layer writes into without listing them', () => {
  it('are folders of the image (755, root): a step that removes one, or a file in one, writes the whiteout', async () => {
    // The base lists a/b/c without a/b/ (the engine makes it); the step runs `rm -rf /a/b`.
    const removed = await rewrite([[{ name: 'a/', type: 'directory', mode: 0o755 }, { name: 'a/b/c', body: 'x' }]], [[{ name: 'a/', type: 'directory', mode: 0o755 }, { name: 'a/.wh.b' }]]);
    expect(removed.listing).toEqual(['directory a/ 755 0:0 : 1980-01-01', 'file a/.wh.b 0 0:0 : 1980-01-01']);
    expect([...removed.tree.keys()].sort()).toEqual(['a']);
    // Neither a/ nor a/b/ is listed by the base, nor a/b/ by the step that removes a/b/c.
    const file = await rewrite([[{ name: 'a/b/c', body: 'x' }, { name: 'a/b/d', body: 'y' }]], [[{ name: 'a/b/.wh.c' }]]);
    expect(file.listing).toEqual(['directory a/ 755 0:0 : 1980-01-01', 'directory a/b/ 755 0:0 : 1980-01-01', 'file a/b/.wh.c 0 0:0 : 1980-01-01']);
    expect([...file.tree.keys()].sort()).toEqual(['a', 'a/b', 'a/b/d']);
    // A step that removes a folder and writes into it again without listing it: the engine makes it anew.
    const again = await rewrite([[{ name: 'a/', type: 'directory', mode: 0o700, uid: 1000, gid: 1000 }, { name: 'a/b', body: 'x' }]], [[{ name: '.wh.a' }, { name: 'a/c', body: 'y' }]]);
    expect(again.listing).toEqual(['file .wh.a 0 0:0 : 1980-01-01', 'directory a/ 755 0:0 : 1980-01-01', 'file a/c 644 0:0 : 1980-01-01']);
  });
});

describe('layers that would cost more than they hold', () => {
  it('refuses a name more than 256 folders deep, and more than MAX_FOLDERS folders in all', async () => {
    const deep = `${Array.from({ length: 257 }, () => 'd').join('/')}`;
    await expect(rewrite(BASE, [[{ name: deep, body: 'x' }]])).rejects.toThrow(/more than 256 folders deep/);
    expect((await rewrite(BASE, [[{ name: deep.slice(2), body: 'x' }]])).listing.at(-1)).toMatch(/^file (d\/){255}d 644/);
    const many = new Tree();
    // Each d<i> holds a file, and the root holds them all: MAX_FOLDERS folders in the index, then one more.
    for (let i = 0; i < MAX_FOLDERS - 1; i++) many.set(`d${i}/f`, undefined);
    expect(() => checkFolders(many)).not.toThrow();
    many.set('last/f', undefined);
    expect(() => checkFolders(many)).toThrow(`the layers hold more than ${MAX_FOLDERS} folders`);
  }, 60_000);

  it('links a hard link to the file its target is where the link comes in the layer, as the engine applies it', async () => {
    // A later entry of the target's name replaces the name; the link keeps the bytes it was made with.
    const l = await layer([{ name: 'a', body: 'old' }, { name: 'l', type: 'link', linkname: 'a' }, { name: 'm', type: 'link', linkname: 'l' }, { name: 'a', body: 'new!' }]);
    const m = mergeLayers([l], none);
    const bytes = (p: string) => {
      const e = m.entries.get(p)!;
      const b = Buffer.alloc(e.size);
      readSync(e.data!.fd, b, 0, e.size, e.data!.offset);
      return b.toString();
    };
    expect([bytes('a'), bytes('l'), bytes('m')]).toEqual(['new!', 'old', 'old']);
  });

  it('applies a layer in its order: a folder after a hard link of its name is a folder, and a step removing what it holds writes the whiteout (found by an adversarial review)', async () => {
    const base = [[{ name: 't', body: 'T' }, { name: 'l', type: 'link' as const, linkname: 't' }, { name: 'l/', type: 'directory' as const }, { name: 'l/x', body: 'X' }]];
    const m = mergeLayers([await layer(base[0]!)], none);
    expect([m.entries.get('l')!.type, m.entries.has('l/x')]).toEqual(['5', true]);
    const r = await rewrite([...BASE, ...base], [[{ name: 'l/', type: 'directory' }, { name: 'l/.wh.x', body: '' }]]);
    expect(r.listing.map((l) => l.split(' ').slice(0, 2).join(' '))).toContain('file l/.wh.x');
  });

  it("gives a hard link its target's mode and owner, whatever its own header says (no setuid bit the engine did not have)", async () => {
    const r = await rewrite(BASE, [[{ name: 'zz', body: 'x', mode: 0o644, uid: 1000, gid: 1000 }, { name: 'aa', type: 'link', linkname: 'zz', mode: 0o4755, uid: 0, gid: 0 }]]);
    expect(r.listing).toEqual(['file aa 644 1000:1000 : 1980-01-01', 'link zz -> aa 644 1000:1000 : 1980-01-01']);
  });

  it('carries a hard link to a symlink as one to a file: the first name in sorted order holds it (GNU ln links the symlink itself; found by an adversarial review)', async () => {
    const dir = { name: 'usr/', type: 'directory' as const, mode: 0o755 };
    const r = await rewrite([], [[dir, { name: 'usr/a', type: 'symlink', linkname: 'x' }, { name: 'usr/b', type: 'link', linkname: 'usr/a' }]]);
    expect(r.listing).toEqual(['directory usr/ 755 0:0 : 1980-01-01', 'symlink usr/a -> x 644 0:0 : 1980-01-01', 'link usr/b -> usr/a 644 0:0 : 1980-01-01']);
    // The engine may have written either name first, in this layer or an earlier one of the step: the same layer.
    const reversed = await rewrite([], [[dir, { name: 'usr/b', type: 'symlink', linkname: 'x' }, { name: 'usr/a', type: 'link', linkname: 'usr/b', uid: 7 }]]);
    const split = await rewrite([], [[dir, { name: 'usr/a', type: 'symlink', linkname: 'x' }], [{ name: 'usr/b', type: 'link', linkname: 'usr/a' }]]);
    expect([reversed.listing, split.listing]).toEqual([r.listing, r.listing]);
    expect([reversed.diffId, split.diffId]).toEqual([r.diffId, r.diffId]);
    // As with files, one inode under two names is another layer than two of the same contents.
    const two = await rewrite([], [[dir, { name: 'usr/a', type: 'symlink', linkname: 'x' }, { name: 'usr/b', type: 'symlink', linkname: 'x' }]]);
    expect(two.diffId).not.toBe(r.diffId);
  });

  it('carries a hard link to a fifo or a device, with its target\'s mode, owner and numbers', async () => {
    const r = await rewrite([], [[
      { name: 'p', type: 'fifo', mode: 0o600, uid: 5, gid: 6 },
      { name: 'q', type: 'link', linkname: 'p', mode: 0o4777, uid: 0, gid: 0 },
      { name: 'tty', type: 'character-device', mode: 0o620, devmajor: 4, devminor: 1 },
      { name: 'console', type: 'link', linkname: 'tty' },
    ]]);
    // "console" comes first in sorted order: it holds the device, and "tty" links to it.
    expect(r.listing).toEqual(['character-device console 620 0:0 : 1980-01-01', 'fifo p 600 5:6 : 1980-01-01', 'link q -> p 600 5:6 : 1980-01-01', 'link tty -> console 620 0:0 : 1980-01-01']);
    const m = mergeLayers([await layer([{ name: 'tty', type: 'character-device', devmajor: 4, devminor: 1 }, { name: 'console', type: 'link', linkname: 'tty' }])], none);
    expect(m.entries.get('console')).toMatchObject({ type: '3', devmajor: 4, devminor: 1 });
  });

  it('keeps a hard link to a symlink the drop list leaves out, as it keeps one to such a file (it was left out: REWRITE_FORMAT 7)', async () => {
    const r = await rewrite([], [[{ name: 'var/log/apt/x', type: 'symlink', linkname: 'y' }, { name: 'keep', type: 'link', linkname: 'var/log/apt/x' }]], dropMatcher(DEFAULT_DROP));
    expect(r.listing).toEqual(['symlink keep -> y 644 0:0 : 1980-01-01']);
  });
});

describe('what a step hides of the image below', () => {
  /** The rule as stated (each path of the image asked in turn), against which the indexed walk is checked. */
  const ancestors = (p: string) => p.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  const hiddenByRule = (q: string, m: ReturnType<typeof mergeLayers>) => m.hideSelf.has(q) || ancestors(q).some((a) => m.hideBelow.has(a) || m.hideSelf.has(a));

  it('finds the same paths as asking every path of the image, folders a layer never listed included', async () => {
    let seed = 11;
    const rand = (k: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % k;
    };
    const names = ['a', 'b', 'c'];
    const randomPath = () => Array.from({ length: 1 + rand(3) }, () => names[rand(3)]).join('/');
    const randomLayer = (whiteouts: boolean): Item[] => {
      const items = new Map<string, Item>();
      for (let i = rand(12); i >= 0; i--) {
        const p = randomPath();
        const parts = p.split('/');
        // Sometimes the folders above are listed, sometimes not (a layer need not list them).
        if (rand(2)) parts.slice(0, -1).forEach((_, j) => items.set(parts.slice(0, j + 1).join('/'), { name: `${parts.slice(0, j + 1).join('/')}/`, type: 'directory', mode: 0o755 }));
        const kind = whiteouts ? rand(5) : rand(2);
        const dirOf = parts.slice(0, -1).join('/');
        const at = (n: string) => (dirOf ? `${dirOf}/${n}` : n);
        if (kind === 0) items.set(p, { name: p, body: `x${rand(9)}` });
        else if (kind === 1) items.set(p, { name: `${p}/`, type: 'directory', mode: 0o755 });
        else if (kind === 2 || kind === 3) items.set(at(`.wh.${parts.at(-1)}`), { name: at(`.wh.${parts.at(-1)}`) });
        else items.set(`${p}/.wh..wh..opq`, { name: `${p}/.wh..wh..opq` });
      }
      // No marker at the root (an opaque root, a whiteout with no name): rep refuses them (see 'hostile layers').
      return [...items.values()];
    };
    for (let round = 0; round < 150; round++) {
      const tree = new Tree();
      for (let b = rand(3); b >= 0; b--) applyBaseLayer(tree, await layer(randomLayer(b < 2)));
      const before = new Map(tree);
      const merged = mergeLayers(await Promise.all(Array.from({ length: 1 + rand(2) }, () => layer(randomLayer(true)))), none);
      const entries = canonicalEntries(tree, merged, 0);
      // The image after the step: what was there and is not hidden, and what the step made.
      const expected = new Set([...before.keys()].filter((q) => !hiddenByRule(q, merged)));
      for (const p of merged.entries.keys()) expected.add(p);
      // And the folders it writes into without listing them, made as the engine makes them (755, root).
      for (const p of merged.entries.keys()) for (const a of ancestors(p)) if (!expected.has(a)) expected.add(a);
      expect([...tree.keys()].sort()).toEqual([...expected].sort());
      // A whiteout for each hidden path that the step does not make again and whose folder stays (a subset, never more).
      const gone = [...before.keys()].filter((q) => hiddenByRule(q, merged) && !merged.entries.has(q));
      for (const w of entries.filter((e) => e.whiteout)) {
        const q = w.path.replace(/(^|\/)\.wh\.([^/]*)$/, (_, sep: string, name: string) => `${sep}${name}`);
        expect(gone).toContain(q);
      }
      for (const q of gone) {
        const d = q.includes('/') ? q.slice(0, q.lastIndexOf('/')) : '';
        if (d === '' || (tree.has(d) && tree.get(d) !== undefined && before.get(d) !== undefined && !merged.entries.has(d) && !hiddenByRule(d, merged))) {
          expect(entries.map((e) => e.path), `whiteout for ${q}`).toContain(d ? `${d}/.wh.${q.slice(d.length + 1)}` : `.wh.${q}`);
        }
      }
      // Later steps see the index as the map: every path under a folder is found from it.
      for (const d of ['a', 'b', 'a/b', 'c/c']) expect([...tree.below(d)].sort()).toEqual([...tree.keys()].filter((q) => q.startsWith(`${d}/`)).sort());
    }
  });
});

describe('a rewrite the engine has already', () => {
  it('is found by what its history names too: a step renamed (its key, and so the engine image, the same) finds none of the old name', async () => {
    // The rewrite was keyed by the engine's image, the epoch and the drop list: after a rename it was found again,
    // its history naming the old step, an image id no rewrite of this Repfile gives (a reviewer's rebuild differs).
    const Base = NoneEngine as unknown as new () => Engine;
    class HasEverything extends Base {
      override readonly name = 'docker' as const;
      override async imageIds(refs: readonly string[]) {
        return new Map(refs.map((r) => [r, `sha256:${'9'.repeat(64)}`] as const));
      }
      override async tag() {}
    }
    const key = `sha256:${'4'.repeat(64)}`;
    const lookedUp = async (step: string) => {
      const dir = makeProject({ Repfile: `rep: 1\nname: n\nbase: busybox:latest\nsteps:\n  ${step}:\n    run: echo hi\n` });
      try {
        const r = await canonicalImage(open(dir), new HasEverything(), [{ name: step, key } as PlannedStep], { tag: 'n:latest', imageId: `sha256:${'8'.repeat(64)}` });
        if (!r.ok) throw new Error(JSON.stringify(r));
        return r.value.cacheKey;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    const app = await lookedUp('app');
    expect(app).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await lookedUp('app')).toBe(app);
    expect(await lookedUp('main')).not.toBe(app);
  });
});
