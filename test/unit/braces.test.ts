// The count of a glob's brace expansions, against braces (what fast-glob expands inputs with).
import braces from 'braces';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BraceError, braceExpansions, MAX_EXPANSIONS } from '../../src/context/braces.js';

describe('braceExpansions', () => {
  it('counts alternatives, ranges, nesting and products, and passes over escapes and brackets', () => {
    const cases: [string, number][] = [
      ['src/*.py', 1],
      ['{a,b}', 2],
      ['{a,b}{c,d,e}', 6],
      ['{a,{b,c}}x', 3],
      ['{1..10..3}', 4],
      ['{a..z}/{1..3}', 78],
      ['\\{a,b}', 1],
      ['[{,]{a,b}', 2],
      ['{a', 1],
      ['{x}', 1],
      // Braces that never close are text around the groups inside them; so are quotes and parentheses.
      ['{a{b,c}', 2],
      ['x{a,{b,c}', 2],
      ['{a,"}"b,c}', 3],
      ['{a,(b}),c}', 3],
      // A no-break space is passed over, but where a backslash escapes it.
      ['{1\u00a0..3}', 3],
      ['{e*,\\\u00a0}x', 2],
      // fill-range's numbers are what unary plus makes integers of; a step of 0 is 1.
      ['{-1..+3}', 5],
      ['{ 5..1}', 5],
      ['{1e2..1}', 100],
      ['{1..5..0}', 5],
      ['{1..10..-2}', 5],
      ['{a..e..2}', 3],
    ];
    for (const [p, n] of cases) {
      expect(braceExpansions(p), p).toBe(n);
      expect(braces.expand(p).length, p).toBe(n);
    }
  });

  it('stops counting past the limit: twenty-four pairs of alternatives, a long range', () => {
    expect(braceExpansions('{a,b}'.repeat(24))).toBe(MAX_EXPANSIONS + 1);
    expect(braceExpansions('{1..100000}')).toBe(MAX_EXPANSIONS + 1);
    expect(braceExpansions(`${'{a,b}'.repeat(9)}{c,d}`)).toBe(MAX_EXPANSIONS + 1);
    expect(braceExpansions('{a,b}'.repeat(9))).toBe(512);
    // Ranges braces does not limit (descending, with a step, spelled as fill-range reads numbers): rep
    // counted them as 1,000 and let "{1e6..1}" make a million patterns.
    for (const p of ['{1e5..1}', '{1..1e5..1}', '{0x186A0..1}', 'x/{1e6..1}/*.py', '{+100000..1}', '{100000..1..1}']) expect(braceExpansions(p), p).toBe(MAX_EXPANSIONS + 1);
    // What rep cannot tell the size of is over the limit: refused, never expanded unbounded.
    expect(braceExpansions('{a..b..c}')).toBe(MAX_EXPANSIONS + 1);
    expect(braceExpansions('{ab..c}')).toBe(MAX_EXPANSIONS + 1);
    expect(() => braceExpansions(`${'{a,'.repeat(300)}b${'}'.repeat(300)}`)).toThrow(BraceError);
    // Read in one pass: 30 braces that never close took 22 s (each scanned inside every one before it);
    // 200 would not end within the test's time.
    expect(braceExpansions(`src/${'{'.repeat(200)}*.py`)).toBe(1);
    expect(braceExpansions(`${'{a}'.repeat(200_000)}`)).toBe(1);
    expect(braceExpansions(`${'{'.repeat(250)}${'x{a,b}'.repeat(5000)}`)).toBe(MAX_EXPANSIONS + 1);
  });

  it('is never fewer than the patterns braces expands to', () => {
    const ch = fc.constantFrom('a', 'b', ',', '{', '}', '.', '..', '1', '2', '-', '\\', '*', '[', ']', 'e', 'x', '+', ' ', '"', "'", '(', ')', '$', '\u00a0', '\ufeff', '0');
    fc.assert(
      fc.property(fc.array(ch, { minLength: 1, maxLength: 22 }), (parts) => {
        const p = parts.join('');
        let want: number;
        try {
          want = braces(p, { expand: true, keepEscaping: true }).length;
        } catch {
          return; // braces refuses it: fast-glob's error is caught and located
        }
        expect(braceExpansions(p), p).toBeGreaterThanOrEqual(want);
      }),
      { numRuns: 20000 },
    );
  });
});
