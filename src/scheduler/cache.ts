// Step caches beyond the engine's own images, for CI: a registry
// (registry://HOST/REPO, one tag per key) or a folder holding one archive of
// every step image (dir://PATH, for caches such as actions/cache).
//
// A cache is trusted as the steps' builder: whoever writes it decides what a
// step it has is (SECURITY.md). What rep guards is the rest: a registry is
// named by its host (never a Docker Hub account by accident), a folder's
// archive is loaded only when it names step images alone, the tags the
// engine had are put back and those it adds for no step of the build are
// taken away again, it is written through no link, and a cache that cannot
// be used (read or written) is said and passed over, not a failed build.
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fail, ok, type Result } from '../diag.js';
import { EngineError, type Engine } from '../engine/engine.js';
import { imageRefProblem } from '../lock/reference.js';
import { lstatQuiet, tempBeside } from '../safefs.js';
import { writeFileAtomic } from '../state/files.js';
import { alive } from '../state/mutex.js';
import { archiveStepKeys, CacheArchiveError } from './cachearchive.js';
import type { BuildEvent } from './events.js';
import { CACHE_REPO, cacheRef, keyHex } from './stepimage.js';

export type CacheSpec = { kind: 'registry'; repo: string; text: string } | { kind: 'dir'; path: string; text: string };

/** A --cache-from or --cache-to value (`flag` names which). */
export function parseCacheSpec(text: string, flag: '--cache-from' | '--cache-to'): Result<CacheSpec> {
  const wrong = (message: string) => fail<CacheSpec>({ kind: 'flag', flag: `${flag} ${text}`, message });
  const m = /^(registry|dir):\/\/(.+)$/.exec(text);
  if (!m) return wrong('not a cache: use registry://HOST/REPO or dir://PATH');
  if (m[1] === 'registry') {
    const repo = m[2]!;
    const host = repo.split('/')[0]!;
    if (!/^[^/]+\/[a-z0-9._/-]+$/.test(repo) || imageRefProblem(`${repo}:${'0'.repeat(64)}`, { digest: false }) !== undefined) {
      return wrong('registry://HOST/REPO names a registry and a repository, e.g. registry://127.0.0.1:5000/myproject/cache');
    }
    // As docker reads a name: a first part without a dot or a port (but localhost) is a Docker Hub account, anyone's to register.
    if (!host.includes('.') && !host.includes(':') && host !== 'localhost') {
      return wrong(`"${host}" is not a registry's host (a name with a dot or a port, or localhost): docker would read it as an account on Docker Hub; write registry://docker.io/${repo} if that is meant`);
    }
    return ok({ kind: 'registry', repo, text });
  }
  const dir = path.resolve(m[2]!);
  // A link here is the repository's to point (a committed .rep-ci-cache -> ~/.ssh): the cache is written and read in a folder of its own.
  if (throughLink(dir)) return wrong('the folder is a link, or lies under one in this folder: rep writes and reads its cache only in a folder itself, not through a link');
  return ok({ kind: 'dir', path: dir, text });
}

/**
 * Whether the way to `dir` goes through a link: each part below the working folder (a checkout,
 * whose links a repository sets: ci -> elsewhere, then dir://ci/cache), and the folder itself.
 */
export function throughLink(dir: string, cwd = process.cwd()): boolean {
  const rel = path.relative(cwd, dir);
  // Outside the working folder: `..` or `../x` (not `..ci`, a name of its own here).
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return lstatQuiet(dir)?.isSymbolicLink() ?? false;
  // Part by part as the OS splits them (glob.ts's linkOnTheWay splits patterns at a backslash too, which a folder name may hold).
  let at = cwd;
  for (const part of rel.split(path.sep)) {
    at = path.join(at, part);
    if (lstatQuiet(at)?.isSymbolicLink()) return true;
  }
  return false;
}


const ARCHIVE = 'rep-cache.tar';
const INDEX = 'index.json';

/** Where cached step images come from: asked once per step that is not in the engine. */
export class CacheFrom {
  /** Folders being loaded (or loaded): steps running at once wait for the same load. Resolves to whether it could be. */
  private readonly loads = new Map<string, Promise<boolean>>();
  /**
   * Each key's fetch, as `loads` each folder's: two steps of one key asking at once share it
   * (one's removal of the registry's name fell between the other's pull and tag, and failed a cached step).
   */
  private readonly fetches = new Map<string, Promise<string | undefined>>();
  /** Step image tags (hex) the folders' archives added to the engine, each with the image the load gave it: see dropUnwanted. */
  private readonly added = new Map<string, string | undefined>();
  constructor(
    private readonly engine: Engine,
    private readonly specs: readonly CacheSpec[],
    private readonly onEvent?: (e: BuildEvent) => void,
  ) {}

