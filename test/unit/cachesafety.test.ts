// --cache-from and --cache-to with a cache others may write (a CI cache folder
// restored by actions/cache, a registry repository): the cache decides what a
// step it has is, and nothing more. A folder's archive that would tag another
// image (debian:bookworm, the user's own) is not loaded; a step image tag the
// engine had is put back, and one it adds for no step of the build taken away
// again; a cache that cannot be used (read or written) is said and passed over;
// the archive is written through no link; a registry is named by its host.
// Found by an adversarial review. The engine is a stand-in that applies an
// archive's tags as docker load does (test/integration/cache.test.ts loads real ones).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineError, type BuildOutcome, type BuildRequest, type Engine } from '../../src/engine/engine.js';
import { build } from '../../src/build.js';
import { CacheFrom, exportCache, parseCacheSpec, throughLink, type CacheSpec } from '../../src/scheduler/cache.js';
import { archiveStepKeys } from '../../src/scheduler/cachearchive.js';
import type { BuildEvent } from '../../src/scheduler/events.js';
import { formatDiagnostic } from '../../src/diag.js';
import { makeProject, open, TaggedEngine } from '../helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const temp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'rep-cachesafety-'));
  dirs.push(d);
  return d;
};
const K1 = '1'.repeat(64);
const K2 = '2'.repeat(64);
const ID = (c: string) => `sha256:${c.repeat(64)}`;

