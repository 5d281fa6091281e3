// image.oci.tar: the image as an OCI image layout in one tar (oci-layout,
// index.json, blobs/sha256/…), which skopeo, umoci, podman and Apptainer read,
// plus docker's manifest.json naming the same blobs, so `docker load` of any
// version reads it too. Made from the engine's own `save` archive, whose every
// byte imagearchive.ts checks as it passes: the config is kept byte for byte
// (its digest is the image ID), layers stay uncompressed (each blob's digest is
// its diff ID). Same image and tag, same bytes: entries sorted, one fixed mtime
// (SOURCE_DATE_EPOCH, else 0), owner 0 without names, canonical JSON.
import { closeSync, createReadStream, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { canonicalJson } from '../canonical.js';
import { archiveMtime } from '../context/tar.js';
import { sha256Hex } from '../context/hash.js';
import type { Engine } from '../engine/engine.js';
import { readImageArchive, type Blob } from './imagearchive.js';
import { fileSink, TarWriter, type TarHeader } from '../repro/tarwriter.js';

export const OCI_ARCHIVE = 'image.oci.tar';

const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
};

export interface OciImage {
  config: Blob;
  layers: Blob[];
}

/** The small files of the layout: the manifest blob, index.json, oci-layout and docker's manifest.json. */
export function layoutFiles(image: OciImage, tag: string): { manifest: Buffer; files: Map<string, Buffer> } {
  const digest = (b: Blob) => `sha256:${b.sha256}`;
  const manifest = Buffer.from(
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: { mediaType: MEDIA.config, digest: digest(image.config), size: image.config.size },
      layers: image.layers.map((l) => ({ mediaType: MEDIA.layer, digest: digest(l), size: l.size })),
    }),
  );
  // docker load takes only NAME:TAG names; a tag written without one is NAME:latest.
  const ref = /:[\w][\w.-]*$/.test(tag) ? tag : `${tag}:latest`;
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA.index,
    manifests: [{ mediaType: MEDIA.manifest, digest: `sha256:${sha256Hex(manifest)}`, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': ref } }],
  };
  const blob = (b: Blob) => `blobs/sha256/${b.sha256}`;
  const docker = [{ Config: blob(image.config), RepoTags: [ref], Layers: image.layers.map(blob) }];
  const files = new Map<string, Buffer>([
    ['index.json', Buffer.from(canonicalJson(index))],
    ['manifest.json', Buffer.from(canonicalJson(docker))],
    ['oci-layout', Buffer.from(canonicalJson({ imageLayoutVersion: '1.0.0' }))],
  ]);
  return { manifest, files };
}

/** Writes the archive to `out`; the config and layer blobs are the files named by their sha256 in `blobs`. */
export async function writeOciArchive(image: OciImage, tag: string, blobs: string, out: string, mtime = archiveMtime()): Promise<void> {
  const { manifest, files } = layoutFiles(image, tag);
  const stored = new Map<string, string>();
  for (const b of [image.config, ...image.layers]) stored.set(b.sha256, path.join(blobs, b.sha256));
  const inMemory = new Map<string, Buffer>([[`blobs/sha256/${sha256Hex(manifest)}`, manifest], ...files]);
  const names = [...inMemory.keys(), ...[...stored.keys()].map((h) => `blobs/sha256/${h}`)].sort();
  const at = Math.trunc(mtime.getTime() / 1000);
  const header = (name: string, type: 'file' | 'directory', size = 0): TarHeader => ({ name, type, mode: type === 'directory' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: at, size });
  const fd = openSync(out, 'w', 0o644);
  try {
    const tar = new TarWriter(fileSink(fd), false);
    tar.entry(header('blobs/', 'directory'));
    tar.entry(header('blobs/sha256/', 'directory'));
    for (const name of names) {
      const data = inMemory.get(name);
      if (data) {
        tar.entry(header(name, 'file', data.length), data);
        continue;
      }
      const size = [image.config, ...image.layers].find((b) => `blobs/sha256/${b.sha256}` === name)!.size;
      const blob = openSync(stored.get(name.slice('blobs/sha256/'.length))!, 'r');
      try {
        tar.entryFrom(header(name, 'file', size), blob, 0);
      } finally {
        closeSync(blob);
      }
    }
    tar.finish();
  } finally {
    closeSync(fd);
  }
}

/**
 * Saves `tag` from the engine into `work` (a folder the caller owns and
 * removes), checks the archive, and writes image.oci.tar to `out`. Returns the
 * image ID (hex) it holds, or what is wrong with the engine's archive.
 */
export async function saveOciArchive(engine: Engine, tag: string, work: string, out: string): Promise<{ imageId: string } | { problems: string[] }> {
  const saved = path.join(work, 'save.tar');
  const blobs = path.join(work, 'blobs');
  mkdirSync(blobs);
  await engine.save(tag, saved);
  const found = await readImageArchive(createReadStream(saved), { label: `${engine.name} save`, blobsTo: blobs });
  if (found.problems.length) return { problems: found.problems };
  if (found.images.length !== 1) return { problems: [`${engine.name} save wrote ${found.images.length} images, not one`] };
  await writeOciArchive(found.images[0]!, tag, blobs, out);
  return { imageId: found.images[0]!.config.sha256 };
}
