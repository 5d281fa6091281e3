// `rep watch` when a folder it watches is swapped for a link to a folder
// outside the project (found by a review): chokidar's watcher on the folder
// read it again through the link, so it watched, and reported changes of,
// what lies outside (a link to / took 39k inotify watches and 650 MB). The
// same for the context itself and for the Repfile's folder outside it (found
// by a second review), and a context that is a link from the start. Run from
// source (tsx), as the change is in src/.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO, makeProject, tempFolders } from '../helpers.js';

const temp = tempFolders();
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const SOURCE_CLI = path.join(REPO, 'cli', 'main.ts');
const REPFILE = 'rep: 1\nname: w\nbase: busybox:latest\nsteps:\n  s:\n    inputs: [src/]\n    run: cat src/a\n';
/** What watch says of a folder it watches from once the path leads elsewhere. */
const SWAPPED = 'no longer the folder rep watch began with (removed, or a link to another put in its place); nothing in it is watched now';

/** The inotify watches process `pid` holds (Linux), undefined where /proc does not say. */
function watches(pid: number): number | undefined {
  try {
    let n = 0;
    for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
      try {
        n += readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').split('\n').filter((l) => l.startsWith('inotify wd:')).length;
      } catch {
        // an fd closed meanwhile
      }
    }
    return n;
  } catch {
    return undefined;
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `rep ...args` run from source in `cwd` with a state folder of its own; all it prints, stdout and stderr, in `out()`. */
function startRep(cwd: string, args: string[]) {
  const state = temp.make('rep-state-');
  const env = { ...process.env, CI: '1', HOME: state, XDG_STATE_HOME: state };
  const child = spawn(process.execPath, ['--import', TSX, SOURCE_CLI, ...args], { cwd, env });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    pid: child.pid!,
    out: () => out,
    /** Waits, 30 s at most, for `pred` to hold of what was printed from `from` on. */
    until: async (from: number, pred: (printed: string) => boolean, what: string) => {
      const end = Date.now() + 30_000;
      while (!pred(out.slice(from))) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`waiting for ${what}; output:\n${out}`);
        await pause(50);
      }
    },
    /** The first build done after 'watching'. */
    built: (printed: string) => printed.includes('watching') && /recorded/.test(printed.slice(printed.indexOf('watching'))),
    stop: async () => {
      child.kill('SIGINT');
      await exited;
    },
  };
}

const changedLines = (printed: string) => printed.match(/^rep: changed: .*$/gm) ?? [];

