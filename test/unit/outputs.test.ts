// A step's outputs digest (early cutoff) read from the tar an engine gives of them.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { outputsDigestOf, readOutputTar } from '../../src/scheduler/outputs.js';
import { rawEntry, rawTar } from './rawtar.js';

const outputs = (...names: (string | Buffer)[]) => readOutputTar('/out/data', Readable.from([rawTar(...names.map((name) => rawEntry({ name, type: '0', body: 'x' })))]));

describe('the outputs digest', () => {
  it('depends on the outputs alone: names, contents, modes, owners, not the step image', async () => {
    const a = await outputs('data/a', 'data/b');
    expect(a.map((e) => e.path)).toEqual(['/out/data/a', '/out/data/b']);
    expect(outputsDigestOf(a, 'rep-cache:1')).toBe(outputsDigestOf(await outputs('data/b', 'data/a'), 'rep-cache:2'));
    expect(outputsDigestOf(a, 'rep-cache:1')).not.toBe(outputsDigestOf(await outputs('data/a', 'data/c'), 'rep-cache:1'));
  });

  it('is the step\'s own when a name is not UTF-8: names that differ read alike, so no change may pass for none', async () => {
    const ff = await outputs(Buffer.from('data/a\xff', 'latin1'));
    const fe = await outputs(Buffer.from('data/a\xfe', 'latin1'));
    // The tar reader gives both bytes as U+FFFD: the entries alone cannot tell these outputs apart.
    expect(ff).toEqual(fe);
    expect(outputsDigestOf(ff, 'rep-cache:1')).not.toBe(outputsDigestOf(fe, 'rep-cache:2'));
    // The same step image (the same key) measured twice gives one digest.
    expect(outputsDigestOf(ff, 'rep-cache:1')).toBe(outputsDigestOf(fe, 'rep-cache:1'));
  });
});
