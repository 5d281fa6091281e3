// rep init in a repository someone else wrote (a student runs it in one just
// cloned): files and names built to hang it, crash it, make it write through
// a link or put text of theirs into the Repfile as YAML or shell. Each case
// is an attack that once worked, or the guard that stops it.
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { init } from '../../src/commands/init.js';
import { juliaFacts } from '../../src/init/julia.js';
import { lexists } from '../../src/safefs.js';
import { makeProject, type Tree } from '../helpers.js';
import { initIn as initChecked, stepOf } from './initcase.js';

const NOW = new Date('2026-11-27T12:00:00Z');
/** A file of the repository `dir` as a diagnostic names it: relative to where rep runs, as the Repfile is (the CLI shows its line from there). */
const shown = (dir: string, rel: string) => path.relative(process.cwd(), path.join(dir, rel));
const initIn = (tree: Tree) => {
  const dir = makeProject(tree, 'myrepo-');
  return { dir, r: init(dir, { now: NOW }) };
};

describe('rep init: files built to hang or crash it', () => {
  it('says a bounded number of notes, each of bounded length (100k bad EXPOSE words made a Repfile of gigabytes; 1M bad apt.txt words one of 112 MB)', () => {
    const df = initIn({ Dockerfile: `FROM busybox:latest\nEXPOSE ${'a '.repeat(100_000)}\n` }).r;
    expect(df.ok && df.value.dockerfile!.notes.length).toBe(11);
    expect(df.ok && df.value.dockerfile!.notes[10]).toEqual({ line: 2, message: '99990 more problems at this line, not listed' });
    expect(df.ok && df.value.text.length).toBeLessThan(20_000);
    for (const tree of [{ 'apt.txt': 'A\n'.repeat(1_000_000) }, { 'runtime.txt': `r-${'4'.repeat(3_000_000)}-2020-01-01\n` }] as Tree[]) {
      const { r } = initIn(tree);
      expect(r.ok && r.value.notes.length).toBeLessThanOrEqual(21);
      expect(r.ok && r.value.notes.every((n) => n.length <= 301)).toBe(true);
      expect(r.ok && r.value.text.length).toBeLessThan(20_000);
    }
  });


  it('refuses ${} nested deeper than Dockerfiles write, at its line (the expansion recursed until the stack overflowed)', () => {
    const deep = `FROM busybox:latest\nENV A=${'${X:-'.repeat(3000)}${'}'.repeat(3000)}\n`;
    const open = `FROM busybox:latest\nRUN true\nENV A=${'${ '.repeat(80_000)}\n`;
    for (const Dockerfile of [deep, open]) {
      const { dir, r } = initIn({ Dockerfile });
      expect(!r.ok && r.errors[0]).toMatchObject({ file: shown(dir, 'Dockerfile'), span: { start: { line: Dockerfile === deep ? 2 : 3 } }, message: '${...} nested more than 32 deep: rep init does not convert it' });
    }
  });

  it('refuses at its line, exit 2, a Dockerfile whose variables expand past a bound (18 lines of ENV A=$A$A ran rep out of memory; 16 wrote a Repfile of 65 MB)', () => {
    const doubling = `FROM busybox:latest\nENV A=${'x'.repeat(1000)}\n${'ENV A=$A$A\n'.repeat(12)}RUN echo hi\n`;
    const many = `FROM busybox:latest\nENV A=${'x'.repeat(200_000)}\n${'ENV B=$A\n'.repeat(8)}`;
    const args = `FROM busybox:latest\nARG A=${'x'.repeat(100_000)}\n${'RUN a\n'.repeat(300)}`;
    const cases: [string, number, string][] = [
      [doubling, 11, 'ENV expands a word to more than 262144 characters: rep init does not convert it'],
      [many, 8, 'ENV expands the Dockerfile\'s variables to more than 1048576 characters in all (counting the lines before it): rep init does not convert it'],
      [args, 13, 'RUN expands the Dockerfile\'s variables to more than 1048576 characters in all (counting the lines before it): rep init does not convert it'],
    ];
    for (const [Dockerfile, line, message] of cases) {
      const { dir, r } = initIn({ Dockerfile });
      expect(!r.ok && r.errors).toEqual([{ file: shown(dir, 'Dockerfile'), span: { start: { line, col: 1 }, end: { line, col: Dockerfile.split('\n')[line - 1]!.length + 1 } }, message }]);
      expect(lexists(path.join(dir, 'Repfile'))).toBe(false);
    }
  });

  it('refuses at its step\'s line a Dockerfile whose Repfile would be more than 8 MiB (a long SHELL is written on every step: 100 KiB of it and 300 RUNs made 30 MB)', () => {
    const Dockerfile = `FROM busybox:latest\nSHELL ["${'x'.repeat(200_000)}"]\n${'RUN a\n'.repeat(100)}`;
    const { dir, r } = initIn({ Dockerfile });
    expect(!r.ok && r.errors).toEqual([{ file: shown(dir, 'Dockerfile'), span: { start: { line: 44, col: 1 }, end: { line: 44, col: 6 } }, message: 'the Repfile converted from this Dockerfile would be more than 8388608 characters by the step of this line: rep init does not convert it' }]);
  });

  it('reads 64,000 unclosed ${ in one pass (each scanned on to the end of the line: 31 s)', () => {
    const { r } = initIn({ Dockerfile: `FROM busybox:latest\nENV A=${'${{}'.repeat(64_000)}\n` });
    expect(r.ok && r.value.text).toContain(`A: "${'${{}'.repeat(64_000)}"`);
  });

  it('reads a line of 200,000 blanks before its last word in one pass (trimming it with /\\s+$/ was quadratic)', () => {
    const { r } = initIn({ Dockerfile: `FROM busybox:latest\nRUN echo${' '.repeat(200_000)}x \\\n  y\n` });
    expect(r.ok && r.value.text).toContain(`run: "echo${' '.repeat(200_000)}x   y"`);
  });

  it('reads a Manifest.toml of 4 MiB of blank lines in one pass (a multiline ^\\s* regex took hours)', () => {
    expect(juliaFacts('name = "x"\n', `${'\n'.repeat(4 << 20)}x`, 'Project.toml').needsCode).toBe(false);
    expect(juliaFacts('name = "x"\n', '[[deps.A]]\n  path = "."\n', 'Project.toml').needsCode).toBe(true);
  });

  it('reads runtime.txt r-constructor-DATE as an R version it does not know, not as the object key (a TypeError)', () => {
    for (const v of ['constructor', 'toString', '__proto__']) {
      const { r } = initIn({ 'runtime.txt': `r-${v}-2024-01-02\n` });
      expect(r.ok && r.value.notes).toContain(`runtime.txt: R ${v} is not a version repo2docker knows (4.6, 4.5, 4.4, 4.3, 4.2, 4.1, 4.0, 3.6, 3.5, 3.4, 3.3, or x.y.z); rep init took Debian's R`);
    }
  });
});

