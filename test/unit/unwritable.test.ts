// Paths that lead nowhere (a part of them a file, too long) and places rep may
// not write (a read-only checkout, a .rep of another user's), as the flags and
// commands that name them: each is a located problem, never an errno line.
// Run as root, the unwritable cases run as nobody (seteuid, in this test's own
// process): root writes anywhere.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { build } from '../../src/build.js';
import { init } from '../../src/commands/init.js';
import { NoneEngine } from '../../src/engine/none.js';
import { isRealDir, isRegularFile, lexists } from '../../src/safefs.js';
import { tryMutex } from '../../src/state/mutex.js';
import { open, tempFolders, writeTree } from '../helpers.js';

const REPFILE = 'rep: 1\nname: nowhere\nbase: busybox:latest\nsteps:\n  app:\n    inputs: [src/]\n    run: cat src/a.txt\n';
const NOW = new Date('2026-11-27T12:00:00Z');
const LONG = 'a'.repeat(300);

const temps = tempFolders();
/** A project in a folder of /tmp nobody may enter (the run's TMPDIR is root's alone), itself not writable by nobody. */
function project(tree: Record<string, string> = {}): string {
  const top = temps.add(mkdtempSync('/tmp/rep-unwritable-'));
  chmodSync(top, 0o755);
  const dir = path.join(top, 'p');
  writeTree(dir, { Repfile: REPFILE, 'src/a.txt': 'a\n', ...tree });
  return dir;
}
/** A file of `dir` as a diagnostic names it: relative to where rep runs. */
const shown = (dir: string, rel: string) => path.relative(process.cwd(), path.join(dir, rel));

const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;

/** `run` as nobody when this is root (effective ids only, given back after), else as the user it is. */
async function asNobody<T>(run: () => T | Promise<T>): Promise<T> {
  if (!asRoot) return run();
  process.setegid!(NOBODY);
  process.seteuid!(NOBODY);
  try {
    return await run();
  } finally {
    process.seteuid!(0);
    process.setegid!(0);
  }
}

describe('a path that leads nowhere (a part of it a file, too long)', () => {
  it('is not there to lexists, isRegularFile and isRealDir (each threw ENOTDIR or ENAMETOOLONG)', () => {
    const dir = project();
    for (const p of [path.join(dir, 'src/a.txt/x'), path.join(dir, LONG), path.join(dir, `${'b'.repeat(250)}.dockerignore`)]) {
      expect([lexists(p), isRegularFile(p), isRealDir(p)], p).toEqual([false, false, false]);
    }
  });

  it('named by --dockerfile is the flag\'s mistake (exit 2), said before .rep is made, as is a name too long for the temporary file written beside it; one of 230 bytes is written', async () => {
    const none = new NoneEngine();
    const temped = 'the file name is too long: rep writes the file through a temporary one beside it, whose name is longer; at most 230 bytes';
    // 245 characters: the name is one, but the temporary file written beside it is not (the write threw ENAMETOOLONG: a review).
    for (const [dockerfile, message] of [['src/a.txt/x', 'a part of the path is not a folder'], [LONG, temped], ['c'.repeat(245), temped]]) {
      const dir = project();
      for (const dryRun of [false, true]) {
        const r = await build(open(dir), { engine: none, dockerfile, dryRun });
        expect(r.ok ? 'built' : r.errors, dockerfile).toEqual([{ kind: 'flag', flag: `--dockerfile ${dockerfile}`, message }]);
      }
      expect(existsSync(path.join(dir, '.rep'))).toBe(false);
    }
    // 230 bytes: written, through its temporary file.
    const fits = project();
    const r = await build(open(fits), { engine: none, dockerfile: 'b'.repeat(230) });
    expect(r.ok ? 'built' : r.errors).toBe('built');
    expect(existsSync(path.join(fits, 'b'.repeat(230)))).toBe(true);
  });

  it('named by rep init -C or -f is a located mistake (exit 2), not an errno', () => {
    const dir = project();
    const through = path.join(dir, 'src/a.txt/x');
    const c = init(through, { now: NOW });
    expect(c.ok || c.errors).toEqual([{ file: path.relative(process.cwd(), through), message: 'build context directory does not exist (a part of its path is a file)' }]);
    const long = init(path.join(dir, LONG), { now: NOW });
    expect(long.ok || long.errors).toEqual([{ file: shown(dir, LONG), message: 'build context path is too long' }]);
    const f = init(dir, { now: NOW, file: LONG, force: true });
    expect(f.ok || f.errors).toEqual([{ file: shown(dir, LONG), message: 'the file name is too long: rep writes the file through a temporary one beside it, whose name is longer; at most 230 bytes: choose another path with -f' }]);
    const f245 = init(dir, { now: NOW, file: 'd'.repeat(245), force: true });
    expect(f245.ok || f245.errors).toEqual([{ file: shown(dir, 'd'.repeat(245)), message: 'the file name is too long: rep writes the file through a temporary one beside it, whose name is longer; at most 230 bytes: choose another path with -f' }]);
    expect(readFileSync(path.join(dir, 'Repfile'), 'utf8')).toBe(REPFILE);
  });
});

