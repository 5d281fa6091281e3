// Cases from moby/patternmatcher's own tests (and Go's filepath.Match tests
// they carry), plus buildkit's .dockerignore reader and Docker's documented
// examples: rep must decide exactly as Docker does.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GoRegexp } from '../../src/context/goregexp.js';
import { cleanPath, compilePattern, DockerIgnore, parseDockerignore, type IgnorePattern } from '../../src/context/dockerignore.js';

type Pass = 'fail' | 'exact' | 'inexact';

const MATCHES: [string, string, Pass][] = [
  ['**', 'file', 'exact'],
  ['**', 'file/', 'exact'],
  ['**/', 'file', 'exact'],
  ['**/', 'file/', 'exact'],
  ['**', '/', 'exact'],
  ['**/', '/', 'exact'],
  ['**', 'dir/file', 'exact'],
  ['**/', 'dir/file', 'exact'],
  ['**', 'dir/file/', 'exact'],
  ['**/', 'dir/file/', 'exact'],
  ['**/**', 'dir/file', 'exact'],
  ['**/**', 'dir/file/', 'exact'],
  ['dir/**', 'dir/file', 'exact'],
  ['dir/**', 'dir/file/', 'exact'],
  ['dir/**', 'dir/dir2/file', 'exact'],
  ['dir/**', 'dir/dir2/file/', 'exact'],
  ['**/dir', 'dir', 'exact'],
  ['**/dir', 'dir/file', 'inexact'],
  ['**/dir2/*', 'dir/dir2/file', 'exact'],
  ['**/dir2/*', 'dir/dir2/file/', 'inexact'],
  ['**/dir2/**', 'dir/dir2/dir3/file', 'exact'],
  ['**/dir2/**', 'dir/dir2/dir3/file/', 'exact'],
  ['**file', 'file', 'exact'],
  ['**file', 'dir/file', 'exact'],
  ['**/file', 'dir/file', 'exact'],
  ['**file', 'dir/dir/file', 'exact'],
  ['**/file', 'dir/dir/file', 'exact'],
  ['**/file*', 'dir/dir/file', 'exact'],
  ['**/file*', 'dir/dir/file.txt', 'exact'],
  ['**/file*txt', 'dir/dir/file.txt', 'exact'],
  ['**/file*.txt', 'dir/dir/file.txt', 'exact'],
  ['**/file*.txt*', 'dir/dir/file.txt', 'exact'],
  ['**/**/*.txt', 'dir/dir/file.txt', 'exact'],
  ['**/**/*.txt2', 'dir/dir/file.txt', 'fail'],
  ['**/*.txt', 'file.txt', 'exact'],
  ['**/**/*.txt', 'file.txt', 'exact'],
  ['a**/*.txt', 'a/file.txt', 'exact'],
  ['a**/*.txt', 'a/dir/file.txt', 'exact'],
  ['a**/*.txt', 'a/dir/dir/file.txt', 'exact'],
  ['a/*.txt', 'a/dir/file.txt', 'fail'],
  ['a/*.txt', 'a/file.txt', 'exact'],
  ['a/*.txt**', 'a/file.txt', 'exact'],
  ['a[b-d]e', 'ae', 'fail'],
  ['a[b-d]e', 'ace', 'exact'],
  ['a[b-d]e', 'aae', 'fail'],
  ['a[^b-d]e', 'aze', 'exact'],
  ['.*', '.foo', 'exact'],
  ['.*', 'foo', 'fail'],
  ['abc.def', 'abcdef', 'fail'],
  ['abc.def', 'abc.def', 'exact'],
  ['abc.def', 'abcZdef', 'fail'],
  ['abc?def', 'abcZdef', 'exact'],
  ['abc?def', 'abcdef', 'fail'],
  ['**/foo/bar', 'foo/bar', 'exact'],
  ['**/foo/bar', 'dir/foo/bar', 'exact'],
  ['**/foo/bar', 'dir/dir2/foo/bar', 'exact'],
  ['abc/**', 'abc', 'fail'],
  ['abc/**', 'abc/def', 'exact'],
  ['abc/**', 'abc/def/ghi', 'exact'],
  ['**/.foo', '.foo', 'exact'],
  ['**/.foo', 'bar.foo', 'fail'],
  ['a(b)c/def', 'a(b)c/def', 'exact'],
  ['a(b)c/def', 'a(b)c/xyz', 'fail'],
  ['a.|)$(}+{bc', 'a.|)$(}+{bc', 'exact'],
  ['dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'exact'],
  ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'exact'],
  ['a\\\\', 'a\\', 'exact'],
  ['a\\*b', 'a*b', 'exact'],
];