describe('rep init: text that would reach the Repfile', () => {
  it('refuses a lone CR inside a line at its place (the Repfile it made failed to load, reported as a bug in rep init); CRLF line ends are fine', () => {
    const { dir, r } = initIn({ Dockerfile: 'FROM busybox:latest\r\nRUN echo a\rb\r\n' });
    expect(!r.ok && r.errors[0]).toMatchObject({ file: shown(dir, 'Dockerfile'), span: { start: { line: 2, col: 11 } }, message: 'control character U+000D: rep init converts only a Dockerfile of plain text' });
    expect(initIn({ Dockerfile: 'FROM busybox:latest\r\nRUN echo a \\\r\n  b\r' }).r.ok).toBe(true);
  });

  it('notes, and does not convert, an exec form whose JSON escapes hold a control character a Repfile field cannot (CMD ["\\n"]) or a tab in a one-line field; RUN keeps its newlines', () => {
    const { r } = initIn({ Dockerfile: 'FROM busybox:latest\nRUN ["printf", "a\\nb"]\nCMD ["echo", "\\u001b[31m"]\nENTRYPOINT ["a\\tb"]\nSHELL ["sh\\n", "-c"]\nVOLUME ["/a\\nb"]\nUSER a\tb\nCMD echo\tx\n' });
    expect(r.ok && r.value.dockerfile!.notes).toEqual([3, 4, 5, 6, 7, 8].map((line) => ({ line, message: 'an argument holds a control character (a tab, or a JSON escape such as \\n) that rep cannot write in this field' })));
    expect(r.ok && r.value.text).toContain(`run: "set +e; printf 'a\\nb'"`);
  });

  it('notes, at their line, what the Repfile refuses and was blamed on rep init: USER -x, a JSON escape of a line separator, C1 or bidirectional control, a label key that shows nothing, a key __proto__', () => {
    const lines = ['USER -x', 'CMD ["a\\u2028b"]', 'VOLUME ["/a\\u202eb"]', 'ENTRYPOINT ["a\\u0085"]', 'RUN ["a\\u2066"]', 'LABEL a\u200bb=c', 'LABEL __proto__=1', 'ENV __proto__=1'];
    const x = initChecked({ Dockerfile: `FROM busybox:latest\nUSER app\n${lines.join('\n')}\nENV null=1\nRUN x\n` });
    const field = 'an argument holds a control character (a tab, or a JSON escape such as \\n) that rep cannot write in this field';
    expect(x.notes).toEqual([]);
    expect(x.text).toContain('Dockerfile:3: not converted: USER "-x" starts with "-", which rep\'s Dockerfile would read as a flag; the steps after it keep the user before it');
    for (const line of [4, 5, 6, 7]) expect(x.text).toContain(`Dockerfile:${line}: not converted: ${field}`);
    expect(x.text).toContain('Dockerfile:8: not converted: LABEL "a\\u200bb": a key with a character that shows nothing (a zero-width space or joiner, a word joiner) would read as another key');
    expect(x.text).toContain('Dockerfile:9: not converted: LABEL __proto__: a Repfile has no key named "__proto__" (as a name it would vanish)');
    expect(x.text).toContain('Dockerfile:10: not converted: ENV __proto__: a Repfile has no key named "__proto__" (as a name it would vanish)');
    expect(stepOf(x, 'main').user).toBe('app');
    expect(stepOf(x, 'main').env).toEqual({ null: '1' });
  });

  it('refuses a bidirectional control in the Dockerfile text at its place, as a control character (it reached the Repfile, which refused it as a bug in rep init); in a comment it is text', () => {
    for (const [line, col] of [['VOLUME /a\u202eb', 10], ['LABEL a=b\u2067c', 10], ['RUN echo \u200f', 10]] as const) {
      const { dir, r } = initIn({ Dockerfile: `FROM busybox:latest\n# \u202e a comment\n${line}\n` });
      const code = line.codePointAt(col - 1)!.toString(16).toUpperCase();
      expect(!r.ok && r.errors).toEqual([{ file: shown(dir, 'Dockerfile'), span: { start: { line: 3, col }, end: { line: 3, col: col + 1 } }, message: `bidirectional control U+${code}: rep init converts only a Dockerfile of plain text` }]);
    }
  });
});

