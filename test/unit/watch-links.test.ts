// `rep watch` in a cloned repository with links in it: it watches the project,
// never through a link (Docker sends a link, not what it leads to), and a link
// loop is no crash.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, makeProject } from '../helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('rep watch', () => {
  it('follows no link: a change outside the project through a link is no change, a link loop no crash', async () => {
    const outside = mkdtempSync(path.join(tmpdir(), 'rep-outside-'));
    writeFileSync(path.join(outside, 'f'), 'a\n');
    const dir = makeProject({ Repfile: 'rep: 1\nname: w\nbase: busybox:latest\nsteps:\n  s:\n    inputs: [src/]\n    run: cat src/a\n', 'src/a': 'a\n' });
    dirs.push(outside, dir);
    symlinkSync(outside, path.join(dir, 'ext'));
    symlinkSync('.', path.join(dir, 'loop'));
    const child = spawn(process.execPath, [CLI, 'watch', '--engine', 'none'], { cwd: dir, env: { ...process.env, CI: '1' } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const until = async (pred: () => boolean, what: string) => {
      const end = Date.now() + 20_000;
      while (!pred()) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`waiting for ${what}; output:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await until(() => out.includes('watching'), 'watching');
      await until(() => /recorded|built|cached/.test(out.slice(out.indexOf('watching'))), 'the first build');
      appendFileSync(path.join(outside, 'f'), 'b\n');
      writeFileSync(path.join(outside, 'new'), 'x');
      await new Promise((r) => setTimeout(r, 1500));
      expect(out).not.toContain('changed');
      // A change inside is seen: the watch is alive.
      appendFileSync(path.join(dir, 'src', 'a'), 'b\n');
      await until(() => out.includes('changed'), 'a change inside');
      expect(out).toMatch(/changed: src\/a/);
      expect(out).not.toMatch(/ELOOP|    at /);
    } finally {
      child.kill('SIGINT');
      await exited;
    }
  }, 40_000);
});
