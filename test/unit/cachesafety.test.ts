// --cache-from and --cache-to with a cache others may write (a CI cache folder
// restored by actions/cache, a registry repository): the cache decides what a
// step it has is, and nothing more. A folder's archive that would tag another
// image (debian:bookworm, the user's own) is not loaded; one that names step
// images alone is loaded under names of the build's own, and a step image tag
// made only for a key a step asks for, never over one the engine has; a cache
// that cannot be used (read or written) is said and passed over; the archive
// is written through no link; a registry is named by its host, and two builds
// exporting one key to it do not fail each other; an export sends the image
// the build settled for each step, leaving out (and saying) one whose shared
// tag another project moved or removed meanwhile. Found by adversarial
// reviews. The engine is a stand-in that applies an archive's tags as docker
// load does (test/integration/cache.test.ts loads real ones).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
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
import { exportSettled } from '../../src/scheduler/settle.js';
import { archiveStepKeys, privateCopy } from '../../src/scheduler/cachearchive.js';
import { LOAD_REPO } from '../../src/scheduler/stepimage.js';
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
  /** Called just before a load applies its tags, and just after: what another build on this engine does meanwhile. */
  beforeLoad?: () => void;
  afterLoad?: () => Promise<void>;
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
    this.beforeLoad?.();
    for (const m of JSON.parse(text) as { RepoTags: string[] }[]) for (const t of m.RepoTags) this.tags.set(t, this.loads);
    await this.afterLoad?.();
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
/**
 * The stand-in as a docker that builds and names images as docker does: a tag from a name it does not have, or from an
 * id no name holds (the image removed), is refused, and so is a save of a name it does not have; an archive lists each
 * name it saves with the image that name names, and a push the image its name names.
 */
class AsDocker extends Builds {
  pushed: [string, string | undefined][] = [];
  /** The images built, named or not yet. */
  private readonly built = new Set<string>();
  override async build(req: BuildRequest): Promise<BuildOutcome> {
    const r = await super.build(req);
    if (r.ok) this.built.add(r.imageId);
    return r;
  }
  private holds(ref: string) {
    return this.tags.has(ref) || [...this.tags.values()].includes(ref) || this.built.has(ref);
  }
  override async hasImage(ref: string) {
    return this.holds(ref);
  }
  override async tag(src: string, dst: string) {
    if (!this.holds(src)) throw new EngineError(`Error response from daemon: No such image: ${src}`);
    await super.tag(src, dst);
  }
  override async save(refs: string | readonly string[], file: string) {
    const list = typeof refs === 'string' ? [refs] : [...refs];
    if (list.some((r) => !this.tags.has(r))) throw new EngineError('docker save failed (exit 1)', 'Error response from daemon: reference does not exist\n');
    writeFileSync(file, JSON.stringify(list.map((r) => [r, this.tags.get(r)])));
  }
  override async push(ref: string) {
    this.pushed.push([ref, this.tags.get(ref)]);
  }
}
/** What a folder the AsDocker engine exported to holds: the archive's names with their images, and index.json's keys. */
const exportedTo = (cache: string) => ({
  archive: JSON.parse(readFileSync(path.join(cache, 'rep-cache.tar'), 'utf8')) as [string, string][],
  keys: (JSON.parse(readFileSync(path.join(cache, 'index.json'), 'utf8')) as { keys: string[] }).keys,
});
/** A project of one step on busybox (which the engine has), and that step's key as a build would work it out. */
async function oneStep(engine: Engine, run = 'echo one'): Promise<{ dir: string; key: string }> {
  const dir = makeProject({ Repfile: `rep: 1\nname: n\nbase: busybox:latest\nsteps:\n  one:\n    run: ${run}\nreproducible: false\n` });
  dirs.push(dir);
  const planned = await build(open(dir), { engine, dryRun: true });
  if (!planned.ok) throw new Error(planned.errors.map(formatDiagnostic).join('\n'));
  return { dir, key: planned.value.steps[0]!.key };
}

