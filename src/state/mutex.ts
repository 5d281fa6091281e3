// One build at a time per project: the build mutex, a file in .rep/ created
// exclusively and holding the pid of the build that has the project, and when
// that process started. One left by a process that no longer exists (or by
// none: a pid that started at another time) is taken over, and so is anything
// else found at its name (a link, a pipe): removed, never followed.
import { closeSync, linkSync, readFileSync, realpathSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoWords, fail, ok, type Result } from '../diag.js';
import { createExclusive, readBounded, tempBeside } from '../safefs.js';
import { shownEntry, statePath } from './paths.js';
import { stateFileToRead, stateFileToWrite } from './state.js';
import { removeDeadTemps } from './files.js';

export interface BuildMutex {
  release(): void;
}

/** Whether process `pid` exists (one of another user's counts). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When process `pid` started (clock ticks since boot, /proc/PID/stat field
 * 22), or undefined where there is no /proc. Written beside the pid, it ties
 * the mutex to one process: a pid alone, as a planted `.rep/build.pid` holds
 * (`1` is always alive), held every build off for ten minutes.
 */
export function startedAt(pid: number): string | undefined {
  let text: string;
  try {
    // The kernel's file (its size reads 0, so not through readBounded): one line.
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // After the command name, in parentheses that may hold anything: state is field 3, start time 22.
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
}

/**
 * Whether the process a name rep gave something holds (pid and start time, see startedAt) is gone: no process
 * has that pid, or another one started since under it. For names a killed rep leaves in the engine (scheduler/
 * pins.ts, scheduler/cache.ts) that `rep gc` removes. A rep in another container on the same engine has a pid
 * this one does not see: its names look gone from here.
 */
export function ownerGone(pid: number, started: string): boolean {
  if (!alive(pid)) return true;
  const now = startedAt(pid);
  return started !== '' && now !== undefined && now !== started;
}

/**
 * The mutex files this process holds (real paths as written): a build of the library's in one process
 * while another holds the project (a second build() call) is busy, not a stale holder's, and only a
 * holder releases (found by a review: the first build's release freed the project under the second).
 */
const ownHeld = new Set<string>();

/** The mutex file `file` by the real path of its folder: a project reached by a link or another spelling is one project. */
const heldKey = (file: string): string => {
  try {
    return path.join(realpathSync(path.dirname(file)), path.basename(file));
  } catch {
    return path.resolve(file);
  }
};

/** Whether the mutex file's text names a live process that is the one which wrote it (this one only for a mutex it holds). */
function heldBy(text: string, file: string): number | undefined {
  const [pidText, started] = text.trim().split(' ');
  const pid = Number(pidText);
  if (pid === process.pid && ownHeld.has(heldKey(file))) return pid;
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !alive(pid)) return undefined;
  // Where /proc tells when a process started, the file must say the same; elsewhere a live pid holds it.
  const now = startedAt(pid);
  if (startedAt(process.pid) !== undefined && (started === undefined || now !== started)) return undefined;
  return pid;
}

/** What is at `file`: its text, null when nothing is there, undefined when it is not a file rep reads (a link, a pipe). */
function textAt(file: string): string | null | undefined {
  const r = readBounded(file, { limit: 64 });
  if (r.ok) return r.bytes.toString('utf8');
  return r.code === 'ENOENT' ? null : undefined;
}

/**
 * The mutex, or a busy problem naming the process holding it, or an io problem
 * when rep may not write it (a read-only checkout, another user's .rep). It is written
 * whole under a name of its own and linked into place (link fails when the
 * name is taken): made in place, it was empty for a moment, and another build
 * read that as stale. A stale one is replaced by takeOver.
 */
export function tryMutex(contextDir: string): Result<BuildMutex> {
  try {
    return tryMutexIn(contextDir);
  } catch (e) {
    // .rep or its files rep may not write (a read-only checkout, a .rep of another user's): said of the mutex,
    // in words (an errno line naming a temp file was all a build said, exit 1, no place).
    const code = (e as NodeJS.ErrnoException).code;
    if (code === undefined) throw e;
    return fail({ kind: 'io', file: shownEntry('buildMutex'), message: `cannot write it (${errnoWords(code)}): a build holds the project with this file, and records what it built in .rep/; let rep write there, or build a copy of the project` });
  }
}

