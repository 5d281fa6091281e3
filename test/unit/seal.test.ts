// The seal on what rep records in .rep/ and later acts on (src/state/seal.ts):
// a key of this user's outside every project, made once by the owner of the
// folder it goes in, never read or made through a link, and a seal that
// holds in the project it was made for only; without a key, nothing is
// sealed and no seal holds.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { seal, sealHolds, sealKeyFile } from '../../src/state/seal.js';
import { CLI } from '../helpers.js';

const saved = { XDG_STATE_HOME: process.env.XDG_STATE_HOME, HOME: process.env.HOME };
const made: string[] = [];
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});
const folder = (prefix: string) => {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  made.push(d);
  return d;
};
const stateHome = () => (process.env.XDG_STATE_HOME = folder('rep-state-'));

describe('seal', () => {
  it('is made once, as a key of 32 random bytes only its user reads, and holds for what it sealed alone, in its project alone', () => {
    const home = stateHome();
    const [a, b] = [folder('rep-a-'), folder('rep-b-')];
    const mark = seal(a, 'rep history\0k');
    expect(mark).toMatch(/^[0-9a-f]{64}$/);
    const file = path.join(home, 'rep', 'seal.key');
    expect(sealKeyFile()).toBe(file);
    expect(readFileSync(file, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(lstatSync(file).mode & 0o777).toBe(0o600);
    expect(lstatSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(seal(a, 'rep history\0k')).toBe(mark);
    expect(sealHolds(a, 'rep history\0k', mark)).toBe(true);
    expect(sealHolds(a, 'rep history\0j', mark)).toBe(false);
    // A line sealed for one project, copied into another (a committed .rep/), does not hold there.
    expect(sealHolds(b, 'rep history\0k', mark)).toBe(false);
    // The project by its real path: reached through a link, it is the same project.
    const via = path.join(folder('rep-via-'), 'a');
    symlinkSync(a, via);
    expect(sealHolds(via, 'rep history\0k', mark)).toBe(true);
    for (const bad of [undefined, 1, '', mark!.toUpperCase(), `${mark}0`, mark!.slice(1)]) expect(sealHolds(a, 'rep history\0k', bad)).toBe(false);
    // Another user's key (another state home): the seal does not hold.
    stateHome();
    expect(sealHolds(a, 'rep history\0k', mark)).toBe(false);
  });

  it('is checked without making a key: with none there, no seal holds and none is made (`rep gc -n` wrote one; a review)', () => {
    const home = stateHome();
    const dir = folder('rep-p-');
    expect(sealHolds(dir, 'rep history\0k', 'a'.repeat(64))).toBe(false);
    expect(lstatSync(path.join(home, 'rep'), { throwIfNoEntry: false })).toBeUndefined();
    const mark = seal(dir, 'rep history\0k');
    expect(sealHolds(dir, 'rep history\0k', mark)).toBe(true);
  });

  it('replaces a key of its own that is cut short or that others may read; reads and makes none through a link', () => {
    const dir = folder('rep-p-');
    for (const [text, mode] of [['', 0o600], [`${'a'.repeat(64)}\n`, 0o644]] as const) {
      const home = stateHome();
      mkdirSync(path.join(home, 'rep'), { mode: 0o700 });
      const file = path.join(home, 'rep', 'seal.key');
      writeFileSync(file, text);
      chmodSync(file, mode);
      expect(seal(dir, 'x')).toMatch(/^[0-9a-f]{64}$/);
      expect(readFileSync(file, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
      expect(readFileSync(file, 'utf8')).not.toBe(`${'a'.repeat(64)}\n`);
      expect(lstatSync(file).mode & 0o777).toBe(0o600);
    }
    const home = stateHome();
    const target = path.join(home, 'elsewhere');
    writeFileSync(target, `${'a'.repeat(64)}\n`, { mode: 0o600 });
    mkdirSync(path.join(home, 'rep'));
    symlinkSync(target, path.join(home, 'rep', 'seal.key'));
    expect(seal(dir, 'x')).toBeUndefined();
    expect(sealHolds(dir, 'x', seal(dir, 'x'))).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe(`${'a'.repeat(64)}\n`);
    expect(lstatSync(path.join(home, 'rep', 'seal.key')).isSymbolicLink()).toBe(true);
    // No absolute state home or home: no key, no seal.
    process.env.XDG_STATE_HOME = 'relative/state';
    process.env.HOME = 'relative';
    expect(sealKeyFile()).toBeUndefined();
    expect(seal(dir, 'z')).toBeUndefined();
  });

  it.runIf(process.geteuid?.() === 0)('makes nothing in a home of another user\'s (sudo -E rep build): root-owned folders there locked its owner out', () => {
    const home = folder('rep-home-');
    chownSync(home, 65534, 65534);
    process.env.XDG_STATE_HOME = '';
    process.env.HOME = home;
    expect(seal(folder('rep-p-'), 'x')).toBeUndefined();
    expect(() => lstatSync(path.join(home, '.local'))).toThrow(/ENOENT/);
    // A key of another user's is not taken either.
    const other = folder('rep-home-');
    mkdirSync(path.join(other, '.local', 'state', 'rep'), { recursive: true, mode: 0o700 });
    const key = path.join(other, '.local', 'state', 'rep', 'seal.key');
    writeFileSync(key, `${'b'.repeat(64)}\n`, { mode: 0o600 });
    chownSync(key, 65534, 65534);
    process.env.HOME = other;
    expect(seal(folder('rep-p-'), 'x')).toBeUndefined();
    expect(readFileSync(key, 'utf8')).toBe(`${'b'.repeat(64)}\n`);
  });

  it('makes its key in a state home that is a link to a folder of the user\'s (kept elsewhere)', () => {
    const real = folder('rep-real-');
    const via = path.join(folder('rep-via-'), 'state');
    symlinkSync(real, via);
    process.env.XDG_STATE_HOME = via;
    expect(seal(folder('rep-p-'), 'x')).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(path.join(real, 'rep', 'seal.key'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
  });

  it('goes on without a key when its folder may not be searched: a build is not stopped by it', () => {
    // As root every folder may be searched: the CLI runs as nobody then, with a state home of nobody's.
    const root = process.getuid?.() === 0;
    // Under /tmp itself: the tests' own temporary folder is private.
    const base = mkdtempSync('/tmp/rep-nokey-');
    made.push(base);
    chmodSync(base, 0o777);
    const home = path.join(base, 'state');
    mkdirSync(path.join(home, 'rep'), { recursive: true });
    const dir = path.join(base, 'p');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'Repfile'), 'rep: 1\nname: x\nbase: busybox:latest\nsteps:\n  a:\n    run: "true"\n');
    if (root) for (const p of [home, path.join(home, 'rep'), dir, path.join(dir, 'Repfile')]) chownSync(p, 65534, 65534);
    chmodSync(path.join(home, 'rep'), 0o000);
    const args = [CLI, 'build', '--engine', 'none'];
    const env = { ...process.env, XDG_STATE_HOME: home };
    const r = root ? spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, ...args], { cwd: dir, encoding: 'utf8', env }) : spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', env });
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(JSON.parse(readFileSync(path.join(dir, '.rep', 'state.json'), 'utf8')).steps.a.seal).toBeUndefined();
    chmodSync(path.join(home, 'rep'), 0o700);
  });
});