const MULTI: [string[], string, boolean][] = [
  [['**', '!util/docker/web'], 'util/docker/web/foo', false],
  [['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo', true],
  [['**', '!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
  [['**', '!dist/*.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
  [['*'], 'fileutils.go', true],
  [['*.go'], 'fileutils.go', true],
  [['!fileutils.go', '*.go'], 'fileutils.go', true],
  [['docs', '!docs/README.md'], 'docs/README.md', false],
  [['docs/', '!docs/README.md'], 'docs/README.md', false],
  [['docs/*', '!docs/README.md'], 'docs/README.md', false],
  [['*.go', '!fileutils.go'], 'fileutils.go', false],
  [['*.go'], '.', false],
  [[], '/any/path/there', false],
];

// Go's filepath.Match table, as moby runs it (through the parent-matching Matches).
const GO_MATCH: [string, string, boolean | 'bad'][] = [
  ['abc', 'abc', true],
  ['*', 'abc', true],
  ['*c', 'abc', true],
  ['a*', 'a', true],
  ['a*', 'abc', true],
  ['a*', 'ab/c', true],
  ['a*/b', 'abc/b', true],
  ['a*/b', 'a/c/b', false],
  ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
  ['a*b?c*x', 'abxbbxdbxebxczzx', true],
  ['a*b?c*x', 'abxbbxdbxebxczzy', false],
  ['ab[c]', 'abc', true],
  ['ab[b-d]', 'abc', true],
  ['ab[e-g]', 'abc', false],
  ['ab[^c]', 'abc', false],
  ['ab[^b-d]', 'abc', false],
  ['ab[^e-g]', 'abc', true],
  ['a\\*b', 'a*b', true],
  ['a\\*b', 'ab', false],
  ['a?b', 'a☺b', true],
  ['a[^a]b', 'a☺b', true],
  ['a???b', 'a☺b', false],
  ['a[^a][^a][^a]b', 'a☺b', false],
  ['[a-ζ]*', 'α', true],
  ['*[a-ζ]', 'A', false],
  ['a?b', 'a/b', false],
  ['a*b', 'a/b', false],
  ['[\\]a]', ']', true],
  ['[\\-]', '-', true],
  ['[x\\-]', 'x', true],
  ['[x\\-]', '-', true],
  ['[x\\-]', 'z', false],
  ['[\\-x]', 'x', true],
  ['[\\-x]', '-', true],
  ['[\\-x]', 'a', false],
  ['[]a]', ']', 'bad'],
  ['[-]', '-', 'bad'],
  ['[x-]', 'x', 'bad'],
  ['[x-]', '-', 'bad'],
  ['[x-]', 'z', 'bad'],
  ['[-x]', 'x', 'bad'],
  ['[-x]', '-', 'bad'],
  ['[-x]', 'a', 'bad'],
  ['\\', 'a', 'bad'],
  ['[a-b-c]', 'a', 'bad'],
  ['[', 'a', 'bad'],
  ['[^', 'a', 'bad'],
  ['[^bc', 'a', 'bad'],
  ['a[', 'a', 'bad'],
  ['a[', 'ab', 'bad'],
  ['*x', 'xxx', true],
];

const compile = (p: string): IgnorePattern => {
  const r = compilePattern(p);
  if (!r || 'message' in r) throw new Error(`pattern ${p} did not compile`);
  return r;
};

describe('.dockerignore patterns (moby/patternmatcher cases)', () => {
  it.each(MATCHES)('%s against %s: %s', (pattern, text, pass) => {
    expect(compile(pattern).match(text)).toBe(pass === 'exact');
    expect(new DockerIgnore([compile(pattern)]).excludes(text)).toBe(pass !== 'fail');
  });

  it.each(MULTI)('%j against %s', (patterns, text, excluded) => {
    const { ignore, errors } = DockerIgnore.parse(patterns.join('\n'));
    expect(errors).toEqual([]);
    expect(ignore.excludes(text)).toBe(excluded);
  });

  it.each(GO_MATCH)('Go filepath.Match %s against %s', (pattern, text, want) => {
    const r = compilePattern(pattern);
    if (want === 'bad') {
      expect(r && 'message' in r).toBe(true);
      return;
    }
    expect(new DockerIgnore([compile(pattern)]).excludes(text)).toBe(want);
  });

  it('rejects a lone "!"', () => {
    expect(compilePattern('!')).toEqual({ line: 0, message: 'illegal exclusion pattern: "!"' });
  });

  it('cleans paths as Go does', () => {
    expect(['', '.', './a', 'a/', 'a//b', 'a/./b', 'a/../b', '../a', '/../a', '/a/b/'].map(cleanPath)).toEqual([
      '.', '.', 'a', 'a', 'a/b', 'a/b', 'b', '../a', '/a', '/a/b',
    ]);
  });
});

describe('.dockerignore files (buildkit ReadAll)', () => {
  it('strips comments, blanks, leading "/" and "./", and keeps exceptions', () => {
    const text = '\uFEFFtest1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n  ./spaced/  \n';
    const { patterns, errors } = parseDockerignore(text);
    expect(errors).toEqual([]);
    expect(patterns.map((p) => `${p.exclusion ? '!' : ''}${p.pattern}@${p.line}`)).toEqual([
      'test1@1', 'test2@2', 'a/file/here@3', 'lastfile@5', '!inverted/abs/path@7', 'spaced@8',
    ]);
  });

  it('reports bad lines with their line number', () => {
    expect(parseDockerignore('ok\n!\n[x-]\n').errors).toEqual([
      { line: 2, message: 'illegal exclusion pattern: "!"' },
      { line: 3, message: 'bad pattern "[x-]": malformed character class' },
    ]);
  });

  it("follows Docker's documented examples", () => {
    const { ignore } = DockerIgnore.parse('# comment\n*/temp*\n*/*/temp*\ntemp?\n');
    expect(ignore.excludes('somedir/temporary.txt')).toBe(true);
    expect(ignore.excludes('somedir/temp')).toBe(true);
    expect(ignore.excludes('temporary.txt')).toBe(false);
    expect(ignore.excludes('somedir/subdir/temporary.txt')).toBe(true);
    expect(ignore.excludes('tempa')).toBe(true);
    expect(ignore.excludes('tempab')).toBe(false);
    const md = DockerIgnore.parse('*.md\n!README*.md\nREADME-secret.md\n').ignore;
    expect(['README.md', 'README-secret.md', 'CHANGES.md', 'docs/x.md'].map((p) => md.excludes(p))).toEqual([false, true, true, false]);
  });

  it('names the pattern that decided', () => {
    const { ignore } = DockerIgnore.parse('*.log\n!keep.log\n');
    expect(ignore.decide('a.log').by?.line).toBe(1);
    expect(ignore.decide('keep.log')).toMatchObject({ excluded: false, by: { line: 2 } });
  });

  it('only prunes a directory when no exception can reach inside it', () => {
    const { ignore } = DockerIgnore.parse('docs\n!docs/README.md\nnode_modules\n');
    expect(ignore.canSkipDir('docs')).toBe(false);
    expect(ignore.canSkipDir('node_modules')).toBe(true);
    expect(ignore.canSkipDir('src')).toBe(false);
  });
});

describe('.dockerignore as Docker reads it, where a JavaScript reading differs (review of .dockerignore)', () => {
  const excluded = (text: string, paths: string[]) => {
    const { ignore, errors } = DockerIgnore.parse(text);
    expect(errors).toEqual([]);
    return paths.filter((p) => ignore.excludes(p));
  };

  it('matches "-" outside a class as itself (the pattern never matched at all)', () => {
    expect(excluded('npm-debug.log*\n*-lock.json\na-b/*\nfoo\\-bar*\n**/*-x\n', ['npm-debug.log.1', 'package-lock.json', 'a-b/c', 'foo-barz', 'd/e-x', 'npm.log'])).toEqual([
      'npm-debug.log.1', 'package-lock.json', 'a-b/c', 'foo-barz', 'd/e-x',
    ]);
  });

  it('carries a pattern down only from a folder where it matched when asked (MatchesUsingParentResults)', () => {
    // Each row: .dockerignore, path, whether Docker (BuildKit's fsutil, and the classic builder) leaves it out.
    const rows: [string, string, boolean][] = [
      ['node_modules\n!node_modules/my-local-pkg\n**/node_modules\n', 'node_modules/my-local-pkg/index.js', false],
      ['build\n!build/keep.txt\n**/build\n', 'build/keep.txt', false],
      ['**\n!b/*\n[ab]\n', 'b/b', false],
      ['**/*.log\n!logs\n', 'logs/x.log', true],
      ['a/a\n!a*\n', 'a/a', true],
      ['docs\n!docs/README.md\n', 'docs/README.md', false],
      ['docs\n!docs/README.md\n', 'docs/other.md', true],
    ];
    for (const [text, p, out] of rows) expect(DockerIgnore.parse(text).ignore.excludes(p), `${JSON.stringify(text)} ${p}`).toBe(out);
  });

  it('takes Go\'s meaning of regular-expression escapes and "^", and refuses what Go refuses or rep cannot match as Go does', () => {
    expect(excluded('foo\\d\n', ['foo1', 'food'])).toEqual(['foo1']);
    expect(excluded('x\\n*\n', ['x\nA', 'xnA'])).toEqual(['x\nA']);
    expect(excluded('w\\s*\n', ['w b', 'wsb'])).toEqual(['w b']);
    // "^" is a text anchor in Go: in the middle of a pattern nothing matches.
    expect(excluded('a^b*\n', ['a^bc', 'abc'])).toEqual([]);
    // Go's "." does not cross "\n" only: "\r", U+2028 and U+2029 are characters like others.
    expect(excluded('a/**/b\n', ['a/x\ry/b', 'a/x\u2028y/b'])).toEqual(['a/x\ry/b', 'a/x\u2028y/b']);
    for (const bad of ['foo\\e*', '[z-a]', '[[:alpha:]]', 'x\\p{L}*']) {
      const r = compilePattern(bad);
      expect(r && 'message' in r && r.message, bad).toMatch(/^bad pattern ".*": .* in the regular expression Docker makes of it/);
    }
  });

  it('leaves "|", "{" and "}" unescaped as patternmatcher does (its bitmap has no bit for them): an expression with "|" or "{" is refused, never read literally', () => {
    // rep escaped them and read `!x[y]|^src/secret.py` as a name no file has, where Docker brought the file back (a review).
    for (const bad of ['x[y]|^src/secret.py', 'src/secret.p[y]{1}', 'src/*|zzz']) {
      const r = compilePattern(bad);
      expect(r && 'message' in r && r.message, bad).toMatch(/^bad pattern ".*": .* in the regular expression Docker makes of it/);
    }
    expect(DockerIgnore.parse('src/secret.py\n!x[y]|^src/secret.py\n').errors).toHaveLength(1);
    // With no wildcard a pattern is a name, compared as it is; "}" alone is itself in Go's syntax too.
    expect(excluded('a|b\n', ['a|b', 'a', 'b'])).toEqual(['a|b']);
    expect(excluded('x}*\n', ['x}y', 'xy'])).toEqual(['x}y']);
  });

  it('decides in time linear in the path, whatever the pattern (Go runs an automaton; a backtracking RegExp took minutes)', () => {
    const { ignore } = DockerIgnore.parse(`*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n${'**/'.repeat(12)}z\n`);
    expect(ignore.excludes('a'.repeat(4000))).toBe(false);
    expect(ignore.excludes(`${'d/'.repeat(40)}y`)).toBe(false);
    expect(ignore.excludes(`${'a'.repeat(100)}b`)).toBe(true);
    // 20,000 "**/" are a chain of 20,000 steps taken without reading a character: followed without recursion.
    const deep = DockerIgnore.parse(`${'**/'.repeat(20_000)}z\n`).ignore;
    expect(deep.excludes(`${'d/'.repeat(300)}z`)).toBe(true);
    expect(deep.excludes('d/y')).toBe(false);
  });

  it('trims lines as Go\'s strings.TrimSpace, takes the byte order mark off the first line alone, and refuses a line Go cannot read', () => {
    expect(excluded('x\n\uFEFFfoo\nbar\u0085\n\u00a0baz\n', ['foo', '\uFEFFfoo', 'bar', 'baz'])).toEqual(['\uFEFFfoo', 'bar', 'baz']);
    expect(parseDockerignore(`ok\n${'a'.repeat(70_000)}\n`).errors).toEqual([{ line: 2, message: 'a line longer than 64 KiB, which Docker refuses to read' }]);
  });
});

describe('.dockerignore corners the third review found', () => {
  const matches = (pattern: string, path: string) => {
    const r = compilePattern(pattern);
    if (!r || 'message' in r) throw new Error(`not a pattern: ${pattern}`);
    return r.match(path);
  };

  it('passes over a byte order mark at the start of a pattern only, as Go\'s text/scanner does', () => {
    // Inside a pattern it is a character of the expression (rep dropped every one).
    expect(matches('a\uFEFF*', 'a\uFEFFx')).toBe(true);
    expect(matches('a\uFEFF*', 'ax')).toBe(false);
    expect(matches('\uFEFFa*', 'ax')).toBe(true);
    // "**" after one makes a suffix match that cuts two bytes: two of the mark's three, so what must end a
    // path is the byte 0xBF and "**/foo" (a name ending in "¿" is C2 BF). "foo" and "x/foo" it never matches.
    expect(matches('\uFEFF**/foo', 'foo')).toBe(false);
    expect(matches('\uFEFF**/foo', 'x/foo')).toBe(false);
    expect(matches('\uFEFF**/foo', 'x\u00BF**/foo')).toBe(true);
    // Where a line after the first starts with one, the file gives such a pattern.
    expect(DockerIgnore.parse('x\n\uFEFF**/foo\n').ignore.excludes('a/foo')).toBe(false);
  });

  it('keeps the results of a bounded number of folders, and decides as with all of them', () => {
    const text = 'a\n!a/b\n**/c\nd/*/e\n!**/keep\n*/x*\n';
    const { patterns } = parseDockerignore(text);
    const small = new DockerIgnore(patterns, 16 * patterns.length);
    const all = new DockerIgnore(patterns, Number.MAX_SAFE_INTEGER);
    const names = ['a', 'b', 'c', 'd', 'e', 'keep', 'x1'];
    const paths: string[] = [];
    for (const p of names) for (const q of names) for (const r of names) paths.push(`${p}/${q}/${r}`, `${p}/${q}/${r}/f`);
    // In walk order, and again out of it.
    for (const list of [paths, [...paths].reverse()]) {
      for (const p of list) {
        expect(small.excludes(p), p).toBe(all.excludes(p));
        expect(small.memoSize).toBeLessThanOrEqual(16);
      }
    }
    expect(all.memoSize).toBeGreaterThan(300);
    expect(paths.filter((p) => all.excludes(p)).length).toBeGreaterThan(100);
    expect(paths.filter((p) => !all.excludes(p)).length).toBeGreaterThan(100);
  });
});

describe('.dockerignore files made to exhaust rep (review: 2 million lines of "*" ran it out of memory)', () => {
  it('reads 10,000 patterns at most, and says where the first one past them is', () => {
    // Comments and blank lines are not patterns.
    const text = `# many\n\n${'x\n'.repeat(9_999)}\n# still\n!y\nz\nw\n`;
    const { patterns, errors } = parseDockerignore(text);
    expect(errors).toEqual([{ line: 10_005, message: 'more than 10000 patterns, the most rep reads of a .dockerignore; put the files to leave out under fewer folders, or match them with fewer patterns' }]);
    expect(patterns).toHaveLength(10_000);
    expect(parseDockerignore('x\n'.repeat(10_000)).errors).toEqual([]);
  });

  it('holds one matcher for lines of one text, and asks it once per path', () => {
    const { patterns, errors } = parseDockerignore(`${'a*\n'.repeat(5_000)}${'!a*/b\n'.repeat(4_999)}a*\n`);
    expect(errors).toEqual([]);
    expect(new Set(patterns.map((p) => p.match)).size).toBe(2);
    // "!x" and "x" share one: the matcher is the text's, the "!" the pattern's.
    expect(new Set(parseDockerignore('x?\n!x?\n').patterns.map((p) => p.match)).size).toBe(1);
    let asked = 0;
    const match = (path: string) => (asked++, path.startsWith('a'));
    const same = Array.from({ length: 1_000 }, (_, i): IgnorePattern => ({ pattern: 'a*', exclusion: i % 2 === 1, line: i + 1, match }));
    const ignore = new DockerIgnore(same);
    expect([ignore.excludes('ab'), ignore.excludes('b')]).toEqual([false, false]);
    expect(asked).toBe(2);
    expect(new DockerIgnore(same.slice(0, -1)).excludes('ab')).toBe(true);
  });
});

describe('GoRegexp', () => {
  it('matches as a backtracking RegExp does where Go and JavaScript read an expression alike (ASCII, no newline)', () => {
    // Expressions of the kinds patternmatcher writes: literals, [^/]*, [^/], (.*/)?, .*, classes, escapes, ^ and $.
    const atom = fc.constantFrom('a', 'b', '/', '\\.', '\\-', '[^/]', '[ab]', '[^a]', '[a-c]', '[\\]a]', '.', '\\d', '\\w', '(.*/)?');
    const piece = fc.tuple(atom, fc.constantFrom('', '', '*', '?', '+')).map(([a, q]) => (a === '(.*/)?' ? a : a + q));
    const expr = fc.array(piece, { maxLength: 7 }).map((ps) => `^${ps.join('')}$`);
    const text = fc.stringMatching(/^[ab1/.\-\]_c]{0,10}$/);
    fc.assert(
      fc.property(expr, fc.array(text, { minLength: 1, maxLength: 8 }), (src, texts) => {
        const go = new GoRegexp(src);
        const js = new RegExp(src);
        for (const t of texts) expect(go.test(t), `${src} on ${JSON.stringify(t)}`).toBe(js.test(t));
      }),
      { numRuns: 2000 },
    );
  });
});
