// A step's image is keyed (tagged rep-cache:<key>) by rep, only once it has checked that no input
// changed while the engine read it: never by the engine as it builds. An adversarial review showed
// why: an engine asked to tag the key itself left that tag on an image of bytes read after the hash
// whenever rep did not get to the check (killed, or cancelled as the engine tagged), and a later build
// whose inputs hashed to that key took the image as fresh. The engine here is a stand-in image store
// that keeps images by id, as docker and podman do: a build names its image by the bytes it read.
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ContextIndex, statEntry } from '../../src/context/files.js';
import type { BuildOutcome, BuildRequest, Engine } from '../../src/engine/engine.js';
import { NoneEngine } from '../../src/engine/none.js';
import { planBuild } from '../../src/plan/plan.js';
import { runBuild, type RunResult } from '../../src/scheduler/run.js';
import { cacheRef } from '../../src/scheduler/stepimage.js';
import { makeProject, open } from '../helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const REPFILE = 'rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  app:\n    inputs: [app.txt]\n    run: cat app.txt\n';
const TWO = `${REPFILE}  after:\n    from: app\n    run: echo after\n`;

/** How the stand-in's next build ends: as asked, or as a killed rep sees it (never). */
type Ending = 'ok' | 'failed' | 'cancelled' | 'killed';

// NoneEngine's methods take no arguments; the stand-in's take the Engine interface's.
const Base = NoneEngine as unknown as new () => Engine;

/**
 * An image store: images by id (what app.txt held when the build read it), tags naming them. A build tags
 * its image only when asked (as `docker build -t`), before it ends however it ends; removing a name
 * untags it and removes the image once no name is left; removing by id takes the image's only tag
 * with it, as docker and podman do. Every call is logged, with the scheduler's events, in order.
 */
class Store extends Base {
  override readonly name = 'docker' as const;
  readonly images = new Map<string, string>();
  readonly tags = new Map<string, string>([['busybox:latest', `sha256:${'0'.repeat(64)}`]]);
  readonly calls: string[] = [];
  /** Run as the engine reads the context (an editor writing meanwhile). */
  during?: () => void;
  ending: Ending = 'ok';
  constructor(private readonly dir: string) {
    super();
  }
  override async hasImage(ref: string) {
    return this.tags.has(ref) || this.images.has(ref);
  }
  override async imageIds(refs: readonly string[]) {
    return new Map(refs.map((r) => [r, this.tags.get(r)] as const));
  }
  override async answers() {
    return true;
  }
  override async build(req: BuildRequest): Promise<BuildOutcome> {
    this.calls.push(`build ${req.tag ?? '(untagged)'}`);
    this.during?.();
    const held = readFileSync(path.join(this.dir, 'app.txt'), 'utf8');
    const id = `sha256:${createHash('sha256').update(held).digest('hex')}`;
    this.images.set(id, held);
    if (req.tag !== undefined) this.tags.set(req.tag, id);
    const ending = this.ending;
    this.ending = 'ok';
    if (ending === 'killed') return new Promise<BuildOutcome>(() => {});
    if (ending === 'ok') return { ok: true, imageId: id };
    return { ok: false, exitCode: ending === 'cancelled' ? 130 : 1, tail: [], cancelled: ending === 'cancelled', imageId: id };
  }
  override async tag(src: string, dst: string) {
    const id = this.tags.get(src) ?? (this.images.has(src) ? src : undefined);
    if (id === undefined) throw new Error(`no such image: ${src}`);
    this.calls.push(`tag ${src} ${dst}`);
    this.tags.set(dst, id);
  }
  override async removeImage(ref: string) {
    this.calls.push(`removeImage ${ref}`);
    const named = this.tags.get(ref);
    if (named !== undefined) {
      this.tags.delete(ref);
      if (![...this.tags.values()].includes(named)) this.images.delete(named);
      return;
    }
    const names = [...this.tags].filter(([, id]) => id === ref).map(([t]) => t);
    if (names.length > 1) throw new Error(`conflict: unable to delete ${ref} (must be forced) - image is referenced in multiple repositories`);
    for (const t of names) this.tags.delete(t);
    this.images.delete(ref);
  }
  /** What the image `ref` names holds, if there is one. */
  holds(ref: string): string | undefined {
    const id = this.tags.get(ref);
    return id === undefined ? undefined : this.images.get(id);
  }
}

