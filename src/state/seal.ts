// Seals on what rep records in .rep/ and later acts on: an HMAC under a key
// of this user's, kept outside every project, over the record and the
// project's real path. A .rep/ is a folder of the project, so a cloned
// repository can bring one, and a `git pull` can change it: what it says is
// then a stranger's word. Most of it only makes rep rebuild more (a key is
// content-addressed), but two records make rep act on images: a step's
// outputs digest (taken for a cached step instead of measuring its image, and
// so cited in downstream keys and the provenance), and the keys of past
// states and phony steps (whose rep-cache images gc and the next build
// remove). Those are believed only under a seal this user's rep made for
// this project (a sealed line copied from another project does not hold).
// The key is $XDG_STATE_HOME/rep/seal.key (~/.local/state by default), 32
// random bytes made on first use, by the owner of the folder it goes in
// only (root under `sudo -E` makes nothing in the user's home), read only
// when it is a regular file of this user's that no one else may read.
// Without a key nothing is sealed and no seal holds: rep measures again,
// removes nothing it cannot vouch for and keeps no history.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, linkSync, mkdirSync, realpathSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { createExclusive, lstatQuiet, readBounded, tempBeside } from '../safefs.js';

const KEY_BYTES = 32;

/** Where the key is: $XDG_STATE_HOME/rep, when that is absolute (as the spec asks), else ~/.local/state/rep. */
export function sealKeyFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const xdg = env.XDG_STATE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'rep', 'seal.key');
  let home = env.HOME;
  try {
    home ||= homedir();
  } catch {
    return undefined;
  }
  return home && path.isAbsolute(home) ? path.join(home, '.local', 'state', 'rep', 'seal.key') : undefined;
}

const HEX = /^[0-9a-f]{64}\n?$/;
const euid = () => process.geteuid?.() ?? -1;

/** The key in `file` when it is a regular file of this user's that no one else may read or write. */
function readKey(file: string): Buffer | 'none' | 'invalid' {
  const st = lstatQuiet(file);
  if (!st) return 'none';
  if (!st.isFile() || st.uid !== euid() || (st.mode & 0o077) !== 0) return 'invalid';
  const r = readBounded(file, { limit: 128 });
  const text = r.ok ? r.bytes.toString('latin1') : '';
  return HEX.test(text) ? Buffer.from(text.slice(0, 64), 'hex') : 'invalid';
}

/**
 * Whether the nearest folder of `dir` that exists is this user's: where rep
 * may make the key's folders. A link to one counts as the folder it leads
 * to (a state home the user keeps elsewhere), the key file itself never does.
 */
function ownedWayTo(dir: string): boolean {
  for (let d = dir; ; d = path.dirname(d)) {
    if (lstatQuiet(d)) {
      let st;
      try {
        st = statSync(d);
      } catch {
        return false;
      }
      return st.isDirectory() && st.uid === euid();
    }
    if (path.dirname(d) === d) return false;
  }
}

/**
 * The key in `file`, made when there is none: written whole to a file of its
 * own and linked at its name (another rep making it at the same moment: its
 * key is taken), or renamed over a key file of this user's that is cut short.
 */
function keyAt(file: string): Buffer | undefined {
  const found = readKey(file);
  if (found instanceof Buffer) return found;
  const ours = lstatQuiet(file);
  if (found === 'invalid' && !(ours?.isFile() && ours.uid === euid())) return undefined;
  const dir = path.dirname(file);
  if (!ownedWayTo(dir)) return undefined;
  const tmp = tempBeside(file);
  try {
    mkdirSync(path.dirname(dir), { recursive: true });
    if (!lstatQuiet(dir)) mkdirSync(dir, { mode: 0o700 });
    const fd = createExclusive(tmp, 0o600);
    try {
      writeSync(fd, `${randomBytes(KEY_BYTES).toString('hex')}\n`);
    } finally {
      closeSync(fd);
    }
    if (found === 'none') linkSync(tmp, file);
    else renameSync(tmp, file);
  } catch {
    // Made meanwhile by another rep (EEXIST), or not to be made here (read-only): read what there is.
  } finally {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // Never made (a folder rep may not search): nothing to remove.
    }
  }
  const made = readKey(file);
  return made instanceof Buffer ? made : undefined;
}

let cached: { file: string | undefined; key: Buffer | undefined } | undefined;

function key(): Buffer | undefined {
  const file = sealKeyFile();
  if (cached && cached.file === file) return cached.key;
  const found = file ? keyAt(file) : undefined;
  cached = { file, key: found };
  return found;
}

const realDirs = new Map<string, string>();

/** The project's folder as the seal names it: its real path, so that a seal holds in the project it was made for only. */
function projectOf(contextDir: string): string {
  let real = realDirs.get(contextDir);
  if (real === undefined) {
    try {
      real = realpathSync(contextDir);
    } catch {
      real = path.resolve(contextDir);
    }
    realDirs.set(contextDir, real);
  }
  return real;
}

/** The seal on `what` (a record's fields, joined as its kind says) in the project at `contextDir`; undefined without a key. */
export function seal(contextDir: string, what: string): string | undefined {
  return sealWith(key(), contextDir, what);
}

const sealWith = (k: Buffer | undefined, contextDir: string, what: string): string | undefined => k && createHmac('sha256', k).update(`${projectOf(contextDir)}\0${what}`).digest('hex');

/**
 * Whether `mark` is the seal this user's rep puts on `what` in the project at `contextDir`. Asked without making
 * a key: with none there, nothing this user's rep sealed can be (`rep gc -n` made one, a write a dry run must not do).
 */
export function sealHolds(contextDir: string, what: string, mark: unknown): boolean {
  if (typeof mark !== 'string' || !/^[0-9a-f]{64}$/.test(mark)) return false;
  const expected = sealWith(keyIfThere(), contextDir, what);
  return expected !== undefined && timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(mark, 'hex'));
}

/** The key when there is one, made by nothing. Kept once found; none found is not kept, so that key() makes one when asked. */
function keyIfThere(): Buffer | undefined {
  const file = sealKeyFile();
  if (cached && cached.file === file) return cached.key;
  const found = file ? readKey(file) : undefined;
  if (!(found instanceof Buffer)) return undefined;
  cached = { file, key: found };
  return found;
}