const dirSpec = (dir: string) => ({ kind: 'dir', path: dir, text: `dir://${dir}` }) as CacheSpec;
/** The engine's tags in `repo` (rep-cache, or the private one an archive is loaded under), sorted. */
const tagsIn = (engine: TaggedEngine, repo: string) => [...engine.tags.keys()].filter((t) => t.startsWith(`${repo}:`)).sort();

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

  it('is copied for the engine as it is, but for its names: each step image under the private name asked for, every other byte the same', async () => {
    const d = temp();
    const layer = 'x'.repeat(1500);
    const file = await archive(path.join(d, 'a.tar'), [
      ['l1/layer.tar', layer],
      ['l1/json', '{}'],
      ['manifest.json', JSON.stringify([{ Config: 'c.json', RepoTags: [`rep-cache:${K1}`, `localhost/rep-cache:${K2}`], Layers: ['l1/layer.tar'], Extra: 1 }])],
      ['c.json', '{"config":{}}'],
      ['repositories', JSON.stringify({ 'rep-cache': { [K1]: 'x' }, 'localhost/rep-cache': { [K2]: 'y' } })],
      ['index.json', JSON.stringify({ schemaVersion: 2, manifests: [{ digest: 'sha256:0', annotations: { 'io.containerd.image.name': `docker.io/library/rep-cache:${K2}`, 'org.opencontainers.image.ref.name': K2, other: 'kept' } }] })],
    ]);
    const copy = path.join(d, 'copy.tar');
    expect(await privateCopy(file, copy, { repo: 'own/load', tag: (hex) => `p-${hex}` })).toEqual([K1, K2]);
    const entries = async (f: string) => {
      const out: [string, string][] = [];
      const extract = tar.extract();
      extract.on('entry', (h, stream, next) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c) => void chunks.push(c as Buffer));
        stream.on('end', () => (out.push([h.name, Buffer.concat(chunks).toString()]), next()));
      });
      const done = new Promise<void>((r) => extract.on('finish', () => r()));
      extract.end(readFileSync(f));
      await done;
      return out;
    };
    const [was, now] = [await entries(file), await entries(copy)];
    expect(now.map(([n]) => n)).toEqual(was.map(([n]) => n));
    const named = new Set(['manifest.json', 'repositories', 'index.json']);
    expect(now.filter(([n]) => !named.has(n))).toEqual(was.filter(([n]) => !named.has(n)));
    const json = (n: string) => JSON.parse(now.find(([m]) => m === n)![1]) as unknown;
    expect(json('manifest.json')).toEqual([{ Config: 'c.json', RepoTags: [`own/load:p-${K1}`, `own/load:p-${K2}`], Layers: ['l1/layer.tar'], Extra: 1 }]);
    expect(json('repositories')).toEqual({ 'own/load': { [`p-${K1}`]: 'x', [`p-${K2}`]: 'y' } });
    expect(json('index.json')).toEqual({ schemaVersion: 2, manifests: [{ digest: 'sha256:0', annotations: { 'io.containerd.image.name': `docker.io/own/load:p-${K2}`, 'org.opencontainers.image.ref.name': `p-${K2}`, other: 'kept' } }] });
    // A tar to the end as the original: its blocks, but for the naming files written anew.
    expect(readFileSync(copy).length % 512).toBe(0);
  });

  it('is copied whole wherever a piece read ends: in a body, an extended header, a naming file\'s header or body', async () => {
    const d = temp();
    // rep reads a megabyte at a time: the layer's size moves the naming file across that line, block by block.
    for (let k = 0; k < 10; k++) {
      const pack = tar.pack();
      pack.entry({ name: `l/${'n'.repeat(120)}` }, 'long name, in a pax header');
      pack.entry({ name: 'l/layer.tar' }, Buffer.alloc((1 << 20) - 4096 + k * 512 - 5, 7));
      pack.entry({ name: 'manifest.json', pax: { comment: 'c'.repeat(600) } }, manifest(`rep-cache:${K1}`));
      pack.entry({ name: 'repositories' }, JSON.stringify({ 'rep-cache': { [K1]: 'x' } }));
      pack.finalize();
      const chunks: Buffer[] = [];
      for await (const c of pack) chunks.push(c as Buffer);
      const file = path.join(d, `${k}.tar`);
      writeFileSync(file, Buffer.concat(chunks));
      const copy = path.join(d, `${k}.copy.tar`);
      expect(await privateCopy(file, copy, { repo: 'own/load', tag: (hex) => `p-${hex}` })).toEqual([K1]);
      const list = (f: string) => execFileSync('tar', ['-tf', f], { encoding: 'utf8' });
      expect(list(copy), String(k)).toBe(list(file));
      expect(execFileSync('tar', ['-xOf', copy, 'manifest.json'], { encoding: 'utf8' })).toBe(manifest(`own/load:p-${K1}`));
      const layer = (f: string) => execFileSync('tar', ['-xOf', f, 'l/layer.tar'], { maxBuffer: 4 << 20 });
      expect(layer(copy).equals(layer(file))).toBe(true);
    }
  });

  it('is refused when it would tag anything else, hides a name behind a link or a second manifest.json, or has none', async () => {
    const d = temp();
    const cases: [string, [string, string][], RegExp][] = [
      ['another tag', [['manifest.json', manifest(`rep-cache:${K1}`, 'debian:bookworm')]], /would tag "debian:bookworm", which is not a step image/],
      ['a legacy name', [['manifest.json', manifest(`rep-cache:${K1}`)], ['repositories', JSON.stringify({ busybox: { latest: 'x' } })]], /would tag "busybox:latest"/],
      ['an OCI name', [['manifest.json', manifest(`rep-cache:${K1}`)], ['index.json', JSON.stringify({ manifests: [{ annotations: { 'io.containerd.image.name': 'docker.io/library/debian:12' } }] })]], /would tag "docker.io\/library\/debian:12"/],
      ['a link', [['evil.json', manifest('debian:bookworm')], ['manifest.json', '->evil.json']], /manifest.json in the archive is not a plain file/],
      ['a second one', [['manifest.json', manifest(`rep-cache:${K1}`)], ['./x/../manifest.json', manifest('debian:bookworm')]], /manifest.json is in the archive twice/],
      ['one under a link', [['manifest.json', manifest(`rep-cache:${K1}`)], ['a', '->.'], ['a/manifest.json', manifest('debian:bookworm')]], /a\/manifest.json in the archive lies under a link the archive makes/],
      ['podman\'s other spelling', [['manifest.json', manifest(`docker.io/library/rep-cache:${K1}`)]], /would tag "docker.io\/library\/rep-cache:/],
      // Go matches JSON keys to struct fields without case, the last of two winning (ſ as s, the Kelvin sign as k).
      ...(['repotags', 'REPOTAGS', 'RepoTag\u017f'].map((k) => [`RepoTags then ${k}`, [['manifest.json', `[{"Config":"c.json","Layers":[],"RepoTags":["rep-cache:${K1}"],"${k}":["debian:bookworm"]}]`]], /manifest.json in the archive spells a field otherwise/]) as [string, [string, string][], RegExp][]),
      ['an index\'s Manifests', [['manifest.json', manifest(`rep-cache:${K1}`)], ['index.json', JSON.stringify({ Manifests: [{ annotations: { 'io.containerd.image.name': 'debian:12' } }] })]], /index.json in the archive spells a field otherwise/],
      ['a descriptor\'s Annotations', [['manifest.json', manifest(`rep-cache:${K1}`)], ['index.json', JSON.stringify({ manifests: [{ Annotations: { 'io.containerd.image.name': 'debian:12' } }] })]], /index.json in the archive spells a field otherwise/],
      ['none', [['c.json', '{}']], /has no manifest.json/],
      // An image no tag names would be loaded to stay, named by none (a review).
      ['an unnamed image', [['manifest.json', manifest()]], /manifest.json in the archive has an image that names no step image/],
      ['not JSON', [['manifest.json', '[']], /manifest.json in the archive is not JSON/],
    ];
    for (const [what, files, message] of cases) {
      const file = await archive(path.join(d, `${what}.tar`), files);
      await expect(archiveStepKeys(file), what).rejects.toThrow(message);
      // The copy the engine loads is made by the same reading, and refused alike.
      await expect(privateCopy(file, path.join(d, `${what}.copy.tar`), { repo: LOAD_REPO, tag: (hex) => hex }), what).rejects.toThrow(message);
    }
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

  it('is loaded from a copy of its own that names its step images privately, and gives a step image tag only to a key asked for', async () => {
    const d = temp();
    await archive(path.join(d, 'rep-cache.tar'), [['manifest.json', manifest(`rep-cache:${K1}`, `rep-cache:${K2}`)]]);
    const engine = new Fake(new Map([[`rep-cache:${K1}`, ID('1')]]), ID('f'));
    const from = new CacheFrom(engine, [dirSpec(d)]);
    expect(await from.fetch(`sha256:${K2}`)).toBe(`dir://${d}`);
    // Not the folder's file (which may change under the checks), and gone once loaded.
    expect(engine.loaded).toHaveLength(1);
    expect(path.dirname(engine.loaded[0]!)).not.toBe(d);
    expect(existsSync(engine.loaded[0]!)).toBe(false);
    expect([engine.tags.get(`rep-cache:${K1}`), engine.tags.get(`rep-cache:${K2}`)]).toEqual([ID('1'), ID('f')]);
    expect(tagsIn(engine, LOAD_REPO).map((t) => t.slice(-64))).toEqual([K1, K2]);
    await from.release();
    expect([tagsIn(engine, LOAD_REPO), tagsIn(engine, 'rep-cache')]).toEqual([[], [`rep-cache:${K1}`, `rep-cache:${K2}`]]);
  });
});

describe('a cache folder loaded', () => {
  it('that fails halfway (docker tags each image as it loads it) leaves no name of its images, and the step image tags as they were', async () => {
    const d = temp();
    await archive(path.join(d, 'rep-cache.tar'), [['manifest.json', manifest(`rep-cache:${K1}`)]]);
    const engine = new FailsHalfway(new Map([[`rep-cache:${K1}`, ID('1')]]), ID('f'));
    const events: BuildEvent[] = [];
    expect(await new CacheFrom(engine, [dirSpec(d)], (e) => events.push(e)).fetch(`sha256:${K2}`)).toBeUndefined();
    expect(engine.tags.get(`rep-cache:${K1}`)).toBe(ID('1'));
    expect(tagsIn(engine, LOAD_REPO)).toEqual([]);
    expect(events).toEqual([{ type: 'cache-unused', from: `dir://${d}`, why: 'docker load failed: the second image has no config' }]);
  });
});

describe('the step images a cache folder has', () => {
  const K3 = '3'.repeat(64);

  it('are no step image tags while the build runs, but for the keys its steps ask for: another project on the engine, asking meanwhile, builds its own (found by a review)', async () => {
    const d = temp();
    await archive(path.join(d, 'rep-cache.tar'), [['manifest.json', manifest(`rep-cache:${K1}`, `rep-cache:${K2}`, `rep-cache:${K3}`)]]);
    const engine = new Fake(new Map([[`rep-cache:${K3}`, ID('3')]]), ID('f'));
    // What a second project's build sees the moment the load is done: its step of key K1 is not there.
    const seen: string[][] = [];
    engine.afterLoad = async () => void seen.push(tagsIn(engine, 'rep-cache'));
    const from = new CacheFrom(engine, [dirSpec(d)]);
    expect(await from.fetch(`sha256:${K2}`)).toBe(`dir://${d}`);
    expect(seen).toEqual([[`rep-cache:${K3}`]]);
    expect(await engine.hasImage(`rep-cache:${K1}`)).toBe(false);
    expect(tagsIn(engine, 'rep-cache')).toEqual([`rep-cache:${K2}`, `rep-cache:${K3}`]);
    await from.release();
    // K3 the engine had: its image, not the archive's, before and after.
    expect([...engine.tags].sort()).toEqual([[`rep-cache:${K2}`, ID('f')], [`rep-cache:${K3}`, ID('3')]]);
    expect(engine.removed.every((r) => r.startsWith(`${LOAD_REPO}:`))).toBe(true);
  });

  it('never move a step image tag another build makes while the archive loads, nor one it made before a step asked for its key (found by a review)', async () => {
    const d = temp();
    await archive(path.join(d, 'rep-cache.tar'), [['manifest.json', manifest(`rep-cache:${K1}`, `rep-cache:${K2}`)]]);
    const engine = new Fake(new Map(), ID('f'));
    // Project B, on the same engine, builds its step of key K1 between this build's look at the engine and the load.
    engine.beforeLoad = () => void engine.tags.set(`rep-cache:${K1}`, ID('b'));
    const from = new CacheFrom(engine, [dirSpec(d)]);
    expect(await from.fetch(`sha256:${K2}`)).toBe(`dir://${d}`);
    expect(engine.tags.get(`rep-cache:${K1}`)).toBe(ID('b'));
    // A step of this build of key K1 that found no image before B made it: B's is taken, not replaced.
    expect(await from.fetch(`sha256:${K1}`)).toBe(`dir://${d}`);
    await from.release();
    expect([...engine.tags].sort()).toEqual([[`rep-cache:${K1}`, ID('b')], [`rep-cache:${K2}`, ID('f')]]);
  });

  it('from a registry never move a step image tag another build made while the pull ran: the step is found, the image is that build\'s (a review)', async () => {
    const engine = new Fake(new Map(), ID('f'), new Set([`127.0.0.1:5000/c:${K1}`]));
    const pull = engine.pull.bind(engine);
    engine.pull = async (ref: string) => {
      // Project B builds its step of key K1 while the pull runs.
      engine.tags.set(`rep-cache:${K1}`, ID('b'));
      return pull(ref);
    };
    const from = new CacheFrom(engine, [{ kind: 'registry', repo: '127.0.0.1:5000/c', text: 'registry://127.0.0.1:5000/c' }]);
    expect(await from.fetch(`sha256:${K1}`)).toBe('registry://127.0.0.1:5000/c');
    expect(engine.tags.get(`rep-cache:${K1}`)).toBe(ID('b'));
    expect(engine.tags.has(`127.0.0.1:5000/c:${K1}`)).toBe(false);
  });

  it('are not a cached step to another project\'s build that runs meanwhile without a cache: it builds its step', async () => {
    const engine = new Builds(new Map([['busybox:latest', ID('0')]]), ID('e'));
    const a = await oneStep(engine, 'echo a');
    const b = await oneStep(engine, 'echo b');
    const cache = path.join(a.dir, 'ci-cache');
    mkdirSync(cache);
    // Project A's cache folder has an image of its own making for B's key too.
    await archive(path.join(cache, 'rep-cache.tar'), [['manifest.json', manifest(`rep-cache:${a.key.slice(7)}`, `rep-cache:${b.key.slice(7)}`)]]);
    const other: BuildEvent[] = [];
    engine.afterLoad = async () => {
      const r = await build(open(b.dir), { engine, onEvent: (e) => other.push(e) });
      expect(r.ok && r.value.ok, JSON.stringify(r)).toBe(true);
    };
    const r = await build(open(a.dir), { engine, cacheFrom: [dirSpec(cache)] });
    expect(r.ok && r.value.ok, JSON.stringify(r)).toBe(true);
    expect(other.filter((e) => e.type === 'step-building' || e.type === 'step-cached').map((e) => e.type)).toEqual(['step-building']);
    expect([engine.tags.get(`rep-cache:${a.key.slice(7)}`), engine.tags.get(`rep-cache:${b.key.slice(7)}`)]).toEqual([ID('e'), ID('b')]);
    expect(tagsIn(engine, LOAD_REPO)).toEqual([]);
  });

  it('leave no name by a load that failed halfway', async () => {
    const d = temp();
    await archive(path.join(d, 'rep-cache.tar'), [['manifest.json', manifest(`rep-cache:${K1}`)]]);
    const engine = new FailsHalfway(new Map(), ID('f'));
    const from = new CacheFrom(engine, [dirSpec(d)]);
    expect(await from.fetch(`sha256:${K2}`)).toBeUndefined();
    await from.release();
    expect([...engine.tags]).toEqual([]);
  });

  it('leave only the one its step has after a build that took it', async () => {
    const engine = new Builds(new Map([['busybox:latest', ID('0')]]), ID('f'));
    const { dir, key } = await oneStep(engine);
    const cache = path.join(dir, 'ci-cache');
    mkdirSync(cache);
    await archive(path.join(cache, 'rep-cache.tar'), [['manifest.json', manifest(`rep-cache:${K1}`, `rep-cache:${key.slice(7)}`)]]);
    const events: BuildEvent[] = [];
    const r = await build(open(dir), { engine, cacheFrom: [dirSpec(cache)], onEvent: (e) => events.push(e) });
    expect(r.ok && r.value.ok, JSON.stringify(r)).toBe(true);
    expect(events).toContainEqual({ type: 'step-pulled', step: 'one', key, from: `dir://${cache}` });
    expect(tagsIn(engine, 'rep-cache')).toEqual([`rep-cache:${key.slice(7)}`]);
    expect(tagsIn(engine, LOAD_REPO)).toEqual([]);
  });

  it('are there for a step keyed by its producer\'s outputs, whose key no plan knows before the producer is measured', async () => {
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
    expect(tagsIn(engine, 'rep-cache')).toEqual(keys.map((k) => `rep-cache:${k.slice(7)}`).sort());
    expect(tagsIn(engine, LOAD_REPO)).toEqual([]);
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
    await exportCache(new Fake(new Map([[`rep-cache:${K1}`, ID('1')]])), dirSpec(cache), [{ key: `sha256:${K1}`, image: ID('1') }]);
    expect(readdirSync(cache).sort()).toEqual([`.rep-cache.${process.ppid}.bbbbbbbbbbbb.tmp`, '.rep-cache.999999998.cccccccccccc.tmp', 'index.json', 'rep-cache.tar', ...Array.from({ length: 11 }, (_, i) => `rep-cache.tar.${process.pid - 5 + i}.tmp`)].sort());
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(readFileSync(path.join(cache, 'rep-cache.tar'), 'utf8')).toBe(`saved rep-cache:${K1}`);
  });

  it('that is not one rep can write (a folder at rep-cache.tar or index.json, a file at the folder) is said, not thrown, and nothing is written through it', async () => {
    const d = temp();
    const keys = [{ key: `sha256:${K1}`, image: ID('1') }];
    const engine = () => new Fake(new Map([[`rep-cache:${K1}`, ID('1')]]));
    const archiveDir = path.join(d, 'a');
    mkdirSync(path.join(archiveDir, 'rep-cache.tar', 'kept'), { recursive: true });
    expect(await exportCache(engine(), dirSpec(archiveDir), keys)).toEqual({ unwritten: 'rep-cache.tar in it is a folder, which rep leaves alone' });
    expect(readdirSync(archiveDir)).toEqual(['rep-cache.tar']);
    expect(readdirSync(path.join(archiveDir, 'rep-cache.tar'))).toEqual(['kept']);
    const indexDir = path.join(d, 'i');
    mkdirSync(path.join(indexDir, 'index.json'), { recursive: true });
    expect(await exportCache(engine(), dirSpec(indexDir), keys)).toEqual({ unwritten: 'index.json in it is a folder, which rep leaves alone' });
    expect(readdirSync(indexDir)).toEqual(['index.json']);
    writeFileSync(path.join(d, 'f'), 'a file');
    expect(await exportCache(engine(), dirSpec(path.join(d, 'f')), keys)).toEqual({ unwritten: 'it is not a folder' });
    expect(await exportCache(engine(), dirSpec(path.join(d, 'f', 'under')), keys)).toMatchObject({ unwritten: expect.stringMatching(/^cannot make the folder: ENOTDIR/) as unknown });
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
  // The build holds its step images under pins of its own (pins.ts) while it runs, but their rep-cache tags are every
  // project's on the engine: rep gc in another project removes one, another project's build of the key moves one.
  const PIN = (c: string) => `rep-pin/step:${process.pid}--00000000-${c.repeat(64)}`;

  it('leaves out a step whose rep-cache tag was removed while the build ran, says so, and writes the others: the save is not refused (found by a review)', async () => {
    const cache = path.join(temp(), 'cache');
    // The engine spells the id as podman prints it, the record as docker does: one image all the same.
    const engine = new AsDocker(new Map([[`rep-cache:${K1}`, '1'.repeat(64)], [PIN('2'), ID('2')]]));
    const events: BuildEvent[] = [];
    await exportSettled(engine, dirSpec(cache), [['one', { key: `sha256:${K1}`, image: ID('1') }], ['two', { key: `sha256:${K2}`, image: ID('2') }]], (e) => events.push(e));
    expect(events).toEqual([{ type: 'cache-exported', to: `dir://${cache}`, steps: 1, leftOut: [{ step: 'two', why: 'untagged' }] }]);
    expect(exportedTo(cache)).toEqual({ archive: [[`rep-cache:${K1}`, '1'.repeat(64)]], keys: [`sha256:${K1}`] });
  });

  it('never ships another project\'s image under a key whose rep-cache tag was moved to it while the build ran (found by a review)', async () => {
    const cache = path.join(temp(), 'cache');
    const engine = new AsDocker(new Map([[`rep-cache:${K1}`, ID('1')], [`rep-cache:${K2}`, ID('e')], [PIN('2'), ID('2')]]));
    const events: BuildEvent[] = [];
    await exportSettled(engine, dirSpec(cache), [['one', { key: `sha256:${K1}`, image: ID('1') }], ['two', { key: `sha256:${K2}`, image: ID('2') }]], (e) => events.push(e));
    expect(events).toEqual([{ type: 'cache-exported', to: `dir://${cache}`, steps: 1, leftOut: [{ step: 'two', why: 'moved' }] }]);
    expect(exportedTo(cache)).toEqual({ archive: [[`rep-cache:${K1}`, ID('1')]], keys: [`sha256:${K1}`] });
  });

  it('that the engine cannot save to is said, not thrown', async () => {
    const cache = path.join(temp(), 'cache');
    /** A docker whose tag is removed between rep's question and the save (the window left). */
    class Late extends AsDocker {
      override async save(refs: string | readonly string[], file: string) {
        this.tags.delete(`rep-cache:${K1}`);
        await super.save(refs, file);
      }
    }
    const events: BuildEvent[] = [];
    await exportSettled(new Late(new Map([[`rep-cache:${K1}`, ID('1')]])), dirSpec(cache), [['one', { key: `sha256:${K1}`, image: ID('1') }]], (e) => events.push(e));
    expect(events).toEqual([{ type: 'cache-unused', from: `dir://${cache}`, why: 'the engine could not save the step images: docker save failed (exit 1): Error response from daemon: reference does not exist' }]);
    expect(readdirSync(cache)).toEqual([]);
  });

  it('whose steps\' rep-cache tags were removed as the run ended leaves a build that succeeded a success, with its state recorded (found by a review)', async () => {
    const engine = new AsDocker(new Map([['busybox:latest', ID('0')]]));
    const { dir, key } = await oneStep(engine);
    const cache = path.join(dir, 'ci-cache');
    const events: BuildEvent[] = [];
    // rep gc in another project, once every step is built.
    const onEvent = (e: BuildEvent) => {
      events.push(e);
      if (e.type === 'finish') engine.tags.delete(`rep-cache:${key.slice(7)}`);
    };
    const r = await build(open(dir), { engine, cacheTo: dirSpec(cache), onEvent });
    expect(r.ok && r.value.ok, JSON.stringify(r)).toBe(true);
    expect(events.filter((e) => e.type.startsWith('cache-'))).toEqual([{ type: 'cache-exported', to: `dir://${cache}`, steps: 0, leftOut: [{ step: 'one', why: 'untagged' }] }]);
    expect(readdirSync(path.join(dir, '.rep'))).toContain('state.json');
    expect(existsSync(path.join(cache, 'rep-cache.tar'))).toBe(false);
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
  it('is sent each step\'s image as the build settled it, by its id, and passes over a step whose image is gone to send the next (found by a review)', async () => {
    // Step one's image is gone (rep gc in another project took its tag, and nothing held it); step two's rep-cache
    // tag names another project's image now, its own held by this build's pin.
    const engine = new AsDocker(new Map([[`rep-cache:${K2}`, ID('e')], [`rep-pin/step:${process.pid}--00000000-${K2}`, ID('2')]]));
    const events: BuildEvent[] = [];
    await exportSettled(engine, registry, [['one', { key: `sha256:${K1}`, image: ID('1') }], ['two', { key: `sha256:${K2}`, image: ID('2') }]], (e) => events.push(e));
    expect(engine.pushed).toEqual([[`127.0.0.1:5000/c:${K2}`, ID('2')]]);
    expect(events).toEqual([{ type: 'cache-exported', to: registry.text, steps: 1, leftOut: [{ step: 'one', why: 'gone' }] }]);
    expect([...engine.tags.keys()].filter((t) => t.startsWith('127.0.0.1:5000/'))).toEqual([]);
  });

  /**
   * A docker that builds, and pushes as docker does, from the name the image has in the engine: another build on this
   * engine exporting the same key removes that name, after its own push, as this build's push begins `vanishes` times.
   */
  class Racing extends Builds {
    pushed: string[] = [];
    constructor(private vanishes: number) {
      super(new Map([['busybox:latest', ID('0')]]));
    }
    override async push(ref: string) {
      if (this.vanishes > 0) {
        this.vanishes--;
        this.tags.delete(ref);
      }
      if (!this.tags.has(ref)) throw new EngineError('docker push failed (exit 1)', `The push refers to repository [127.0.0.1:5000/c]\nAn image does not exist locally with the tag: ${ref}\n`);
      this.pushed.push(ref);
    }
  }

  it('that another build exporting the same key takes the name from, between this one\'s tag and push, gets the step all the same (found by a review)', async () => {
    const engine = new Racing(1);
    const { dir, key } = await oneStep(engine);
    const events: BuildEvent[] = [];
    const r = await build(open(dir), { engine, cacheTo: registry, onEvent: (e) => events.push(e) });
    expect(r.ok && r.value.ok, JSON.stringify(r)).toBe(true);
    expect(engine.pushed).toEqual([`127.0.0.1:5000/c:${key.slice(7)}`]);
    expect(events.filter((e) => e.type.startsWith('cache-'))).toEqual([{ type: 'cache-exported', to: registry.text, steps: 1 }]);
    expect([...engine.tags.keys()].filter((t) => t.startsWith('127.0.0.1:5000/'))).toEqual([]);
  });

  it('that still cannot take a step leaves a build that succeeded a success, with its state recorded: the cache is said not used', async () => {
    const engine = new Racing(2);
    const { dir, key } = await oneStep(engine);
    const events: BuildEvent[] = [];
    const r = await build(open(dir), { engine, cacheTo: registry, onEvent: (e) => events.push(e) });
    expect(r.ok && r.value.ok, JSON.stringify(r)).toBe(true);
    const name = `127.0.0.1:5000/c:${key.slice(7)}`;
    expect(events.filter((e) => e.type.startsWith('cache-'))).toEqual([{ type: 'cache-unused', from: registry.text, why: `cannot push ${name}: docker push failed (exit 1): An image does not exist locally with the tag: ${name}` }]);
    expect(readdirSync(path.join(dir, '.rep'))).toContain('state.json');
    expect([...engine.tags.keys()].filter((t) => t.startsWith('127.0.0.1:5000/'))).toEqual([]);
  });
});