/** The project in `dir` as it is now, walked and planned. */
function planned(dir: string) {
  const p = open(dir);
  const index = ContextIndex.walk(p.ctx.dir, p.ctx.ignore, p.ctx.ignoreText);
  if (!index.ok) throw new Error('walk failed');
  const plan = planBuild(p.dag, p.ctx, { index: index.value });
  if (!plan.ok) throw new Error('plan failed');
  return { p, index, plan };
}

/** The build of `dir` as it is now: its plan's keys (by step), and runBuild's promise, not awaited (a killed rep's never settles). */
function start(dir: string, engine: Engine, events: string[] = []): { keys: Map<string, string>; done: Promise<RunResult> } {
  const { p, index, plan } = planned(dir);
  const keys = new Map(plan.value.steps.map((s) => [s.name, s.key] as const));
  const done = runBuild(p, engine, plan.value, {
    jobs: 1,
    tag: false,
    context: index.value,
    onEvent: (e) => {
      if (e.type === 'step-built' || e.type === 'step-building' || e.type === 'step-cached' || e.type === 'step-failed') events.push(`${e.type} ${e.step}`);
    },
  });
  return { keys, done };
}

const built = async (dir: string, engine: Engine, events?: string[]) => {
  const { keys, done } = start(dir, engine, events);
  return { keys, r: await done };
};

/** The throwaway name an image rep does not keep is untagged by. */
const DISCARD = /^rep-verify\/discard:[0-9a-f]{32}$/;

