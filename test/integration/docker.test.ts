// Real builds with the Docker engine (Debian's docker.io), on locally made base images.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tryLock } from '../../src/state/lock.js';
import { CLI, makeProject, rep } from '../helpers.js';
import { buildIn, DEBIAN_DOCKER, diffFiles, docker, DOCKER_BIN, imageFiles, sh } from './helpers.js';

/** A unique env value, so no other test (or run) has built these keys before. */
const fresh = () => `TEST_RUN: "${randomUUID()}"`;

const CHAIN = () => `rep: 1
name: chain
base: busybox:latest
env: {${fresh()}}
steps:
  one:
    inputs: [one.txt]
    run: cp one.txt /one
  two:
    needs: [one]
    inputs: [two.txt]
    run: cat /one two.txt > /two
  three:
    needs: [two]
    inputs: [three.txt]
    run: cat /two three.txt > /three
image:
  tag: rep-test/chain:latest
  cmd: [cat, /three]
`;

const chainProject = () => makeProject({ Repfile: CHAIN(), 'one.txt': '1\n', 'two.txt': '2\n', 'three.txt': '3\n' });

describe('docker engine', () => {
  it('builds the image, which runs; a second build with nothing changed runs no engine build', async () => {
    const dir = chainProject();
    const first = await buildIn(dir, docker());
    expect(first.built).toEqual(['one', 'two', 'three']);
    expect(first.record.ok).toBe(true);
    expect(sh(DOCKER_BIN, ['run', '--rm', 'rep-test/chain:latest'])).toBe('1\n2\n3\n');
    const second = await buildIn(dir, docker());
    expect(second.built).toEqual([]);
    expect(second.events.filter((e) => e.type === 'step-building')).toEqual([]);
    expect(second.record.steps.map((s) => s.action)).toEqual(['cached', 'cached', 'cached']);
    const cli = rep(dir, ['build', '--engine', 'docker']);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toBe('rep: nothing to build; all 3 steps fresh (docker); image rep-test/chain:latest\n');
  });

  it('rebuilds the changed step and the steps above it only, and status says why first', async () => {
    const dir = chainProject();
    await buildIn(dir, docker());
    writeFileSync(path.join(dir, 'two.txt'), 'two\n');
    const st = rep(dir, ['status', '--engine', 'docker']);
    expect(st.stdout).toMatch(/^one    fresh  sha256:[0-9a-f]{12}\ntwo    stale  input changed: two.txt\nthree  stale  builds on "two", which changed\n$/);
    expect(rep(dir, ['status', '-q', '--engine', 'docker']).code).toBe(1);
    const again = await buildIn(dir, docker());
    expect(again.built).toEqual(['two', 'three']);
    expect(sh(DOCKER_BIN, ['run', '--rm', 'rep-test/chain:latest'])).toBe('1\ntwo\n3\n');
    expect(rep(dir, ['status', '-q', '--engine', 'docker']).code).toBe(0);
    // Reverting the change finds the old images again: nothing to build.
    writeFileSync(path.join(dir, 'two.txt'), '2\n');
    expect((await buildIn(dir, docker())).built).toEqual([]);
  });

  it('early cutoff: a phony producer that reran with the same outputs does not rebuild its consumer', async () => {
    const dir = makeProject({
      Repfile: `rep: 1
name: cutoff
base: busybox:latest
env: {${fresh()}}
steps:
  fetch:
    from: busybox:latest
    phony: true
    inputs: [source.csv]
    run: mkdir -p /out && sort source.csv > /out/data.csv
    outputs: [/out/data.csv]
  analyse:
    needs: [base, fetch]
    run: wc -l < /out/data.csv > /result
  base:
    run: echo base > /base
image:
  tag: rep-test/cutoff:latest
  cmd: [cat, /result]
`,
      'source.csv': 'b\na\n',
    });
    const first = await buildIn(dir, docker());
    expect(first.built.sort()).toEqual(['analyse', 'base', 'fetch']);
    const second = await buildIn(dir, docker());
    expect(second.built).toEqual(['fetch']);
    expect(second.record.steps.find((s) => s.name === 'analyse')!.action).toBe('cached');
    // A change to what the producer makes does reach the consumer.
    writeFileSync(path.join(dir, 'source.csv'), 'b\na\nc\n');
    const third = await buildIn(dir, docker());
    expect(third.built.sort()).toEqual(['analyse', 'fetch']);
    expect(sh(DOCKER_BIN, ['run', '--rm', 'rep-test/cutoff:latest'])).toBe('3\n');
  });

  it('builds independent stages at the same time', async () => {
    const dir = makeProject({
      Repfile: `rep: 1
name: parallel
base: busybox:latest
env: {${fresh()}}
steps:
  left:
    run: sleep 2 && mkdir -p /out && echo left > /out/left
    outputs: [/out/left]
  right:
    from: busybox:latest
    run: sleep 2 && mkdir -p /out && echo right > /out/right
    outputs: [/out/right]
  both:
    from: busybox:latest
    needs: [left, right]
    run: cat /out/left /out/right > /both
image:
  tag: rep-test/parallel:latest
  cmd: [cat, /both]
`,
    });
    const { events } = await buildIn(dir, docker(), { jobs: 2 });
    const order = events.filter((e) => e.type === 'step-building' || e.type === 'step-built').map((e) => `${e.type === 'step-built' ? 'done' : 'start'} ${e.step}`);
    expect(order.slice(0, 2).sort()).toEqual(['start left', 'start right']);
    expect(order.slice(-2)).toEqual(['start both', 'done both']);
    expect(sh(DOCKER_BIN, ['run', '--rm', 'rep-test/parallel:latest'])).toBe('left\nright\n');
    // With one job at a time, one stage finishes before the other starts.
    const serial = makeProject({ Repfile: readFileSync(path.join(dir, 'Repfile'), 'utf8').replace(/TEST_RUN: "[^"]+"/, fresh()) });
    const s = await buildIn(serial, docker(), { jobs: 1 });
    const sorder = s.events.filter((e) => e.type === 'step-building' || e.type === 'step-built').map((e) => e.type);
    expect(sorder).toEqual(['step-building', 'step-built', 'step-building', 'step-built', 'step-building', 'step-built']);
  });

  it('a failing step exits 1 with its log tail, and the steps before it stay cached', async () => {
    const repfile = CHAIN().replace('run: cat /one two.txt > /two', 'run: echo "about to fail" && cat /nonexistent');
    const dir = makeProject({ Repfile: repfile, 'one.txt': '1\n', 'two.txt': '2\n', 'three.txt': '3\n' });
    const r = rep(dir, ['build', '--engine', 'docker']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('build   one: never built\nbuilt   one');
    expect(r.stdout).toMatch(/failed {2}two \(exit 1\); full log: .*\.rep\/logs\/two\.log\n/);
    expect(r.stdout).toContain('  | about to fail');
    expect(r.stdout).toContain("  | cat: can't open '/nonexistent': No such file or directory");
    expect(r.stdout).toContain('skipped three: "two" failed');
    expect(r.stdout).toContain('rep: build failed: 1 built, 0 cached, two failed');
    expect(readFileSync(path.join(dir, '.rep/logs/two.log'), 'utf8')).toContain('about to fail');
    writeFileSync(path.join(dir, 'Repfile'), repfile.replace('cat /nonexistent', 'cat /one two.txt > /two'));
    const fixed = await buildIn(dir, docker());
    expect(fixed.built).toEqual(['two', 'three']);
  });

  it('the emitted Dockerfile, built by plain docker build (classic and BuildKit), gives the same files as rep', async () => {
    const dir = makeProject({
      Repfile: `rep: 1
name: same
base: busybox:latest
env: {${fresh()}}
steps:
  data:
    from: busybox:latest
    workdir: /data
    inputs: ["raw/*.csv"]
    run: mkdir -p /out && cat raw/*.csv > /out/all.csv
    outputs: [/out/all.csv, /out]
  tools:
    inputs: [bin/]
    env: {PATH: "/work/bin:/usr/bin:/bin"}
    run: tool > /tool.out
  app:
    needs: [tools, data]
    inputs: [src/, README.md]
    user: nobody
    run: |
      ls -l /out > /tmp/listing
      cat src/main.sh > /tmp/main
image:
  tag: rep-test/same:latest
  cmd: [sh, src/main.sh]
`,
      'raw/a.csv': '1\n',
      'raw/b.csv': '2\n',
      'raw/skip.txt': 'no\n',
      'bin/tool': { mode: 0o755, text: '#!/bin/sh\necho tool\n' },
      'src/main.sh': 'echo main\n',
      'src/lib/util.sh': 'echo util\n',
      'src/link': { link: 'main.sh' },
      'README.md': 'readme\n',
      'notes.txt': 'not an input\n',
      '.dockerignore': 'src/*.tmp\n',
      'src/x.tmp': 'ignored\n',
    });
    const r = await buildIn(dir, docker());
    expect(r.record.ok).toBe(true);
    const ours = await imageFiles(DOCKER_BIN, 'rep-test/same:latest');
    expect(ours.get('work/src/lib/util.sh')).toMatch(/^file 644 0:0 /);
    expect(ours.get('work/src/link')).toBe('symlink 777 0:0 -> main.sh');
    expect(ours.get('work/bin/tool')).toMatch(/^file 755 /);
    expect(ours.has('work/src/x.tmp')).toBe(false);
    expect(ours.has('work/notes.txt')).toBe(false);
    sh(DOCKER_BIN, ['build', '-q', '-t', 'rep-test/same-plain:classic', '-f', 'Dockerfile', '.'], { cwd: dir, env: { DOCKER_BUILDKIT: '0' } });
    expect(diffFiles(ours, await imageFiles(DOCKER_BIN, 'rep-test/same-plain:classic'))).toEqual([]);
    sh(DEBIAN_DOCKER, ['build', '-q', '-t', 'rep-test/same-plain:buildkit', '-f', 'Dockerfile', '.'], { cwd: dir, env: { DOCKER_BUILDKIT: '1' } });
    expect(diffFiles(ours, await imageFiles(DOCKER_BIN, 'rep-test/same-plain:buildkit'))).toEqual([]);
    expect(sh(DOCKER_BIN, ['run', '--rm', 'rep-test/same-plain:classic'])).toBe('main\n');
  });

  it('rep context --list names exactly the files docker build sends for COPY .', () => {
    const dir = makeProject({
      Repfile: `rep: 1\nname: ctx\nbase: busybox:latest\nsteps:\n  s:\n    run: "true"\n`,
      '.dockerignore': '# comment\n*.log\n!keep.log\n**/cache\ndocs\n!docs/README.md\n/top-only.txt\nsub/*/deep.txt\n',
      'a.log': '', 'keep.log': '', 'x/cache/c': '', 'x/y/cache/d': '', 'docs/README.md': '', 'docs/other.md': '',
      'top-only.txt': '', 'sub/top-only.txt': '', 'sub/q/deep.txt': '', 'sub/deep.txt': '', '.hidden': '', 'src/a b.txt': '',
    });
    writeFileSync(path.join(dir, 'Dockerfile.ctx'), 'FROM busybox:latest\nCOPY . /ctx/\nRUN cd /ctx && find . -type f -o -type l | sed "s|^./||" | sort > /list\nCMD ["cat", "/list"]\n');
    sh(DOCKER_BIN, ['build', '-q', '-t', 'rep-test/ctx:latest', '-f', 'Dockerfile.ctx', '.'], { cwd: dir, env: { DOCKER_BUILDKIT: '0' } });
    const seen = sh(DOCKER_BIN, ['run', '--rm', 'rep-test/ctx:latest']).trim().split('\n');
    const ours = rep(dir, ['context', '--list']).stdout.trim().split('\n');
    expect(ours).toEqual([...seen].sort((a, b) => (a < b ? -1 : 1)));
    expect(ours).toContain('docs/README.md');
    expect(ours).not.toContain('docs/other.md');
  });

  it('Ctrl-C stops the engine build and leaves .rep consistent', async () => {
    const repfile = CHAIN().replace('run: cat /one two.txt > /two', 'run: echo started && sleep 60');
    const dir = makeProject({ Repfile: repfile, 'one.txt': '1\n', 'two.txt': '2\n', 'three.txt': '3\n' });
    const child = spawn(process.execPath, [CLI, 'build', '--engine', 'docker'], { cwd: dir, env: { ...process.env, CI: '1' } });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 300 && !stdout.includes('build   two'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(stdout).toContain('build   two');
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(existsSync(path.join(dir, '.rep/lock'))).toBe(false);
    const state = JSON.parse(readFileSync(path.join(dir, '.rep/state.json'), 'utf8'));
    expect(Object.keys(state.steps)).toEqual(['one']);
    const st = rep(dir, ['status', '--engine', 'docker']);
    expect(st.stdout).toMatch(/^one    fresh/);
    expect(st.stdout).toMatch(/\ntwo    stale  never built\n/);
  });

  it('a second build in the same project waits for the first (lock)', async () => {
    const dir = chainProject();
    const held = tryLock(dir);
    if (!('release' in held)) throw new Error('could not take the lock');
    const child = spawn(process.execPath, [CLI, 'build', '--engine', 'docker'], { cwd: dir, env: { ...process.env, CI: '1' } });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise((r) => setTimeout(r, 1500));
    expect(stdout).toBe('');
    held.release();
    expect(await exited).toBe(0);
    expect(stdout).toContain('rep: built 3 of 3 steps');
  });
});
