// Step caches beyond the engine's own images, for CI: a registry
// (registry://HOST/REPO, one tag per key) or a folder holding one archive of
// every step image (dir://PATH, for caches such as actions/cache).
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fail, ok, type Result } from '../diag.js';
import type { Engine } from '../engine/engine.js';
import { writeFileAtomic } from '../state/files.js';
import { cacheRef, keyHex } from './stepimage.js';

export type CacheSpec = { kind: 'registry'; repo: string; text: string } | { kind: 'dir'; path: string; text: string };

/** A --cache-from or --cache-to value (`flag` names which). */
export function parseCacheSpec(text: string, flag: '--cache-from' | '--cache-to'): Result<CacheSpec> {
  const wrong = (message: string) => fail<CacheSpec>({ kind: 'flag', flag: `${flag} ${text}`, message });
  const m = /^(registry|dir):\/\/(.+)$/.exec(text);
  if (!m) return wrong('not a cache: use registry://HOST/REPO or dir://PATH');
  if (m[1] === 'registry') {
    if (!/^[^/]+\/[a-z0-9._/-]+$/.test(m[2]!)) return wrong('registry://HOST/REPO names a registry and a repository, e.g. registry://127.0.0.1:5000/myproject/cache');
    return ok({ kind: 'registry', repo: m[2]!, text });
  }
  return ok({ kind: 'dir', path: path.resolve(m[2]!), text });
}

const ARCHIVE = 'rep-cache.tar';
const INDEX = 'index.json';

/** Where cached step images come from: asked once per step that is not in the engine. */
export class CacheFrom {
  /** Folders being loaded (or loaded): steps running at once wait for the same load. */
  private readonly loads = new Map<string, Promise<void>>();
  constructor(
    private readonly engine: Engine,
    private readonly specs: readonly CacheSpec[],
  ) {}

  /** Makes rep-cache:<key> present in the engine if a cache has it. */
  async fetch(key: string): Promise<string | undefined> {
    for (const spec of this.specs) {
      if (spec.kind === 'registry') {
        const remote = `${spec.repo}:${keyHex(key)}`;
        if (await this.engine.pull(remote)) {
          await this.engine.tag(remote, cacheRef(key));
          return spec.text;
        }
      } else {
        await this.loadDir(spec.path);
        if (await this.engine.hasImage(cacheRef(key))) return spec.text;
      }
    }
    return undefined;
  }

  private loadDir(dir: string): Promise<void> {
    let p = this.loads.get(dir);
    if (!p) {
      const file = path.join(dir, ARCHIVE);
      p = existsSync(file) ? this.engine.load(file) : Promise.resolve();
      this.loads.set(dir, p);
    }
    return p;
  }
}

/** Where step images go after a build. */
export async function exportCache(engine: Engine, spec: CacheSpec, keys: readonly string[]): Promise<void> {
  if (spec.kind === 'registry') {
    for (const key of keys) {
      const remote = `${spec.repo}:${keyHex(key)}`;
      await engine.tag(cacheRef(key), remote);
      await engine.push(remote);
    }
    return;
  }
  mkdirSync(spec.path, { recursive: true });
  const tmp = path.join(spec.path, `${ARCHIVE}.${process.pid}.tmp`);
  try {
    await engine.save(keys.map(cacheRef), tmp);
    renameSync(tmp, path.join(spec.path, ARCHIVE));
  } finally {
    rmSync(tmp, { force: true });
  }
  writeFileAtomic(path.join(spec.path, INDEX), `${JSON.stringify({ keys: [...keys].sort() }, null, 2)}\n`);
}