describe('rep watch', () => {
  it('reads no folder swapped for a link to one outside the project: no change out there is seen, nothing out there is watched', async () => {
    const outside = temp.make('rep-outside-');
    writeFileSync(path.join(outside, 'a-far'), 'a\n');
    for (let i = 0; i < 40; i++) writeTree(path.join(outside, `a-o${i}`));
    // Folders inside the one swapped: removing them is what set chokidar reading it again.
    const tree: Record<string, string> = { Repfile: REPFILE, 'src/a': 'a\n' };
    for (let i = 0; i < 10; i++) tree[`src/deep/d${i}/x`] = 'x\n';
    const dir = temp.add(makeProject(tree));
    const rep = startRep(dir, ['watch', '--engine', 'none']);
    try {
      await rep.until(0, rep.built, 'the first build');
      const before = watches(rep.pid);
      const swapped = rep.out().length;
      rmSync(path.join(dir, 'src', 'deep'), { recursive: true });
      symlinkSync(outside, path.join(dir, 'src', 'deep'));
      await rep.until(swapped, (o) => o.includes('waiting for a fix'), 'the swap said (its link leaves the context)');
      // Time for a read through the link, were there one.
      await pause(1000);
      const after = watches(rep.pid);
      const changedOutside = rep.out().length;
      appendFileSync(path.join(outside, 'a-far'), 'b\n');
      writeFileSync(path.join(outside, 'a-o0', 'new'), 'x');
      await pause(500);
      // A change inside is seen: the watch is alive, and anything it saw outside came before it.
      appendFileSync(path.join(dir, 'src', 'a'), 'b\n');
      await rep.until(changedOutside, (o) => o.includes('changed'), 'a change inside');
      await pause(500);
      expect(changedLines(rep.out().slice(changedOutside))).toEqual(['rep: changed: src/a']);
      expect(rep.out()).not.toMatch(/src\/deep\/a-/);
      if (before !== undefined && after !== undefined) expect(after).toBeLessThanOrEqual(before);
    } finally {
      await rep.stop();
    }
  }, 90_000);

  it('reads nothing once the context itself is swapped for a link to a folder outside: nothing out there is seen or watched, and the swap is said', async () => {
    const outside = temp.make('rep-outside-');
    for (let i = 0; i < 150; i++) writeTree(path.join(outside, `o${i}`));
    const tree: Record<string, string> = { 'sub/Repfile': REPFILE, 'sub/src/a': 'a\n' };
    for (let i = 0; i < 5; i++) tree[`sub/src/d${i}/x`] = 'x\n';
    const dir = temp.add(makeProject(tree));
    const rep = startRep(dir, ['-f', 'sub/Repfile', 'watch', '--engine', 'none']);
    try {
      await rep.until(0, rep.built, 'the first build');
      const before = watches(rep.pid);
      const swapped = rep.out().length;
      rmSync(path.join(dir, 'sub'), { recursive: true });
      symlinkSync(outside, path.join(dir, 'sub'));
      await rep.until(swapped, (o) => o.includes(`sub: ${SWAPPED}`), 'the swap said');
      // Time for a read through the link, were there one.
      await pause(1000);
      const after = watches(rep.pid);
      appendFileSync(path.join(outside, 'o5', 'f'), 'g\n');
      writeFileSync(path.join(outside, 'o7', 'new'), 'x');
      await pause(1000);
      const printed = rep.out().slice(swapped);
      // Changes of the folder removed may be said, if seen before it went; none out there is.
      expect(changedLines(printed).filter((l) => /\bo\d/.test(l))).toEqual([]);
      if (before !== undefined && after !== undefined) expect(after).toBeLessThanOrEqual(before);
      expect(printed).toContain(`sub: ${SWAPPED}\n`);
    } finally {
      await rep.stop();
    }
  }, 90_000);

  it("reads nothing once the Repfile's folder, outside the context, is swapped for a link, and says so; the context is watched on", async () => {
    const outside = temp.make('rep-outside-');
    for (let i = 0; i < 20; i++) writeTree(path.join(outside, `o${i}`));
    const dir = temp.add(makeProject({ 'conf/Repfile': REPFILE, 'ctx/src/a': 'a\n' }));
    const rep = startRep(dir, ['-C', 'ctx', '-f', 'conf/Repfile', 'watch', '--engine', 'none']);
    try {
      await rep.until(0, rep.built, 'the first build');
      const before = watches(rep.pid);
      const swapped = rep.out().length;
      rmSync(path.join(dir, 'conf'), { recursive: true });
      symlinkSync(outside, path.join(dir, 'conf'));
      await rep.until(swapped, (o) => o.includes(`conf: ${SWAPPED}`), 'the swap said');
      await pause(1000);
      const after = watches(rep.pid);
      const changedOutside = rep.out().length;
      // A Repfile out there is what conf/Repfile names now: not watched either.
      writeFileSync(path.join(outside, 'Repfile'), REPFILE);
      await pause(500);
      appendFileSync(path.join(dir, 'ctx', 'src', 'a'), 'b\n');
      await rep.until(changedOutside, (o) => o.includes('changed'), 'a change in the context');
      await pause(500);
      expect(changedLines(rep.out().slice(changedOutside))).toEqual(['rep: changed: src/a']);
      if (before !== undefined && after !== undefined) expect(after).toBeLessThanOrEqual(before);
    } finally {
      await rep.stop();
    }
  }, 90_000);

  it('watches a context named by a link to a folder, and says so once the link leads elsewhere', async () => {
    const dir = temp.add(makeProject({ 'real/Repfile': REPFILE, 'real/src/a': 'a\n', 'other/Repfile': REPFILE, 'other/src/a': 'a\n' }));
    symlinkSync('real', path.join(dir, 'ctx'));
    const rep = startRep(dir, ['-C', 'ctx', '-f', 'ctx/Repfile', 'watch', '--engine', 'none']);
    try {
      await rep.until(0, rep.built, 'the first build');
      const changed = rep.out().length;
      appendFileSync(path.join(dir, 'real', 'src', 'a'), 'b\n');
      await rep.until(changed, (o) => /^rep: changed: src\/a$/m.test(o) && /recorded/.test(o), 'the change seen and built');
      const repointed = rep.out().length;
      rmSync(path.join(dir, 'ctx'));
      symlinkSync('other', path.join(dir, 'ctx'));
      appendFileSync(path.join(dir, 'real', 'src', 'a'), 'c\n');
      await rep.until(repointed, (o) => o.includes(`ctx: ${SWAPPED}`), 'the link leading elsewhere said');
      await pause(500);
      expect(changedLines(rep.out().slice(repointed))).toEqual([]);
    } finally {
      await rep.stop();
    }
  }, 90_000);
});

function writeTree(dir: string): void {
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'f'), 'f\n');
}