describe("a step's image is keyed by rep, after its inputs are checked, not by the engine", () => {
  it('is built untagged, then tagged rep-cache:<key> by its id, before it is said built and before a step on it is built', async () => {
    const dir = makeProject({ Repfile: TWO, 'app.txt': 'AAAA' });
    dirs.push(dir);
    const engine = new Store(dir);
    const { keys, r } = await built(dir, engine, engine.calls);
    expect(r.ok).toBe(true);
    const id = `sha256:${createHash('sha256').update('AAAA').digest('hex')}`;
    // The step built on app goes FROM app's image by its id under a pin of this run (scheduler/pins.ts), as does
    // the final image on the target; the pins go when the run ends.
    const pin = (step: string) => `rep-pin:\\d+-\\d*-[0-9a-f]{8}-${keys.get(step)!.slice(7)}`;
    expect(engine.calls).toEqual([
      'step-building app',
      'build (untagged)',
      `tag ${id} ${cacheRef(keys.get('app')!)}`,
      'step-built app',
      'step-building after',
      expect.stringMatching(new RegExp(`^tag ${id} ${pin('app')}$`)),
      'build (untagged)',
      `tag ${id} ${cacheRef(keys.get('after')!)}`,
      'step-built after',
      expect.stringMatching(new RegExp(`^tag ${id} ${pin('after')}$`)),
      expect.stringMatching(new RegExp(`^removeImage ${pin('app')}$`)),
      expect.stringMatching(new RegExp(`^removeImage ${pin('after')}$`)),
    ]);
    expect(engine.holds(cacheRef(keys.get('app')!))).toBe('AAAA');
  });

  it('is recorded before its tag (state/history.ts pending lines), unless another build tagged the same key meanwhile: that image is its own', async () => {
    for (const meanwhile of [false, true]) {
      const dir = makeProject({ Repfile: REPFILE, 'app.txt': 'AAAA' });
      dirs.push(dir);
      const engine = new Store(dir);
      const { p, index, plan } = planned(dir);
      const key = plan.value.steps[0]!.key;
      if (meanwhile) engine.during = () => void engine.tags.set(cacheRef(key), `sha256:${'7'.repeat(64)}`);
      const recorded: string[] = [];
      const r = await runBuild(p, engine, plan.value, { jobs: 1, tag: false, context: index.value, beforeTag: async (k) => void recorded.push(k) });
      expect(r.ok).toBe(true);
      expect(recorded, meanwhile ? 'tagged meanwhile' : 'not there').toEqual(meanwhile ? [] : [key]);
    }
  });

  it('is not tagged when its key cannot be recorded first: the image goes, and the step fails saying so', async () => {
    const dir = makeProject({ Repfile: REPFILE, 'app.txt': 'AAAA' });
    dirs.push(dir);
    const engine = new Store(dir);
    const { p, index, plan } = planned(dir);
    const failures: string[] = [];
    const r = await runBuild(p, engine, plan.value, {
      jobs: 1, tag: false, context: index.value,
      beforeTag: async () => { throw new Error('ENOSPC: no space left on device'); },
      onEvent: (e) => void (e.type === 'step-failed' && failures.push(e.tail.join('\n') || JSON.stringify(e))),
    });
    expect(r.ok).toBe(false);
    expect(engine.calls.some((c) => c.startsWith(`tag `) && c.endsWith(cacheRef(plan.value.steps[0]!.key)))).toBe(false);
    expect(JSON.stringify(failures)).toContain("cannot record the step's key before tagging its image (.rep/history.jsonl): ENOSPC");
  });

  it('is not tagged when an input changed while the engine read it: the image is untagged again by a name of its own, and goes', async () => {
    const dir = makeProject({ Repfile: TWO, 'app.txt': 'AAAA' });
    dirs.push(dir);
    const engine = new Store(dir);
    engine.during = () => writeFileSync(path.join(dir, 'app.txt'), 'BBBB');
    const { keys, r } = await built(dir, engine, engine.calls);
    expect(r.steps.get('app')?.status).toBe('failed');
    expect(r.steps.get('after')?.status).toBe('skipped');
    expect(engine.calls).toEqual(['step-building app', 'build (untagged)', expect.stringMatching(/^tag sha256:[0-9a-f]{64} rep-verify\/discard:/), expect.stringMatching(/^removeImage rep-verify\/discard:/), 'step-failed app']);
    const [, , tagged, removed] = engine.calls;
    expect(tagged!.split(' ')[2]).toMatch(DISCARD);
    expect(removed!.split(' ')[1]).toBe(tagged!.split(' ')[2]);
    expect(engine.tags.has(cacheRef(keys.get('app')!))).toBe(false);
    expect(engine.images.size).toBe(0);
  });

  it('is not tagged when an input was written again, the same size, with a stamp that cannot tell (a one-second clock): its bytes are read again', async () => {
    // Found by a review: on a file system with one-second timestamps (FAT, ext4 with 128-byte inodes), BBBB
    // written over AAAA within the second of AAAA's write leaves size, mtime, ctime and inode as they were,
    // and the image of BBBB was tagged under AAAA's key. This clock tells the writes apart, so the stamp the
    // walk took is set to the one the file has after the write, as such a clock would have left it.
    const dir = makeProject({ Repfile: REPFILE, 'app.txt': 'AAAA' });
    dirs.push(dir);
    const app = path.join(dir, 'app.txt');
    const engine = new Store(dir);
    const { p, index, plan } = planned(dir);
    const key = plan.value.step('app').key;
    engine.during = () => {
      writeFileSync(app, 'BBBB');
      for (const f of plan.value.step('app').inputs) f.stamp = statEntry(dir, f.path)!.stamp;
    };
    const errors: string[] = [];
    const r = await runBuild(p, engine, plan.value, { jobs: 1, tag: false, context: index.value, onEvent: (e) => e.type === 'step-failed' && errors.push(e.error ?? '') });
    expect(r.steps.get('app')?.status).toBe('failed');
    expect(errors).toEqual(['input app.txt changed while the step was built: its image is not kept under a key hashed from what it was before; build again']);
    expect(engine.tags.has(cacheRef(key))).toBe(false);
    expect([...engine.tags.keys()].filter((t) => t.startsWith('rep-cache:'))).toEqual([]);
    expect(engine.images.size).toBe(0);
  });

  it('an image it did not keep that another tag names (all its layers cached) keeps that tag: it is never removed by its id', async () => {
    const dir = makeProject({ Repfile: REPFILE, 'app.txt': 'AAAA' });
    dirs.push(dir);
    const engine = new Store(dir);
    const first = await built(dir, engine);
    const keyA = first.keys.get('app')!;
    expect(engine.holds(cacheRef(keyA))).toBe('AAAA');
    // Edited, and undone while the engine reads it: the engine's image is the one keyA names.
    writeFileSync(path.join(dir, 'app.txt'), 'BBBB');
    engine.during = () => writeFileSync(path.join(dir, 'app.txt'), 'AAAA');
    const { keys, r } = await built(dir, engine);
    expect(r.steps.get('app')?.status).toBe('failed');
    expect(engine.tags.has(cacheRef(keys.get('app')!))).toBe(false);
    expect(engine.holds(cacheRef(keyA))).toBe('AAAA');
    // (The first build's pin of its target, released when it ended, aside.)
    expect(engine.calls.filter((c) => c.startsWith('removeImage') && !c.startsWith('removeImage rep-pin:'))).toEqual([expect.stringMatching(/^removeImage rep-verify\/discard:/)]);
  });

  for (const ending of ['failed', 'cancelled'] as const) {
    it(`is not tagged when the engine's build is ${ending} after it made the image: the image goes`, async () => {
      const dir = makeProject({ Repfile: REPFILE, 'app.txt': 'AAAA' });
      dirs.push(dir);
      const engine = new Store(dir);
      engine.ending = ending;
      const { keys, r } = await built(dir, engine);
      expect(r.steps.get('app')?.status).toBe(ending);
      expect(engine.tags.has(cacheRef(keys.get('app')!))).toBe(false);
      expect(engine.images.size).toBe(0);
      expect(engine.calls.filter((c) => c.startsWith('tag') && !c.includes(' rep-verify/discard:'))).toEqual([]);
    });
  }
});

