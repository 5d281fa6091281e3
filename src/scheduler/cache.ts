// Step caches beyond the engine's own images, for CI: a registry
// (registry://HOST/REPO, one tag per key) or a folder holding one archive of
// every step image (dir://PATH, for caches such as actions/cache).
//
// A cache is trusted as the steps' builder: whoever writes it decides what a
// step it has is (SECURITY.md). What rep guards is the rest: a registry is
// named by its host (never a Docker Hub account by accident), a folder's
// archive is loaded only when it names step images alone, and then under
// names of this build's own, so that a step image tag (rep-cache:<key>, every
// project's on the engine) is made only for a key a step of this build asks
// for, and never over one the engine has; it is written through no link; an
// export ships the image this build settled for each key, never another
// project's that took the key's tag meanwhile; and a cache that cannot be used
// (read or written) is said and passed over, not a failed build.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fail, ok, type Result } from '../diag.js';
import { EngineError, type Engine } from '../engine/engine.js';
import { imageRefProblem } from '../lock/reference.js';
import { lstatQuiet, tempBeside } from '../safefs.js';
import { writeFileAtomic } from '../state/files.js';
import { alive, ownerGone, startedAt } from '../state/mutex.js';
import { makeTempDir } from '../tempdir.js';
import { CacheArchiveError, privateCopy } from './cachearchive.js';
import type { BuildEvent, CacheLeftOut } from './events.js';
import { cacheRef, keyHex, LOAD_REPO } from './stepimage.js';

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
  /**
   * Folders being loaded (or loaded): steps running at once wait for the same load. Resolves to the name each key of
   * the folder's archive was loaded under (loadArchive), or undefined when it could not be.
   */
  private readonly loads = new Map<string, Promise<Map<string, string> | undefined>>();
  /**
   * Each key's fetch, as `loads` each folder's: two steps of one key asking at once share it
   * (one's removal of the registry's name fell between the other's pull and tag, and failed a cached step).
   */
  private readonly fetches = new Map<string, Promise<string | undefined>>();
  constructor(
    private readonly engine: Engine,
    private readonly specs: readonly CacheSpec[],
    private readonly onEvent?: (e: BuildEvent) => void,
    /** Called with a key before an image is tagged rep-cache:<key> (see RunOptions.beforeTag). */
    private readonly beforeTag?: (key: string) => Promise<void>,
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
        continue;
      }
      const loaded = (await this.loadDir(spec))?.get(keyHex(key));
      if (loaded !== undefined && (await this.adopt(spec, loaded, key))) return spec.text;
    }
    return undefined;
  }

  /** Whether the registry `spec` had the key's image, now tagged rep-cache:<key>. */
  private async pull(spec: CacheSpec & { kind: 'registry' }, key: string): Promise<boolean> {
    const remote = `${spec.repo}:${keyHex(key)}`;
    if (!(await this.engine.pull(remote))) return false;
    try {
      // Not over a tag the engine has by now, as adopt() does not: another project's build of the key meanwhile (a pull
      // takes minutes), whose image is its own; the step is found either way.
      if (!(await this.engine.hasImage(cacheRef(key)))) {
        await this.beforeTag?.(key);
        await this.engine.tag(remote, cacheRef(key));
      }
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
   * Tags the image a folder's archive has for `key`, loaded as `loaded`, rep-cache:<key>: whether the engine has that
   * tag now. Not over one the engine has by now: another build on this engine made the step meanwhile (keys are
   * content-only, and projects share them), and its image is its own. The engine has no "tag unless there" (docker
   * and podman move a tag without asking): the window left is between the question and the tag.
   */
  private async adopt(spec: CacheSpec & { kind: 'dir' }, loaded: string, key: string): Promise<boolean> {
    try {
      if (!(await this.engine.hasImage(cacheRef(key)))) {
        await this.beforeTag?.(key);
        await this.engine.tag(loaded, cacheRef(key));
      }
      return true;
    } catch (e) {
      // The loaded name gone (rep gc, in another project, took this rep for a dead one: see deadLoadName): a miss, said.
      if (!(e instanceof EngineError)) throw e;
      this.onEvent?.({ type: 'cache-unused', from: spec.text, why: e.message });
      return false;
    }
  }

  /**
   * Removes the names the folders' archives were loaded under, when the run is over (a consumer's key is known only
   * once its producer's outputs are measured, and the archive has that key too): each image no step asked for goes
   * with its name, as docker and podman remove an image with its last tag; those steps took stay as rep-cache:<key>.
   * An archive's image was tagged rep-cache:<key> only for a key a step asked for: the run's keys are not needed.
   * A rep killed before leaves the names (and their images) under LOAD_REPO; `rep gc` removes them (deadLoadName).
   */
  async release(): Promise<void> {
    const loads = await Promise.allSettled(this.loads.values());
    this.loads.clear();
    for (const load of loads) if (load.status === 'fulfilled' && load.value) await removeNames(this.engine, load.value.values());
  }

  private loadDir(spec: CacheSpec & { kind: 'dir' }): Promise<Map<string, string> | undefined> {
    let p = this.loads.get(spec.path);
    if (!p) {
      p = loadArchive(this.engine, path.join(spec.path, ARCHIVE)).catch((e: unknown) => {
        // A system error too: no room in the temporary folder for the copy, an archive rep may not read.
        if (!(e instanceof CacheArchiveError || e instanceof EngineError || typeof (e as NodeJS.ErrnoException).code === 'string')) throw e;
        this.onEvent?.({ type: 'cache-unused', from: spec.text, why: (e as Error).message });
        return undefined;
      });
      this.loads.set(spec.path, p);
    }
    return p;
  }
}

/** The tags of LOAD_REPO: the process (pid, start time: mutex.ts startedAt), 32 random hex digits for the load, the key. */
const LOAD_TAG = /^(\d+)-(\d*)-[0-9a-f]{32}-([0-9a-f]{64})$/;

/**
 * Whether the LOAD_REPO tag `tag` is one no running rep holds (a rep killed while it built with a cache folder left it):
 * its process gone, or another under its pid. `rep gc` removes those. A rep in another container on the same engine
 * has a pid this one does not see: its names look dead here, and taking them makes its later steps miss the cache (said).
 */
export function deadLoadName(tag: string): boolean {
  const m = LOAD_TAG.exec(tag);
  if (!m) return false;
  return ownerGone(Number(m[1]), m[2]!);
}

async function removeNames(engine: Engine, names: Iterable<string>): Promise<void> {
  for (const name of names) await engine.removeImage(name).catch(() => undefined);
}

/**
 * Loads a cache folder's archive (none there: nothing) when it names step images alone, from a copy that names each
 * of them LOAD_REPO:PID-START-RANDOM-KEY (privateCopy) rather than rep-cache:<key>: loaded as it is, its step image tags
 * were every project's on this engine for the whole build, a build of another project that asked for no cache took
 * them for its steps, built, and a tag a build made meanwhile was moved (found by a review). Gives each key's name.
 */
async function loadArchive(engine: Engine, file: string): Promise<Map<string, string>> {
  const st = lstatQuiet(file);
  if (st === undefined) return new Map();
  // A FIFO would block the load for ever; a link points where the folder's writer likes.
  if (!st.isFile()) throw new CacheArchiveError(`${ARCHIVE} is not a regular file`);
  const own = `${process.pid}-${startedAt(process.pid) ?? ''}-${randomBytes(16).toString('hex')}`;
  const tag = (hex: string) => `${own}-${hex}`;
  // Removed when the load is over, or by the exit and signal hooks (tempdir.ts).
  const temp = makeTempDir('rep-cache-load');
  try {
    const copy = path.join(temp.path, ARCHIVE);
    const keys = await privateCopy(file, copy, { repo: LOAD_REPO, tag });
    const names = new Map(keys.map((hex) => [hex, `${LOAD_REPO}:${tag(hex)}`] as const));
    // An archive that names no step image gives no step: nothing of it is loaded (its images would stay, named by none).
    if (names.size === 0) return names;
    try {
      await engine.load(copy);
    } catch (e) {
      // Also after a load that failed halfway: docker names each image of the archive as it loads it.
      await removeNames(engine, names.values());
      throw e;
    }
    return names;
  } finally {
    temp.remove();
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

/** A step image to export: its key, and the id of the image the build settled for it (none recorded: the one rep-cache:<key> names). */
export interface ExportStep {
  key: string;
  image?: string;
}

/** What an export did: the keys it left out and why (every other one was written), or why the cache took nothing. */
export type Exported = { leftOut: Map<string, CacheLeftOut> } | { unwritten: string };

/**
 * Where step images go after a build: what was written, or why the cache could not take them (a registry that
 * refused a push, a folder at the archive's name, a file at the folder's, an engine that could not save), which the
 * build says and goes on from: every step is built by then, and the state, the image and the provenance are still to
 * be written. The build holds its step images under pins of its own (pins.ts), but their rep-cache tags are every
 * project's: another project's build of the same key moves one to its own image, and `rep gc` there removes one. A key
 * whose image can no longer be named as this build's is left out, and the others still go (found by a review).
 */
export async function exportCache(engine: Engine, spec: CacheSpec, steps: readonly ExportStep[]): Promise<Exported> {
  // One image a key: two steps of one key (the same commands on the same inputs) settle one image.
  const byKey = [...new Map(steps.map((s) => [s.key, s] as const)).values()];
  const leftOut = new Map<string, CacheLeftOut>();
  if (spec.kind === 'registry') {
    for (const step of byKey) {
      const pushed = await pushKey(engine, spec, step);
      // The first push refused ends it: a registry that refuses one (down, no access) most likely refuses the rest.
      if ('refused' in pushed) return { unwritten: pushed.refused };
      if ('leftOut' in pushed) leftOut.set(step.key, pushed.leftOut);
    }
    return { leftOut };
  }
  const shape = unwritable(spec.path);
  if (shape !== undefined) return { unwritten: shape };
  // The archive names each image rep-cache:<key> (a loader takes step images by no other name), and docker saves what
  // a name names when it saves: a tag that names another image now (another project's build of the key) would ship
  // that image under this build's key, and one removed (rep gc in another project) failed the save of every step.
  // The engine has no "save this id under that name": the window left is between this question and the save.
  let ids: Map<string, string | undefined>;
  try {
    ids = await engine.imageIds(byKey.map((s) => cacheRef(s.key)));
  } catch (e) {
    if (!(e instanceof EngineError)) throw e;
    return { unwritten: `cannot look up the step images: ${engineSaid(e)}` };
  }
  for (const step of byKey) {
    const now = ids.get(cacheRef(step.key));
    if (now === undefined) leftOut.set(step.key, 'untagged');
    else if (step.image !== undefined && bare(now) !== bare(step.image)) leftOut.set(step.key, 'moved');
  }
  const keys = byKey.map((s) => s.key).filter((k) => !leftOut.has(k));
  // Nothing to save: the archive there (an earlier build's) is left as it is.
  if (keys.length === 0) return { leftOut };
  try {
    mkdirSync(spec.path, { recursive: true });
  } catch (e) {
    return { unwritten: `cannot make the folder: ${(e as Error).message}` };
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
    // The engine could not save (a tag removed after the question above): said, as a folder that changed under the
    // checks above, or is not this user's to write. Anything else goes on up.
    if (e instanceof EngineError) return { unwritten: `the engine could not save the step images: ${engineSaid(e)}` };
    if (typeof (e as NodeJS.ErrnoException).code !== 'string') throw e;
    return { unwritten: `cannot write it: ${(e as Error).message}` };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return { leftOut };
}

/** An image id as docker (sha256:HEX) and podman (HEX) print it, as one spelling. */
const bare = (id: string) => id.replace(/^sha256:/, '');

/** What pushKey did with one key. */
type Pushed = { pushed: true } | { leftOut: CacheLeftOut } | { refused: string };

/**
 * Pushes the step image of `step` to the registry `spec` as HOST/REPO:<key>: pushed, left out (its image gone from
 * the engine), or refused, and why. The registry's name is tagged from the image the build settled, by its id:
 * rep-cache:<key> may name another project's image by now, or none. docker pushes an image under the name it has in
 * the engine, and the registry's tag is that name's, so two builds on one engine exporting the same key name it alike:
 * one's removal of the name after its push could fall between the other's tag and push, whose push then found no
 * image of that name (found by a review). The tag and the push are tried again once when the name is gone by then.
 */
async function pushKey(engine: Engine, spec: CacheSpec & { kind: 'registry' }, step: ExportStep): Promise<Pushed> {
  const remote = `${spec.repo}:${keyHex(step.key)}`;
  const source = step.image ?? cacheRef(step.key);
  try {
    for (let again = false; ; again = true) {
      try {
        await engine.tag(source, remote);
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        // Gone from the engine (rep gc in another project, docker rmi): this key is passed over, the others still go.
        // An engine that fails otherwise (down) is said as a refused push would be.
        if (!(await engine.hasImage(source).catch(() => true))) return { leftOut: step.image !== undefined ? 'gone' : 'untagged' };
        return { refused: `cannot tag ${remote}: ${engineSaid(e)}` };
      }
      try {
        await engine.push(remote);
        return { pushed: true };
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        if (again || (await engine.hasImage(remote).catch(() => true))) return { refused: `cannot push ${remote}: ${engineSaid(e)}` };
      }
    }
  } finally {
    // Only rep-cache tags are rep's to keep (rep gc removes them): the registry's name would keep the image for ever.
    await engine.removeImage(remote).catch(() => undefined);
  }
}

/** An engine's failure in one line: what failed, and the last line the engine said about it. */
function engineSaid(e: EngineError): string {
  const last = e.detail.trim().split('\n').at(-1)?.trim();
  return last ? `${e.message}: ${last}` : e.message;
}

/** Why the cache folder `dir` cannot take an archive, seen before the engine saves one (which may take minutes). */
function unwritable(dir: string): string | undefined {
  const st = lstatQuiet(dir);
  if (st !== undefined && !st.isDirectory()) return 'it is not a folder';
  // A link or a file there is replaced (by a rename); a folder would fail it, and is not rep's to remove.
  for (const name of [ARCHIVE, INDEX]) if (lstatQuiet(path.join(dir, name))?.isDirectory()) return `${name} in it is a folder, which rep leaves alone`;
  return undefined;
}
