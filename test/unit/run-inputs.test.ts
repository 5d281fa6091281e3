import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BuildRequest, Engine } from '../../src/engine/engine.js';
import { ContextIndex, handOverWalk, walkContext } from '../../src/context/files.js';
import { loadContext } from '../../src/context/context.js';
import { build } from '../../src/build.js';
import { NoneEngine } from '../../src/engine/none.js';
import { startedAt } from '../../src/state/mutex.js';
import { planBuild } from '../../src/plan/plan.js';
import type { BuildEvent } from '../../src/scheduler/events.js';
import { runBuild } from '../../src/scheduler/run.js';
import { cacheRef } from '../../src/scheduler/stepimage.js';
import { makeProject, open } from '../helpers.js';

const REPFILE = 'rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  app:\n    inputs: [conf.txt]\n    run: cat conf.txt\n';

const BUILT = `sha256:${'1'.repeat(64)}`;

/**
 * An engine that builds every step, running `during` while it reads the step's context; it keeps what it
 * tagged (the build itself tags only when asked) and what was removed, but for the pins a run releases
 * when it ends (scheduler/pins.ts), which it keeps apart.
 */
function engineThat(during: () => void, syncsFolders = false) {
  const tagged = new Set<string>();
  const removed: string[] = [];
  const unpinned: string[] = [];
  const engine = {
    name: 'docker',
    syncsFolders,
    answers: async () => true,
    hasImage: async (ref: string) => tagged.has(ref) || ref === 'busybox:latest',
    inspect: async (ref: string) => (ref === 'busybox:latest' ? { id: `sha256:${'0'.repeat(64)}`, repoDigests: [], layers: [] } : undefined),
    imageIds: async (refs: readonly string[]) => new Map(refs.map((r) => [r, tagged.has(r) ? BUILT : undefined])),
    build: async (req: BuildRequest) => {
      during();
      if (req.tag !== undefined) tagged.add(req.tag);
      return { ok: true, imageId: BUILT };
    },
    tag: async (src: string, dst: string) => {
      if (src !== BUILT && !tagged.has(src)) throw new Error(`no image ${src}`);
      tagged.add(dst);
    },
    removeImage: async (ref: string) => {
      (ref.startsWith('rep-pin:') ? unpinned : removed).push(ref);
      tagged.delete(ref);
    },
  } as unknown as Engine;
  return { engine, tagged, removed, unpinned };
}

/** What a step whose input moved leaves: its image untagged again by a throwaway name (never by its id, never its key's tag). */
const DISCARDED = /^rep-verify\/discard:[0-9a-f]{32}$/;

async function run(dir: string, engine: Engine) {
  const p = open(dir);
  const index = ContextIndex.walk(p.ctx.dir, p.ctx.ignore, p.ctx.ignoreText);
  if (!index.ok) throw new Error('walk failed');
  const plan = planBuild(p.dag, p.ctx, { index: index.value });
  if (!plan.ok) throw new Error('plan failed');
  const events: BuildEvent[] = [];
  const r = await runBuild(p, engine, plan.value, { jobs: 1, onEvent: (e) => events.push(e), context: index.value });
  return { r, key: plan.value.steps[0]!.key, events };
}

describe('an input written while its step is built', () => {
  it('fails the step, and its image is not kept under the key hashed from the old bytes (an undo would find it fresh)', async () => {
    const dir = makeProject({ Repfile: REPFILE, 'conf.txt': 'v1\n' });
    const conf = path.join(dir, 'conf.txt');
    const { engine, tagged, removed } = engineThat(() => writeFileSync(conf, 'v2\n'));
    const { r, key, events } = await run(dir, engine);
    expect(r.ok).toBe(false);
    expect(r.steps.get('app')?.status).toBe('failed');
    expect(removed).toEqual([expect.stringMatching(DISCARDED)]);
    expect(tagged.has(cacheRef(key))).toBe(false);
    const failure = events.find((e) => e.type === 'step-failed');
    expect(failure && 'error' in failure ? failure.error : '').toBe('input conf.txt changed while the step was built: its image is not kept under a key hashed from what it was before; build again');
    expect(readFileSync(conf, 'utf8')).toBe('v2\n');
  });

  it('written back with the same bytes and size still counts (its ctime moved); an input left alone does not', async () => {
    const dir = makeProject({ Repfile: REPFILE, 'conf.txt': 'v1\n' });
    const conf = path.join(dir, 'conf.txt');
    const same = await run(dir, engineThat(() => writeFileSync(conf, 'v1\n')).engine);
    expect(same.r.steps.get('app')?.status).toBe('failed');
    const alone = engineThat(() => {});
    const quiet = await run(dir, alone.engine);
    expect(quiet.r.steps.get('app')?.status).toBe('built');
    expect(alone.removed).toEqual([]);
  });
});

