// rep gc and other projects of the same user: keys are content-only, so two
// projects (two clones) share rep-cache:K. gc keeps what another registered
// project's current state names, and another project's .rep/ can only make it
// keep more, never remove more.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImageSummary } from '../../src/engine/engine.js';
import { NoneEngine } from '../../src/engine/none.js';
import { formatGc, gc } from '../../src/commands/gc.js';
import { keysOtherProjectsUse, MAX_PROJECTS, OTHER_HISTORY_TAIL, OTHER_STATE_LIMIT, readRegister, registerFile, registerProject } from '../../src/gc/register.js';
import { appendHistory, pendingRecorder } from '../../src/state/history.js';

const key = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const hex = (n: number) => key(n).slice('sha256:'.length);
const REPFILE = 'rep: 1\nname: x\nbase: busybox:latest\nsteps:\n  a:\n    run: "true"\n';

/** An engine holding one image per key number; removing a tag removes its image. */
function engineWith(ns: number[]) {
  let held = ns.map((n) => ({ id: `sha256:${hex(n + 1000)}`, tags: [hex(n)], size: 10, layers: [`l${n}`] }));
  const removed: string[] = [];
  const engine = Object.assign(new NoneEngine(), {
    name: 'docker',
    listImages: async (repo: string): Promise<ImageSummary[]> => (repo === 'rep-cache' ? held.map((i) => ({ ...i, tags: [...i.tags] })) : []),
    removeImage: async (ref: string) => {
      removed.push(ref);
      held = held.filter((i) => `rep-cache:${i.tags[0]}` !== ref);
    },
    imageIds: async (refs: readonly string[]) => new Map(refs.map((r) => [r, held.find((i) => i.id === r)?.id] as const)),
  }) as unknown as NoneEngine;
  return { engine, removed };
}

let root: string;
let home: string | undefined;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'rep-register-'));
  // A state home of this test's own: the register (and the seal key) live there.
  home = process.env.XDG_STATE_HOME;
  process.env.XDG_STATE_HOME = path.join(root, 'state');
});
afterEach(() => {
  if (home === undefined) delete process.env.XDG_STATE_HOME;
  else process.env.XDG_STATE_HOME = home;
  rmSync(root, { recursive: true, force: true });
});

/** A project folder under the test's root, its history recording `states` (oldest first). */
function project(name: string, states: number[][]): string {
  const dir = path.join(root, name);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'Repfile'), REPFILE);
  for (const s of states) appendHistory(dir, s.map(key));
  return dir;
}

/** A state.json as a clone may carry it (no seal of this user's): what its steps' keys are. */
const plantState = (dir: string, keys: number[]) => {
  mkdirSync(path.join(dir, '.rep'), { recursive: true });
  writeFileSync(path.join(dir, '.rep', 'state.json'), JSON.stringify({ version: 2, repfileSha256: 'x', engine: 'docker', target: 'a', steps: Object.fromEntries(keys.map((n, i) => [`s${i}`, { key: key(n) }])) }));
};

