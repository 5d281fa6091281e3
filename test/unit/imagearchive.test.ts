// The image archive reader (a stranger's image.oci.tar or image.tar, read by
// `rep verify`) against archives of a few kilobytes made to cost it minutes:
// indexes that list one manifest over and over, a name of tens of thousands
// of parts. Each is answered at once, with what it found or a problem saying
// why it read no further.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { readImageArchive } from '../../src/publish/imagearchive.js';
import { paxBody, rawEntry, rawTar } from './rawtar.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

async function tarOf(entries: { name: string; body: Buffer | string }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, mtime: new Date(0) }, e.body);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const read = async (b: Buffer) => readImageArchive(Readable.from([b]), { label: 'image.oci.tar' });

const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/**
 * An OCI layout whose index.json lists an index `times` times, which lists another `times` times,
 * which lists `manifest` `times` times, each listing naming the image paper:latest: one manifest
 * reached times^3 ways.
 */
async function nested(manifest: Buffer, times: number, blobs: Buffer[] = []): Promise<Buffer> {
  const ref = { 'org.opencontainers.image.ref.name': 'paper:latest' };
  const listing = (b: Buffer, mediaType: string) => Array.from({ length: times }, () => ({ mediaType, digest: `sha256:${sha(b)}`, size: b.length, annotations: ref }));
  const inner = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: listing(manifest, MANIFEST) }));
  const middle = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: listing(inner, INDEX) }));
  const index = JSON.stringify({ schemaVersion: 2, manifests: listing(middle, INDEX) });
  return tarOf([
    { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
    { name: 'index.json', body: index },
    ...[middle, inner, manifest, ...blobs].map((b) => ({ name: `blobs/sha256/${sha(b)}`, body: b })),
  ]);
}

describe('indexes that list a manifest over and over (found by an adversarial review)', () => {
  it('read each index and manifest once: what is wrong with the manifest is said once, not once per way to it', async () => {
    // 20 x 20 x 20: the reader went through the manifest 8,000 times, and said so 8,000 times.
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: {} }));
    const found = await read(await nested(manifest, 20));
    expect(found.problems).toEqual([`image.oci.tar: blobs/sha256/${sha(manifest)} is not an image manifest (config, layers)`]);
    expect(found.tags).toEqual(['paper:latest']);
  });

  it('find the image once, named once, through 160 x 160 x 160 listings (an archive of 83 KB took 22 s and 94 MB)', async () => {
    const layer = await tarOf([{ name: 'a', body: 'a' }]);
    const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layer)}`] } }));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: `sha256:${sha(config)}` }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${sha(layer)}` }] }));
    const found = await read(await nested(manifest, 160, [config, layer]));
    expect(found).toMatchObject({ configs: [sha(config)], tags: ['paper:latest'], problems: [] });
    expect(found.images).toHaveLength(1);
  });

  it('stop past 1,000 listings in all, saying so once', async () => {
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: {} }));
    const listing = { mediaType: MANIFEST, digest: `sha256:${sha(manifest)}`, size: manifest.length };
    const found = await read(await tarOf([
      { name: 'index.json', body: JSON.stringify({ schemaVersion: 2, manifests: Array.from({ length: 1001 }, () => listing) }) },
      { name: `blobs/sha256/${sha(manifest)}`, body: manifest },
    ]));
    expect(found.problems).toEqual([
      `image.oci.tar: blobs/sha256/${sha(manifest)} is not an image manifest (config, layers)`,
      'image.oci.tar: its indexes list more than 1000 manifests; rep reads no further',
    ]);
  });
});

describe('an entry of a name no file system holds (found by an adversarial review)', () => {
  const withName = (name: string, o: { type?: string; linkname?: string } = {}) => {
    const records = paxBody('path', name) + (o.linkname === undefined ? '' : paxBody('linkpath', o.linkname));
    return rawTar(rawEntry({ name: 'PaxHeader', type: 'x', body: records }), rawEntry({ name: 'x', type: o.type ?? '0', body: o.type ? '' : 'x' }));
  };
  const NO_IMAGE = 'image.oci.tar holds no manifest.json or index.json: it is not an image archive';

  it('is refused, saying why: a name of 65,536 parts (128 KiB of pax header) took 27 s', async () => {
    const name = 'a/'.repeat(65_535) + 'a';
    expect((await read(withName(name))).problems).toEqual([`image.oci.tar: entry "${'a/'.repeat(100)}..." has a name longer than 4096 bytes`, NO_IMAGE]);
  });

  it('is refused past 4096 bytes or 256 folders, as a layer path is, and kept at 256', async () => {
    const deep = (n: number) => Array.from({ length: n }, () => 'd').join('/');
    expect((await read(withName(deep(257)))).problems).toEqual([`image.oci.tar: entry "${deep(257).slice(0, 200)}..." has a name more than 256 folders deep`, NO_IMAGE]);
    expect((await read(withName(`${'n'.repeat(4097)}`))).problems[0]).toMatch(/^image\.oci\.tar: entry "n{200}\.\.\." has a name longer than 4096 bytes$/);
    expect((await read(withName(deep(256)))).problems).toEqual([NO_IMAGE]);
    // A hard link whose target is such a name.
    expect((await read(rawTar(rawEntry({ name: 'f', type: '0', body: 'f' }), withName('l', { type: '1', linkname: deep(300) }).subarray(0, -1024)))).problems).toEqual([
      `image.oci.tar: entry l links to "${deep(300).slice(0, 200)}...": the target is more than 256 folders deep`,
      NO_IMAGE,
    ]);
  });
});