describe('a file added while its step is built, to a folder the step copies whole (a builder that syncs the folder)', () => {
  const FOLDER = 'rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  app:\n    inputs: [src/]\n    run: ls src\n';
  it('fails the step and removes its image: the engine copied the folder as it was then (an editor\'s swap file)', async () => {
    const dir = makeProject({ Repfile: FOLDER, 'src/a.txt': 'a\n', 'src/b.txt': 'b\n' });
    const { engine, tagged, removed } = engineThat(() => writeFileSync(path.join(dir, 'src/.a.txt.swp'), 'x'), true);
    const { r, key, events } = await run(dir, engine);
    expect(r.steps.get('app')?.status).toBe('failed');
    expect(removed).toEqual([expect.stringMatching(DISCARDED)]);
    expect(tagged.has(cacheRef(key))).toBe(false);
    const failure = events.find((e) => e.type === 'step-failed');
    expect(failure && 'error' in failure ? failure.error : '').toBe('src/.a.txt.swp was added to a folder the step copies whole while the step was built: its image is not kept under a key hashed from what it was before; build again');
  });

  it('an empty folder made in it, or a folder\'s mode changed, while it is built fails the step too (COPY copies them)', async () => {
    for (const during of [(dir: string) => mkdirSync(path.join(dir, 'src/sub/new')), (dir: string) => chmodSync(path.join(dir, 'src/sub'), 0o700)]) {
      const dir = makeProject({ Repfile: FOLDER, 'src/a.txt': 'a\n', 'src/sub/b.txt': 'b\n' });
      const { engine, tagged, removed } = engineThat(() => during(dir), true);
      const { r, key, events } = await run(dir, engine);
      expect(r.steps.get('app')?.status).toBe('failed');
      expect(removed).toEqual([expect.stringMatching(DISCARDED)]);
      expect(tagged.has(cacheRef(key))).toBe(false);
      const failure = events.find((e) => e.type === 'step-failed');
      expect(failure && 'error' in failure ? failure.error : '').toMatch(/^src, which the step copies whole, changed \(a folder or a special file in it, or a folder's mode\) while the step was built/);
    }
  });

  it('.dockerignore edited while it is built fails the step too: the builder applied the rules as they were then (found by a review)', async () => {
    // The line that excluded src/token.txt taken out: BuildKit copied it with src/, and the checks, by the rules
    // the project was opened with, saw no file added.
    const tree = { Repfile: FOLDER, 'src/a.txt': 'a\n', 'src/token.txt': 'secret\n', '.dockerignore': 'src/token.txt\n' };
    const dir = makeProject(tree);
    const { engine, tagged, removed } = engineThat(() => writeFileSync(path.join(dir, '.dockerignore'), ''), true);
    const { r, key, events } = await run(dir, engine);
    expect(r.steps.get('app')?.status).toBe('failed');
    expect(removed).toEqual([expect.stringMatching(DISCARDED)]);
    expect(tagged.has(cacheRef(key))).toBe(false);
    const failure = events.find((e) => e.type === 'step-failed');
    expect(failure && 'error' in failure ? failure.error : '').toBe('.dockerignore changed while the step was built: its image is not kept under a key hashed from what it was before; build again');
    // Given the step's inputs as rep's own tar, the engine never reads .dockerignore: the same edit changes nothing it copies.
    const other = makeProject(tree);
    const tar = engineThat(() => writeFileSync(path.join(other, '.dockerignore'), ''));
    expect((await run(other, tar.engine)).r.steps.get('app')?.status).toBe('built');
    expect(tar.removed).toEqual([]);
  });

  it('a file added where the step copies files one by one is no change to its image', async () => {
    const dir = makeProject({ Repfile: FOLDER.replace('[src/]', '[src/a.txt]'), 'src/a.txt': 'a\n', 'src/b.txt': 'b\n' });
    const { engine, removed } = engineThat(() => writeFileSync(path.join(dir, 'src/c.txt'), 'x'), true);
    const { r } = await run(dir, engine);
    expect(r.steps.get('app')?.status).toBe('built');
    expect(removed).toEqual([]);
  });
});


describe('the walk the quick path hands over (found by an adversarial review)', () => {
  it('is dropped when the build waited for another to let go of the project: a file added meanwhile is seen', async () => {
    const dir = makeProject({ Repfile: 'rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  app:\n    inputs: [src/]\n    run: ls src\n', 'src/a.txt': 'a\n' });
    const project = open(dir);
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error('context');
    const walked = walkContext(dir, ctx.value.ignore);
    if (!walked.ok) throw new Error('walk');
    // The quick path walked, found no no-op, and handed its walk over; another build held the project meanwhile.
    handOverWalk(dir, ctx.value.ignoreText, walked.value);
    mkdirSync(path.join(dir, '.rep'), { recursive: true });
    writeFileSync(path.join(dir, '.rep/build.pid'), `${process.ppid} ${startedAt(process.ppid)}\n`);
    writeFileSync(path.join(dir, 'src/b.txt'), 'b\n');
    setTimeout(() => rmSync(path.join(dir, '.rep/build.pid')), 300);
    const r = await build(project, { engine: new NoneEngine() });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.value.plan!.step('app').inputs.map((f) => f.path)).toEqual(['src/a.txt', 'src/b.txt']);
  });
});

describe('what a write killed halfway left in the context (found by an adversarial review)', () => {
  it('is removed before the build walks: a dead writer\'s Dockerfile or lock temp is no input, no file of the context', async () => {
    const dir = makeProject({ Repfile: 'rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  app:\n    inputs: [./]\n    run: ls\n', 'a.txt': 'a\n', '.dockerignore': '.rep\n' });
    // A pid no process has (pid_max is at most 2^22).
    const dead = 4_194_305;
    const left = [`Dockerfile.${dead}.0123456789ab.tmp`, `Repfile.lock.${dead}.ba9876543210.tmp`];
    for (const f of left) writeFileSync(path.join(dir, f), 'half written\n');
    // Not rep's: another name, or a live writer's (this process).
    const kept = ['Dockerfile.notes.tmp', `Dockerfile.${process.pid}.0123456789ab.tmp`];
    for (const f of kept) writeFileSync(path.join(dir, f), 'mine\n');
    const r = await build(open(dir), { engine: new NoneEngine() });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const inputs = r.value.plan!.step('app').inputs.map((f) => f.path);
    for (const f of left) expect(inputs).not.toContain(f);
    for (const f of kept) expect(inputs).toContain(f);
    expect(inputs).toContain('a.txt');
  });
});

describe('a dead writer\'s temp in the context when the walk was made before the mutex (rep publish; found by a review)', () => {
  it('fails located, asking to run again, rather than hash a file it just removed', async () => {
    const dir = makeProject({ Repfile: 'rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  app:\n    inputs: [./]\n    run: ls\n', 'a.txt': 'a\n', '.dockerignore': '.rep\n' });
    const left = path.join(dir, 'Repfile.lock.4194305.0123456789ab.tmp');
    writeFileSync(left, 'half written\n');
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error('context');
    const walked = walkContext(dir, ctx.value.ignore);
    if (!walked.ok) throw new Error('walk');
    const r = await build(open(dir), { engine: new NoneEngine(), walked: walked.value });
    expect(r.ok ? undefined : r.errors[0]).toMatchObject({ message: expect.stringMatching(/^was left half written by a rep that was killed, and is removed now: .* run the command again$/) });
    expect(existsSync(left)).toBe(false);
    expect(existsSync(path.join(dir, '.rep/build.pid'))).toBe(false);
  });
});

/** An engine that syncs folders and builds every step, noting in `contexts` the context each build got; its inspect is the test's to set. */
function contextsOf(contexts: string[]) {
  const { engine } = engineThat(() => undefined, true);
  const asked = engine as unknown as { build: (req: BuildRequest) => Promise<unknown>; inspect: (ref: string) => Promise<unknown> };
  const built = asked.build;
  asked.build = async (req: BuildRequest) => {
    contexts.push('folder' in req.context ? 'folder' : 'archive' in req.context ? 'archive' : 'tar');
    return built(req);
  };
  return { engine, asked };
}

describe('a step on a base with ONBUILD triggers, with a builder that reads the context folder', () => {
  it('gets its inputs as a tar: the triggers run first, with the context the build was given (ONBUILD COPY . copied the whole project; a review)', async () => {
    const dir = makeProject({ Repfile: REPFILE, 'conf.txt': 'v1\n', 'secret.txt': 'not an input\n' });
    const contexts: string[] = [];
    for (const onBuild of [false, true, undefined]) {
      const { engine, asked } = contextsOf(contexts);
      // undefined: a base the engine does not have yet (pinned by the lock, pulled by the build): its triggers unknown.
      asked.inspect = async (ref: string) => (ref === 'busybox:latest' && onBuild !== undefined ? { id: BUILT, repoDigests: [], layers: [], ...(onBuild ? { onBuild: true } : {}) } : undefined);
      const { r } = await run(dir, engine);
      expect(r.ok).toBe(true);
    }
    expect(contexts).toEqual(['folder', 'tar', 'tar']);
  });

  it('so does a step on a step whose image has triggers: one a cache gave is whatever its writer made (a review)', async () => {
    const repfile = 'rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  sys:\n    run: "true"\n  app:\n    from: sys\n    inputs: [conf.txt]\n    run: cat conf.txt\n';
    const dir = makeProject({ Repfile: repfile, 'conf.txt': 'v1\n', '.env': 'TOKEN=not an input\n' });
    const contexts: string[] = [];
    for (const onBuild of [false, true]) {
      const { engine, asked } = contextsOf(contexts);
      // sys's image, held under its pin for app's build: with triggers (as a --cache-from image may carry) or without.
      asked.inspect = async (ref: string) => (ref === 'busybox:latest' || ref.startsWith('rep-pin:') || ref === BUILT ? { id: BUILT, repoDigests: [], layers: [], ...(onBuild && ref !== 'busybox:latest' ? { onBuild: true } : {}) } : undefined);
      const { r } = await run(dir, engine);
      expect(r.ok).toBe(true);
      rmSync(path.join(dir, '.rep'), { recursive: true, force: true });
    }
    // sys, then app, in each run: sys on busybox (no triggers) from the folder; app from the folder, or a tar on a parent with triggers.
    expect(contexts).toEqual(['folder', 'folder', 'folder', 'tar']);
  });
});
