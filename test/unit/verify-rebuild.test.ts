// `rep verify --rebuild` with a stand-in engine (a Map of tags, builds that
// tag a new id, an export of files the test names): what a rebuild leaves in
// the engine when it fails on the way, and what a bundle that does not
// promise its digest (`reproducible: false`) is compared with. Found by an
// adversarial review; test/integration/publish.test.ts rebuilds real bundles.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tar from 'tar-stream';
import { prettyJson } from '../../src/canonical.js';
import { describe, expect, it } from 'vitest';
import { build } from '../../src/build.js';
import { formatDiagnostic } from '../../src/diag.js';
import { NoneEngine } from '../../src/engine/none.js';
import type { Statement } from '../../src/emit/provenance.js';
import type { BuildOutcome, BuildRequest } from '../../src/engine/engine.js';
import { readFilesystemTar } from '../../src/publish/filesystem.js';
import { publish } from '../../src/publish/publish.js';
import { verifyBundle } from '../../src/publish/verify.js';
import { makeProject, open, tempFolders, TaggedEngine } from '../helpers.js';

const folders = tempFolders();
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const ID = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

type Entry = { name: string; body?: string; type?: 'file' | 'directory' | 'link'; linkname?: string; mode?: number };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = { name: e.name, type, linkname: e.linkname, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: 0, gid: 0, mtime: new Date(0) };
    if (type === 'file') pack.entry(header, Buffer.from(e.body ?? ''));
    else pack.entry(header);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A docker that builds: each build tags a new image id; its containers export `files`; `save` writes no archive rep reads. */
class Stand extends TaggedEngine {
  override readonly name = 'docker' as const;
  private next = 100;
  /** The tags of the images it built, in order: the one asked of the build, or for a build asked none, the first it was given. */
  readonly built: string[] = [];
  /** Images it built untagged, not tagged since. */
  private readonly unnamed = new Set<string>();
  constructor(
    tags: Map<string, string>,
    private readonly files: Entry[] = [],
  ) {
    super(tags);
  }
  override async tag(src: string, dst: string) {
    await super.tag(src, dst);
    if (this.unnamed.delete(src)) this.built.push(dst);
  }
  override async build(req: BuildRequest): Promise<BuildOutcome> {
    const id = ID(this.next++);
    if (req.tag === undefined) this.unnamed.add(id);
    else {
      this.tags.set(req.tag, id);
      this.built.push(req.tag);
    }
    return { ok: true, imageId: id };
  }
  override async removeImage(ref: string) {
    this.tags.delete(ref);
  }
  override async save(_refs: string | readonly string[], file: string) {
    writeFileSync(file, 'not an image archive');
  }
  override async exportFilesystem(_ref: string, file: string) {
    writeFileSync(file, await tarOf(this.files));
  }
  cacheTags(): string[] {
    return [...this.tags.keys()].filter((t) => t.startsWith('rep-cache:')).sort();
  }
}

const failures = (r: { checks: { name: string; ok: boolean; detail: string[] }[] }) => r.checks.filter((c) => !c.ok).map((c) => [c.name, ...c.detail]);

/** A bundle of `repfile` published without an engine, and its project. */
async function bundleOf(repfile: string): Promise<{ dir: string; bundle: string }> {
  const dir = folders.add(makeProject({ Repfile: repfile, 'data/x': 'x\n' }));
  const bundle = path.join(folders.make('rep-verify-bundle-'), 'b');
  const r = await publish(open(dir), { engine: new NoneEngine(), out: bundle });
  if (!r.ok) throw new Error(r.errors.map(formatDiagnostic).join('\n'));
  return { dir, bundle };
}