describe('a project rep may not write', () => {
  const MUTEX = 'cannot write it (permission denied): a build holds the project with this file, and records what it built in .rep/; let rep write there, or build a copy of the project';

  it('read-only: a build says it cannot write the build mutex (exit 1), and neither waits nor throws EACCES (mkdir .rep)', async () => {
    const dir = project();
    const p = open(dir);
    chmodSync(dir, 0o555);
    const started = Date.now();
    const r = await asNobody(() => build(p, { engine: new NoneEngine() }));
    const held = await asNobody(() => tryMutex(dir));
    chmodSync(dir, 0o755);
    expect(r.ok || r.errors).toEqual([{ kind: 'io', file: '.rep/build.pid', message: MUTEX }]);
    expect(held.ok || held.errors).toEqual([{ kind: 'io', file: '.rep/build.pid', message: MUTEX }]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(existsSync(path.join(dir, '.rep'))).toBe(false);
  });

  it('with a .rep of another user\'s: the build says so (exit 1), rather than throw EACCES (open build.pid.PID.HEX.tmp)', async () => {
    const dir = project();
    const p = open(dir);
    mkdirSync(path.join(dir, '.rep'));
    chmodSync(path.join(dir, '.rep'), 0o555);
    if (asRoot) chmodSync(dir, 0o777);
    const r = await asNobody(() => build(p, { engine: new NoneEngine() }));
    chmodSync(path.join(dir, '.rep'), 0o755);
    expect(r.ok || r.errors).toEqual([{ kind: 'io', file: '.rep/build.pid', message: MUTEX }]);
  });

  it('rep init --force in a read-only folder: the Repfile cannot be written (exit 1), said without the temp file\'s name', async () => {
    const dir = project({ 'requirements.txt': 'numpy\n' });
    chmodSync(dir, 0o555);
    const r = await asNobody(() => init(dir, { now: NOW, force: true }));
    chmodSync(dir, 0o755);
    expect(r.ok || r.errors).toEqual([{ kind: 'io', file: shown(dir, 'Repfile'), message: 'cannot write it (permission denied)' }]);
    expect(readFileSync(path.join(dir, 'Repfile'), 'utf8')).toBe(REPFILE);
  });

  it('rep init in a folder it may not enter: the same io problem (exit 1), not a mistake of the path (exit 2: a review)', async () => {
    const dir = project({ 'requirements.txt': 'numpy\n' });
    chmodSync(dir, 0o644);
    const r = await asNobody(() => init(dir, { now: NOW }));
    chmodSync(dir, 0o755);
    expect(r.ok || r.errors.map((e) => e.kind)).toEqual(['io']);
  });
});
