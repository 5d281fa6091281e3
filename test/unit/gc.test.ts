// rep gc's decisions without an engine: which step images the policy removes,
// and the history of past states it reads (bounded, hostile input).
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ImageSummary } from '../../src/engine/engine.js';
import { bytesOf, ownSizes, planGc } from '../../src/gc/policy.js';
import { APPEND_LIMIT, appendHistory, HISTORY_LIMIT, MAX_STATES, readHistory, writeHistory } from '../../src/state/history.js';
import { appendNoFollow } from '../../src/safefs.js';
import { gc } from '../../src/commands/gc.js';
import { NoneEngine } from '../../src/engine/none.js';
import { LOAD_REPO } from '../../src/scheduler/stepimage.js';
import { PIN_REPO } from '../../src/scheduler/pins.js';
import { startedAt } from '../../src/state/mutex.js';

const key = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const hex = (n: number) => key(n).slice('sha256:'.length);
/** An image tagged with key n, `size` bytes, on the layers given. */
const img = (n: number, size: number, layers: string[]): ImageSummary => ({ id: `id${n}`, tags: [hex(n)], size, layers });

describe('gc policy', () => {
  // Three states of a two-step project: step 1 stays, step 2 changes each time.
  const history = [[key(1), key(2)], [key(1), key(3)], [key(1), key(4)]];
  const images = [img(1, 100, ['a']), img(2, 110, ['a', 'b']), img(3, 120, ['a', 'c']), img(4, 130, ['a', 'd']), img(9, 50, ['z'])];
  const tags = (xs: { key: string }[]) => xs.map((x) => x.key);

  it('keeps the last N states (the current one counts) and removes the older ones', () => {
    const p = planGc(history, [key(1), key(4)], images, { keepStates: 2 });
    expect(tags(p.remove)).toEqual([key(2)]);
    expect(tags(p.keep)).toEqual([key(1), key(3), key(4)]);
    expect(p.keptStates).toEqual([[key(1), key(3)], [key(1), key(4)]]);
  });

  it('never touches a rep-cache image no state of this project named', () => {
    const p = planGc(history, [key(1), key(4)], images, { all: true });
    expect(tags(p.remove)).toEqual([key(1), key(2), key(3), key(4)]);
    expect(p.keptStates).toEqual([]);
    expect(p.remove.some((i) => i.key === key(9))).toBe(false);
  });

  it('keeps the current state even when it is not in the history yet, and one inside it is the current', () => {
    // the current state also names the final image (key 5), which the history never does
    const p = planGc(history, [key(1), key(4), key(5)], [...images, img(5, 131, ['a', 'd', 'e'])], { keepStates: 1 });
    expect(tags(p.keep)).toEqual([key(1), key(4), key(5)]);
    expect(tags(p.remove)).toEqual([key(2), key(3)]);
  });

  it('with a size budget keeps the newest states that fit, the current always', () => {
    // own sizes: 1 -> 100 (no listed ancestor), 2/3/4 -> 10/20/30 over image 1
    expect(ownSizes(images).get('id4')).toBe(30);
    const fits = planGc(history, [key(1), key(4)], images, { keepBytes: 150 });
    expect(tags(fits.keep)).toEqual([key(1), key(3), key(4)]);
    const tight = planGc(history, [key(1), key(4)], images, { keepBytes: 1 });
    expect(tags(tight.keep)).toEqual([key(1), key(4)]);
  });

  it('charges a step on a base image its size less the base\'s, when the engine lists the base (its whole size otherwise)', () => {
    // Step 1 is the first of its stage, on a base of 80 bytes the engine lists under another repository.
    const base: ImageSummary = { id: 'base', tags: ['latest'], size: 80, layers: ['base'] };
    const steps = [img(1, 100, ['base', 'a']), img(2, 130, ['base', 'a', 'b'])];
    expect(ownSizes(steps, [base])).toEqual(new Map([['id1', 20], ['id2', 30]]));
    // The base's size unknown (Engine.inspect says no size): the step is charged whole, base and all.
    expect(ownSizes(steps).get('id1')).toBe(100);
    // The budget then weighs what gc can free: 20 + 30 bytes, not 130.
    const p = planGc([[key(1)]], [key(2)], steps, { keepBytes: 50 }, { bases: [base] });
    expect(tags(p.keep)).toEqual([key(1), key(2)]);
  });

  it('counts an image with two rep-cache tags once, and removes a tag whose image another kept tag names as an untag', () => {
    // Keys 2 and 3 are one image (a step that came out the same), 50 bytes of its own; key 1 another 50.
    const twice: ImageSummary = { id: 'id23', tags: [hex(2), hex(3)], size: 50, layers: ['x'] };
    const p = planGc([[key(1)], [key(2)]], [key(3)], [img(1, 50, ['y']), twice], { keepBytes: 100 });
    expect(tags(p.keep)).toEqual([key(1), key(2), key(3)]);
    const one = planGc([[key(1)], [key(2)]], [key(3)], [img(1, 50, ['y']), twice], { keepStates: 1 });
    expect(tags(one.remove)).toEqual([key(1), key(2)]);
    expect(one.remove.map((i) => i.untagOnly ?? false)).toEqual([false, true]);
  });

  it('charges images of one layer chain once: the final image holds its target step\'s layers and a LABEL or CMD', () => {
    // The current state: step 1 (100 bytes of its own) and its final image 2, the same layers; an older state, step 3.
    const images = [img(1, 100, ['a']), img(2, 100, ['a']), img(3, 150, ['b'])];
    const p = planGc([[key(3)]], [key(1), key(2)], images, { keepBytes: 250 });
    expect(tags(p.keep)).toEqual([key(1), key(2), key(3)]);
    expect(bytesOf(p.keep)).toBe(250);
    // Both removed: 100 bytes freed, not 200; one removed while the other stays: none.
    expect(bytesOf(planGc([[key(1), key(2)]], [key(3)], images, { keepStates: 1 }).remove)).toBe(100);
    expect(planGc([[key(1)]], [key(2)], images, { keepStates: 1 }).remove.map((i) => [i.key, i.size])).toEqual([[key(1), 0]]);
  });

  it('defaults to the last 3 states', () => {
    const p = planGc([[key(2)], [key(3)], [key(4)], [key(6)]], [key(7)], [2, 3, 4, 6, 7].map((n) => img(n, 1, [String(n)])), {});
    expect(tags(p.remove)).toEqual([key(2), key(3)]);
  });
});

