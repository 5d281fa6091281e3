// .rep/history.jsonl: the step keys of this project's past states, one line
// per state (`{"keys":[...]}`), oldest first. Appended each time a state is
// written (state.ts), so that `rep gc` knows which step images this project
// made or used and which of them recent states still need. Bounded: past
// MAX_STATES lines, the oldest are merged into one line (their keys stay known
// until gc removes their images). More lines (`{"dropped":[...],"engine":...}`),
// after the states, oldest first, hold the keys of states gc dropped whose images it did
// not remove, each with the engine that gc ran against (Engine.store): it
// did not have them (they may be podman's, another DOCKER_HOST's) or refused;
// a gc against another engine that has them removes them, and one against the
// same engine that still lists none of them forgets them (commands/gc.ts).
// Pending lines (`{"pending":[...],"engine":...}`), after the dropped ones,
// hold the keys a build is about to tag rep-cache that no state, no dropped
// line and no pending line of its image store names yet, with that store,
// written before it tags them: a build killed before it writes its state (or
// one that fails after tagging) leaves images gc would otherwise never know.
// The state the build writes makes its store's pending keys its own; gc
// removes the rest that store lists (under the build mutex: no build of the
// project runs), and keeps another store's lines for a gc against it. Read as
// hostile input (a cloned repository may carry a .rep/): bounded, no links,
// and only well-formed keys under this user's seal count.
import { lstatSync } from 'node:fs';
import { readBounded, appendNoFollow } from '../safefs.js';
import { writeFileAtomic } from './files.js';
import { parseShallowJson, stateFileToRead, stateFileToWrite } from './state.js';
import { seal, sealHolds } from './seal.js';

/** The most lines kept; older states are merged into the first line. */
export const MAX_STATES = 100;
/** The most bytes read: a history larger than this is not rep's and is ignored. */
export const HISTORY_LIMIT = 64 << 20;
/** The largest history a line is appended to (100 states of a few hundred keys fit); a larger one is rewritten. */
export const APPEND_LIMIT = 1 << 20;

/** A step's key as rep records it. */
export const KEY = /^sha256:[0-9a-f]{64}$/;

/** The most keys the dropped lines keep; past it, the oldest are forgotten (their images stay until removed by hand). */
export const MAX_DROPPED = 10_000;

/** One past state: the keys of its steps, sorted. */
export type HistoryEntry = readonly string[];

/** Keys of states one gc dropped and did not remove the images of, sorted, with the engine it ran against (none in a line written before rep said). */
export interface DroppedKeys {
  engine?: string;
  keys: HistoryEntry;
}

export interface History {
  /** The past states, oldest first. */
  states: HistoryEntry[];
  /** Keys of states gc dropped whose images are still to be removed, oldest first. */
  dropped: DroppedKeys[];
  /** Keys builds were about to tag before any state named them, with the image store they built against, oldest first. */
  pending: DroppedKeys[];
  /**
   * Whether a line may be appended to the file: it is missing, or holds only lines rep sealed, within
   * APPEND_LIMIT bytes. Anything else is rewritten with what was read: a history a clone brought
   * just past HISTORY_LIMIT, appended to, hid every state after it from gc.
   */
  appendable: boolean;
  /** Whether it was read whole and every line is rep's (sealed): appendable but for its size. */
  own: boolean;
}

/** The past states in .rep/history.jsonl, oldest first; malformed lines are left out. Empty when there is none. */
export function readHistory(contextDir: string): HistoryEntry[] {
  return readHistoryFile(contextDir).states;
}

/** The states, the dropped keys and the pending keys .rep/history.jsonl holds (none when it cannot be read). */
export function readHistoryFile(contextDir: string): History {
  const out: History = { states: [], dropped: [], pending: [], appendable: true, own: true };
  const file = stateFileToRead(contextDir, 'history');
  if (!file) return out;
  let r = readBounded(file, { limit: HISTORY_LIMIT });
  out.appendable = r.ok ? r.size <= APPEND_LIMIT : r.code === 'ENOENT';
  out.own = r.ok || r.code === 'ENOENT';
  // Larger than rep reads whole (rep itself can write that much: 100 states of 10k keys): its newest
  // lines, which the rewrite then keeps, rather than none (every older state's images would be lost to gc).
  if (!r.ok && r.code === 'EFBIG') r = readBounded(file, { limit: HISTORY_LIMIT, tail: true });
  if (!r.ok) return out;
  for (const line of wholeLines(r)) {
    const parsed = parseLine(contextDir, line);
    if (parsed?.kind === 'keys') out.states.push(parsed.keys);
    else if (parsed) out[parsed.kind].push({ ...(parsed.engine !== undefined ? { engine: parsed.engine } : {}), keys: parsed.keys });
    else if (line) out.appendable = out.own = false;
  }
  return out;
}

