// JsRegexp against V8's RegExp on the expressions picomatch makes of globs:
// the same answers, without the backtracking that lets a glob hang rep.
import { createRequire } from 'node:module';
import fc from 'fast-check';
import picomatch from 'picomatch';
import { describe, expect, it } from 'vitest';
import { JsRegexp, JsRegexpBudgetError, JsRegexpError } from '../../src/context/jsregexp.js';

/** The options fast-glob gives picomatch for rep's input globs. */
const OPTIONS = { dot: true, posix: true, strictSlashes: false };
const expression = (glob: string) => picomatch.makeRe(glob, OPTIONS).source;

// Pieces of globs: every construct picomatch turns into something of its own, and characters that are special to it or to JavaScript.
const GLOB_PIECES = ['a', 'b', '.', '/', '*', '**', '?', '[ab]', '[!a]', '[^b]', '[a-c]', '[[:alpha:]]', '[[:digit:]x]', '[[:space:]]', '[[:word:]]', '{a,b}', '{a..c}', '{,a/}', '@(a|b)', '!(a)', '+(a|b)', '*(a)', '?(b)', '\\*', '\\', '(', ')', '|', '$', '^', '+', '-', ']', '[', '{', '}', '.x', '\n', 'é', '\u{1F600}', ',', '!', '#', ' ', 'a/**/b', '**/', '\\b', '\\B', '\\d', '\\w', '\\s', '\\x41', '\\u0041', '\\0', '\\n'];
const TEXT_CHARS = ['a', 'b', 'c', '.', '/', 'x', 'A', '1', '_', '\n', '\r', '\u2028', 'é', '\u{1F600}', '-', '*', '[', ']', ' ', '\t'];
const textArb = fc.array(fc.constantFrom(...TEXT_CHARS), { maxLength: 10 }).map((c) => c.join(''));

