// Which changes rep watch rebuilds for (src/context/inputs.ts inputsMayChange):
// a path an input may name, the folders on the way to one, and what lies in a
// folder an input names; not the other files of the project.
import { describe, expect, it } from 'vitest';
import { inputsMayChange } from '../../src/context/inputs.js';

describe('inputsMayChange', () => {
  const m = inputsMayChange(['src/', 'conf/app.toml', 'data/**/*.csv', './lib/*.py', '{docs,man}/*.md']);
  it('answers yes for what an input may name, and the folders that may hold it', () => {
    for (const f of ['src/a.txt', 'src/deep/b', 'conf/app.toml', 'data/x.csv', 'data/a/b/y.csv', 'lib/m.py', 'docs/i.md', 'man/rep.md']) expect(m.file(f), f).toBe(true);
    for (const d of ['', 'src', 'src/new', 'conf', 'data', 'data/a', 'lib', 'docs', 'man']) expect(m.folder(d), d).toBe(true);
  });
  it('answers no for the rest of the project', () => {
    for (const f of ['out.log', 'notes.txt', 'srcs/a', 'conf/other.toml', 'data/x.txt', 'lib/sub/m.py', 'lib/m.pyc', 'docs/i.txt', 'README.md', 'node_modules/x/index.js']) expect(m.file(f), f).toBe(false);
    for (const d of ['node_modules', 'lib/sub', 'build', 'conf/sub']) expect(m.folder(d), d).toBe(false);
  });
  it('a folder an input glob names whole, and the context itself ("."), take every change under them', () => {
    const dirs = inputsMayChange(['pkg*/']);
    expect([dirs.file('pkg1/a/b.c'), dirs.folder('pkg2/new'), dirs.file('other/x')]).toEqual([true, true, false]);
    const all = inputsMayChange(['.']);
    expect([all.file('anything/at/all'), all.folder('x')]).toEqual([true, true]);
  });
});