/**
 * The keys of the newest state another project's history records, read from
 * at most its last `limit` bytes (not the whole file: that one is a
 * stranger's, see gc/register.ts), and the bytes read.
 */
export function readNewestState(contextDir: string, limit: number): { keys: HistoryEntry; read: number; missed: boolean } {
  const file = stateFileToRead(contextDir, 'history');
  const r = file ? readBounded(file, { limit, tail: true }) : undefined;
  if (!r?.ok) return { keys: [], read: 0, missed: false };
  const lines = wholeLines(r);
  for (let i = lines.length - 1; i >= 0; i--) {
    const parsed = parseLine(contextDir, lines[i]!);
    if (parsed?.kind === 'keys') return { keys: parsed.keys, read: r.bytes.length, missed: false };
  }
  // Lines a build appended after its newest state (pending keys) may fill the tail read: that state was not seen.
  return { keys: [], read: r.bytes.length, missed: r.size > r.bytes.length };
}

/** The lines of what was read: all of them, or, of a tail that starts inside a line, those after it (that one is not whole). */
function wholeLines(r: { bytes: Buffer; size: number }): string[] {
  const lines = r.bytes.toString('utf8').split('\n');
  if (r.size > r.bytes.length) lines.shift();
  return lines;
}

type LineKind = 'keys' | 'dropped' | 'pending';

function parseLine(contextDir: string, line: string): { kind: LineKind; keys: HistoryEntry; engine?: string } | undefined {
  if (!line.trim()) return undefined;
  try {
    const v = parseShallowJson(line) as { keys?: unknown; dropped?: unknown; pending?: unknown; engine?: unknown; seal?: unknown } | undefined;
    if (!v || typeof v !== 'object') return undefined;
    const kind: LineKind = v.dropped !== undefined ? 'dropped' : v.pending !== undefined ? 'pending' : 'keys';
    const list = v[kind];
    if (!Array.isArray(list) || !list.every((k) => typeof k === 'string' && KEY.test(k))) return undefined;
    const engine = kind !== 'keys' ? v.engine : undefined;
    if (engine !== undefined && !isEngine(engine)) return undefined;
    const keys = [...new Set(list as string[])].sort();
    // A line this user's rep did not write (a cloned or pulled .rep/) would have gc remove the images of any keys it names.
    return sealHolds(contextDir, sealed(kind, keys, engine), v.seal) ? { kind, keys, ...(engine !== undefined ? { engine } : {}) } : undefined;
  } catch {
    return undefined;
  }
}

/** An engine's identity as a dropped line may name it: one line of text, no NUL (the seal's separator). */
const isEngine = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= 256 && !/[\0\n]/.test(x);

/**
 * What a line's seal covers: its kind, a dropped or pending line's engine, and its keys, sorted (seal.ts). A state's line keeps the
 * form it had before dropped lines, and a dropped line without an engine the form it had before they named one.
 */
const sealed = (kind: LineKind, keys: readonly string[], engine?: string) => `rep history${kind !== 'keys' ? ` ${kind}` : ''}${engine !== undefined ? `\0${engine}` : ''}\0${keys.join(' ')}`;

/** A line of the history, sealed; undefined without a key to seal it with (gc could not use it, and it would only grow). */
const lineOf = (contextDir: string, keys: Iterable<string>, kind: LineKind = 'keys', engine?: string): string | undefined => {
  const sorted = [...new Set(keys)].sort();
  const named = engine !== undefined && isEngine(engine) ? engine : undefined;
  const mark = seal(contextDir, sealed(kind, sorted, named));
  return mark === undefined ? undefined : `${JSON.stringify({ [kind]: sorted, ...(named !== undefined ? { engine: named } : {}), seal: mark })}\n`;
};

/**
 * Records a state's keys as the newest entry, unless the newest already says
 * the same. Past MAX_STATES entries, the file is rewritten with the oldest
 * merged into one. `store`: the image store the state was built against
 * (Engine.store), whose pending keys the state now names as its own.
 */
