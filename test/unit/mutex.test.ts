// The build mutex (.rep/build.pid) and its claim (.rep/build.pid.claim) as a
// cloned repository or a killed build may leave them: a stale mutex is taken
// over in one call whatever is at the claim's name, and a build waiting for a
// live holder stops when it is told to.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { build } from '../../src/build.js';
import { NoneEngine } from '../../src/engine/none.js';
import type { BuildEvent } from '../../src/scheduler/events.js';
import { acquireMutex, startedAt, tryMutex } from '../../src/state/mutex.js';
import { renderer } from '../../cli/progress.js';
import { makeProject, open, tempFolders } from '../helpers.js';

const REPFILE = 'rep: 1\nname: mutex\nbase: busybox:latest\nsteps:\n  app:\n    inputs: [a.txt]\n    run: cat a.txt\n';

const temps = tempFolders();
const project = (tree: Record<string, string> = {}) => temps.add(makeProject({ Repfile: REPFILE, 'a.txt': 'a\n', ...tree }, 'rep-mutex-'));

/** What is left in .rep/ of the mutex and its claim. */
const mutexFiles = (dir: string) => readdirSync(path.join(dir, '.rep')).filter((n) => n.startsWith('build.pid')).sort();

describe('build mutex', () => {
  it('is held within a moment (as gc waits) when a killed build left its claim beside a stale mutex (the first gc found it busy by "its pid unknown")', async () => {
    const dir = project({ '.rep/build.pid': '999999 1\n', '.rep/build.pid.claim': '999999 1\n' });
    const held = await acquireMutex(dir, 1_000);
    expect(held.ok ? 'held' : held.errors[0]).toBe('held');
    expect(mutexFiles(dir)).toEqual(['build.pid']);
    expect(readFileSync(path.join(dir, '.rep/build.pid'), 'utf8')).toMatch(new RegExp(`^${process.pid}\\b`));
    if (held.ok) held.value.release();
    expect(existsSync(path.join(dir, '.rep/build.pid'))).toBe(false);
  });

  it('takes over a stale mutex when a folder stands at the claim\'s name (rm threw EISDIR on every build), and a link there is removed, not what it leads to', () => {
    const dir = project({ '.rep/build.pid': '999999 1\n', '.rep/build.pid.claim/inside': 'x\n' });
    // Removed at the first try, taken at the next.
    expect(tryMutex(dir).ok).toBe(false);
    const held = tryMutex(dir);
    expect(held.ok ? 'held' : held.errors[0]).toBe('held');
    expect(mutexFiles(dir)).toEqual(['build.pid']);
    if (held.ok) held.value.release();

    const target = temps.make('rep-mutex-target-');
    writeFileSync(path.join(target, 'precious'), 'precious\n');
    const linked = project({ '.rep/build.pid': '999999 1\n' });
    symlinkSync(target, path.join(linked, '.rep/build.pid.claim'));
    expect(tryMutex(linked).ok).toBe(false);
    const again = tryMutex(linked);
    expect(again.ok ? 'held' : again.errors[0]).toBe('held');
    expect(mutexFiles(linked)).toEqual(['build.pid']);
    expect(readFileSync(path.join(target, 'precious'), 'utf8')).toBe('precious\n');
    if (again.ok) again.value.release();
  });

});

describe('waiting for the build mutex', () => {
  const holders: ReturnType<typeof spawn>[] = [];
  afterEach(() => {
    for (const h of holders.splice(0)) h.kill('SIGKILL');
  });

  /** A project whose mutex a live process (a `sleep`, with its start time) holds. */
  const held = () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    holders.push(child);
    return { dir: project({ '.rep/build.pid': `${`${child.pid} ${startedAt(child.pid!) ?? ''}`.trim()}\n` }), pid: child.pid! };
  };

  it('stops when its signal fires, with the busy problem (Ctrl-C and SIGTERM left a build waiting ten minutes)', async () => {
    const { dir, pid } = held();
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 100);
    const t0 = Date.now();
    const r = await acquireMutex(dir, 10_000, abort.signal);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(r.ok ? 'held' : r.errors[0]).toMatchObject({ kind: 'busy', pid, file: '.rep/build.pid' });
    // Told to stop before it begins: one look, no wait.
    const before = await acquireMutex(dir, 60_000, AbortSignal.abort());
    expect(before.ok).toBe(false);
  });

  it('is said once by a build, which stops waiting when its signal fires', async () => {
    const { dir, pid } = held();
    const events: BuildEvent[] = [];
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    const t0 = Date.now();
    const r = await build(open(dir), { engine: new NoneEngine(), signal: abort.signal, onEvent: (e) => events.push(e) });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.ok ? 'built' : r.errors[0]).toMatchObject({ kind: 'busy', pid });
    expect(events).toEqual([{ type: 'waiting', pid, file: '.rep/build.pid' }]);
    let out = '';
    const render = renderer('plain', (s) => void (out += s));
    for (const e of events) render(e);
    expect(out).toBe(`wait    another rep build (pid ${pid}) holds the project (.rep/build.pid); waiting for it, Ctrl-C to stop\n`);
  });
});
