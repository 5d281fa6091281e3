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
    expect(() => braceExpansions(`${'{a,'.repeat(40)}b${'}'.repeat(40)}`)).toThrow(BraceError);
    // A long pattern is read in one pass.
    expect(braceExpansions(`${'{a}'.repeat(200_000)}`)).toBe(1);
  });

  it('is never fewer than the patterns braces expands to', () => {
    const ch = fc.constantFrom('a', 'b', ',', '{', '}', '.', '..', '1', '2', '-', '\\', '*', '[', ']');
    fc.assert(
      fc.property(fc.array(ch, { minLength: 1, maxLength: 22 }), (parts) => {
        const p = parts.join('');
        let want: number;
        try {
          want = braces.expand(p).length;
        } catch {
          return; // braces refuses it: fast-glob's error is caught and located
        }
        expect(braceExpansions(p), p).toBeGreaterThanOrEqual(want);
      }),
      { numRuns: 5000 },
    );
  });
});