describe('gc and the other projects this user built', () => {
  it("keeps a step image another registered project's current state uses, and removes it once none does", async () => {
    // Two clones: A moved on from key 1, B still builds on it.
    const a = project('a', [[1, 2], [3]]);
    const b = project('b', []);
    plantState(b, [1, 5]);
    registerProject(b);
    const { engine, removed } = engineWith([1, 2, 3, 5]);
    const r = await gc({ cwd: a }, { engine, keepStates: 1 });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(removed).toEqual([`rep-cache:${hex(2)}`]);
    expect(formatGc(r.value, false).split('\n')[0]).toBe('rep gc: kept 1 step images another project of yours still uses (its current state names them): a gc here removes them once none does');
    // B moves on: the key A dropped is still A's to remove.
    plantState(b, [5]);
    const later = await gc({ cwd: a }, { engine, keepStates: 1 });
    expect(later.ok && later.value.removed.map((i) => i.key)).toEqual([key(1)]);
    expect(readRegister()).toEqual(expect.arrayContaining([b, a]));
  });

  it("makes gc keep more, never remove more, whatever another project's .rep/ holds", async () => {
    const a = project('a', [[1], [2], [3]]);
    const removedBy = async (setUp: () => void) => {
      const { engine, removed } = engineWith([1, 2, 3, 7, 8]);
      setUp();
      const r = await gc({ cwd: a }, { engine, keepStates: 1, dryRun: true });
      return [r.ok && r.value.removed.map((i) => i.key), removed];
    };
    const alone = await removedBy(() => undefined);
    expect(alone).toEqual([[key(1), key(2)], []]);
    // A stranger's clone: its history names keys as dropped and as states (not under this user's seal for it),
    // its state.json names other projects' keys, and a third project's .rep/ is a link to A's.
    const c = project('c', []);
    mkdirSync(path.join(c, '.rep'));
    writeFileSync(path.join(c, '.rep', 'history.jsonl'), [1, 2, 3, 7, 8].map((n) => `{"dropped":["${key(n)}"]}\n{"keys":["${key(n)}"]}\n`).join(''));
    plantState(c, [7, 8]);
    const d = path.join(root, 'd');
    mkdirSync(d);
    symlinkSync(path.join(a, '.rep'), path.join(d, '.rep'));
    const e = path.join(root, 'e');
    mkdirSync(e);
    mkdirSync(path.join(e, '.rep'));
    writeFileSync(path.join(e, '.rep', 'state.json'), '{"version":2,"steps":' + '['.repeat(100_000));
    const withOthers = await removedBy(() => {
      for (const p of [c, d, e, path.join(root, 'gone')]) registerProject(p);
    });
    // Only ever a subset: here the same, since none of them names key 1 or 2.
    expect(withOthers).toEqual(alone);
    plantState(c, [2]);
    expect(await removedBy(() => undefined)).toEqual([[key(1)], []]);
  });

  it(`registers each project once, at most ${MAX_PROJECTS}, dropping folders with no .rep/ left when full; never follows a link at the register's name`, () => {
    const a = project('a', [[1]]);
    registerProject(a);
    registerProject(a);
    expect(readRegister()).toEqual([a]);
    const file = registerFile()!;
    writeFileSync(file, Array.from({ length: MAX_PROJECTS }, (_, n) => `${JSON.stringify(path.join(root, `p${n}`))}\n`).join('') + `${JSON.stringify(a)}\n`);
    const b = project('b', [[2]]);
    registerProject(b);
    expect(readRegister()).toEqual([a, b]);
    rmSync(file);
    const elsewhere = path.join(root, 'elsewhere');
    writeFileSync(elsewhere, '');
    symlinkSync(elsewhere, file);
    registerProject(a);
    expect(readFileSync(elsewhere, 'utf8')).toBe('');
  });
});

describe('the register', () => {
  it('keeps the projects used last when full: one that builds again moves to the end, and lines appended past the bound are read', () => {
    const a = project('a', [[1]]);
    const others = Array.from({ length: MAX_PROJECTS - 1 }, (_, n) => path.join(root, `p${n}`));
    for (const d of others) mkdirSync(path.join(d, '.rep'), { recursive: true });
    const file = registerFile()!;
    registerProject(a);
    writeFileSync(file, [a, ...others].map((d) => `${JSON.stringify(d)}\n`).join(''));
    // A builds again (it was registered first), then a new project registers: the one used longest ago goes, not A.
    registerProject(a);
    const b = project('b', [[2]]);
    registerProject(b);
    expect(readRegister()).toEqual([...others.slice(1), a, b]);
    // Among the last few already: nothing written.
    const before = readFileSync(file, 'utf8');
    registerProject(a);
    expect(readFileSync(file, 'utf8')).toBe(before);
    // Builds appending at once, past the bound: every project read, until the next rewrite.
    writeFileSync(file, [...others, a, b].map((d) => `${JSON.stringify(d)}\n`).join('') + `${JSON.stringify(path.join(root, 'x'))}\n`);
    expect(readRegister()).toHaveLength(MAX_PROJECTS + 2);
  });

  it('says when it cannot be read (too large, a link), and is written afresh', async () => {
    const a = project('a', [[1], [2]]);
    const b = project('b', []);
    plantState(b, [1]);
    registerProject(b);
    const file = registerFile()!;
    const { engine } = engineWith([1, 2]);
    const said = async () => {
      const r = await gc({ cwd: a }, { engine, keepStates: 1, dryRun: true });
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      return formatGc(r.value, true).split('\n')[0];
    };
    expect(await said()).toMatch(/^rep gc: kept 1 step images another project of yours still uses/);
    const notice = (why: string) => `rep gc: the register of your projects cannot be read (${file}: ${why}): no step image is kept for another project's use; the next build or gc writes it afresh`;
    truncateSync(file, (16 << 20) + 1);
    expect(await said()).toBe(notice('larger than 16 MiB, the most rep reads from this file'));
    registerProject(b);
    expect(readRegister()).toEqual([b]);
    rmSync(file);
    symlinkSync(path.join(root, 'elsewhere'), file);
    expect(await said()).toBe(notice('a symbolic link: rep does not follow links here'));
    registerProject(b);
    expect(readRegister()).toEqual([b]);
  });
});

