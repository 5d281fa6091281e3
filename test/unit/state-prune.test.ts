// Writing a state when .rep/materials/ holds an entry rep may not remove (a
// folder a clone brought with mode 555 and a file in it, for a user other than
// root): the prune threw after state.json was written, every build failed, and
// the history gc reads never learned the state's keys. The tests run as root,
// for whom such a folder is removable, so rmSync fails here for one name.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { readHistory } from '../../src/state/history.js';
import { readState, STATE_VERSION, writeState, type State } from '../../src/state/state.js';
import { makeProject, tempFolders } from '../helpers.js';

const { STUCK } = vi.hoisted(() => ({ STUCK: 'not-yours' }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const rmSync: typeof fs.rmSync = (p, opts) => {
    if (String(p).endsWith(`/${STUCK}`)) throw Object.assign(new Error(`EACCES: permission denied, rm '${String(p)}'`), { code: 'EACCES' });
    fs.rmSync(p, opts);
  };
  return { ...fs, default: { ...fs, rmSync }, rmSync };
});

const temps = tempFolders();
const key = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

describe('writeState', () => {
  it('records the state\'s keys in the history, and prunes .rep/materials/ as far as it may, when an entry there cannot be removed', () => {
    const dir = temps.add(makeProject({ Repfile: 'rep: 1\n' }, 'rep-prune-'));
    const materials = path.join(dir, '.rep', 'materials');
    mkdirSync(path.join(materials, STUCK), { recursive: true });
    writeFileSync(path.join(materials, STUCK, 'inside'), 'x\n');
    writeFileSync(path.join(materials, `${'f'.repeat(64)}.json`), '{}\n');
    const state: State = { version: STATE_VERSION, repfileSha256: '', engine: 'none', target: 'a', steps: { a: { key: key(1) } } };
    writeState(dir, state, undefined);
    expect(readState(dir)?.steps.a?.key).toBe(key(1));
    expect(readHistory(dir)).toEqual([[key(1)]]);
    expect([existsSync(path.join(materials, STUCK, 'inside')), existsSync(path.join(materials, `${'f'.repeat(64)}.json`))]).toEqual([true, false]);
  });
});
