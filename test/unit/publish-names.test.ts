// rep publish writes no bundle its own rep verify would refuse: a context file whose name (a
// backslash, a newline, an ESC) or link target verify refuses in context.tar is said, with its
// place, before anything is written. Also: --out said in words when it cannot be looked at, and a
// file removed while publish reads the context said as the race it is (exit 1).
import fs, { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitCode, formatDiagnostic, type Diagnostic } from '../../src/diag.js';
import { NoneEngine } from '../../src/engine/none.js';
import { publish } from '../../src/publish/publish.js';
import { verifyBundle } from '../../src/publish/verify.js';
import { makeProject, open, tempFolders } from '../helpers.js';

const temps = tempFolders();

const REPFILE = `rep: 1
name: paper
base: debian:bookworm-slim
steps:
  analysis:
    inputs: [src/]
    run: cat src/run.sh
`;

const none = new NoneEngine();
const project = () => temps.add(makeProject({ Repfile: REPFILE, 'src/run.sh': 'echo 1\n' }));
const newOut = () => path.join(temps.make('rep-names-out-'), 'pub');

/** publish's problems as the CLI prints them, and the exit code they give; [] when it published. */
async function problems(dir: string, out: string): Promise<[string[], number]> {
  const r = await publish(open(dir), { engine: none, out });
  return r.ok ? [[], 0] : [r.errors.map(formatDiagnostic), exitCode(r.errors)];
}

describe('rep publish and names rep verify refuses', () => {
  it('refuses a file named with a backslash, before writing anything; left out with .dockerignore, the bundle verifies (it published one verify failed)', async () => {
    const dir = project();
    writeFileSync(path.join(dir, 'src/back\\slash'), '');
    const out = newOut();
    expect(await problems(dir, out)).toEqual([['src/back\\slash: rep verify refuses this name in context.tar (it holds a backslash): rename it, or leave it out with .dockerignore'], 2]);
    expect(existsSync(out)).toBe(false);
    writeFileSync(path.join(dir, '.dockerignore'), 'src/back*\n');
    expect(await problems(dir, out)).toEqual([[], 0]);
    const report = await verifyBundle(out);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
  });

  it('names each file with a control character (a newline, an ESC), escaped, each with its place', async () => {
    const dir = project();
    writeFileSync(path.join(dir, 'src/new\nline'), '');
    writeFileSync(path.join(dir, 'src/esc\x1b[31m'), '');
    const out = newOut();
    const message = 'rep verify refuses this name in context.tar (it holds a control character): rename it, or leave it out with .dockerignore';
    const r = await publish(open(dir), { engine: none, out });
    expect(r.ok ? [] : r.errors).toEqual([{ file: 'src/esc\x1b[31m', message }, { file: 'src/new\nline', message }]);
    // Printed escaped: the ESC reaches no terminal.
    expect(r.ok ? [] : formatDiagnostic(r.errors[0]!)).toBe(`src/esc\\x1b[31m: ${message}`);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a bundle folder made inside the context with such a name, as the next publish found it', async () => {
    const dir = project();
    // A first publish into the context, to a folder whose name holds a control character.
    const first = path.join(dir, 'pub\x07');
    expect(await problems(dir, first)).toEqual([[], 0]);
    const [said, code] = await problems(dir, newOut());
    expect(code).toBe(2);
    expect(said[0]).toMatch(/^pub\\x07\/[^:]+: rep verify refuses this name in context\.tar \(it holds a control character\)/);
  });

  it('refuses a link inside the context whose target rep verify refuses (a ".." after a name)', async () => {
    const dir = project();
    symlinkSync('x/../run.sh', path.join(dir, 'src/up'));
    const out = newOut();
    expect(await problems(dir, out)).toEqual([['src/up: a link whose target rep verify refuses in context.tar (-> x/../run.sh: a ".." after a name; a link may go up only at the start of its target): point it elsewhere, or leave it out with .dockerignore'], 2]);
    expect(existsSync(out)).toBe(false);
  });
});

describe('rep publish --out that cannot be looked at', () => {
  it('says a path through a file in words (it said "cannot be checked (ENOTDIR)")', async () => {
    const dir = project();
    const [said, code] = await problems(dir, path.join(dir, 'src/run.sh/pub'));
    expect(said).toEqual([`rep: --out ${path.join(dir, 'src/run.sh/pub')}: a part of the path is a file, not a folder; name a path in a folder`]);
    expect(code).toBe(2);
  });

  it('says a name too long in words (it said "cannot be checked (ENAMETOOLONG)")', async () => {
    const dir = project();
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'rep-names-long-')), 'x'.repeat(300));
    temps.add(path.dirname(out));
    const [said] = await problems(dir, out);
    expect(said).toEqual([`rep: --out ${out}: the path, or a name in it, is too long; name a shorter one`]);
    // An archive whose name fits but its temporary file's beside it does not: said before the build (the write threw ENAMETOOLONG after it).
    const zip = path.join(path.dirname(out), `${'z'.repeat(236)}.zip`);
    const [longer] = await problems(dir, zip);
    expect(longer).toEqual([`rep: --out ${zip}: the file name is too long: rep writes the file through a temporary one beside it, whose name is longer; at most 230 bytes`]);
  });
});

describe('rep publish and a file removed while it reads the context', () => {
  it('says the file, exit 1: the tree changed, the project is not wrong (it was exit 2)', async () => {
    const dir = project();
    writeFileSync(path.join(dir, 'src/gone.txt'), 'soon gone\n');
    const gone = path.join(dir, 'src/gone.txt');
    // Removed as context.tar opens it: after the walk listed it, deterministically.
    const real = fs.openSync;
    fs.openSync = ((...args: Parameters<typeof real>) => {
      if (String(args[0]) === gone) rmSync(gone, { force: true });
      return real(...args);
    }) as typeof real;
    syncBuiltinESMExports();
    let r;
    const out = newOut();
    try {
      r = await publish(open(dir), { engine: none, out });
    } finally {
      fs.openSync = real;
      syncBuiltinESMExports();
    }
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([{ kind: 'io', file: 'src/gone.txt', message: 'removed after the context was listed; nothing was published: run rep publish again' }]);
    expect(formatDiagnostic(r.errors[0] as Diagnostic)).toBe('rep: src/gone.txt: removed after the context was listed; nothing was published: run rep publish again');
    expect(exitCode(r.errors)).toBe(1);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });
});
