// Ctrl-C on the command line: the first stops the build (or the watch) through
// its signal; a second, while the engine build takes its time to stop, exits
// at once with 130, as a shell's Ctrl-C would.
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, makeProject } from '../helpers.js';

/** A docker client whose build ignores the signals that would stop it, and answers nothing else. */
function stubbornDocker(dir: string): string {
  const bin = path.join(dir, 'docker');
  writeFileSync(bin, '#!/bin/sh\ncase "$1" in\n  version) echo "20.10.24 28.2.2 linux/amd64" ;;\n  build) trap "" INT TERM; echo started; sleep 8 ;;\n  *) exit 1 ;;\nesac\n');
  chmodSync(bin, 0o755);
  return bin;
}

async function interruptTwice(command: 'build' | 'watch'): Promise<{ code: number | null; err: string }> {
  const dir = makeProject({ Repfile: 'rep: 1\nname: sig\nbase: busybox:latest\nsteps:\n  one:\n    run: echo one\n' });
  const env = { ...process.env, CI: '1', REP_DOCKER: stubbornDocker(dir), DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
  const child = spawn(process.execPath, [CLI, command, '--engine', 'docker'], { cwd: dir, env });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let i = 0; i < 300 && !out.includes('build   one'); i++) await new Promise((r) => setTimeout(r, 50));
  expect(out).toContain('build   one');
  child.kill('SIGINT');
  for (let i = 0; i < 100 && !err.includes('Ctrl-C again'); i++) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGINT');
  return { code: await exited, err };
}

describe('a second Ctrl-C', () => {
  it('exits rep build at once with 130 while the engine build does not stop', async () => {
    const r = await interruptTwice('build');
    expect(r.code).toBe(130);
    expect(r.err).toContain('rep: interrupted again; exiting');
  }, 30_000);

  it('exits rep watch at once with 130 too', async () => {
    const r = await interruptTwice('watch');
    expect(r.code).toBe(130);
    expect(r.err).toContain('rep: interrupted again; exiting');
  }, 30_000);
});