describe("reading another project's .rep/", () => {
  const state = (dir: string) => path.join(dir, '.rep', 'state.json');
  const history = (dir: string) => path.join(dir, '.rep', 'history.jsonl');
  const stateOf = (n: number, more: Record<string, unknown> = {}) => JSON.stringify({ version: 2, repfileSha256: 'x', engine: 'docker', target: 'a', steps: { a: { key: key(n) } }, ...more });

  it('reads a bounded amount of each (a state.json too large passed over, and said; the tail of a history; nothing nested deeper than rep writes)', async () => {
    const a = project('a', [[1], [2], [5]]);
    // B: a state.json past the bound, naming key 1; a history of 10 MiB whose newest line names key 2.
    const b = project('b', [[2]]);
    writeFileSync(history(b), `${'x'.repeat(10 << 20)}\n${readFileSync(history(b), 'utf8')}`);
    writeFileSync(state(b), stateOf(1, { pad: 'x'.repeat(OTHER_STATE_LIMIT) }));
    // C: a state.json naming key 5, with a field nested a million lists deep (248 MiB of them ran V8 out of heap in JSON.parse).
    const c = project('c', []);
    mkdirSync(path.join(c, '.rep'));
    writeFileSync(state(c), stateOf(5, { x: 'x' }).replace('"x"}', `${'['.repeat(1 << 20)}${']'.repeat(1 << 20)}}`));
    registerProject(b);
    registerProject(c);
    const others = keysOtherProjectsUse(a);
    expect([[...others.keys], others.passedOver]).toEqual([[key(2)], 1]);
    // B's history read from its last 4 MiB only, B's state.json not at all, C's whole (2 MiB).
    expect(others.read).toBe(OTHER_HISTORY_TAIL + statSync(state(c)).size);
    const { engine } = engineWith([1, 2, 5]);
    const r = await gc({ cwd: a }, { engine, keepStates: 1, dryRun: true });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(formatGc(r.value, true).split('\n')).toEqual([
      'rep gc: passed over 1 other projects of yours (a .rep/ larger than gc reads of another project, 4 MiB, or past 64 MiB read for all of them): a step image only they still use may be removed',
      'rep gc: kept 1 step images another project of yours still uses (its current state names them): a gc here removes them once none does',
      `would remove rep-cache:${hex(1)} (10 bytes)`,
      'rep gc: would remove 1 step images (up to 10 bytes: an image a tag of another repository names is only untagged); kept 2 (20 bytes)',
    ]);
  });

  it('reads all of them within one budget, and passes over the rest', () => {
    const a = project('a', [[1]]);
    const others = ['b', 'c', 'd'].map((name, n) => {
      const dir = project(name, []);
      mkdirSync(path.join(dir, '.rep'));
      writeFileSync(state(dir), stateOf(n + 2));
      registerProject(dir);
      return dir;
    });
    const size = statSync(state(others[0]!)).size;
    const r = keysOtherProjectsUse(a, process.env, 2 * size);
    expect([[...r.keys], r.passedOver, r.read]).toEqual([[key(2), key(3)], 1, 2 * size]);
  });

  it("passes over, and says so, a project whose newest state lies before the tail read of its history: a build's pending lines after it filled the tail (a review)", async () => {
    const a = project('a', [[1]]);
    const b = project('b', [[2]]);
    const record = pendingRecorder(b, Promise.resolve('docker daemon A'));
    for (let n = 100; n < 120; n++) await record(key(n));
    registerProject(b);
    const tail = statSync(history(b)).size - 1000;
    const r = keysOtherProjectsUse(a, process.env, tail);
    expect([[...r.keys], r.passedOver]).toEqual([[], 1]);
    // A state.json too large as well: still one project passed over.
    writeFileSync(state(b), stateOf(2, { pad: 'x'.repeat(OTHER_STATE_LIMIT) }));
    expect(keysOtherProjectsUse(a, process.env, tail).passedOver).toBe(1);
    rmSync(state(b));
    // Read whole, B's state is found.
    expect([...keysOtherProjectsUse(a).keys]).toEqual([key(2)]);
  });
});
