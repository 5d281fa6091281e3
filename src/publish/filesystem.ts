// An image's filesystem as a manifest (path -> type, mode, owner, content
// hash; no timestamps), to record at publish time and compare on rebuild.
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import { tarEntries, type TarEntry } from '../tarentries.js';
import { withTempDir } from '../tempdir.js';

/** A path's type, mode, owner, content sha256 and link target (filesystem.json writes its keys sorted). */
export type FsEntry = Omit<TarEntry, 'name'>;

export type FsManifest = Record<string, FsEntry>;

/** What the engine puts into every container (not part of the image). */
const RUNTIME = new Set(['.dockerenv', 'etc/hostname', 'etc/hosts', 'etc/resolv.conf', 'etc/mtab', 'run', 'run/.containerenv']);
const MOUNTS = new Set(['proc', 'sys', 'dev']);

export async function readFilesystemTar(file: string): Promise<FsManifest> {
  const entries: [string, FsEntry][] = [];
  for await (const { name: raw, ...fields } of tarEntries(createReadStream(file))) {
    const name = raw.replace(/^\.?\//, '').replace(/\/$/, '');
    if (name !== '' && !RUNTIME.has(name) && !MOUNTS.has(name.split('/')[0]!)) entries.push([name, fields]);
  }
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries);
}

export async function imageFilesystem(engine: Engine, ref: string): Promise<FsManifest> {
  return withTempDir('rep-fs', async (dir) => {
    const file = path.join(dir, 'fs.tar');
    await engine.exportFilesystem(ref, file);
    return readFilesystemTar(file);
  });
}

/** Differences, one line per path: what was recorded against what is there now. */
export function diffFilesystems(recorded: FsManifest, now: FsManifest): string[] {
  const out: string[] = [];
  for (const p of [...new Set([...Object.keys(recorded), ...Object.keys(now)])].sort()) {
    const a = recorded[p];
    const b = now[p];
    if (!a) out.push(`added    /${p}`);
    else if (!b) out.push(`missing  /${p}`);
    else {
      const what: string[] = [];
      if (a.type !== b.type) what.push(`type ${a.type} -> ${b.type}`);
      if (a.mode !== b.mode) what.push(`mode ${a.mode} -> ${b.mode}`);
      if (a.uid !== b.uid || a.gid !== b.gid) what.push(`owner ${a.uid}:${a.gid} -> ${b.uid}:${b.gid}`);
      if (a.sha256 !== b.sha256) what.push('content differs');
      if (a.linkname !== b.linkname) what.push(`link ${a.linkname ?? ''} -> ${b.linkname ?? ''}`);
      if (what.length) out.push(`changed  /${p}: ${what.join(', ')}`);
    }
  }
  return out;
}

/** A manifest from filesystem.json (a bundle's file: its shape checked), or undefined. */
export function parseFsManifest(text: Buffer): FsManifest | undefined {
  try {
    const m = JSON.parse(text.toString('utf8')) as unknown;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined;
    return Object.values(m).every((e) => typeof e === 'object' && e !== null) ? (m as FsManifest) : undefined;
  } catch {
    return undefined;
  }
}