function tryMutexIn(contextDir: string): Result<BuildMutex> {
  const file = stateFileToWrite(contextDir, 'buildMutex');
  const tmp = ownedBeside(file);
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(tmp, file);
        return holding(contextDir, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const text = textAt(file);
      if (text === null) continue;
      const pid = text !== undefined ? heldBy(text, file) : undefined;
      if (pid !== undefined) return busy(pid);
      const took = takeOver(file, text, tmp);
      if (took === 'taken') return holding(contextDir, file);
      if (took === 'busy') return busy(-1);
    }
    return busy(-1);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** A temp file beside `file` (removeDeadTemps' pattern) holding this process's pid and start time, whole. */
function ownedBeside(file: string): string {
  const tmp = tempBeside(file);
  const fd = createExclusive(tmp);
  try {
    writeSync(fd, ownText());
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    closeSync(fd);
  }
  return tmp;
}

function holding(contextDir: string, file: string): Result<BuildMutex> {
  ownHeld.add(heldKey(file));
  // Holding the project: what a killed build left half written goes (.rep and its folder of materials).
  removeDeadTemps(path.dirname(file), alive);
  removeDeadTemps(statePath(contextDir, 'materials'), alive, Date.now(), true);
  let released = false;
  return ok({
    release() {
      if (released) return;
      released = true;
      ownHeld.delete(heldKey(file));
      // Only while it is still this process's: a mutex another build took over (judged this one stale) is theirs.
      if (textAt(file) === ownText()) rmSync(file, { force: true });
    },
  });
}

/** What this process writes in a mutex it holds (see ownedBeside). */
const ownText = (): string => `${`${process.pid} ${startedAt(process.pid) ?? ''}`.trim()}\n`;

/**
 * Replaces the mutex judged stale (its text `stale`; undefined: not a file
 * rep reads, a link or a pipe) with ours (the file `mine`) in one rename,
 * never leaving its name empty, under a claim (`build.pid.claim`, takeClaim)
 * that one build holds at a time: 'taken'; 'busy' when another build is
 * taking it over; 'gone' when it is no longer the one judged stale. Two
 * builds that judged one stale at once each removed what was there, the
 * second the first's new mutex, and both held the project; one moved aside
 * left the name free for a third (found by reviews).
 */
export function takeOver(file: string, stale: string | undefined, mine: string): 'taken' | 'busy' | 'gone' {
  const claim = `${file}.claim`;
  if (!takeClaim(claim)) return 'busy';
  try {
    // Under the claim nothing but its holder replaces a stale mutex, and its dead owner releases nothing.
    if (textAt(file) !== stale) return 'gone';
    renameSync(mine, file);
    return 'taken';
  } finally {
    rmSync(claim, { force: true });
  }
}

/**
 * Makes the claim `claim` this process's (true), unless a live build holds it.
 * One a build killed while it held it left is removed, and the next try makes
 * it: made again in the same call, two builds that found it dead at once could
 * each remove the other's new claim and both hold the project (a review); rep
 * gc waits a moment for the mutex (commands/gc.ts) rather than say busy.
 */
function takeClaim(claim: string): boolean {
  // The claim names its holder from the moment it is there (written whole, then linked into place, as the
  // mutex is): one made in place was empty for a moment, and another build took it for a dead one's.
  const tmp = ownedBeside(claim);
  try {
    try {
      linkSync(tmp, claim);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const text = textAt(claim);
    if (typeof text === 'string' && heldBy(text, claim) !== undefined) return false;
    // Whatever else is there goes, a folder too (rm without recursive threw EISDIR on every build); rmSync
    // removes a link itself, never what it leads to.
    rmSync(claim, { recursive: true, force: true });
    return false;
  } finally {
    rmSync(tmp, { force: true });
  }
}

const busy = (pid: number): Result<BuildMutex> =>
  fail({ kind: 'busy', file: shownEntry('buildMutex'), pid, message: `another rep build (${pid > 0 ? `pid ${pid}` : 'its pid unknown'}) holds the project; try again when it is done` });

/**
 * Waits for the mutex, polling; gives up after `timeoutMs`, or at once when
 * `signal` fires: a build waiting for a live holder (a planted build.pid may
 * name pid 1 with its start time) went on for ten minutes through Ctrl-C and
 * SIGTERM (a review).
 */
export async function acquireMutex(contextDir: string, timeoutMs = 10 * 60_000, signal?: AbortSignal): Promise<Result<BuildMutex>> {
  const deadline = Date.now() + timeoutMs;
  let m = tryMutex(contextDir);
  // Only another build's holding is waited out: a mutex rep may not write stays so.
  while (!m.ok && m.errors[0]?.kind === 'busy' && Date.now() <= deadline && !signal?.aborted) {
    // The pause ends early when the signal fires (rejecting then: nothing to report but the busy problem).
    await sleep(200, undefined, { signal }).catch(() => undefined);
    // Told to stop: the mutex is not taken after all, though it may be free by now.
    if (signal?.aborted) break;
    m = tryMutex(contextDir);
  }
  return m;
}

/** The pid of the live rep that holds the project's build mutex, read without taking it (a dry run writes nothing); undefined when none does. */
export function mutexHolder(contextDir: string): number | undefined {
  const file = stateFileToRead(contextDir, 'buildMutex');
  const text = file === undefined ? undefined : textAt(file);
  return typeof text === 'string' ? heldBy(text, file!) : undefined;
}
