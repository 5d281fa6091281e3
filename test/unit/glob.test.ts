// globSync against fast-glob itself: the same paths in the same order, for
// random globs over a tree with links, dot files and names special to globs.
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import fg from 'fast-glob';
import { afterAll, describe, expect, it } from 'vitest';
import { GlobError, GlobLinkError, globSync } from '../../src/context/glob.js';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const NAMES = ['a', 'b', 'ab', '.a', 'a.py', 'b.txt', 'x', '.rep', 'a b', '[a]', '{a}', '!a', 'é', 'a\nb', '\nc', 'c.py', 'a.b.c', '@(a)', '*'];
const LINK_TARGETS = ['a', '..', '../a', 'nowhere', '/etc', '.'];

/** A random tree from a seed: folders four deep, files, and links to folders, files, nothing, and outside. */
function randomTree(seed: number): string {
  const root = mkdtempSync(path.join(tmpdir(), 'rep-glob-'));
  roots.push(root);
  const [plan] = fc.sample(fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat()), { minLength: 400, maxLength: 400 }), { numRuns: 1, seed });
  let k = 0;
  const next = () => plan![k++ % plan!.length]!;
  const grow = (dir: string, depth: number) => {
    const [count] = next();
    for (let i = 0; i < 1 + (count % 5); i++) {
      const [name, kind, target] = next();
      const p = path.join(dir, NAMES[name % NAMES.length]!);
      try {
        if (depth < 4 && kind % 10 < 4) {
          mkdirSync(p);
          grow(p, depth + 1);
        } else if (kind % 10 < 5) symlinkSync(LINK_TARGETS[target % LINK_TARGETS.length]!, p);
        else writeFileSync(p, 'x');
      } catch {
        // The name is taken.
      }
    }
  };
  grow(root, 0);
  return root;
}

const PIECES = ['a', 'b', '.', '/', '*', '**', '?', '[ab]', '[!a]', '{a,b}', '{a,}', '@(a|b)', '!(a)', '+(a|b)', '*(a)', '?(b)', '\\*', 'py', '.py', 'txt', '.rep', './', 'x', 'é', '[a]', '!', ' ', '**/', '/**', '\\n', '\n'];

function fastGlob(cwd: string, pattern: string): string[] | string {
  try {
    return fg.sync(pattern, { cwd, dot: true, onlyFiles: false, followSymbolicLinks: false, markDirectories: true, unique: true, ignore: ['.rep/**'] });
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

function ours(cwd: string, pattern: string): string[] | string {
  try {
    return globSync(cwd, pattern, ['.rep/**']);
  } catch (e) {
    if (e instanceof GlobLinkError) return `link ${e.link}`;
    if (e instanceof GlobError) return 'outside';
    return `error: ${(e as Error).message}`;
  }
}

describe('globSync', () => {
  it('returns what fast-glob returns, in its order, for random globs over random trees', () => {
    let nonEmpty = 0;
    let outside = 0;
    for (const seed of [1, 2, 3]) {
      const root = randomTree(seed);
      fc.assert(
        fc.property(fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 5 }), (pieces) => {
          const pattern = pieces.join('');
          const got = ours(root, pattern);
          if (got === 'outside') {
            // Only where fast-glob's expansion of the braces leaves the folder: it would read "/" or "..".
            outside++;
            expect(fg.generateTasks(pattern).some((t) => t.positive.some((p) => path.isAbsolute(p) || p.split(/[/\\]/).includes('..')))).toBe(true);
            return;
          }
          if (typeof got === 'string' && got.startsWith('link ')) {
            // Only where fast-glob would read through a symlinked folder: a task's base, or a static path's folder.
            const link = got.slice('link '.length);
            expect(lstatSync(path.join(root, link)).isSymbolicLink()).toBe(true);
            expect(fg.generateTasks(pattern).some((t) => (t.dynamic ? [t.base] : t.positive.map((p) => path.posix.dirname(p))).some((b) => `${b}/`.startsWith(`${link}/`) || `${b.replace(/^\.\//, '')}/`.startsWith(`${link}/`)))).toBe(true);
            return;
          }
          const want = fastGlob(root, pattern);
          if (Array.isArray(want) && want.length) nonEmpty++;
          expect(got, JSON.stringify(pattern)).toEqual(want);
        }),
        { numRuns: 1500, seed },
      );
    }
    expect(nonEmpty).toBeGreaterThan(300);
    expect(outside).toBeGreaterThan(0);
  });

  it('reads nothing outside its folder: no pattern that braces take to "/" or "..", none through a symlinked folder', () => {
    const root = randomTree(4);
    for (const pattern of ['{,a/}/**', '..{,}/**', '{a,/etc}/*', 'a/../../*', '/etc/*']) {
      expect(() => globSync(root, pattern, []), pattern).toThrow(GlobError);
    }
    // `up -> /`: fast-glob walked the whole filesystem for "up/**" before rep refused the matches.
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-glob-'));
    roots.push(dir);
    mkdirSync(path.join(dir, 'd'));
    symlinkSync('/', path.join(dir, 'up'));
    symlinkSync('..', path.join(dir, 'd', 'parent'));
    for (const [pattern, link] of [['up/**', 'up'], ['up/etc/*', 'up'], ['d/parent/*', 'd/parent'], ['{d/parent,x}/passwd', 'd/parent'], ['up/etc/passwd{,}', 'up']]) {
      expect(() => globSync(dir, pattern!, []), pattern).toThrow(new GlobLinkError(link!));
    }
    expect(globSync(dir, '*', [])).toEqual(['d/', 'up']);
  });
});