describe('JsRegexp', () => {
  it('answers as RegExp.test does on the expressions of random globs', () => {
    let compared = 0;
    let matched = 0;
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...GLOB_PIECES), { minLength: 1, maxLength: 6 }), fc.array(textArb, { minLength: 1, maxLength: 12 }), (pieces, texts) => {
        const glob = pieces.join('');
        let re: RegExp;
        try {
          re = picomatch.makeRe(glob, OPTIONS);
        } catch {
          return;
        }
        let j: JsRegexp;
        try {
          j = new JsRegexp(re.source);
        } catch (e) {
          // Only what is refused by name: a backreference or an octal escape ("\1", "\01").
          expect(e).toBeInstanceOf(JsRegexpError);
          expect((e as Error).message).toMatch(/backreference or octal escape/);
          return;
        }
        // Texts like the glob itself match more often than random ones.
        const near = glob.replace(/[*?]/g, 'a');
        for (const t of [...texts, near, near.replace(/\//g, 'b')]) {
          compared++;
          const want = re.test(t);
          if (want) matched++;
          expect(j.test(t), `${JSON.stringify(glob)} ${re.source} on ${JSON.stringify(t)}`).toBe(want);
        }
      }),
      { numRuns: 4000, seed: 20261129 },
    );
    // The property compared many answers, and not only "no".
    expect(compared).toBeGreaterThan(20_000);
    expect(matched).toBeGreaterThan(1_000);
  });

  it('answers as RegExp.test does for hand-written expressions: classes, escapes, counted repetition, anchors, lookaheads, word boundaries', () => {
    const cases: [string, string[]][] = [
      ['^a{2,3}$', ['a', 'aa', 'aaa', 'aaaa']],
      ['^(?:a|b)+c?$', ['', 'ab', 'abc', 'c', 'abcc']],
      ['x(?=y)', ['xy', 'x', 'yx']],
      ['^(?!ab)[a-z]+$', ['ab', 'abc', 'ba', 'a']],
      ['\\bfoo\\b', ['foo', 'a foo b', 'foobar', 'xfoo']],
      ['\\Boo', ['foo', 'oo']],
      ['^[\\d-z]$', ['1', '-', 'z', 'y']],
      ['^[^]$', ['\n', 'a', '']],
      ['^[]$', ['', 'a']],
      ['^.$', ['\n', '\r', '\u2028', '\u2029', 'a', '\u{1F600}']],
      ['^..$', ['\u{1F600}']],
      ['^\\s$', ['\u00a0', '\ufeff', '\u2029', 'x', '\v']],
      ['a{', ['a{', 'a']],
      ['^a{,2}$', ['a{,2}', 'aa']],
      ['\\x4', ['x4', 'A']],
      ['\\u{41}', ['A', 'u'.repeat(41)]],
      ['^$', ['', 'a']],
      ['(?:)*a', ['a', '']],
      // Annex B: \cX a control character, \c before anything else a backslash and a c.
      ['^\\cA$', ['\x01', 'A', '\\cA']],
      ['^\\c/$', ['\\c/', 'c/']],
      ['^\\c1$', ['\\c1']],
      // A count is read whatever its length.
      ['^a{000000000000000000000000000000002}$', ['aa', 'a{000000000000000000000000000000002}']],
      ['^(?:a*)*b$', ['aaab', 'aaa']],
    ];
    for (const [source, texts] of cases) {
      let j: JsRegexp;
      try {
        j = new JsRegexp(source);
      } catch (e) {
        // \u{41} without the u flag is "u" 41 times: refused rather than read otherwise.
        expect(source).toBe('\\u{41}');
        expect(e).toBeInstanceOf(JsRegexpError);
        continue;
      }
      for (const t of texts) expect(j.test(t), `${source} on ${JSON.stringify(t)}`).toBe(new RegExp(source).test(t));
    }
  });

  it('refuses by name what it does not run, and what JavaScript itself refuses', () => {
    for (const [source, why] of [
      ['(a)\\1', /backreference/],
      ['(?<=a)b', /a group rep does not match: \(\?<=/],
      ['(?<n>a)', /a group rep does not match/],
      ['[\\c1]', /control escape/],
      ['a{0000000000000000000000000000000001001}', /repetition over 1000/],
      ['(?=a)*', /quantifier on an assertion/],
      ['a**', /nothing to repeat/],
      ['(a', /unterminated group/],
      ['a)', /unmatched \)/],
      ['[b-a]', /out of order/],
      ['[a', /unterminated character class/],
      ['a{2,1}', /out of order/],
      ['a{1001}', /repetition over 1000/],
      ['a\\', /at the end/],
    ] as const) {
      expect(() => new JsRegexp(source), source).toThrow(why);
    }
  });

  it('matches in time linear in the text where V8 backtracks for hours: many stars in a name, many globstars in a path', () => {
    // V8: `*a*a*b` on a 250-character name 2.4 ms, `*a*a*a*b` 1 s, `*a*a*a*a*b` 43 s; eight stars would take years.
    const stars = new JsRegexp(expression('*a*a*a*a*a*a*a*a*b'));
    expect(stars.test('a'.repeat(250))).toBe(false);
    expect(stars.test(`${'a'.repeat(250)}b`)).toBe(true);
    const globstars = new JsRegexp(expression('**/a/**/a/**/a/**/a/**/a/b'));
    const deep = Array.from({ length: 2000 }, () => 'a').join('/');
    expect(globstars.test(`${deep}/c`)).toBe(false);
    expect(globstars.test(`${deep}/b`)).toBe(true);
  }, 20_000);

  it('bounds what making an automaton takes: empty groups repeated, lookaheads copied by repetition, lookaheads by the thousand', () => {
    // `[]` makes picomatch pass the rest of a glob through: a Repfile can give any expression.
    const t0 = Date.now();
    expect(() => new JsRegexp(expression('[](?:(?:(?:(?:){1000}){1000}){1000}){1000}'))).toThrow(/over 1048576 parts/);
    expect(() => new JsRegexp(expression(`[](?:(?:(?=${'a'.repeat(3000)})){1000}){1000}`))).toThrow(JsRegexpError);
    expect(() => new JsRegexp(expression(`**/[](?:${Array.from({ length: 2000 }, (_, i) => `(?!x${i})`).join('')}.)*`))).toThrow(/over 1024 different lookaheads/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  }, 30_000);

  it('counts its steps over all texts and stops past its budget with an error', () => {
    const j = new JsRegexp(expression('**/*.py'), { budget: 2_000 });
    expect(j.test('src/a.py')).toBe(true);
    expect(() => {
      for (let k = 0; k < 1000; k++) j.test(`src/${k}/deep/path/to/file_${k}.py`);
    }).toThrow(JsRegexpBudgetError);
  });

  it('answers the same when its cache of states is dropped and built again', () => {
    const source = expression('**/@(a|b)*[0-9]/**/?.py');
    const small = new JsRegexp(source, { maxStates: 3 });
    const big = new JsRegexp(source);
    const texts = fc.sample(fc.array(fc.constantFrom('a', 'b', '1', '/', '.', 'p', 'y', 'x'), { maxLength: 16 }).map((c) => c.join('')), { numRuns: 3000, seed: 7 });
    for (const t of texts) {
      expect(small.test(t), t).toBe(new RegExp(source).test(t));
      expect(big.test(t), t).toBe(new RegExp(source).test(t));
    }
  });

  it('runs the expressions of the picomatch fast-glob itself resolves', () => {
    // rep makes the expressions with its own picomatch: it must be the copy fast-glob's micromatch uses.
    const require = createRequire(import.meta.url);
    const micromatch = require.resolve('micromatch', { paths: [require.resolve('fast-glob')] });
    expect(require.resolve('picomatch', { paths: [micromatch] })).toBe(require.resolve('picomatch'));
  });
});
