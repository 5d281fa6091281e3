// What a build prints while it runs: a step's output and an engine's failure
// reach the terminal with their control characters escaped. A Repfile's
// command (or a hostile engine) printed OSC sequences that set the window
// title or wrote the clipboard (OSC 52), C1 controls and carriage returns,
// passed through as they were. Found by an adversarial review.
import { describe, expect, it } from 'vitest';
import { renderer } from '../../cli/progress.js';

const HOSTILE = 'x\x1b]52;c;ZXZpbA==\x07y\x1b]0;TITLE\x07\u009b2J\rz\bw\tv';
const SHOWN = 'x\\x1b]52;c;ZXZpbA==\\x07y\\x1b]0;TITLE\\x07\\x9b2J\\x0dz\\x08w    v';

describe('the build progress', () => {
  it('escapes the control characters of a failed step\'s tail and error, on a terminal and in CI', () => {
    for (const mode of ['plain', 'tty'] as const) {
      let out = '';
      const render = renderer(mode, (s) => void (out += s));
      render({ type: 'step-failed', step: 'a', key: 'k', exitCode: 2, tail: [HOSTILE], log: '.rep/logs/a.log' });
      render({ type: 'step-failed', step: 'b', key: 'k', exitCode: 1, tail: [HOSTILE], log: '', error: HOSTILE });
      render({ type: 'step-failed', step: 'c', key: 'k', exitCode: 1, tail: [HOSTILE], log: '', engineDown: HOSTILE });
      render({ type: 'step-skipped', step: 'd', because: HOSTILE });
      expect(out.split('\n').filter((l) => l.includes('x\\x1b'))).toEqual([
        `  | ${SHOWN}`,
        `failed  b: ${SHOWN}`,
        `  | ${SHOWN}`,
        `failed  c: ${SHOWN}`,
        `  | ${SHOWN}`,
        `skipped d: ${SHOWN}`,
      ]);
      expect(out).not.toContain('\x07');
      expect(out).not.toContain('\u009b');
    }
  });

  it('escapes a running step\'s last line in the status line', () => {
    let out = '';
    const render = renderer('tty', (s) => void (out += s));
    render({ type: 'step-building', step: 'a', key: 'k', reasons: [] });
    render({ type: 'step-line', step: 'a', line: HOSTILE });
    expect(out).toContain(`building a: ${SHOWN}`.slice(0, 60));
    expect(out).not.toContain('\x07');
  });
});

describe('the export to --cache-to', () => {
  it('says how many steps went, and which were left out and why (a review: an export that left steps out said nothing of them)', () => {
    let out = '';
    const render = renderer('plain', (s) => void (out += s));
    render({ type: 'cache-exported', to: 'dir://ci', steps: 2 });
    render({ type: 'cache-exported', to: 'dir://ci', steps: 2, leftOut: [{ step: 'data', why: 'moved' }] });
    render({ type: 'cache-exported', to: 'registry://r.example/c', steps: 0, leftOut: [{ step: 'data', why: 'untagged' }, { step: 'fig', why: 'gone' }] });
    expect(out.split('\n')).toEqual([
      'cache   2 steps to dir://ci',
      'cache   2 steps to dir://ci (1 left out: data, its rep-cache tag names another image now)',
      'cache   0 steps to registry://r.example/c (2 left out: data, its rep-cache tag is gone; fig, its image is gone from the engine)',
      '',
    ]);
  });
});

describe('the JSON progress (--json)', () => {
  it('escapes C1 controls, DEL, line separators and bidi overrides, and parses back to the same line', () => {
    let out = '';
    const render = renderer('json', (s) => void (out += s));
    const line = 'a\u009b2Jb\u009d0;T\u009cc\x7fd\u2028e\u202ef\u2066g';
    render({ type: 'step-line', step: 'a', line });
    expect(out).toMatch(/\\u009b2Jb\\u009d0;T\\u009cc\\u007fd\\u2028e\\u202ef\\u2066g/);
    expect(out).not.toMatch(/[\x7f-\x9f\u2028\u202e\u2066]/);
    expect(JSON.parse(out)).toEqual({ type: 'step-line', step: 'a', line });
  });
});