describe('the review\'s scenario: an edit undone while the engine reads the input, and rep stopped before its check', () => {
  /** AAAA built; BBBB built while undone to AAAA as the engine reads it, rep stopped as `stop` says; AAAA built; BBBB built. */
  async function scenario(stop: 'killed' | 'cancelled') {
    const dir = makeProject({ Repfile: REPFILE, 'app.txt': 'AAAA' });
    dirs.push(dir);
    const app = path.join(dir, 'app.txt');
    const engine = new Store(dir);
    const first = await built(dir, engine);
    expect(first.r.steps.get('app')?.status).toBe('built');
    writeFileSync(app, 'BBBB');
    engine.during = () => writeFileSync(app, 'AAAA');
    engine.ending = stop;
    const second = start(dir, engine);
    const keyB = second.keys.get('app')!;
    // A killed rep's build never ends; a cancelled one does.
    if (stop === 'cancelled') expect((await second.done).steps.get('app')?.status).toBe('cancelled');
    else await new Promise((resolve) => setTimeout(resolve, 50));
    engine.during = undefined;
    const third = await built(dir, engine);
    expect(third.r.steps.get('app')?.status).toBe('cached');
    writeFileSync(app, 'BBBB');
    const fourth = await built(dir, engine);
    expect(fourth.keys.get('app')).toBe(keyB);
    return { engine, keyB, fourth: fourth.r };
  }

  for (const stop of ['killed', 'cancelled'] as const) {
    it(`rep ${stop} once the engine made its image: the BBBB build is built, its key names BBBB`, async () => {
      const { engine, keyB, fourth } = await scenario(stop);
      expect(fourth.steps.get('app')?.status).toBe('built');
      expect(engine.holds(cacheRef(keyB))).toBe('BBBB');
    });
  }
});

