// `rep watch`: rebuild when an input, the Repfile, its lock or .dockerignore
// changes; nothing else in the folders does (a log written into the project,
// `rep watch > out.log`, rebuilt for ever). Changes are debounced; a change
// during a build queues exactly one more run; a Repfile error is reported and
// watching goes on. A folder watched from that is swapped for another is said,
// and no longer read.
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { watch as chokidarWatch } from 'chokidar';
import type { Diagnostic } from '../diag.js';
import { DockerIgnore } from '../context/dockerignore.js';
import { inputsMayChange } from '../context/inputs.js';
import { lockPath } from '../lock/lockfile.js';
import { openProject, type Project, type ProjectOptions } from '../project.js';
import { projectPaths, resolveDockerfile } from '../projectpaths.js';
import { lstatQuiet } from '../safefs.js';
import { inStateDir } from '../state/paths.js';
import { build, type BuildOptions, type BuildRecord } from '../build.js';

export type WatchEvent =
  | { type: 'watching'; dir: string }
  | { type: 'changed'; paths: string[] }
  | { type: 'invalid'; errors: Diagnostic[] }
  /** A part of the project watching cannot see any more (a folder swapped for a link, one it cannot read): it goes on without it. */
  | { type: 'unwatched'; errors: Diagnostic[] }
  | { type: 'built'; record: BuildRecord };

export interface WatchOptions {
  project: ProjectOptions;
  build: BuildOptions;
  /** Quiet time after the last change before a build starts. */
  debounceMs?: number;
  onEvent: (e: WatchEvent) => void;
  /** Stops watching. */
  signal: AbortSignal;
}

/** Whether a path relative to the context lies outside it ("..data" is a name inside it, as Kubernetes writes). */
const outside = (rel: string) => rel === '..' || rel.startsWith('../') || path.isAbsolute(rel);

/**
 * Whether a folder on the way from the context to `rel` (inside it) is no folder now: a link, most
 * likely, put where a watched folder was. chokidar's watcher on that folder reads it again by its path,
 * through the link (a link to / watched 39k folders outside the project); what it finds is refused here,
 * as chokidar asks before it enters each entry. lstat, never stat; a folder gone is no link. `seen`
 * holds the folders found real in this synchronous run (the siblings chokidar asks about in a row: on
 * a 12k-file tree, 66k lstats instead of 160k), emptied before any I/O can answer, so what a folder
 * was is never taken past the run that looked.
 */
function throughNonFolder(contextDir: string, rel: string, seen: Set<string>): boolean {
  let at = contextDir;
  const names = rel.split('/');
  for (const name of names.slice(0, -1)) {
    at = path.join(at, name);
    if (seen.has(at)) continue;
    const st = lstatQuiet(at);
    if (st && !st.isDirectory()) return true;
    if (!st) continue;
    if (seen.size === 0) queueMicrotask(() => seen.clear());
    seen.add(at);
  }
  return false;
}

