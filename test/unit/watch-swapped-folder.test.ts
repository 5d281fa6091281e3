// `rep watch` when a folder it watches is swapped for a link to a folder
// outside the project (found by a review): chokidar's watcher on the folder
// read it again through the link, so it watched, and reported changes of,
// what lies outside (a link to / took 39k inotify watches and 650 MB). Run
// from source (tsx), as the change is in src/.
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

describe('rep watch', () => {
  it('reads no folder swapped for a link to one outside the project: no change out there is seen, nothing out there is watched', async () => {
    const outside = temp.make('rep-outside-');
    writeFileSync(path.join(outside, 'a-far'), 'a\n');
    for (let i = 0; i < 40; i++) writeTree(path.join(outside, `a-o${i}`));
    // Folders inside the one swapped: removing them is what set chokidar reading it again.
    const tree: Record<string, string> = { Repfile: 'rep: 1\nname: w\nbase: busybox:latest\nsteps:\n  s:\n    inputs: [src/]\n    run: cat src/a\n', 'src/a': 'a\n' };
    for (let i = 0; i < 10; i++) tree[`src/deep/d${i}/x`] = 'x\n';
    const dir = temp.add(makeProject(tree));
    const state = temp.make('rep-state-');
    const env = { ...process.env, CI: '1', HOME: state, XDG_STATE_HOME: state };
    const child = spawn(process.execPath, ['--import', TSX, SOURCE_CLI, 'watch', '--engine', 'none'], { cwd: dir, env });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const until = async (pred: () => boolean, what: string) => {
      const end = Date.now() + 30_000;
      while (!pred()) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`waiting for ${what}; output:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    try {
      await until(() => /recorded/.test(out.slice(out.indexOf('watching'))), 'the first build');
      const before = watches(child.pid!);
      const swapped = out.length;
      rmSync(path.join(dir, 'src', 'deep'), { recursive: true });
      symlinkSync(outside, path.join(dir, 'src', 'deep'));
      await until(() => out.slice(swapped).includes('waiting for a fix'), 'the swap said (its link leaves the context)');
      // Time for a read through the link, were there one.
      await pause(1000);
      const after = watches(child.pid!);
      const changedOutside = out.length;
      appendFileSync(path.join(outside, 'a-far'), 'b\n');
      writeFileSync(path.join(outside, 'a-o0', 'new'), 'x');
      await pause(500);
      // A change inside is seen: the watch is alive, and anything it saw outside came before it.
      appendFileSync(path.join(dir, 'src', 'a'), 'b\n');
      await until(() => out.slice(changedOutside).includes('changed'), 'a change inside');
      await pause(500);
      expect(out.slice(changedOutside).match(/^rep: changed: .*$/gm)).toEqual(['rep: changed: src/a']);
      expect(out).not.toMatch(/src\/deep\/a-/);
      if (before !== undefined && after !== undefined) expect(after).toBeLessThanOrEqual(before);
    } finally {
      child.kill('SIGINT');
      await exited;
    }
  }, 90_000);
});

function writeTree(dir: string): void {
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'f'), 'f\n');
}