export function appendHistory(contextDir: string, keys: Iterable<string>, store?: string): void {
  const line = lineOf(contextDir, keys);
  if (line === undefined) return;
  const history = readHistoryFile(contextDir);
  const past = history.states;
  const last = past[past.length - 1];
  if (last && lineOf(contextDir, last) === line) return;
  const state = parseLine(contextDir, line)!.keys;
  // Pending keys of its image store the state names are its own now: they go, so that the lines do not pile up. Another
  // store's stay: a state of docker's naming a key does not say what a killed podman build left (a review).
  const named = new Set(state);
  const claimed = store !== undefined && history.pending.some((d) => d.engine === store && d.keys.some((k) => named.has(k)));
  const pending = history.pending.map((d) => (d.engine === store ? { ...d, keys: d.keys.filter((k) => !named.has(k)) } : d));
  appendLine(contextDir, history, line, past.length + 1 > MAX_STATES || claimed, () => ({ ...history, pending, states: [...past, state] }));
}

/**
 * A build's record of the images it is about to tag rep-cache: called with
 * each key before its tag (or before the engine builds an image under it),
 * it writes a pending line, with the image store the build runs against
 * (Engine.store), for a key no state, no dropped line and no pending line of
 * that store names yet. The history is
 * read once: the build holds the project's mutex, and gc (the other writer)
 * takes it too.
 */
export function pendingRecorder(contextDir: string, store: Promise<string>): (key: string) => Promise<void> {
  let history: History | undefined;
  let known: Set<string> | undefined;
  return async (key) => {
    const engine = await store;
    history ??= readHistoryFile(contextDir);
    // Another store's pending key is not known here: that line stands for its own store's image (a killed podman
    // build's key, built again on docker, left docker's image to no gc: a review).
    known ??= new Set([...history.states.flat(), ...history.dropped.flatMap((d) => d.keys), ...history.pending.filter((d) => d.engine === engine).flatMap((d) => d.keys)]);
    if (known.has(key) || !KEY.test(key)) return;
    const line = lineOf(contextDir, [key], 'pending', engine);
    if (line === undefined) return;
    known.add(key);
    const entry = parseLine(contextDir, line)!;
    history.pending.push({ ...(entry.engine !== undefined ? { engine: entry.engine } : {}), keys: entry.keys });
    const whole = history;
    // Appended to however large the file is (it is rewritten only when a line is not rep's): a rewrite here trimmed the
    // pending keys a killed build left past MAX_DROPPED (a review). The state written after the run compacts it.
    appendLine(contextDir, { ...history, appendable: history.own }, line, false, () => whole);
    // Rewritten (or appended to): rep's own lines alone now.
    history.appendable = history.own = true;
  };
}

/** Appends `line` to the history read as `history`, or rewrites it whole (`whole`) when asked to, or when it may not be appended to. */
function appendLine(contextDir: string, history: History, line: string, rewrite: boolean, whole: () => Omit<History, 'appendable'>): void {
  const file = stateFileToWrite(contextDir, 'history');
  // Past the bound, a file that is not rep's history alone (see History.appendable), or anything but a regular file
  // of one name at its name (a link, symbolic or hard, is replaced, never followed): rewrite.
  const st = lstatSync(file, { throwIfNoEntry: false });
  if (rewrite || !history.appendable || (st && (!st.isFile() || st.nlink !== 1))) {
    writeHistory(contextDir, whole());
    return;
  }
  appendNoFollow(file, line);
}

/**
 * Rewrites the history (atomically): the states, oldest first, merging the oldest past MAX_STATES;
 * then the dropped keys and the pending keys, oldest first (the newest MAX_DROPPED of each). In
 * that order, since a history larger than rep reads whole is read from its end.
 */
export function writeHistory(contextDir: string, history: { states: readonly HistoryEntry[]; dropped?: readonly DroppedKeys[]; pending?: readonly DroppedKeys[] }): void {
  const { states } = history;
  const extra = states.length - MAX_STATES;
  const kept = extra > 0 ? [states.slice(0, extra + 1).flat(), ...states.slice(extra + 1)] : states;
  const newest = (lines: readonly DroppedKeys[]) => {
    const out: DroppedKeys[] = [];
    let room = MAX_DROPPED;
    for (const d of [...lines].reverse()) {
      const keys = [...new Set(d.keys)].sort().slice(0, Math.max(0, room));
      room -= keys.length;
      if (keys.length) out.unshift({ ...d, keys });
    }
    return out;
  };
  const lines = [
    ...kept.filter((e) => e.length > 0).map((e) => lineOf(contextDir, e)),
    ...newest(history.dropped ?? []).map((d) => lineOf(contextDir, d.keys, 'dropped', d.engine)),
    ...newest(history.pending ?? []).map((d) => lineOf(contextDir, d.keys, 'pending', d.engine)),
  ];
  writeFileAtomic(stateFileToWrite(contextDir, 'history'), lines.map((l) => l ?? '').join(''));
}