/** A tar of `files` (name -> text, or a symlink target with `->`). */
async function archive(file: string, files: [string, string][]): Promise<string> {
  const pack = tar.pack();
  for (const [name, body] of files) {
    if (body.startsWith('->')) pack.entry({ name, type: 'symlink', linkname: body.slice(2) });
    else pack.entry({ name }, body);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  writeFileSync(file, Buffer.concat(chunks));
  return file;
}
const manifest = (...tags: string[]) => JSON.stringify([{ Config: 'c.json', RepoTags: tags, Layers: [] }]);

/** An engine holding `tags` (ref -> id) that, loading an archive, points every tag of its manifest.json at `loads`'s id, as docker moves a tag. */
class Fake extends TaggedEngine {
  loaded: string[] = [];
  pulled: string[] = [];
  removed: string[] = [];
  constructor(
    tags: Map<string, string>,
    private readonly loads = ID('f'),
    private readonly registry = new Set<string>(),
  ) {
    super(tags);
  }
  override async load(file: string) {
    this.loaded.push(file);
    const text = execFileSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8', timeout: 5000 });
    for (const m of JSON.parse(text) as { RepoTags: string[] }[]) for (const t of m.RepoTags) this.tags.set(t, this.loads);
  }
  override async pull(ref: string) {
    this.pulled.push(ref);
    if (!this.registry.has(ref)) return false;
    this.tags.set(ref, ID('r'));
    return true;
  }
  override async removeImage(ref: string) {
    this.removed.push(ref);
    this.tags.delete(ref);
  }
  override async save(refs: string | readonly string[], file: string) {
    writeFileSync(file, `saved ${String(refs)}`);
  }
}

/** A Fake whose load tags what the archive names, then fails (docker tags each image as it loads it). */
class FailsHalfway extends Fake {
  override async load(file: string) {
    await super.load(file);
    throw new EngineError('docker load failed: the second image has no config');
  }
}

/** The stand-in as a docker that builds: each step's image is a new one under the step's tag. */
class Builds extends Fake {
  override readonly name = 'docker' as const;
  override async build(req: BuildRequest): Promise<BuildOutcome> {
    if (req.tag !== undefined) this.tags.set(req.tag, ID('b'));
    return { ok: true, imageId: ID('b') };
  }
  /** Every output is a file of the same bytes, as `docker cp -L` names it (by its last part). */
  override async exportPaths(_image: string, paths: readonly string[], read: (path: string, tar: Readable) => Promise<void>) {
    for (const p of paths) {
      const pack = tar.pack();
      pack.entry({ name: path.posix.basename(p) }, 'tool\n');
      pack.finalize();
      await read(p, pack as unknown as Readable);
    }
  }
}
/** A project of one step on busybox (which the engine has), and that step's key as a build would work it out. */
async function oneStep(engine: Engine): Promise<{ dir: string; key: string }> {
  const dir = makeProject({ Repfile: 'rep: 1\nname: n\nbase: busybox:latest\nsteps:\n  one:\n    run: echo one\nreproducible: false\n' });
  dirs.push(dir);
  const planned = await build(open(dir), { engine, dryRun: true });
  if (!planned.ok) throw new Error(planned.errors.map(formatDiagnostic).join('\n'));
  return { dir, key: planned.value.steps[0]!.key };
}

const dirSpec = (dir: string) => ({ kind: 'dir', path: dir, text: `dir://${dir}` }) as CacheSpec;

describe('a cache given on the command line', () => {
  const said = (text: string) => {
    const r = parseCacheSpec(text, '--cache-from');
    return r.ok ? 'ok' : r.errors.map(formatDiagnostic).join('\n');
  };

  it('names a registry by its host: a first part without a dot or a port would be an account on Docker Hub', () => {
    expect(said('registry://cicache/steps')).toBe('rep: --cache-from registry://cicache/steps: "cicache" is not a registry\'s host (a name with a dot or a port, or localhost): docker would read it as an account on Docker Hub; write registry://docker.io/cicache/steps if that is meant');
    expect(said('registry://--platform=linux.x/y')).toMatch(/names a registry and a repository/);
    expect(said('registry://-x.example/y')).toMatch(/names a registry and a repository/);
    for (const fine of ['registry://127.0.0.1:5000/a/b', 'registry://localhost/a', 'registry://ghcr.io/me/cache', 'registry://docker.io/me/cache']) expect(said(fine), fine).toBe('ok');
  });

  it('is reached through no link below the working folder (a committed ci -> elsewhere, then dir://ci/cache)', () => {
    const d = temp();
    mkdirSync(path.join(d, 'elsewhere', 'cache'), { recursive: true });
    symlinkSync(path.join(d, 'elsewhere'), path.join(d, 'ci'));
    expect(throughLink(path.join(d, 'ci', 'cache'), d)).toBe(true);
    expect(throughLink(path.join(d, 'elsewhere', 'cache'), d)).toBe(false);
    expect(throughLink(path.join(d, 'elsewhere', 'new', 'cache'), d)).toBe(false);
    // A name that starts with two dots is a folder here, not the way out.
    symlinkSync(path.join(d, 'elsewhere'), path.join(d, '..ci'));
    expect(throughLink(path.join(d, '..ci', 'cache'), d)).toBe(true);
  });

  it('is a folder of its own, not a link (a committed .rep-ci-cache -> ~/.ssh)', () => {
    const d = temp();
    mkdirSync(path.join(d, 'real'));
    symlinkSync(path.join(d, 'real'), path.join(d, 'cache'));
    expect(said(`dir://${path.join(d, 'cache')}`)).toMatch(/the folder is a link, or lies under one in this folder: rep writes and reads its cache only in a folder itself/);
    expect(said(`dir://${path.join(d, 'real')}`)).toBe('ok');
  });
});

describe("a cache folder's archive", () => {
  it('gives the keys of the step images it names, in every way an engine reads names', async () => {
    const d = temp();
    const file = await archive(path.join(d, 'a.tar'), [
      ['manifest.json', manifest(`rep-cache:${K1}`, `localhost/rep-cache:${K2}`)],
      ['repositories', JSON.stringify({ 'rep-cache': { [K1]: 'x' } })],
      ['index.json', JSON.stringify({ manifests: [{ annotations: { 'io.containerd.image.name': `docker.io/library/rep-cache:${K2}`, 'org.opencontainers.image.ref.name': K2 } }] })],
    ]);
    expect(await archiveStepKeys(file)).toEqual([K1, K2]);
  });

  it('is refused when it would tag anything else, hides a name behind a link or a second manifest.json, or has none', async () => {
    const d = temp();
    const cases: [string, [string, string][], RegExp][] = [
      ['another tag', [['manifest.json', manifest(`rep-cache:${K1}`, 'debian:bookworm')]], /would tag "debian:bookworm", which is not a step image/],
      ['a legacy name', [['manifest.json', manifest(`rep-cache:${K1}`)], ['repositories', JSON.stringify({ busybox: { latest: 'x' } })]], /would tag "busybox:latest"/],
      ['an OCI name', [['manifest.json', manifest()], ['index.json', JSON.stringify({ manifests: [{ annotations: { 'io.containerd.image.name': 'docker.io/library/debian:12' } }] })]], /would tag "docker.io\/library\/debian:12"/],
      ['a link', [['evil.json', manifest('debian:bookworm')], ['manifest.json', '->evil.json']], /manifest.json in the archive is not a plain file/],
      ['a second one', [['manifest.json', manifest(`rep-cache:${K1}`)], ['./x/../manifest.json', manifest('debian:bookworm')]], /manifest.json is in the archive twice/],
      ['one under a link', [['manifest.json', manifest(`rep-cache:${K1}`)], ['a', '->.'], ['a/manifest.json', manifest('debian:bookworm')]], /a\/manifest.json in the archive lies under a link the archive makes/],
      ['podman\'s other spelling', [['manifest.json', manifest(`docker.io/library/rep-cache:${K1}`)]], /would tag "docker.io\/library\/rep-cache:/],
      // Go matches JSON keys to struct fields without case, the last of two winning (ſ as s, the Kelvin sign as k).
      ...(['repotags', 'REPOTAGS', 'RepoTag\u017f'].map((k) => [`RepoTags then ${k}`, [['manifest.json', `[{"Config":"c.json","Layers":[],"RepoTags":["rep-cache:${K1}"],"${k}":["debian:bookworm"]}]`]], /manifest.json in the archive spells a field otherwise/]) as [string, [string, string][], RegExp][]),
      ['an index\'s Manifests', [['manifest.json', manifest()], ['index.json', JSON.stringify({ Manifests: [{ annotations: { 'io.containerd.image.name': 'debian:12' } }] })]], /index.json in the archive spells a field otherwise/],
      ['a descriptor\'s Annotations', [['manifest.json', manifest()], ['index.json', JSON.stringify({ manifests: [{ Annotations: { 'io.containerd.image.name': 'debian:12' } }] })]], /index.json in the archive spells a field otherwise/],
      ['none', [['c.json', '{}']], /has no manifest.json/],
      ['not JSON', [['manifest.json', '[']], /manifest.json in the archive is not JSON/],
    ];
    for (const [what, files, message] of cases) await expect(archiveStepKeys(await archive(path.join(d, `${what}.tar`), files)), what).rejects.toThrow(message);
    writeFileSync(path.join(d, 'junk.tar'), 'not a tar at all, but long enough to be read as a header block'.repeat(20));
    await expect(archiveStepKeys(path.join(d, 'junk.tar'))).rejects.toThrow(/not an archive rep reads/);
    // Compressed (docker and podman decompress first; a gzip member hidden in a pax header made one file two archives).
    const good = await archive(path.join(d, 'good.tar'), [['manifest.json', manifest(`rep-cache:${K1}`)]]);
    expect(await archiveStepKeys(good)).toEqual([K1]);
    writeFileSync(path.join(d, 'good.tar.gz'), gzipSync(readFileSync(good)));
    await expect(archiveStepKeys(path.join(d, 'good.tar.gz'))).rejects.toThrow('the archive is compressed (docker save and podman save write a plain tar)');
    for (const magic of [[0x42, 0x5a, 0x68], [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], [0x28, 0xb5, 0x2f, 0xfd], [0x5e, 0x2a, 0x4d, 0x18]]) {
      writeFileSync(path.join(d, 'c.tar'), Buffer.concat([Buffer.from(magic), readFileSync(good)]));
      await expect(archiveStepKeys(path.join(d, 'c.tar')), String(magic)).rejects.toThrow(/is compressed/);
    }
  });

  it('that would tag another image is not loaded: the build is told, and goes on to the next cache', async () => {
    const d = temp();
    await archive(path.join(d, 'rep-cache.tar'), [['manifest.json', manifest(`rep-cache:${K1}`, 'debian:bookworm')]]);
    const engine = new Fake(new Map([['debian:bookworm', ID('d')]]), ID('f'), new Set([`127.0.0.1:5000/c:${K1}`]));
    const events: BuildEvent[] = [];
    const from = new CacheFrom(engine, [dirSpec(d), { kind: 'registry', repo: '127.0.0.1:5000/c', text: 'registry://127.0.0.1:5000/c' }], (e) => events.push(e));
    expect(await from.fetch(`sha256:${K1}`)).toBe('registry://127.0.0.1:5000/c');
    expect(engine.loaded).toEqual([]);
    expect(engine.tags.get('debian:bookworm')).toBe(ID('d'));
    expect(events).toEqual([{ type: 'cache-unused', from: `dir://${d}`, why: 'the archive would tag "debian:bookworm", which is not a step image (rep-cache:<64 hex digits>)' }]);
    // The registry's own name for the pulled image is dropped (rep gc removes rep-cache tags only).
    expect([engine.tags.get(`rep-cache:${K1}`), engine.tags.has(`127.0.0.1:5000/c:${K1}`), engine.removed]).toEqual([ID('r'), false, [`127.0.0.1:5000/c:${K1}`]]);
    // Asked again, the folder is not read again, nor said again.
    expect(await from.fetch(`sha256:${K2}`)).toBeUndefined();
    expect(events).toHaveLength(1);
  });

  it('that is a FIFO or a link is passed over, said, not waited on for ever', async () => {
    const d = temp();
    execFileSync('mkfifo', [path.join(d, 'rep-cache.tar')]);
    const events: BuildEvent[] = [];
    expect(await new CacheFrom(new Fake(new Map()), [dirSpec(d)], (e) => events.push(e)).fetch(`sha256:${K1}`)).toBeUndefined();
    expect(events).toEqual([{ type: 'cache-unused', from: `dir://${d}`, why: 'rep-cache.tar is not a regular file' }]);
  });

  it('is loaded when it names step images alone; a step image tag the engine had is put back where it was', async () => {
    const d = temp();
    await archive(path.join(d, 'rep-cache.tar'), [['manifest.json', manifest(`rep-cache:${K1}`, `rep-cache:${K2}`)]]);
    const engine = new Fake(new Map([[`rep-cache:${K1}`, ID('1')]]), ID('f'));
    const from = new CacheFrom(engine, [dirSpec(d)]);
    expect(await from.fetch(`sha256:${K2}`)).toBe(`dir://${d}`);
    expect(engine.loaded).toEqual([path.join(d, 'rep-cache.tar')]);
    expect([engine.tags.get(`rep-cache:${K1}`), engine.tags.get(`rep-cache:${K2}`)]).toEqual([ID('1'), ID('f')]);
  });
});

describe('a cache folder loaded', () => {
  it('that fails halfway (docker tags each image as it loads it) still has the step image tags the engine had put back', async () => {
    const d = temp();
    await archive(path.join(d, 'rep-cache.tar'), [['manifest.json', manifest(`rep-cache:${K1}`)]]);
    const engine = new FailsHalfway(new Map([[`rep-cache:${K1}`, ID('1')]]), ID('f'));
    const events: BuildEvent[] = [];
    expect(await new CacheFrom(engine, [dirSpec(d)], (e) => events.push(e)).fetch(`sha256:${K2}`)).toBeUndefined();
    expect(engine.tags.get(`rep-cache:${K1}`)).toBe(ID('1'));
    expect(events).toEqual([{ type: 'cache-unused', from: `dir://${d}`, why: 'docker load failed: the second image has no config' }]);
  });
});

describe('the step images a cache folder adds', () => {
  const K3 = '3'.repeat(64);

  it('are untagged again when no step of the build has their key: keys follow from a public Repfile, and the engine is every project\'s', async () => {
    const d = temp();
    await archive(path.join(d, 'rep-cache.tar'), [['manifest.json', manifest(`rep-cache:${K1}`, `rep-cache:${K2}`, `rep-cache:${K3}`)]]);
    const engine = new Fake(new Map([[`rep-cache:${K3}`, ID('3')]]), ID('f'));
    const from = new CacheFrom(engine, [dirSpec(d)]);
    expect(await from.fetch(`sha256:${K2}`)).toBe(`dir://${d}`);
    await from.dropUnwanted([`sha256:${K2}`]);
    // K1 was the archive's alone; K3 the engine had (put back, and not the archive's to remove).
    expect(engine.removed).toEqual([`rep-cache:${K1}`]);
    expect([...engine.tags].sort()).toEqual([[`rep-cache:${K2}`, ID('f')], [`rep-cache:${K3}`, ID('3')]]);
  });

  it('are left alone when the tag names another image by then: another build on this engine made that step meanwhile (found by a review)', async () => {
    const d = temp();
    await archive(path.join(d, 'rep-cache.tar'), [['manifest.json', manifest(`rep-cache:${K1}`, `rep-cache:${K2}`)]]);
    const engine = new Fake(new Map(), ID('f'));
    const from = new CacheFrom(engine, [dirSpec(d)]);
    expect(await from.fetch(`sha256:${K2}`)).toBe(`dir://${d}`);
    // Project B, on the same engine, builds its step of key K1 while this build runs.
    engine.tags.set(`rep-cache:${K1}`, ID('b'));
    await from.dropUnwanted([`sha256:${K2}`]);
    expect(engine.removed).toEqual([]);
    expect(engine.tags.get(`rep-cache:${K1}`)).toBe(ID('b'));
  });

  it('by a load that failed halfway are untagged too', async () => {
    const d = temp();
    await archive(path.join(d, 'rep-cache.tar'), [['manifest.json', manifest(`rep-cache:${K1}`)]]);
    const engine = new FailsHalfway(new Map(), ID('f'));
    const from = new CacheFrom(engine, [dirSpec(d)]);
    expect(await from.fetch(`sha256:${K2}`)).toBeUndefined();
    await from.dropUnwanted([`sha256:${K2}`]);
    expect([...engine.tags]).toEqual([]);
  });

  it('are gone after a build that took the one its step has', async () => {
    const engine = new Builds(new Map([['busybox:latest', ID('0')]]), ID('f'));
    const { dir, key } = await oneStep(engine);
    const cache = path.join(dir, 'ci-cache');
    mkdirSync(cache);
    await archive(path.join(cache, 'rep-cache.tar'), [['manifest.json', manifest(`rep-cache:${K1}`, `rep-cache:${key.slice(7)}`)]]);
    const events: BuildEvent[] = [];
    const r = await build(open(dir), { engine, cacheFrom: [dirSpec(cache)], onEvent: (e) => events.push(e) });
    expect(r.ok && r.value.ok, JSON.stringify(r)).toBe(true);
    expect(events).toContainEqual({ type: 'step-pulled', step: 'one', key, from: `dir://${cache}` });
    expect([...engine.tags.keys()].filter((t) => t.startsWith('rep-cache:')).sort()).toEqual([`rep-cache:${key.slice(7)}`]);
  });

  it('stay for a step keyed by its producer\'s outputs, whose key no plan knows before the producer is measured', async () => {
    const Repfile = 'rep: 1\nname: n\nbase: busybox:latest\nsteps:\n  a:\n    run: mkdir /out && echo tool > /out/tool\n    outputs: [/out/tool]\n  sys:\n    run: echo sys\n  b:\n    needs: [sys, a]\n    run: /out/tool\nreproducible: false\n';
    const dir = makeProject({ Repfile });
    dirs.push(dir);
    const first = await build(open(dir), { engine: new Builds(new Map([['busybox:latest', ID('0')]])) });
    if (!(first.ok && first.value.ok)) throw new Error(JSON.stringify(first));
    const keys = first.value.steps.map((s) => s.key);
    // CI: a new engine and no .rep; the archive the last build left, with one key besides.
    rmSync(path.join(dir, '.rep'), { recursive: true });
    const cache = path.join(dir, 'ci-cache');
    mkdirSync(cache);
    await archive(path.join(cache, 'rep-cache.tar'), [['manifest.json', manifest(...[...keys, `sha256:${K1}`].map((k) => `rep-cache:${k.slice(7)}`))]]);
    const engine = new Builds(new Map([['busybox:latest', ID('0')]]), ID('f'));
    const planned = await build(open(dir), { engine, dryRun: true });
    expect(planned.ok && planned.value.steps.map((s) => s.key)).not.toEqual(keys);
    const events: BuildEvent[] = [];
    const r = await build(open(dir), { engine, cacheFrom: [dirSpec(cache)], onEvent: (e) => events.push(e) });
    expect(r.ok && r.value.ok, JSON.stringify(r)).toBe(true);
    expect(events.filter((e) => e.type === 'step-building')).toEqual([]);
    expect([...engine.tags.keys()].filter((t) => t.startsWith('rep-cache:')).sort()).toEqual(keys.map((k) => `rep-cache:${k.slice(7)}`).sort());
  });
});

describe('a cache folder written', () => {
  it('is written through no link planted at the name rep saves to first, nor at the archive\'s', async () => {
    const d = temp();
    const victim = path.join(d, 'victim');
    writeFileSync(victim, 'precious');
    const cache = path.join(d, 'cache');
    mkdirSync(cache);
    for (let pid = process.pid - 5; pid <= process.pid + 5; pid++) symlinkSync(victim, path.join(cache, `rep-cache.tar.${pid}.tmp`));
    symlinkSync(victim, path.join(cache, 'rep-cache.tar'));
    // What exports killed halfway left: removed when their process is gone, not while it runs.
    const dead = path.join(cache, '.rep-cache.999999999.aaaaaaaaaaaa.tmp');
    const running = path.join(cache, `.rep-cache.${process.ppid}.bbbbbbbbbbbb.tmp`);
    const recent = path.join(cache, '.rep-cache.999999998.cccccccccccc.tmp');
    for (const left of [dead, running, recent]) mkdirSync(left);
    writeFileSync(path.join(dead, 'rep-cache.tar'), 'partial');
    // Untouched for ten minutes, its process gone: a leftover. One written to a moment ago may be a job's in another container.
    const old = new Date(Date.now() - 20 * 60_000);
    utimesSync(path.join(dead, 'rep-cache.tar'), old, old);
    utimesSync(dead, old, old);
    await exportCache(new Fake(new Map()), dirSpec(cache), [`sha256:${K1}`]);
    expect(readdirSync(cache).sort()).toEqual([`.rep-cache.${process.ppid}.bbbbbbbbbbbb.tmp`, '.rep-cache.999999998.cccccccccccc.tmp', 'index.json', 'rep-cache.tar', ...Array.from({ length: 11 }, (_, i) => `rep-cache.tar.${process.pid - 5 + i}.tmp`)].sort());
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(readFileSync(path.join(cache, 'rep-cache.tar'), 'utf8')).toBe(`saved rep-cache:${K1}`);
  });

  it('that is not one rep can write (a folder at rep-cache.tar or index.json, a file at the folder) is said, not thrown, and nothing is written through it', async () => {
    const d = temp();
    const keys = [`sha256:${K1}`];
    const archiveDir = path.join(d, 'a');
    mkdirSync(path.join(archiveDir, 'rep-cache.tar', 'kept'), { recursive: true });
    expect(await exportCache(new Fake(new Map()), dirSpec(archiveDir), keys)).toBe('rep-cache.tar in it is a folder, which rep leaves alone');
    expect(readdirSync(archiveDir)).toEqual(['rep-cache.tar']);
    expect(readdirSync(path.join(archiveDir, 'rep-cache.tar'))).toEqual(['kept']);
    const indexDir = path.join(d, 'i');
    mkdirSync(path.join(indexDir, 'index.json'), { recursive: true });
    expect(await exportCache(new Fake(new Map()), dirSpec(indexDir), keys)).toBe('index.json in it is a folder, which rep leaves alone');
    expect(readdirSync(indexDir)).toEqual(['index.json']);
    writeFileSync(path.join(d, 'f'), 'a file');
    expect(await exportCache(new Fake(new Map()), dirSpec(path.join(d, 'f')), keys)).toBe('it is not a folder');
    expect(await exportCache(new Fake(new Map()), dirSpec(path.join(d, 'f', 'under')), keys)).toMatch(/^cannot make the folder: ENOTDIR/);
    expect(readFileSync(path.join(d, 'f'), 'utf8')).toBe('a file');
  });

  it('that cannot be written leaves a build that succeeded a success, with its state recorded: the cache is said not used', async () => {
    const engine = new Builds(new Map([['busybox:latest', ID('0')]]));
    const { dir } = await oneStep(engine);
    const cache = path.join(dir, 'ci-cache');
    mkdirSync(path.join(cache, 'rep-cache.tar'), { recursive: true });
    const events: BuildEvent[] = [];
    const r = await build(open(dir), { engine, cacheTo: dirSpec(cache), onEvent: (e) => events.push(e) });
    expect(r.ok && r.value.ok, JSON.stringify(r)).toBe(true);
    expect(events.filter((e) => e.type.startsWith('cache-'))).toEqual([{ type: 'cache-unused', from: `dir://${cache}`, why: 'rep-cache.tar in it is a folder, which rep leaves alone' }]);
    expect(readdirSync(path.join(dir, '.rep'))).toContain('state.json');
  });
});

describe('a registry cache', () => {
  const registry = { kind: 'registry', repo: '127.0.0.1:5000/c', text: 'registry://127.0.0.1:5000/c' } as CacheSpec;
  const remote = `127.0.0.1:5000/c:${K1}`;

  it('is asked once for two steps of one key at once: one fetch\'s removal of the registry\'s name fell between the other\'s pull and tag', async () => {
    /** Tags as docker does (a name it does not have is an error), and pulls slowly: the name is there before the pull returns. */
    class Slow extends Fake {
      override async pull(ref: string) {
        this.pulled.push(ref);
        this.tags.set(ref, ID('r'));
        await new Promise((r) => setTimeout(r, 20));
        return true;
      }
      override async tag(src: string, dst: string) {
        if (!this.tags.has(src)) throw new EngineError(`Error response from daemon: No such image: ${src}`);
        this.tags.set(dst, this.tags.get(src)!);
      }
    }
    const engine = new Slow(new Map());
    const from = new CacheFrom(engine, [registry]);
    expect(await Promise.all([from.fetch(`sha256:${K1}`), from.fetch(`sha256:${K1}`)])).toEqual([registry.text, registry.text]);
    expect([engine.pulled, engine.tags.get(`rep-cache:${K1}`), engine.tags.has(remote)]).toEqual([[remote], ID('r'), false]);
  });

  it('whose image cannot be tagged is a miss, said, not a failed step', async () => {
    class Refusing extends Fake {
      override async tag(): Promise<void> {
        throw new EngineError('docker tag failed (exit 1)');
      }
    }
    const engine = new Refusing(new Map(), ID('f'), new Set([remote]));
    const events: BuildEvent[] = [];
    expect(await new CacheFrom(engine, [registry], (e) => events.push(e)).fetch(`sha256:${K1}`)).toBeUndefined();
    expect(events).toEqual([{ type: 'cache-unused', from: registry.text, why: 'docker tag failed (exit 1)' }]);
    expect(engine.tags.has(`rep-cache:${K1}`)).toBe(false);
    // Nor is the pulled image left under the registry's name, which nothing of rep's would remove.
    expect(engine.tags.has(remote)).toBe(false);
  });
});
