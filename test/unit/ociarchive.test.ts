// image.oci.tar without an engine: made from a docker-save-like archive whose
// bytes are checked as they pass, the same bytes whatever order the engine's
// archive had, and read back by rep's own archive reader as an OCI layout.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { imageProblems, readImageArchive } from '../../src/publish/imagearchive.js';
import { writeOciArchive } from '../../src/publish/ociarchive.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

async function tarOf(entries: { name: string; body: Buffer | string }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, mtime: new Date(1234567890000), uid: 1000, uname: 'me' }, e.body);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const dirs: string[] = [];
const work = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'rep-oci-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A docker-save archive of one image with layers a and b, in the given entry order. */
async function saved(reverse: boolean) {
  const a = await tarOf([{ name: 'a', body: 'a' }]);
  const b = await tarOf([{ name: 'b', body: 'b' }]);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha(a)}`, `sha256:${sha(b)}`] } }));
  const entries = [
    { name: `${sha(config)}.json`, body: config },
    { name: 'la/layer.tar', body: a },
    { name: 'lb/layer.tar', body: b },
    { name: 'manifest.json', body: JSON.stringify([{ Config: `${sha(config)}.json`, RepoTags: ['paper:latest'], Layers: ['la/layer.tar', 'lb/layer.tar'] }]) },
  ];
  return { tar: await tarOf(reverse ? entries.reverse() : entries), config: sha(config), layers: [sha(a), sha(b)] };
}

async function convert(archive: Buffer, tag = 'rep-test/paper:latest'): Promise<Buffer> {
  const dir = work();
  mkdirSync(path.join(dir, 'blobs'));
  const found = await readImageArchive(Readable.from([archive]), { blobsTo: path.join(dir, 'blobs') });
  expect(found.problems).toEqual([]);
  expect(found.images).toHaveLength(1);
  await writeOciArchive(found.images[0]!, tag, path.join(dir, 'blobs'), path.join(dir, 'image.oci.tar'), new Date(0));
  return readFileSync(path.join(dir, 'image.oci.tar'));
}

describe('image.oci.tar', () => {
  it('is an OCI layout (and a docker archive) of the same image, which rep reads back without a problem', async () => {
    const s = await saved(false);
    const oci = await convert(s.tar);
    const found = await readImageArchive(Readable.from([oci]), { label: 'image.oci.tar' });
    expect(found).toMatchObject({ configs: [s.config], tags: ['rep-test/paper:latest'], problems: [] });
    expect(found.images.map((i) => [i.config.sha256, i.layers.map((l) => l.sha256)])).toEqual([[s.config, s.layers]]);
    const headers: tar.Header[] = [];
    const extract = tar.extract();
    extract.on('entry', (h, body, next) => {
      headers.push(h);
      body.on('end', next);
      body.resume();
    });
    await new Promise<void>((resolve) => {
      extract.on('finish', () => resolve());
      extract.end(oci);
    });
    const names = headers.map((h) => h.name);
    expect(names).toEqual([...names].sort());
    expect(names.filter((n) => !n.startsWith('blobs/sha256/'))).toEqual(['blobs/', 'index.json', 'manifest.json', 'oci-layout']);
    expect(headers.every((h) => h.uid === 0 && h.gid === 0 && h.uname === '' && h.mtime?.getTime() === 0)).toBe(true);
  });

  it('names an untagged image NAME:latest, which verify takes for the statement\'s tag', async () => {
    const s = await saved(false);
    const found = await readImageArchive(Readable.from([await convert(s.tar, 'rep-test/paper')]), { label: 'image.oci.tar' });
    expect(found.tags).toEqual(['rep-test/paper:latest']);
    expect(imageProblems(found, s.config, 'rep-test/paper')).toEqual([]);
    expect(imageProblems(found, s.config, 'rep-test/other')).toEqual(['image.oci.tar names its image rep-test/paper:latest, not rep-test/other: loading it would tag one of your images']);
  });

  it('has the same bytes whatever order the engine wrote its archive in', async () => {
    expect((await convert((await saved(true)).tar)).equals(await convert((await saved(false)).tar))).toBe(true);
  });

  it('is never made from an archive whose bytes disagree with its digests', async () => {
    const s = await saved(false);
    const bad = Buffer.from(s.tar.toString('latin1').replace('"diff_ids":["sha256:', '"diff_ids":["sha256:0'), 'latin1');
    const dir = work();
    const found = await readImageArchive(Readable.from([bad]), { blobsTo: dir });
    expect(found.problems.length).toBeGreaterThan(0);
    // Every stored file is named by its own sha256.
    for (const f of readdirSync(dir)) expect(sha(readFileSync(path.join(dir, f)))).toBe(f);
  });
});
