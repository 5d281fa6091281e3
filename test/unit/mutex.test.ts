// The build mutex (.rep/build.pid) and its claim (.rep/build.pid.claim) as a
// cloned repository or a killed build may leave them: a stale mutex is taken
// over in one call whatever is at the claim's name, and a build waiting for a
// live holder stops when it is told to.
import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireMutex, tryMutex } from '../../src/state/mutex.js';
import { makeProject, tempFolders } from '../helpers.js';

const temps = tempFolders();
const project = (tree: Record<string, string> = {}) => temps.add(makeProject({ Repfile: 'rep: 1\n', ...tree }, 'rep-mutex-'));

/** What is left in .rep/ of the mutex and its claim. */
const mutexFiles = (dir: string) => readdirSync(path.join(dir, '.rep')).filter((n) => n.startsWith('build.pid')).sort();

describe('build mutex', () => {
  it('is held on the first try (a gc, which does not wait) when a killed build left its claim beside a stale mutex (the first gc found it busy by "its pid unknown")', async () => {
    const dir = project({ '.rep/build.pid': '999999 1\n', '.rep/build.pid.claim': '999999 1\n' });
    const held = await acquireMutex(dir, 0);
    expect(held.ok ? 'held' : held.errors[0]).toBe('held');
    expect(mutexFiles(dir)).toEqual(['build.pid']);
    expect(readFileSync(path.join(dir, '.rep/build.pid'), 'utf8')).toMatch(new RegExp(`^${process.pid}\\b`));
    if (held.ok) held.value.release();
    expect(existsSync(path.join(dir, '.rep/build.pid'))).toBe(false);
  });

  it('takes over a stale mutex when a folder stands at the claim\'s name (rm threw EISDIR on every build), and a link there is removed, not what it leads to', () => {
    const dir = project({ '.rep/build.pid': '999999 1\n', '.rep/build.pid.claim/inside': 'x\n' });
    const held = tryMutex(dir);
    expect(held.ok ? 'held' : held.errors[0]).toBe('held');
    expect(mutexFiles(dir)).toEqual(['build.pid']);
    if (held.ok) held.value.release();

    const target = temps.make('rep-mutex-target-');
    writeFileSync(path.join(target, 'precious'), 'precious\n');
    const linked = project({ '.rep/build.pid': '999999 1\n' });
    symlinkSync(target, path.join(linked, '.rep/build.pid.claim'));
    const again = tryMutex(linked);
    expect(again.ok ? 'held' : again.errors[0]).toBe('held');
    expect(mutexFiles(linked)).toEqual(['build.pid']);
    expect(readFileSync(path.join(target, 'precious'), 'utf8')).toBe('precious\n');
    if (again.ok) again.value.release();
  });
});