describe('rep verify --rebuild: a rebuild that fails after its steps were built', () => {
  it('leaves no rep-cache image it made (the reproducible rewrite failed); the ones there before stay', async () => {
    const repfile = `rep: 1
name: paper
base: busybox:latest
steps:
  data:
    inputs: [data/]
    run: cp data/x /x
  more:
    needs: [data]
    run: echo more > /more
image:
  cmd: [cat, /x]
`;
    const { dir, bundle } = await bundleOf(repfile);
    const other = `rep-cache:${'e'.repeat(64)}`;
    // The keys the rebuild works out are the stand-in's (its base image's id is in them), not the bundle's.
    const planned = await build(open(dir), { engine: new Stand(new Map([['busybox:latest', ID(1)]])), dryRun: true });
    if (!planned.ok) throw new Error(planned.errors.map(formatDiagnostic).join('\n'));
    const [data, more] = planned.value.steps.map((s) => `rep-cache:${s.key.slice(7)}`);
    /** The first step's image is there already (the reviewer built the same step): the rebuild finds it, and must not remove it. */
    const reviewers = <T extends Stand>(engine: T) => {
      for (const [t, id] of [['busybox:latest', ID(1)], [other, ID(2)], [data!, ID(3)]] as const) engine.tags.set(t, id);
      return engine;
    };
    const engine = reviewers(new Stand(new Map()));
    const r = await verifyBundle(bundle, { rebuild: { engine } });
    expect(failures(r)).toEqual([['rebuild', expect.stringMatching(/^rep: cannot write the reproducible image: /)]]);
    // It built the second step and the final image (CMD) on it, tagged rep-cache:KEY each: gone again.
    expect(engine.built).toEqual([more, expect.stringMatching(/^rep-cache:[0-9a-f]{64}$/)]);
    expect(engine.cacheTags()).toEqual([data!, other].sort());

    // A build that throws on the way (here the engine's save) leaves none either.
    const throwing = reviewers(
      new (class extends Stand {
        override async save(): Promise<void> {
          throw new Error('the disk is full');
        }
      })(new Map()),
    );
    await expect(verifyBundle(bundle, { rebuild: { engine: throwing } })).rejects.toThrow('the disk is full');
    expect(throwing.built).toHaveLength(2);
    expect(throwing.cacheTags()).toEqual([data!, other].sort());

    // Stopped (Ctrl-C) while the bundle was read: nothing is built, pulled or tagged (it pulled and tagged: a review).
    const stopped = reviewers(new Stand(new Map()));
    const before = [...stopped.tags];
    const abort = new AbortController();
    abort.abort();
    expect(failures(await verifyBundle(bundle, { rebuild: { engine: stopped, signal: abort.signal } }))).toEqual([['rebuild', 'the rebuild was stopped (interrupted) before it began']]);
    expect(stopped.built).toEqual([]);
    expect([...stopped.tags]).toEqual(before);
  });
});

/** A docker save archive of `layers` (tar files), its image tagged paper:latest; and its config's sha256. */
async function dockerArchive(layers: Buffer[]): Promise<{ tar: Buffer; config: string }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha(l)}`) } }));
  const names = layers.map((l) => `${sha(l)}/layer.tar`);
  const pack = tar.pack();
  layers.forEach((l, i) => pack.entry({ name: names[i]!, mtime: new Date(0) }, l));
  pack.entry({ name: `${sha(config)}.json`, mtime: new Date(0) }, config);
  pack.entry({ name: 'manifest.json', mtime: new Date(0) }, Buffer.from(JSON.stringify([{ Config: `${sha(config)}.json`, RepoTags: ['paper:latest'], Layers: names }])));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return { tar: Buffer.concat(chunks), config: sha(config) };
}

/** Redoes what the bundle's author does for the files added: the statement's image, SHA256SUMS, CITE.*. */
function reseal(dir: string, config: string | undefined): void {
  if (config) {
    const stPath = path.join(dir, 'provenance.json');
    const st = JSON.parse(readFileSync(stPath, 'utf8')) as Statement;
    st.subject.push({ name: 'paper:latest', digest: { sha256: config }, annotations: { kind: 'image-config' } });
    writeFileSync(stPath, JSON.stringify(st, null, 2));
  }
  // The crate's word on each file redone too (claims.ts checks it).
  const cratePath = path.join(dir, 'ro-crate-metadata.json');
  const crate = JSON.parse(readFileSync(cratePath, 'utf8')) as { '@graph': Record<string, unknown>[] };
  for (const e of crate['@graph']) {
    const file = path.join(dir, String(e['@id']));
    if (e['@type'] === 'File' && existsSync(file)) Object.assign(e, { sha256: sha(readFileSync(file)), contentSize: String(statSync(file).size) });
  }
  writeFileSync(cratePath, JSON.stringify(crate, null, 2));
  const oldSums = readFileSync(path.join(dir, 'SHA256SUMS'));
  const files = readdirSync(dir).filter((f) => !['SHA256SUMS', 'CITE.md', 'CITE.tex'].includes(f)).sort();
  const sums = files.map((f) => `${sha(readFileSync(path.join(dir, f)))}  ${f}\n`).join('');
  writeFileSync(path.join(dir, 'SHA256SUMS'), sums);
  for (const f of ['CITE.md', 'CITE.tex']) writeFileSync(path.join(dir, f), readFileSync(path.join(dir, f), 'utf8').replaceAll(sha(oldSums), sha(sums)));
}

describe('rep verify --rebuild of a bundle that does not promise its digest (reproducible: false)', () => {
  const repfile = `rep: 1