describe('rep init: what it says about a file, on the terminal and in the Repfile', () => {
  it('shows control characters of a file as escapes, not raw (an ESC in apt.txt reached the terminal; C1 and U+2028 the Repfile comments)', () => {
    const { r } = initIn({ 'apt.txt': 'curl \x1b]0;pwned\x07 x\u009by\u2028z\n' });
    expect(r.ok && r.value.notes).toEqual([
      'apt.txt:1: "\\x1b]0;pwned\\x07" is not a Debian package name; the build stops there (repo2docker refuses it too)',
      'apt.txt:1: "x\\x9by\\u2028z" is not a Debian package name; the build stops there (repo2docker refuses it too)',
    ]);
    // eslint-disable-next-line no-control-regex
    expect(r.ok && r.value.text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]/);
  });
});

describe('rep init: Dockerfile values that would run as shell or name what is not there', () => {
  it('notes an ARG whose name is not a shell variable instead of exporting it (`export a;touch /x=1` ran touch)', () => {
    const { r } = initIn({ Dockerfile: 'FROM busybox:latest\nARG "a;touch /x"=1 OK=2\nRUN echo hi\n' });
    expect(r.ok && r.value.dockerfile!.notes).toEqual([{ line: 2, message: 'ARG "a;touch /x": rep passes build arguments to RUN as shell variables, and this is not a shell variable name' }]);
    expect(r.ok && r.value.text).toContain('run:\n      - "export OK=2"\n      - "echo hi"\n');
  });

  it('notes COPY --from=N of a stage not yet defined (it became an image named "1")', () => {
    const { r } = initIn({ Dockerfile: 'FROM busybox:latest\nCOPY --from=1 /x /x\nFROM busybox:latest\n' });
    expect(r.ok && r.value.dockerfile!.notes).toEqual([{ line: 2, message: '--from=1 names no earlier stage (stages count from 0)' }]);
  });

  it('notes COPY --from=NAME of a stage that comes later (BuildKit finds it; it became an image named "b")', () => {
    const { r } = initIn({ Dockerfile: 'FROM busybox:latest\nCOPY --from=b /x /x\nFROM busybox:latest AS b\nRUN true\n' });
    expect(r.ok && r.value.dockerfile!.notes).toEqual([{ line: 2, message: '--from=b names a stage that comes later in the Dockerfile, which BuildKit allows and rep init does not convert: move that stage before this one' }]);
  });

  it('writes an image with no tag with Docker\'s :latest, so it is not read as a step rep init made (--from=b-1 beside stage b made a dependency cycle) nor as an image id', () => {
    const { r } = initIn({ Dockerfile: 'FROM debian:bookworm-slim AS b\nRUN x\nRUN y\nFROM b-1\nCOPY --from=b-1 /o /o\nCOPY --from=b /p /p\n' });
    const text = r.ok ? r.value.text : (r.errors.map((e) => e.message).join('\n'));
    expect(text).toContain('    from: "b-1:latest"\n');
    expect(text).not.toMatch(/from: b-1\n/);
    const b = initIn({ Dockerfile: 'FROM b\nRUN x\n' }).r;
    expect(b.ok && b.value.text).toContain('base: "b:latest"\n');
  });

  it('writes a stage named null, true or yes as a quoted step name (a YAML null key was reported as a bug in rep init)', () => {
    const { r } = initIn({ Dockerfile: 'FROM busybox:latest AS null\nRUN x\nFROM null AS true\nRUN y\nFROM true AS yes\n' });
    expect(r.ok && r.value.text).toContain('  "null":\n');
    expect(r.ok && r.value.text).toContain('  "true":\n    # Dockerfile:4\n    from: "null"\n');
    expect(r.ok && r.value.text).toContain('  "yes":');
  });

  it('writes ENV names YAML reads otherwise (False, null, TRUE, Yes, NULL) quoted, so each stays the variable it names (False became `false`; null was reported as a bug in rep init)', () => {
    const x = initChecked({ Dockerfile: 'FROM busybox:latest\nENV False=4 null=2 TRUE=3 Yes=5 NULL=6 plain=7\nRUN x\n' });
    expect(x.text).toContain('    env:\n      "False": "4"\n      "null": "2"\n      "TRUE": "3"\n      "Yes": "5"\n      "NULL": "6"\n      plain: "7"\n');
    expect(x.recipe.steps[0]!.env).toEqual({ False: '4', null: '2', TRUE: '3', Yes: '5', NULL: '6', plain: '7' });
  });

  it('refuses at its line, exit 2, an image the Repfile could not start from (it was reported as a bug in rep init)', () => {
    for (const [Dockerfile, message] of [
      [`FROM sha256:${'a'.repeat(64)}\n`, 'reads as an image id'],
      ['FROM rep-cache:x\n', "is one of rep's own images"],
    ]) {
      const { r } = initIn({ Dockerfile });
      expect(!r.ok && r.errors[0]).toMatchObject({ span: { start: { line: 1, col: 1 } }, message: expect.stringContaining(message) });
      expect(!r.ok && r.errors[0]!.message).not.toContain('a bug in rep init');
    }
  });
});

