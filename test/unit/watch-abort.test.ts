// `rep watch` stopped at any point (found by a review): Ctrl-C during the
// first build, or during chokidar's first scan, hung it for good (the abort
// listener was added after them, and an aborted signal fires no more; the
// open watcher kept the process alive). The watch function is called here
// with an engine whose build lasts until its signal stops it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watch, type WatchEvent } from '../../src/commands/watch.js';
import type { BuildOutcome, BuildRequest, Engine } from '../../src/engine/engine.js';
import { NoneEngine } from '../../src/engine/none.js';
import { makeProject, tempFolders } from '../helpers.js';

const temp = tempFolders();
const saved = { HOME: process.env.HOME, XDG_STATE_HOME: process.env.XDG_STATE_HOME };
beforeAll(() => {
  process.env.HOME = process.env.XDG_STATE_HOME = temp.make('rep-state-');
});
afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

/** An engine that has no image and builds until the build's signal is aborted; `started` settles when a build starts. */
function slowEngine() {
  let begin!: () => void;
  const started = new Promise<void>((resolve) => (begin = resolve));
  const engine = Object.assign(new NoneEngine(), { name: 'docker' }) as unknown as Engine;
  let builds = 0;
  engine.build = (req: BuildRequest) => {
    builds++;
    begin();
    return new Promise<BuildOutcome>((resolve) => {
      const stop = () => resolve({ ok: false, exitCode: 130, tail: [], cancelled: true });
      if (req.signal?.aborted) stop();
      else req.signal?.addEventListener('abort', stop, { once: true });
    });
  };
  return { engine, started, builds: () => builds };
}

/** The watch, stopped by `abort` when `when` says; what it said, or 'still watching' past a generous deadline. */
async function stopped(when: (events: WatchEvent[], started: Promise<void>) => Promise<void> | void, { engine, started, builds } = slowEngine()) {
  const dir = temp.add(makeProject({ Repfile: 'rep: 1\nname: w\nbase: busybox:latest\nsteps:\n  s:\n    inputs: [a]\n    run: cat a\n', a: 'a\n' }));
  const abort = new AbortController();
  const events: WatchEvent[] = [];
  const going = watch({ project: { cwd: dir }, build: { engine }, signal: abort.signal, onEvent: (e) => events.push(e) });
  await when(events, started);
  abort.abort();
  let deadline: NodeJS.Timeout | undefined;
  const ended = await Promise.race([going.then(() => 'returned'), new Promise<string>((r) => (deadline = setTimeout(() => r('still watching'), 20_000)))]);
  clearTimeout(deadline);
  return { ended, said: events.map((e) => e.type), builds: builds() };
}

describe('rep watch, stopped', () => {
  it('during the first build: the build is stopped, said, and the watch returns', async () => {
    const r = await stopped((_, started) => started);
    expect(r).toEqual({ ended: 'returned', said: ['watching', 'built'], builds: 1 });
  }, 30_000);

  it('during the first scan of the folders: the watch returns, having built nothing', async () => {
    const r = await stopped(() => {});
    expect(r).toEqual({ ended: 'returned', said: [], builds: 0 });
  }, 30_000);

  it('once the first build is done (engine none, which records): the watch returns, as it always did', async () => {
    const none = { engine: new NoneEngine(), started: Promise.resolve(), builds: () => 0 };
    const r = await stopped(async (events) => {
      for (const end = Date.now() + 20_000; !events.some((e) => e.type === 'built') && Date.now() < end; ) await new Promise((res) => setTimeout(res, 20));
    }, none);
    expect(r).toEqual({ ended: 'returned', said: ['watching', 'built'], builds: 0 });
  }, 30_000);
});
