// .rep/state.json has a bound of its own, well under JSON's: a forged one of
// 256 MiB (2.8 million steps) took `rep status` 22 s and 2.9 GB, or ran it out
// of heap. Past the bound it is read as none, refused by its size unread.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readState, STATE_LIMIT, STATE_VERSION } from '../../src/state/state.js';
import { makeProject, tempFolders } from '../helpers.js';

const temps = tempFolders();

describe('readState', () => {
  it('reads a state.json up to STATE_LIMIT bytes, and one a byte larger as none, at once', () => {
    const dir = temps.add(makeProject({ Repfile: 'rep: 1\n', '.rep/state.json': '' }, 'rep-state-limit-'));
    const key = `sha256:${'a'.repeat(64)}`;
    const head = JSON.stringify({ version: STATE_VERSION, repfileSha256: '', engine: 'none', target: 'a', steps: { a: { key } } });
    const file = path.join(dir, '.rep', 'state.json');
    // JSON ends in white space as long as it likes: the same state, padded to the bound and past it.
    writeFileSync(file, head.padEnd(STATE_LIMIT));
    expect(readState(dir)?.steps.a).toEqual({ key, unsealed: true });
    writeFileSync(file, head.padEnd(STATE_LIMIT + 1));
    const t0 = performance.now();
    expect(readState(dir)).toBeUndefined();
    expect(performance.now() - t0).toBeLessThan(500);
  });
});
