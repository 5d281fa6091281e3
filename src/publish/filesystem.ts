// An image's filesystem as a manifest (path -> type, mode, owner, content
// hash; no timestamps), to record at publish time and compare on rebuild.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import tar from 'tar-stream';
import type { Engine } from '../engine/engine.js';
import { withTempDir } from '../tempdir.js';

export interface FsEntry {
  type: string;
  mode: string;
  uid: number;
  gid: number;
  sha256?: string;
  linkname?: string;
}

export type FsManifest = Record<string, FsEntry>;

/** What the engine puts into every container (not part of the image). */
const RUNTIME = new Set(['.dockerenv', 'etc/hostname', 'etc/hosts', 'etc/resolv.conf', 'etc/mtab', 'run', 'run/.containerenv']);
const MOUNTS = new Set(['proc', 'sys', 'dev']);

export async function readFilesystemTar(file: string): Promise<FsManifest> {
  const entries: [string, FsEntry][] = [];
  const extract = tar.extract();
  await new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, body, next) => {
      const hash = createHash('sha256');
      body.on('data', (c: unknown) => hash.update(c as Buffer));
      body.on('end', () => {
        const name = h.name.replace(/^\.?\//, '').replace(/\/$/, '');
        if (name !== '' && !RUNTIME.has(name) && !MOUNTS.has(name.split('/')[0]!)) {
          entries.push([
            name,
            {
              type: h.type ?? 'file',
              mode: ((h.mode ?? 0) & 0o7777).toString(8),
              uid: h.uid ?? 0,
              gid: h.gid ?? 0,
              ...(h.type === 'file' ? { sha256: hash.digest('hex') } : {}),
              ...(h.linkname ? { linkname: h.linkname } : {}),
            },
          ]);
        }
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
    createReadStream(file).on('error', reject).pipe(extract);
  });
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