  /** Makes rep-cache:<key> present in the engine if a cache has it; says which. */
  fetch(key: string): Promise<string | undefined> {
    let p = this.fetches.get(key);
    if (!p) {
      p = this.fetchOnce(key);
      this.fetches.set(key, p);
    }
    return p;
  }

  private async fetchOnce(key: string): Promise<string | undefined> {
    for (const spec of this.specs) {
      if (spec.kind === 'registry') {
        if (await this.pull(spec, key)) return spec.text;
      } else if ((await this.loadDir(spec)) && (await this.engine.hasImage(cacheRef(key)))) return spec.text;
    }
    return undefined;
  }

  /** Whether the registry `spec` had the key's image, now tagged rep-cache:<key>. */
  private async pull(spec: CacheSpec & { kind: 'registry' }, key: string): Promise<boolean> {
    const remote = `${spec.repo}:${keyHex(key)}`;
    if (!(await this.engine.pull(remote))) return false;
    try {
      await this.engine.tag(remote, cacheRef(key));
      // Only rep-cache tags are rep's to remove (rep gc): the registry's name would keep the image for ever.
      await this.engine.removeImage(remote);
      return true;
    } catch (e) {
      // Another rep on this engine may take the registry's name away between this pull and tag: a miss, said.
      if (!(e instanceof EngineError)) throw e;
      this.onEvent?.({ type: 'cache-unused', from: spec.text, why: e.message });
      // Not left under the registry's name when the tag failed (nothing but rep gc removes a step image).
      await this.engine.removeImage(remote).catch(() => undefined);
      return false;
    }
  }

  /**
   * Untags each step image tag a folder's archive added that is not the key of a step of this build
   * (`keys`: the plan's, as the run settled them). An archive may name any key, and keys follow from a
   * public Repfile: whoever writes one project's cache folder would otherwise leave step images, taken
   * as built, for every project on this engine, --cache-from or not (and for rep verify --rebuild), as
   * a registry does not (it is asked for one key). Called when the run is over, not after the load: a
   * consumer's key is known only once its producer's outputs are measured, and the archive has it too.
   * Tags the engine had before the load are not the archive's (loadArchive puts them back): they stay;
   * so does a tag that names another image by now than the load gave it (another build on this engine
   * made that step meanwhile: keys are content-only, and two projects share them).
   */
  async dropUnwanted(keys: readonly string[]): Promise<void> {
    // Loads are over by the end of the run (each step waits for its own); one still going would add tags after this.
    await Promise.allSettled(this.loads.values());
    const wanted = new Set(keys.map(keyHex));
    const unwanted = [...this.added].filter(([hex, id]) => !wanted.has(hex) && id !== undefined);
    const now = await this.engine.imageIds(unwanted.map(([hex]) => cacheRef(hex))).catch(() => new Map<string, string | undefined>());
    for (const [hex, id] of unwanted) if (now.get(cacheRef(hex)) === id) await this.engine.removeImage(cacheRef(hex)).catch(() => undefined);
    this.added.clear();
  }

  private loadDir(spec: CacheSpec & { kind: 'dir' }): Promise<boolean> {
    let p = this.loads.get(spec.path);
    if (!p) {
      p = loadArchive(this.engine, path.join(spec.path, ARCHIVE), this.added).then(
        () => true,
        (e: unknown) => {
          if (!(e instanceof CacheArchiveError || e instanceof EngineError)) throw e;
          this.onEvent?.({ type: 'cache-unused', from: spec.text, why: e.message });
          return false;
        },
      );
      this.loads.set(spec.path, p);
    }
    return p;
  }
}

/**
 * Loads a cache folder's archive (none there: nothing) when it names step
 * images alone, and puts back each step image tag the engine had that the
 * archive moved: a step the engine built itself is not the archive's to change.
 * The keys of the tags it adds go into `added` (CacheFrom.dropUnwanted).
 */