name: paper
base: busybox:latest
steps:
  data:
    inputs: [data/]
    run: cp data/x /x
reproducible: false
`;
  // The base image's layer, and the step's.
  const base: Entry[] = [{ name: 'bin/', type: 'directory' }, { name: 'bin/sh', body: 'shell', mode: 0o755 }, { name: 'bin/ls', type: 'link', linkname: 'bin/sh' }, { name: 'etc/', type: 'directory' }, { name: 'etc/passwd', body: 'root:x:0:0\n' }];
  const step: Entry[] = [{ name: 'x', body: 'x\n' }];
  // What `docker export` of a container of it writes: its files (the hard link named the other way round), and the engine's own.
  const exported: Entry[] = [
    { name: '.dockerenv', body: '' }, { name: 'bin/', type: 'directory' }, { name: 'bin/ls', body: 'shell', mode: 0o755 }, { name: 'bin/sh', type: 'link', linkname: 'bin/ls' },
    { name: 'dev/', type: 'directory' }, { name: 'etc/', type: 'directory' }, { name: 'etc/hostname', body: 'c0ffee\n' }, { name: 'etc/passwd', body: 'root:x:0:0\n' },
    { name: 'proc/', type: 'directory' }, { name: 'work/', type: 'directory' }, { name: 'work/made/', type: 'directory' }, { name: 'x', body: 'x\n' },
  ];

  /** The bundle as its author publishes it with `--image`: image.tar of `layers`, and filesystem.json of a container of the clean image. */
  async function withImage(layers: Entry[][], o: { archive?: boolean } = {}) {
    const { bundle } = await bundleOf(repfile);
    const listing = path.join(folders.make('rep-verify-fs-'), 'fs.tar');
    writeFileSync(listing, await tarOf(exported));
    writeFileSync(path.join(bundle, 'filesystem.json'), prettyJson(await readFilesystemTar(listing)));
    const image = await dockerArchive(await Promise.all(layers.map(tarOf)));
    if (o.archive !== false) writeFileSync(path.join(bundle, 'image.tar'), image.tar);
    reseal(bundle, o.archive === false ? undefined : image.config);
    return bundle;
  }
  const rebuild = () => ({ engine: new Stand(new Map([['busybox:latest', ID(1)]]), exported) });

  it('checks filesystem.json against the image archive the statement cites: a clean list beside a backdoored image is refused', async () => {
    const honest = await withImage([base, step]);
    expect(failures(await verifyBundle(honest))).toEqual([]);
    const rebuilt = await verifyBundle(honest, { rebuild: rebuild() });
    expect(rebuilt.checks.map((c) => [c.name, c.ok])).toEqual([['checksums', true], ['subjects', true], ['signature', true], ['keys', true], ['dockerfile', true], ['rebuild', true]]);

    // The rebuild gives the clean files, which filesystem.json lists; the image shipped holds a backdoor and another passwd.
    const evil: Entry[] = [{ name: 'etc/passwd', body: 'root:x:0:0\ntoor::0:0\n' }, { name: 'usr/bin/backdoor', body: 'evil', mode: 0o4755 }];
    const backdoored = await withImage([base, step, evil]);
    expect(failures(await verifyBundle(backdoored, { rebuild: rebuild() }))).toEqual([
      [
        'rebuild',
        'the rebuild was compared with filesystem.json, which does not list the files of the image in image.tar (the image the statement cites); from filesystem.json to that image:',
        'changed  /etc/passwd: content differs',
        'added    /usr',
        'added    /usr/bin',
        'added    /usr/bin/backdoor',
      ],
    ]);
  });

  it('says, without an image archive, that nothing ties filesystem.json to the image cited', async () => {
    const bundle = await withImage([base, step], { archive: false });
    expect(failures(await verifyBundle(bundle, { rebuild: rebuild() }))).toEqual([
      ['rebuild', 'the rebuild was compared with filesystem.json only, which the bundle does not tie to the image the statement cites: with `reproducible: false` the digest is not compared, and the bundle holds no image archive to check filesystem.json against (rep publish --image writes one)'],
    ]);
  });
});