describe('two steps with the same key (the same commands on the same inputs, in two stages)', () => {
  const twin = `${REPFILE.replace('steps:', 'image:\n  from: app\nsteps:')}  two:\n    inputs: [app.txt]\n    run: cat app.txt\n`;
  it('are built once: the second waits for the first and takes its image, even with jobs to spare', async () => {
    // Both were built at once: the second build moved the key's tag to its own image, and took the outputs
    // digest measured on the first.
    const dir = makeProject({ Repfile: twin, 'app.txt': 'AAAA' });
    dirs.push(dir);
    const engine = new Store(dir);
    const { p, index, plan } = planned(dir);
    const keys = new Map(plan.value.steps.map((s) => [s.name, s.key] as const));
    expect(keys.get('app')).toBe(keys.get('two'));
    const events: string[] = [];
    const r = await runBuild(p, engine, plan.value, { jobs: 4, tag: false, context: index.value, onEvent: (e) => events.push(`${e.type} ${'step' in e ? e.step : ''}`.trim()) });
    expect(r.ok).toBe(true);
    expect(engine.calls.filter((c) => c.startsWith('build'))).toEqual(['build (untagged)']);
    expect(events.filter((e) => /^step-(building|built|cached)/.test(e)).sort()).toEqual(['step-building app', 'step-built app', 'step-cached two'].sort());
    expect(r.steps.get('two')).toMatchObject({ status: 'cached', imageId: r.steps.get('app')!.imageId });
  });

  it('the second is skipped, not built, when the first fails', async () => {
    const dir = makeProject({ Repfile: twin, 'app.txt': 'AAAA' });
    dirs.push(dir);
    const engine = new Store(dir);
    engine.ending = 'failed';
    const { r } = await built(dir, engine);
    expect(r.ok).toBe(false);
    expect(engine.calls.filter((c) => c.startsWith('build'))).toEqual(['build (untagged)']);
    expect([r.steps.get('app')?.status, r.steps.get('two')?.status]).toEqual(['failed', 'skipped']);
  });
});

describe('the images a run builds on are its own, whatever happens to their rep-cache tags meanwhile', () => {
  it("a step goes FROM the image this run settled for its parent, held under a pin: another project's build of the same key moved the tag (a review)", async () => {
    // Two clones building at once on one daemon: the second's build of app (a command that writes other bytes each
    // time) moved rep-cache:<app> to its image after this run measured and settled its own, and `after` was built
    // on the other one, its key and provenance naming bytes it does not hold.
    const dir = makeProject({ Repfile: TWO, 'app.txt': 'AAAA' });
    dirs.push(dir);
    const engine = new Store(dir);
    const { p, index, plan } = planned(dir);
    const appKey = plan.value.step('app').key;
    const other = `sha256:${'e'.repeat(64)}`;
    engine.images.set(other, 'EVIL');
    const r = await runBuild(p, engine, plan.value, {
      jobs: 1,
      tag: false,
      context: index.value,
      onEvent: (e) => {
        if (e.type === 'step-built' && e.step === 'app') engine.tags.set(cacheRef(appKey), other);
      },
    });
    expect(r.ok).toBe(true);
    const appId = r.steps.get('app')!.imageId!;
    expect(appId).not.toBe(other);
    const from = /^FROM (\S+)$/m.exec(readFileSync(path.join(dir, '.rep', 'logs', 'after.log'), 'utf8'))?.[1];
    expect(from).toMatch(new RegExp(`^rep-pin:\\d+-\\d*-[0-9a-f]{8}-${appKey.slice(7)}$`));
    expect(engine.calls).toContain(`tag ${appId} ${from}`);
    // Released when the run ended.
    expect([...engine.tags.keys()].filter((t) => t.startsWith('rep-pin:'))).toEqual([]);
  });

  it('a step whose parent image was removed meanwhile (rep gc in another project) fails saying so, rather than build on what the name finds', async () => {
    const dir = makeProject({ Repfile: TWO, 'app.txt': 'AAAA' });
    dirs.push(dir);
    const engine = new Store(dir);
    const { p, index, plan } = planned(dir);
    const appKey = plan.value.step('app').key;
    const errors: string[] = [];
    const r = await runBuild(p, engine, plan.value, {
      jobs: 1,
      tag: false,
      context: index.value,
      onEvent: (e) => {
        if (e.type === 'step-built' && e.step === 'app') void engine.removeImage(cacheRef(appKey));
        if (e.type === 'step-failed') errors.push(e.error ?? '');
      },
    });
    expect(r.steps.get('after')?.status).toBe('failed');
    expect(errors).toEqual([expect.stringMatching(new RegExp(`^step "app": the image of rep-cache:${appKey.slice(7)} was removed while this build ran \\(rep gc in another project\\?\\): .*; build again$`))]);
  });
});