async function loadArchive(engine: Engine, file: string, added: Map<string, string | undefined>): Promise<void> {
  const st = lstatQuiet(file);
  if (st === undefined) return;
  // A FIFO would block the load for ever; a link points where the folder's writer likes.
  if (!st.isFile()) throw new CacheArchiveError(`${ARCHIVE} is not a regular file`);
  const keys = await archiveStepKeys(file);
  const had = new Map<string, string>();
  for (const image of await engine.listImages(CACHE_REPO)) for (const tag of image.tags) if (keys.includes(tag)) had.set(tag, image.id);
  const adds = keys.filter((hex) => !had.has(hex));
  try {
    await engine.load(file);
  } finally {
    // Also after a load that failed halfway (it has added some of them already): each with the image it names now.
    const ids = await engine.imageIds(adds.map((hex) => cacheRef(hex))).catch(() => new Map<string, string | undefined>());
    for (const hex of adds) if (ids.get(cacheRef(hex)) !== undefined) added.set(hex, ids.get(cacheRef(hex)));
    // Also after a load that failed halfway: docker tags each image of the archive as it loads it.
    if (had.size) {
      const now = await engine.imageIds([...had.keys()].map((hex) => `rep-cache:${hex}`)).catch(() => new Map<string, string | undefined>());
      for (const [hex, id] of had) if (now.get(`rep-cache:${hex}`) !== id) await engine.tag(id, `rep-cache:${hex}`).catch(() => undefined);
    }
  }
}

const EXPORT_TEMP = /^\.rep-cache\.(\d+)\.[0-9a-f]{12}\.tmp$/;
const DEAD_EXPORT_MS = 10 * 60_000;

/** The folders exports killed halfway left in `dir` (their process gone), each with a partial archive. */
function removeDeadExports(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(EXPORT_TEMP.exec(name)?.[1]);
    if (!(pid > 0) || pid === process.pid || alive(pid)) continue;
    // Untouched for ten minutes too: a job in another container sharing the folder has a pid this one cannot see.
    const touched = Math.max(lstatQuiet(path.join(dir, name))?.mtimeMs ?? 0, lstatQuiet(path.join(dir, name, ARCHIVE))?.mtimeMs ?? 0);
    // rm does not follow a link: one planted at such a name is removed itself.
    if (Date.now() - touched > DEAD_EXPORT_MS) rmSync(path.join(dir, name), { recursive: true, force: true });
  }
}

/**
 * Where step images go after a build: undefined once written, or why the folder could not take them
 * (a folder at the archive's name, a file at the folder's), which the build says and goes on from:
 * every step is built by then, and the state, the image and the provenance are still to be written.
 */
export async function exportCache(engine: Engine, spec: CacheSpec, keys: readonly string[]): Promise<string | undefined> {
  if (spec.kind === 'registry') {
    for (const key of keys) {
      const remote = `${spec.repo}:${keyHex(key)}`;
      await engine.tag(cacheRef(key), remote);
      await engine.push(remote);
      await engine.removeImage(remote);
    }
    return undefined;
  }
  const shape = unwritable(spec.path);
  if (shape !== undefined) return shape;
  try {
    mkdirSync(spec.path, { recursive: true });
  } catch (e) {
    return `cannot make the folder: ${(e as Error).message}`;
  }
  removeDeadExports(spec.path);
  // Saved into a folder made here with a name no one could foresee (a planted rep-cache.tar.PID.tmp link
  // was written through), then renamed over the archive: a link in its place is replaced, not followed.
  const tmp = tempBeside(path.join(spec.path, '.rep-cache'));
  try {
    mkdirSync(tmp, { mode: 0o700 });
    await engine.save(keys.map(cacheRef), path.join(tmp, ARCHIVE));
    renameSync(path.join(tmp, ARCHIVE), path.join(spec.path, ARCHIVE));
    writeFileAtomic(path.join(spec.path, INDEX), `${JSON.stringify({ keys: [...keys].sort() }, null, 2)}\n`);
  } catch (e) {
    // The folder changed under the checks above, or is not this user's to write: said. The engine's failures go on up.
    if (e instanceof EngineError || typeof (e as NodeJS.ErrnoException).code !== 'string') throw e;
    return `cannot write it: ${(e as Error).message}`;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return undefined;
}

/** Why the cache folder `dir` cannot take an archive, seen before the engine saves one (which may take minutes). */
function unwritable(dir: string): string | undefined {
  const st = lstatQuiet(dir);
  if (st !== undefined && !st.isDirectory()) return 'it is not a folder';
  // A link or a file there is replaced (by a rename); a folder would fail it, and is not rep's to remove.
  for (const name of [ARCHIVE, INDEX]) if (lstatQuiet(path.join(dir, name))?.isDirectory()) return `${name} in it is a folder, which rep leaves alone`;
  return undefined;
}
