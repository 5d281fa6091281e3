// Ctrl-C on the command line: the first stops the build (or the watch) through
// its signal; a second, while the engine build takes its time to stop, exits
// at once with 130, as a shell's Ctrl-C would.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NoneEngine } from '../../src/engine/none.js';
import { publish } from '../../src/publish/publish.js';
import { CLI, makeProject, open } from '../helpers.js';

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

describe('Ctrl-C or SIGTERM during rep verify --rebuild', () => {
  it('stops the rebuild, removes its images and exits 130: the signal was lost while the engine ran, so timeout could not stop a step that never ends (a review)', async () => {
    const dir = makeProject({ Repfile: 'rep: 1\nname: sig\nbase: busybox:latest\nsteps:\n  one:\n    run: sleep infinity\n' });
    const bundle = path.join(dir, '..', `${path.basename(dir)}-bundle`);
    const r = await publish(open(dir), { engine: new NoneEngine(), out: bundle });
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
    // A client whose build runs until it is stopped (as `sleep infinity` would), and logs what it is asked.
    const log = path.join(dir, 'docker.log');
    const bin = path.join(dir, 'docker');
    writeFileSync(bin, `#!/bin/sh\necho "$@" >> ${log}\ncase "$1" in\n  version) echo "20.10.24 28.2.2 linux/amd64" ;;\n  build) echo started; exec sleep 20 ;;\n  images) exit 0 ;;\n  *) exit 1 ;;\nesac\n`);
    chmodSync(bin, 0o755);
    const env = { ...process.env, CI: '1', REP_DOCKER: bin, DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
    const child = spawn(process.execPath, [CLI, 'verify', bundle, '--rebuild', '--engine', 'docker'], { cwd: dir, env });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const asked = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');
    for (let i = 0; i < 400 && !/^build /m.test(asked()); i++) await new Promise((res) => setTimeout(res, 50));
    expect(asked()).toMatch(/^build /m);
    child.kill('SIGTERM');
    expect(await exited).toBe(130);
    expect(err).toContain('rep: interrupted; stopping the rebuild and removing its images');
    expect(err).toContain('rep: verify interrupted');
    // Its images were looked for again, to be removed, after the build stopped.
    const lines = asked().trim().split('\n');
    expect(lines.slice(lines.findIndex((l) => l.startsWith('build '))).some((l) => l.startsWith('images '))).toBe(true);
  }, 40_000);
});
