// The seal on what rep records in .rep/ and later acts on (src/state/seal.ts):
// a key of this user's outside every project, made once, never read or made
// through a link; without one, nothing is sealed and no seal holds.
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { seal, sealHolds, sealKeyFile } from '../../src/state/seal.js';

const saved = { XDG_STATE_HOME: process.env.XDG_STATE_HOME, HOME: process.env.HOME };
const made: string[] = [];
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});
const stateHome = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'rep-state-'));
  made.push(d);
  process.env.XDG_STATE_HOME = d;
  return d;
};

describe('seal', () => {
  it('is made once, as a key of 32 random bytes only its user reads, and holds for what it sealed alone', () => {
    const home = stateHome();
    const mark = seal('rep history\0a');
    expect(mark).toMatch(/^[0-9a-f]{64}$/);
    const file = path.join(home, 'rep', 'seal.key');
    expect(sealKeyFile()).toBe(file);
    expect(readFileSync(file, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(lstatSync(file).mode & 0o777).toBe(0o600);
    expect(lstatSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(seal('rep history\0a')).toBe(mark);
    expect(sealHolds('rep history\0a', mark)).toBe(true);
    expect(sealHolds('rep history\0b', mark)).toBe(false);
    for (const bad of [undefined, 1, '', mark!.toUpperCase(), `${mark}0`, mark!.slice(1)]) expect(sealHolds('rep history\0a', bad)).toBe(false);
    // Another user's key (another state home): the seal does not hold.
    stateHome();
    expect(sealHolds('rep history\0a', mark)).toBe(false);
  });

  it('reads and makes no key through a link, and seals nothing without a key', () => {
    const home = stateHome();
    const target = path.join(home, 'elsewhere');
    writeFileSync(target, `${'a'.repeat(64)}\n`);
    mkdirSync(path.join(home, 'rep'));
    symlinkSync(target, path.join(home, 'rep', 'seal.key'));
    expect(seal('x')).toBeUndefined();
    expect(sealHolds('x', seal('x'))).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe(`${'a'.repeat(64)}\n`);
    // A dangling link is not made into a key either.
    rmSync(target);
    expect(seal('y')).toBeUndefined();
    expect(lstatSync(path.join(home, 'rep', 'seal.key')).isSymbolicLink()).toBe(true);
    // No absolute state home or home: no key, no seal.
    process.env.XDG_STATE_HOME = 'relative/state';
    process.env.HOME = 'relative';
    expect(sealKeyFile()).toBeUndefined();
    expect(seal('z')).toBeUndefined();
  });
});