describe('state history', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const file = () => path.join(dir, '.rep', 'history.jsonl');

  it('appends one line per new state, none for a repeated one, and stays bounded', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rep-test-'));
    appendHistory(dir, [key(2), key(1)]);
    appendHistory(dir, [key(1), key(2)]);
    expect(readHistory(dir)).toEqual([[key(1), key(2)]]);
    for (let i = 3; i < MAX_STATES + 20; i++) appendHistory(dir, [key(1), key(i)]);
    const h = readHistory(dir);
    expect(h.length).toBe(MAX_STATES);
    // the oldest states are merged, not forgotten: their keys stay known to gc
    expect(h[0]).toContain(key(2));
    expect(h[0]).toContain(key(3));
    expect(h[h.length - 1]).toEqual([key(1), key(MAX_STATES + 19)]);
  });

  it('reads a hostile history as nothing it cannot vouch for: bad lines, bad keys, lines rep did not seal, links', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rep-test-'));
    appendHistory(dir, [key(2)]);
    const sealed = readFileSync(file(), 'utf8');
    expect(JSON.parse(sealed)).toEqual({ keys: [key(2)], seal: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // Well-formed lines a cloned .rep/ brings would have gc remove the images of any keys they name.
    const forged = sealed.replace(hex(2), hex(7));
    writeFileSync(file(), `not json\n{"keys":["rep-cache:x"]}\n{"keys":"${key(1)}"}\n{"keys":["${key(1)}","../../etc"]}\n{"keys":["${key(3)}"]}\n${forged}${sealed}`);
    expect(readHistory(dir)).toEqual([[key(2)]]);
    // Sealed under another user's key (another state home): not believed either.
    const home = process.env.XDG_STATE_HOME;
    process.env.XDG_STATE_HOME = mkdtempSync(path.join(tmpdir(), 'rep-state-'));
    try {
      expect(readHistory(dir)).toEqual([]);
    } finally {
      rmSync(process.env.XDG_STATE_HOME, { recursive: true, force: true });
      if (home === undefined) delete process.env.XDG_STATE_HOME;
      else process.env.XDG_STATE_HOME = home;
    }
    expect(readHistory(dir)).toEqual([[key(2)]]);
    const outside = path.join(dir, 'elsewhere.jsonl');
    writeFileSync(outside, sealed);
    rmSync(file());
    symlinkSync(outside, file());
    expect(readHistory(dir)).toEqual([]);
    // appending does not write through the link either: it replaces it
    appendHistory(dir, [key(4)]);
    expect(readFileSync(outside, 'utf8')).toBe(sealed);
    expect(readHistory(dir)).toEqual([[key(4)]]);
  });

  it('appends nothing to a hard link to a file elsewhere (an unpacked archive can plant one): the name is replaced', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rep-test-'));
    mkdirSync(path.join(dir, '.rep'));
    const outside = path.join(dir, 'Repfile');
    writeFileSync(outside, 'rep: 1\n');
    linkSync(outside, file());
    appendHistory(dir, [key(5)]);
    expect(readFileSync(outside, 'utf8')).toBe('rep: 1\n');
    expect(readHistory(dir)).toEqual([[key(5)]]);
    // The same for any append rep makes without a rewrite of its own to fall back on: dropped.
    const other = path.join(dir, '.rep', 'other.log');
    linkSync(outside, other);
    appendNoFollow(other, 'line\n');
    expect(readFileSync(outside, 'utf8')).toBe('rep: 1\n');
  });

  it('rewrites, never appends to, a history it cannot read whole, one with lines rep did not seal, or one past APPEND_LIMIT', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rep-test-'));
    appendHistory(dir, [key(1)]);
    // Just past HISTORY_LIMIT (a clone's; sparse here): appended to, it hid every later state from gc.
    truncateSync(file(), HISTORY_LIMIT + 1);
    for (const n of [2, 3, 4]) appendHistory(dir, [key(n)]);
    expect(readHistory(dir)).toEqual([[key(2)], [key(3)], [key(4)]]);
    // 2 MiB of lines rep did not write, under the limit: read on every build until they go.
    writeFileSync(file(), `${'{"keys":[]}\n'.repeat((2 << 20) / 12)}${readFileSync(file(), 'utf8')}`);
    appendHistory(dir, [key(5)]);
    expect(readHistory(dir)).toEqual([[key(2)], [key(3)], [key(4)], [key(5)]]);
    expect(statSync(file()).size).toBeLessThan(1024);
    // Sealed lines, but past APPEND_LIMIT: written again whole (a new file), not appended to.
    appendHistory(dir, Array.from({ length: APPEND_LIMIT / 70 }, (_, n) => key(n + 100)));
    const before = statSync(file());
    expect(before.size).toBeGreaterThan(APPEND_LIMIT);
    appendHistory(dir, [key(6)]);
    expect(statSync(file()).ino).not.toBe(before.ino);
    expect(readHistory(dir).at(-1)).toEqual([key(6)]);
  });

  it('keeps the newest states of a history of its own too large to read whole (rep can write that much: 100 states of 10k keys), rather than none', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rep-test-'));
    const states = Array.from({ length: 95 }, (_, s) => Array.from({ length: 10_000 }, (_, n) => key(s * 10_000 + n + 1)));
    writeHistory(dir, { states });
    expect(statSync(file()).size).toBeGreaterThan(HISTORY_LIMIT);
    appendHistory(dir, [key(9_999_999)]);
    const kept = readHistory(dir);
    expect(kept.at(-1)).toEqual([key(9_999_999)]);
    expect(kept.at(-2)).toEqual([...states.at(-1)!].sort());
    expect(kept.length).toBeGreaterThan(80);
  }, 60_000);

  it('reads nothing when .rep is a link', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rep-test-'));
    mkdirSync(path.join(dir, 'real'));
    writeFileSync(path.join(dir, 'real', 'history.jsonl'), `{"keys":["${key(1)}"]}\n`);
    symlinkSync(path.join(dir, 'real'), path.join(dir, '.rep'));
    expect(readHistory(dir)).toEqual([]);
  });

  it('weighs a state and history of 80k keys in linear time (whether the newest line holds the state took 28 s)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-gc-'));
    try {
      mkdirSync(path.join(dir, '.rep'));
      writeFileSync(path.join(dir, 'Repfile'), 'rep: 1\nname: x\nbase: busybox:latest\nsteps:\n  a:\n    run: "true"\n');
      const keys = Array.from({ length: 80_000 }, (_, n) => key(n + 1));
      const steps = Object.fromEntries(keys.map((k, n) => [`s${n}`, { key: k }]));
      writeFileSync(path.join(dir, '.rep', 'state.json'), JSON.stringify({ version: 2, repfileSha256: 'x', engine: 'docker', target: 'a', steps }));
      appendHistory(dir, keys);
      // An engine with no rep-cache image: gc has nothing to remove, whatever the files say.
      const engine = Object.assign(new NoneEngine(), { name: 'docker' }) as unknown as NoneEngine;
      const r = await gc({ cwd: dir }, { engine, dryRun: true });
      expect(r.ok && r.value.removed).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 15_000);

  it('removes no image for keys of a state rep did not seal, and writes none of them into the history', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-gc-'));
    try {
      mkdirSync(path.join(dir, '.rep'));
      writeFileSync(path.join(dir, 'Repfile'), 'rep: 1\nname: x\nbase: busybox:latest\nsteps:\n  a:\n    run: "true"\n');
      // A state that came with the project names another project's step image; the history is this user's own.
      writeFileSync(path.join(dir, '.rep', 'state.json'), JSON.stringify({ version: 2, repfileSha256: 'x', engine: 'docker', target: 'a', steps: { a: { key: key(9) } } }));
      appendHistory(dir, [key(1)]);
      appendHistory(dir, [key(2)]);
      const removed: string[] = [];
      const engine = Object.assign(new NoneEngine(), {
        name: 'docker',
        listImages: async (repo: string) => (repo === 'rep-cache' ? [img(1, 10, ['x']), img(2, 10, ['y']), img(9, 10, ['z'])].filter((i) => !removed.some((r) => r.endsWith(i.tags[0]!))) : []),
        removeImage: async (ref: string) => void removed.push(ref),
      }) as unknown as NoneEngine;
      // The newest line this project recorded stands for the current state, whose own record is not rep's.
      const r = await gc({ cwd: dir }, { engine, keepStates: 1 });
      expect(r.ok && r.value.removed.map((i) => i.key)).toEqual([key(1)]);
      expect(removed).toEqual([`rep-cache:${hex(1)}`]);
      // Kept (the current state's), but not recorded as this project's: the next gc, after a build, leaves it too.
      expect(readHistory(dir).flat()).not.toContain(key(9));
      expect(readFileSync(path.join(dir, '.rep', 'history.jsonl'), 'utf8')).not.toContain(hex(9));
      // Not even --all, which removes every image the project recorded, the current state's too.
      const all = await gc({ cwd: dir }, { engine, all: true });
      expect(all.ok && [all.value.removed.map((i) => i.key), all.value.kept.map((i) => i.key)]).toEqual([[key(2)], []]);
      expect(removed).toEqual([`rep-cache:${hex(1)}`, `rep-cache:${hex(2)}`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('removes the names a rep killed while it built with a cache folder left on the folder\'s images, not a running rep\'s', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-gc-'));
    try {
      writeFileSync(path.join(dir, 'Repfile'), 'rep: 1\nname: x\nbase: busybox:latest\nsteps:\n  a:\n    run: "true"\n');
      appendHistory(dir, [key(1)]);
      const random = 'ab'.repeat(16);
      const start = startedAt(process.pid) ?? '';
      const dead = `999999999-1-${random}-${hex(7)}`;
      const reused = `${process.pid}-${start}0-${random}-${hex(7)}`;
      const running = `${process.pid}-${start}-${random}-${hex(7)}`;
      // rep verify --rebuild of a bundle called "cache-load" tags rep-verify/cache-load:<12 hex>: the reviewer's.
      const verified = '0123456789ab';
      const removed: string[] = [];
      const engine = Object.assign(new NoneEngine(), {
        name: 'docker',
        listImages: async (repo: string) => (repo === LOAD_REPO ? [{ id: 'l', tags: [dead, reused, running, verified], size: 10, layers: ['l'] }] : repo === 'rep-cache' ? [img(1, 10, ['x'])] : []),
        removeImage: async (ref: string) => void removed.push(ref),
      }) as unknown as NoneEngine;
      const r = await gc({ cwd: dir }, { engine, keepStates: 1 });
      expect(r.ok).toBe(true);
      expect(removed.filter((ref) => ref.startsWith(`${LOAD_REPO}:`))).toEqual([`${LOAD_REPO}:${dead}`, ...(start ? [`${LOAD_REPO}:${reused}`] : [])]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('removes the pins a rep killed while it built left on the images it used (scheduler/pins.ts), not a running rep\'s', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-gc-'));
    try {
      writeFileSync(path.join(dir, 'Repfile'), 'rep: 1\nname: x\nbase: busybox:latest\nsteps:\n  a:\n    run: "true"\n');
      appendHistory(dir, [key(1)]);
      const start = startedAt(process.pid) ?? '';
      const dead = `999999999-1-0123abcd-${hex(7)}`;
      const reused = `${process.pid}-${start}0-0123abcd-${hex(7)}`;
      const running = `${process.pid}-${start}-0123abcd-${hex(7)}`;
      const removed: string[] = [];
      const engine = Object.assign(new NoneEngine(), {
        name: 'docker',
        listImages: async (repo: string) => (repo === PIN_REPO ? [{ id: 'p', tags: [dead, reused, running, 'mine'], size: 10, layers: ['l'] }] : repo === 'rep-cache' ? [img(1, 10, ['x'])] : []),
        removeImage: async (ref: string) => void removed.push(ref),
      }) as unknown as NoneEngine;
      const r = await gc({ cwd: dir }, { engine, keepStates: 1 });
      expect(r.ok).toBe(true);
      expect(removed.filter((ref) => ref.startsWith(`${PIN_REPO}:`))).toEqual([`${PIN_REPO}:${dead}`, ...(start ? [`${PIN_REPO}:${reused}`] : [])]);
      // In a project that never built (nothing of its own to remove) too; not with -n.
      rmSync(path.join(dir, '.rep'), { recursive: true, force: true });
      removed.length = 0;
      expect((await gc({ cwd: dir }, { engine, keepStates: 1, dryRun: true })).ok).toBe(true);
      expect(removed).toEqual([]);
      expect((await gc({ cwd: dir }, { engine, keepStates: 1 })).ok).toBe(true);
      expect(removed).toEqual([`${PIN_REPO}:${dead}`, ...(start ? [`${PIN_REPO}:${reused}`] : [])]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('believes no line sealed for another project (a .rep/ committed elsewhere), and keeps no history without a key to seal it', () => {
    const [a, b] = [mkdtempSync(path.join(tmpdir(), 'rep-a-')), mkdtempSync(path.join(tmpdir(), 'rep-b-'))];
    try {
      appendHistory(a, [key(1)]);
      mkdirSync(path.join(b, '.rep'));
      writeFileSync(path.join(b, '.rep', 'history.jsonl'), readFileSync(path.join(a, '.rep', 'history.jsonl')));
      expect(readHistory(a)).toEqual([[key(1)]]);
      expect(readHistory(b)).toEqual([]);
      const home = process.env.XDG_STATE_HOME;
      process.env.XDG_STATE_HOME = '/dev/null/state';
      try {
        for (let n = 0; n < 5; n++) appendHistory(b, [key(2)]);
      } finally {
        if (home === undefined) delete process.env.XDG_STATE_HOME;
        else process.env.XDG_STATE_HOME = home;
      }
      // Lines no one can seal, which grew one a build: none are written.
      expect(readFileSync(path.join(b, '.rep', 'history.jsonl'), 'utf8')).toBe(readFileSync(path.join(a, '.rep', 'history.jsonl'), 'utf8'));
    } finally {
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  });
});