/** A folder's device and inode, through any link to it; undefined where there is no folder. */
function folderId(dir: string): string | undefined {
  try {
    const st = statSync(dir, { bigint: true, throwIfNoEntry: false });
    return st?.isDirectory() ? `${st.dev}:${st.ino}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `dir`, a folder watched from, is still the folder it was when watching began: the same device
 * and inode, reached through any link (a -C naming a link to a folder is that folder). Removed, or a link
 * to another put in its place, it is not for good: chokidar's watcher on it reads again what the path
 * leads to now (the context swapped for a link took 6 -> 600 inotify watches, all outside), and `onGone`
 * is called once. Looked at once per synchronous run, as throughNonFolder does; never, when there was no
 * folder to begin with (nothing is watched there).
 */
function folderKept(dir: string, onGone: () => void): () => boolean {
  const was = folderId(dir);
  let gone = false;
  let looked = false;
  return () => {
    if (gone) return false;
    if (looked || was === undefined) return true;
    if (folderId(dir) !== was) {
      gone = true;
      onGone();
      return false;
    }
    looked = true;
    queueMicrotask(() => (looked = false));
    return true;
  };
}

const realpathOr = (dir: string) => {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
};

export async function watch(opts: WatchOptions): Promise<void> {
  // Where to watch: the context and the Repfile's folder, whatever the Repfile says now. Each by its real
  // path, as chokidar follows no link (a context named by a link was watched as a link: no change seen).
  const { repfile, contextDir } = projectPaths(opts.project);
  const repfileDir = path.dirname(repfile);
  const root = realpathOr(contextDir);
  const repfileRoot = realpathOr(repfileDir);
  /** `abs`, named from the context as given, named from its real path: as chokidar reports it. */
  const fromRoot = (abs: string) => {
    const rel = path.relative(contextDir, abs);
    return outside(rel) ? abs : path.join(root, rel);
  };
  const dockerfile = fromRoot(resolveDockerfile(contextDir, opts.build.dockerfile));
  const watchedRepfile = path.join(repfileRoot, path.basename(repfile));
  const own = new Set([watchedRepfile, lockPath(watchedRepfile), path.join(root, '.dockerignore')]);
  /** Says, once, that a folder watched from leads elsewhere now. */
  const said = (dir: string) => () => {
    if (opts.signal.aborted) return;
    const shown = path.relative(opts.project.cwd ?? process.cwd(), dir) || '.';
    opts.onEvent({ type: 'unwatched', errors: [{ file: shown, message: 'no longer the folder rep watch began with (removed, or a link to another put in its place); nothing in it is watched now' }] });
  };
  // What the folders are is taken before the project is first read: the first build reads the folders watched.
  const contextKept = folderKept(contextDir, said(contextDir));
  // The Repfile's folder is watched from on its own only outside the context; inside, it is the context's.
  const repfileKept = outside(path.relative(root, repfileRoot)) ? folderKept(repfileDir, said(repfileDir)) : () => true;
  /** Whether the folder watched from that `abs` lies in is still the one watching began with. */
  const kept = (abs: string) => (outside(path.relative(root, abs)) ? repfileKept() : contextKept());

  const first = openProject(opts.project);
  let ignore = first.ok ? first.value.ctx.ignore : new DockerIgnore([]);
  // What the steps read, as the Repfile last read says: undefined while it is broken (then any change may mend it).
  const readBy = (p: Project) => inputsMayChange(p.recipe.steps.flatMap((s) => s.inputs));
  let inputs = first.ok ? readBy(first.value) : undefined;

  let changed = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;
  /** The builds under way, when there are: waited for once stopped (they stop on the same signal). */
  let building: Promise<void> | undefined;

  const cycle = async () => {
    running = true;
    try {
      do {
        again = false;
        if (opts.signal.aborted) return;
        const p = openProject(opts.project);
        if (!p.ok) {
          inputs = undefined;
          opts.onEvent({ type: 'invalid', errors: p.errors });
          continue;
        }
        ignore = p.value.ctx.ignore;
        inputs = readBy(p.value);
        try {
          const r = await build(p.value, { ...opts.build, signal: opts.signal });
          if (!r.ok) opts.onEvent({ type: 'invalid', errors: r.errors });
          else opts.onEvent({ type: 'built', record: r.value });
        } catch (e) {
          // e.g. the engine stopped answering: say so, and keep watching
          opts.onEvent({ type: 'invalid', errors: [{ file: p.value.recipe.file, message: `build stopped: ${(e as Error).message}` }] });
        }
      } while (again && !opts.signal.aborted);
    } finally {
      running = false;
    }
  };

  // chokidar reports each link it finds as added while it starts, ignoreInitial or not: what comes before
  // it is ready is no change (the first build, after it, sees the project as it is then).
  let ready = false;
  /** Whether a change at `abs` may change the build: the project's own files, or what an input may name. */
  const matters = (abs: string, folder: boolean) => {
    if (own.has(abs) || !inputs) return true;
    const rel = path.relative(root, abs).split(path.sep).join('/');
    if (outside(rel)) return false;
    return folder ? inputs.folder(rel) : inputs.file(rel);
  };
  const onChange = (abs: string, folder: boolean) => {
    if (opts.signal.aborted || !kept(abs) || !ready || !matters(abs, folder)) return;
    changed.add(path.relative(root, abs) || abs);
    clearTimeout(timer);
    timer = setTimeout(() => {
      opts.onEvent({ type: 'changed', paths: [...changed].sort() });
      changed = new Set();
      if (running) again = true;
      else building = cycle();
    }, opts.debounceMs ?? 200);
  };

  const realFolders = new Set<string>();
  const ignored = (abs: string) => {
    if (abs === dockerfile) return true;
    const rel = path.relative(root, abs).split(path.sep).join('/');
    // Outside the context (the Repfile's folder, with -C): the Repfile and its lock alone, no folder below.
    if (outside(rel)) return !(abs === repfileRoot || own.has(abs)) || !repfileKept();
    if (!contextKept()) return true;
    if (rel === '') return false;
    if (inStateDir(rel) || throughNonFolder(root, rel, realFolders)) return true;
    if (rel === '.dockerignore') return false;
    return ignore.canSkipDir(rel);
  };
  // Links are watched as links: Docker sends a link, never what it leads to, and following them watched
  // folders outside the project (a link to /usr: a gigabyte and 90k inotify watches) and died on a loop.
  const watcher = chokidarWatch([...new Set([root, repfileRoot])], { ignoreInitial: true, ignored, followSymlinks: false });
  for (const ev of ['add', 'change', 'unlink'] as const) watcher.on(ev, (abs: string) => onChange(abs, false));
  for (const ev of ['addDir', 'unlinkDir'] as const) watcher.on(ev, (abs: string) => onChange(abs, true));
  // A folder that cannot be watched (no permission, no inotify watch left) is said, and watching goes on.
  watcher.on('error', (e: unknown) => {
    const err = e as NodeJS.ErrnoException;
    const where = err.path ? path.relative(root, err.path) || err.path : contextDir;
    opts.onEvent({ type: 'unwatched', errors: [{ file: where, message: `cannot watch it (${err.code ?? err.message}); changes there are not seen` }] });
  });
  // Stopped at any point, the first scan and the first build included: a listener added after them
  // never heard an abort that came before, and the open watcher kept rep alive for good.
  const stopped = new Promise<void>((resolve) => {
    if (opts.signal.aborted) resolve();
    else opts.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  try {
    await Promise.race([new Promise<void>((resolve) => watcher.once('ready', () => resolve())), stopped]);
    if (opts.signal.aborted) return;
    ready = true;
    opts.onEvent({ type: 'watching', dir: contextDir });
    building = cycle();
    await stopped;
  } finally {
    clearTimeout(timer);
    await watcher.close();
    // The build under way was given the same signal: it stops the engine's build and removes what it made.
    await building;
  }
}
