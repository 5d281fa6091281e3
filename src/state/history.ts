// .rep/history.jsonl: the step keys of this project's past states, one line
// per state (`{"keys":[...]}`), oldest first. Appended each time a state is
// written (state.ts), so that `rep gc` knows which step images this project
// made or used and which of them recent states still need. Bounded: past
// MAX_STATES lines, the oldest are merged into one line (their keys stay known
// until gc removes their images). Read as hostile input (a cloned repository
// may carry a .rep/): bounded, no links, and only well-formed keys count.
import { lstatSync } from 'node:fs';
import { readBounded, appendNoFollow } from '../safefs.js';
import { writeFileAtomic } from './files.js';
import { stateFileToRead, stateFileToWrite } from './state.js';
import { seal, sealHolds } from './seal.js';

/** The most lines kept; older states are merged into the first line. */
export const MAX_STATES = 100;
/** The most bytes read: a history larger than this is not rep's and is ignored. */
export const HISTORY_LIMIT = 64 << 20;

const KEY = /^sha256:[0-9a-f]{64}$/;

/** One past state: the keys of its steps, sorted. */
export type HistoryEntry = readonly string[];

/** The entries of .rep/history.jsonl, oldest first; malformed lines are left out. Empty when there is none. */
export function readHistory(contextDir: string): HistoryEntry[] {
  const file = stateFileToRead(contextDir, 'history');
  if (!file) return [];
  const r = readBounded(file, { limit: HISTORY_LIMIT });
  if (!r.ok) return [];
  const out: HistoryEntry[] = [];
  for (const line of r.bytes.toString('utf8').split('\n')) {
    const keys = parseLine(contextDir, line);
    if (keys) out.push(keys);
  }
  return out;
}

function parseLine(contextDir: string, line: string): HistoryEntry | undefined {
  if (!line.trim()) return undefined;
  try {
    const v = JSON.parse(line) as { keys?: unknown; seal?: unknown };
    if (!v || typeof v !== 'object' || !Array.isArray(v.keys) || !v.keys.every((k) => typeof k === 'string' && KEY.test(k))) return undefined;
    const keys = [...new Set(v.keys as string[])].sort();
    // A line this user's rep did not write (a cloned or pulled .rep/) would have gc remove the images of any keys it names.
    return sealHolds(contextDir, sealed(keys), v.seal) ? keys : undefined;
  } catch {
    return undefined;
  }
}

/** What a line's seal covers: its keys, sorted (seal.ts). */
const sealed = (keys: readonly string[]) => `rep history\0${keys.join(' ')}`;

/** A line of the history, sealed; undefined without a key to seal it with (gc could not use it, and it would only grow). */
const lineOf = (contextDir: string, keys: Iterable<string>): string | undefined => {
  const sorted = [...new Set(keys)].sort();
  const mark = seal(contextDir, sealed(sorted));
  return mark === undefined ? undefined : `${JSON.stringify({ keys: sorted, seal: mark })}\n`;
};

/**
 * Records a state's keys as the newest entry, unless the newest already says
 * the same. Past MAX_STATES entries, the file is rewritten with the oldest
 * merged into one.
 */
export function appendHistory(contextDir: string, keys: Iterable<string>): void {
  const line = lineOf(contextDir, keys);
  if (line === undefined) return;
  const past = readHistory(contextDir);
  const last = past[past.length - 1];
  if (last && lineOf(contextDir, last) === line) return;
  const file = stateFileToWrite(contextDir, 'history');
  // Past the bound, or anything but a regular file of one name at its name (a link, symbolic or hard, is replaced, never followed): rewrite.
  const st = lstatSync(file, { throwIfNoEntry: false });
  if (past.length + 1 > MAX_STATES || (st && (!st.isFile() || st.nlink !== 1))) {
    writeHistory(contextDir, [...past, parseLine(contextDir, line)!]);
    return;
  }
  appendNoFollow(file, line);
}

/** Rewrites the history (atomically) with `entries`, oldest first, merging the oldest past MAX_STATES. */
export function writeHistory(contextDir: string, entries: readonly HistoryEntry[]): void {
  const extra = entries.length - MAX_STATES;
  const kept = extra > 0 ? [entries.slice(0, extra + 1).flat(), ...entries.slice(extra + 1)] : entries;
  writeFileAtomic(stateFileToWrite(contextDir, 'history'), kept.filter((e) => e.length > 0).map((e) => lineOf(contextDir, e) ?? '').join(''));
}