describe('rep init: links and special files where it reads or writes', () => {
  it('refuses a Dockerfile that is a link, a named pipe or a folder, at its name (it was skipped and a plain Debian Repfile written)', () => {
    const cases: [Tree, string, string][] = [
      [{ Dockerfile: { link: '/dev/zero' } }, 'Dockerfile', 'a symbolic link'],
      [{ 'binder/Dockerfile': { link: '../Dockerfile.real' }, 'Dockerfile.real': 'FROM busybox:latest\n' }, 'binder/Dockerfile', 'a symbolic link'],
      [{ 'Dockerfile/x': '' }, 'Dockerfile', 'a folder'],
    ];
    for (const [tree, file, what] of cases) {
      const { dir, r } = initIn(tree);
      expect(!r.ok && r.errors[0]).toEqual({ file: shown(dir, file), message: `${what}: repo2docker would build it, but rep init converts only a regular file (it does not follow links in a repository); put the Dockerfile itself there` });
    }
    const dir = makeProject({}, 'myrepo-');
    execFileSync('mkfifo', [path.join(dir, 'Dockerfile')]);
    const r = init(dir, { now: NOW });
    expect(!r.ok && r.errors[0]!.message).toMatch(/^a named pipe: /);
  });

  it('leaves a .dockerignore that is a link or a folder as it is and says so (a link was replaced by a file; a folder crashed with EISDIR)', () => {
    for (const [tree, what] of [
      [{ '.dockerignore': { link: '.gitignore' }, '.gitignore': 'data/\n', 'requirements.txt': 'numpy\n' }, 'a symbolic link'],
      [{ '.dockerignore': { link: 'nowhere' }, 'binder/requirements.txt': 'numpy\n' }, 'a symbolic link'],
      [{ '.dockerignore/x': '', 'requirements.txt': 'numpy\n' }, 'not a regular file'],
    ] as [Tree, string][]) {
      const { dir, r } = initIn(tree);
      expect(r.ok && r.value.notes.filter((n) => n.startsWith('.dockerignore'))).toEqual([`.dockerignore at the root is ${what}: rep init did not read it and left it as it is; check that it keeps the files the Repfile reads`]);
      expect(r.ok && r.value.dockerignore).toBeUndefined();
      expect(lstatSync(path.join(dir, '.dockerignore')).isFile()).toBe(false);
    }
    const { dir, r } = initIn({ '.dockerignore': { link: 'nowhere' }, Dockerfile: 'FROM busybox:latest\n' });
    expect(r.ok && r.value.dockerignore).toBeUndefined();
    expect(lstatSync(path.join(dir, '.dockerignore')).isSymbolicLink()).toBe(true);
  });

  it('leaves out with .dockerignore the links that lead out of the repository, read and not followed (ln -s /dev/zero zero made a Repfile that never built)', () => {
    const x = initChecked({
      'requirements.txt': 'numpy\n',
      '.dockerignore': 'old/\n',
      zero: { link: '/dev/zero' },
      'data/up': { link: '../../x' },
      'data/in': { link: '../requirements.txt' },
      'data/chain': { link: 'hop' },
      'data/hop': { link: '/etc' },
      'data/*odd': { link: '/' },
      '#c[1]': { link: '/' },
      'old/away': { link: '/' },
    });
    expect(x.notes).toContain('links that lead out of the repository, which rep does not copy into a build: #c[1] -> /, data/*odd -> /, data/chain -> hop, data/hop -> /etc, data/up -> ../../x and 1 more; rep init added them to .dockerignore');
    expect(readFileSync(path.join(x.dir, '.dockerignore'), 'utf8')).toBe('old/\n# Added by rep init: links that lead out of the repository (rep does not build with them).\n\\#c\\[1]\ndata/\\*odd\ndata/chain\ndata/hop\ndata/up\nzero\n');
    // Resolved as the kernel does (the build's check): sub -> /dev/shm makes sub/../zero /dev/zero, though its text stays inside.
    const kernel = initChecked({ 'requirements.txt': 'numpy\n', sub: { link: '/dev/shm' }, x: { link: 'sub/../zero' } });
    expect(readFileSync(path.join(kernel.dir, '.dockerignore'), 'utf8')).toMatch(/\nsub\nx\n$/);
    // A name a trimmed line cannot hold is said, for the user to exclude.
    const { r } = initIn({ 'requirements.txt': 'numpy\n', 'data/ b ': { link: '/' } });
    expect(r.ok && r.value.notes).toContain('links that lead out of the repository, with names rep init does not write as .dockerignore rules: data/ b  -> /; exclude them in .dockerignore, or the code step does not build');
  });

  it('a converted Dockerfile also gets its links out of the repository left out, so COPY . . builds', () => {
    const x = initChecked({ Dockerfile: 'FROM busybox:latest\nCOPY . /app\n', 'src/a.py': 'print(1)\n', zero: { link: '/dev/zero' } });
    expect(x.notes).toEqual(['links that lead out of the repository, which rep does not copy into a build: zero -> /dev/zero; rep init added them to .dockerignore']);
    expect(readFileSync(path.join(x.dir, '.dockerignore'), 'utf8')).toMatch(/\nDockerfile\.rep\n# Added by rep init: links that lead out of the repository \(rep does not build with them\)\.\n# docker build of the original Dockerfile no longer sends them either \(it sent them as links\)\.\nzero\n$/);
  });

  it('a converted Dockerfile beside a .dockerignore of the user\'s: the file is left as it is, and the links it lets through are named with the rules to add', () => {
    const { dir, r } = initIn({ Dockerfile: 'FROM busybox:latest\nCOPY . /app/\n', '.dockerignore': 'node_modules\n', zero: { link: '/dev/zero' }, 'node_modules/x': { link: '/etc' } });
    expect(r.ok && r.value.notes).toEqual([
      '.dockerignore is left as it is: add zero to it, or a step that copies them does not build',
      'links that lead out of the repository, which rep does not copy into a build: zero -> /dev/zero',
    ]);
    expect(readFileSync(path.join(dir, '.dockerignore'), 'utf8')).toBe('node_modules\n');
  });

  it('says when binder/ is a link, which repo2docker follows and rep init does not (it read the root without a word)', () => {
    const { r } = initIn({ binder: { link: 'env' }, 'env/requirements.txt': 'numpy\n', 'requirements.txt': 'pandas\n' });
    expect(r.ok && r.value.used).toEqual(['requirements.txt']);
    expect(r.ok && r.value.notes).toContain('binder is a symbolic link: rep init does not follow links in a repository and read the root instead (repo2docker reads the folder it points to)');
  });

  it('refuses a repository folder that is missing or a file (a missing one was created; a file crashed with ENOTDIR)', () => {
    const dir = makeProject({ 'a-file': '' }, 'myrepo-');
    for (const d of [path.join(dir, 'missing'), path.join(dir, 'a-file')]) {
      const r = init(d, { now: NOW });
      expect(!r.ok && r.errors[0]!.message).toBe('not a folder: rep init writes a Repfile for the folder of a repository');
    }
    expect(lexists(path.join(dir, 'missing'))).toBe(false);
  });

  it('refuses a Repfile that is a folder at its name, even with --force (EISDIR); a dangling link is an existing Repfile too', () => {
    const dir = makeProject({ 'Repfile/x': '', 'requirements.txt': 'numpy\n' }, 'myrepo-');
    const r = init(dir, { now: NOW, force: true });
    expect(!r.ok && r.errors[0]!.message).toBe('a folder: rep init writes the Repfile only over a file or a link');
    const link = makeProject({ Repfile: { link: 'nowhere' } }, 'myrepo-');
    const l = init(link, { now: NOW });
    expect(!l.ok && l.errors[0]!.message).toBe('exists; rep init does not overwrite it without --force');
  });

  it('writes -f docs/Repfile through no link the repository holds, and into no folder it would have to make (docs -> /elsewhere was written through; a missing folder was created; a file on the way was ENOTDIR, exit 1)', () => {
    const elsewhere = makeProject({}, 'elsewhere-');
    const dir = makeProject({ docs: { link: elsewhere }, 'requirements.txt': 'numpy\n' }, 'myrepo-');
    const cases: [string, string][] = [
      ['docs/Repfile', 'lies under docs, which is a symbolic link (or no folder): rep writes none of its files through a link, which a cloned repository could lead anywhere; choose another path with -f'],
      ['requirements.txt/Repfile', 'lies under requirements.txt, which is a symbolic link (or no folder): rep writes none of its files through a link, which a cloned repository could lead anywhere; choose another path with -f'],
      ['new/sub/Repfile', `its folder ${shown(dir, 'new/sub')} is not there (or not a folder): rep init creates no folder; make it, or choose another path with -f`],
    ];
    for (const [file, message] of cases) {
      const r = init(dir, { now: NOW, file });
      expect(!r.ok && r.errors).toEqual([{ file: shown(dir, file), message }]);
    }
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(lexists(path.join(dir, 'new'))).toBe(false);
    const inside = init(dir, { now: NOW, file: 'Repfile.d' });
    expect(inside.ok).toBe(true);
  });
});
