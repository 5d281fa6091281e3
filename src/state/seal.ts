// Seals on what rep records in .rep/ and later acts on: an HMAC under a key
// of this user's, kept outside every project. A .rep/ is a folder of the
// project, so a cloned repository can bring one, and a `git pull` can
// change it: what it says is then a stranger's word. Most of it only makes
// rep rebuild more (a key is content-addressed), but two records make rep
// act on images: a step's outputs digest (taken for a cached step instead of
// measuring its image, and so cited in downstream keys and the provenance),
// and the keys of past states and phony steps (whose rep-cache images gc and
// the next build remove). Those are believed only under a seal this user's
// rep made. The key is $XDG_STATE_HOME/rep/seal.key (~/.local/state by
// default), 32 random bytes made on first use, read and made without
// following a link. Where there is no such key to be had, nothing is sealed
// and no seal holds: rep measures again and removes nothing it cannot vouch for.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, mkdirSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { createExclusive, readBounded } from '../safefs.js';

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

function readKey(file: string): Buffer | undefined {
  const r = readBounded(file, { limit: 128 });
  if (!r.ok) return undefined;
  const text = r.bytes.toString('latin1');
  return HEX.test(text) ? Buffer.from(text.slice(0, 64), 'hex') : undefined;
}

/** The key in `file`, made when there is none (another rep making it at the same moment: its key is taken). */
function keyAt(file: string): Buffer | undefined {
  const found = readKey(file);
  if (found) return found;
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const fd = createExclusive(file, 0o600);
    try {
      writeSync(fd, `${randomBytes(KEY_BYTES).toString('hex')}\n`);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Made meanwhile by another rep (EEXIST), or not to be made here (no home, read-only): read what there is.
  }
  return readKey(file);
}

let cached: { file: string | undefined; key: Buffer | undefined } | undefined;

function key(): Buffer | undefined {
  const file = sealKeyFile();
  if (cached && cached.file === file) return cached.key;
  const found = file ? keyAt(file) : undefined;
  cached = { file, key: found };
  return found;
}

/** The seal on `what` (a record's fields, joined as its kind says), or undefined without a key. */
export function seal(what: string): string | undefined {
  const k = key();
  return k && createHmac('sha256', k).update(what).digest('hex');
}

/** Whether `mark` is the seal this user's rep puts on `what`. */
export function sealHolds(what: string, mark: unknown): boolean {
  if (typeof mark !== 'string' || !/^[0-9a-f]{64}$/.test(mark)) return false;
  const expected = seal(what);
  return expected !== undefined && timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(mark, 'hex'));
}
