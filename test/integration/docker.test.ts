// Real builds with the Docker engine (Debian's docker.io), on locally made base images.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tryMutex } from '../../src/state/mutex.js';
import { CLI, makeProject, rep } from '../helpers.js';
import { CHAIN, chainProject, engineSuite, fresh, linkedOutputProject } from './engine-suite.js';
import { buildIn, DEBIAN_DOCKER, diffFiles, docker, DOCKER_BIN, imageFiles, sh } from './helpers.js';

engineSuite({ name: 'docker', make: docker, run: (image) => sh(DOCKER_BIN, ['run', '--rm', image]) });

describe('docker: the emitted Dockerfile, the context, interruption and the lock', () => {
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
      ls -n /out | awk '{print $1, $3, $4, $5, $9}' > /tmp/listing
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
    expect(r.record.ok, r.failed).toBe(true);
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
    expect(existsSync(path.join(dir, '.rep/build.pid'))).toBe(false);
    const state = JSON.parse(readFileSync(path.join(dir, '.rep/state.json'), 'utf8'));
    expect(Object.keys(state.steps)).toEqual(['one']);
    const st = rep(dir, ['status', '--engine', 'docker']);
    expect(st.stdout).toMatch(/^one    fresh/);
    expect(st.stdout).toMatch(/\ntwo    stale  never built\n/);
  });

  it('a second build in the same project waits for the first (build mutex)', async () => {
    const dir = chainProject();
    const taken = tryMutex(dir);
    if (!taken.ok) throw new Error('could not take the build mutex');
    const held = taken.value;
    const child = spawn(process.execPath, [CLI, 'build', '--engine', 'docker'], { cwd: dir, env: { ...process.env, CI: '1' } });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise((r) => setTimeout(r, 1500));
    // Nothing built yet; said once that it waits, and for whom.
    expect(stdout).toBe(`wait    another rep build (pid ${process.pid}) holds the project (.rep/build.pid); waiting for it, Ctrl-C to stop\n`);
    held.release();
    expect(await exited).toBe(0);
    expect(stdout).toContain('rep: built 3 of 3 steps');
  });

  it('an edit of the last step keeps the canonical layers below it (loaded once), and the image is the one a rewrite from nothing gives', async () => {
    const dir = chainProject();
    const engine = docker();
    await buildIn(dir, engine);
    const before = (await engine.inspect('rep-test/chain:latest'))!;
    writeFileSync(path.join(dir, 'three.txt'), 'edited\n');
    const edited = await buildIn(dir, engine);
    expect(edited.built).toEqual(['three']);
    const after = (await engine.inspect('rep-test/chain:latest'))!;
    // The steps below kept their canonical layers; the last one has a new layer.
    expect(after.layers.slice(0, -1)).toEqual(before.layers.slice(0, -1));
    expect(after.layers.at(-1)).not.toBe(before.layers.at(-1));
    // No image of the earlier build to lean on: the tag and every canonical image of this project gone.
    const canonical = new Set((await engine.listImages('rep-cache')).filter((i) => i.id === after.id || i.id === before.id).flatMap((i) => i.tags.map((t) => `rep-cache:${t}`)));
    for (const ref of ['rep-test/chain:latest', ...canonical]) await engine.removeImage(ref);
    expect(await engine.hasImage(after.id)).toBe(false);
    const again = rep(dir, ['build', '--engine', 'docker', '--json']);
    expect(again.code).toBe(0);
    expect((await engine.inspect('rep-test/chain:latest'))!.id).toBe(after.id);
  });

  it('--json prints one event per line, then the build record', () => {
    const dir = chainProject();
    const r = rep(dir, ['build', '--engine', 'docker', '--json']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; step?: string; ok?: boolean });
    expect(lines.filter((l) => l.type === 'step-built').map((l) => l.step)).toEqual(['one', 'two', 'three']);
    expect(lines.at(-2)).toMatchObject({ type: 'finish', ok: true, built: 3, cached: 0 });
    expect(lines.at(-1)).toMatchObject({ type: 'record', ok: true, engine: 'docker', tag: 'rep-test/chain:latest' });
  });

  it('on a terminal, keeps a live status line of what is building', () => {
    const dir = chainProject();
    const env = { ...process.env };
    delete env.CI;
    const r = spawnSync('script', ['-qec', `${process.execPath} ${CLI} build --engine docker`, '/dev/null'], { cwd: dir, env, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('\r\x1b[Kbuilding one: ');
    expect(r.stdout).toContain('built   three');
    // With CI set (or no terminal), plain lines only.
    const plain = rep(chainProject(), ['build', '--engine', 'docker'], { CI: 'true' });
    expect(plain.stdout).not.toContain('\x1b');
  });

  it('a no-op build answers from the last build when nothing changed, and never when something did', () => {
    const dir = chainProject();
    expect(rep(dir, ['build', '--engine', 'docker']).code).toBe(0);
    expect(rep(dir, ['build', '--engine', 'docker']).code).toBe(0);
    const state = path.join(dir, '.rep/state.json');
    const before = statSync(state).mtimeMs;
    const noop = rep(dir, ['build', '--engine', 'docker']);
    expect(noop.stdout).toBe('rep: nothing to build; all 3 steps fresh (docker); image rep-test/chain:latest\n');
    expect(statSync(state).mtimeMs).toBe(before); // answered without writing anything

    // A changed input is seen.
    writeFileSync(path.join(dir, 'three.txt'), `three ${Date.now()}\n`);
    expect(rep(dir, ['build', '--engine', 'docker']).stdout).toMatch(/^build   three: input changed: three.txt\n/);
    // A step image removed behind rep's back is built again.
    rep(dir, ['build', '--engine', 'docker']);
    const key = JSON.parse(readFileSync(state, 'utf8')).steps.two.key.slice(7);
    sh(DOCKER_BIN, ['image', 'rm', '-f', `rep-cache:${key}`]);
    expect(rep(dir, ['build', '--engine', 'docker']).stdout).toMatch(/^build   two: no image for key sha256:/);
    // The tag moved to another image: rep puts it back.
    rep(dir, ['build', '--engine', 'docker']);
    sh(DOCKER_BIN, ['tag', 'busybox:latest', 'rep-test/chain:latest']);
    rep(dir, ['build', '--engine', 'docker']);
    expect(sh(DOCKER_BIN, ['run', '--rm', 'rep-test/chain:latest']).trim().split('\n').at(-1)).toMatch(/^three /);
  });
});

describe('docker: a base image tag that names another image', () => {
  it('a pull that moves the base tag rebuilds the steps on it, and says which image it was; the no-op answer does not hold (found by a review)', () => {
    const base = `rep-test/base:${fresh().replace(/\W/g, '').slice(-12).toLowerCase()}`;
    sh(DOCKER_BIN, ['tag', 'busybox:latest', base]);
    const dir = makeProject({ Repfile: `rep: 1\nname: moved\nbase: ${base}\nsteps:\n  one:\n    run: echo one > /one\nimage:\n  tag: rep-test/moved:latest\n` });
    expect(rep(dir, ['build', '--engine', 'docker']).stdout).toContain('rep: built 1 of 1 steps');
    expect(rep(dir, ['build', '--engine', 'docker']).stdout).toMatch(/^rep: nothing to build/m);
    const before = sh(DOCKER_BIN, ['image', 'inspect', '--format', '{{.Id}}', base]).trim();
    // Another image under the same tag, as `docker pull` of a newer release leaves it.
    sh(DOCKER_BIN, ['build', '-q', '-t', base, '-'], { input: 'FROM busybox:latest\nRUN touch /released\n', env: { DOCKER_BUILDKIT: '0' } });
    const after = sh(DOCKER_BIN, ['image', 'inspect', '--format', '{{.Id}}', base]).trim();
    expect(after).not.toBe(before);
    const status = rep(dir, ['status', '--engine', 'docker']).stdout;
    const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);
    expect(status).toContain(`base image changed: ${base} (image ${short(before)}) -> ${base} (image ${short(after)})`);
    const r = rep(dir, ['build', '--engine', 'docker']);
    expect(r.stdout).toContain('rep: built 1 of 1 steps');
    expect(sh(DOCKER_BIN, ['run', '--rm', 'rep-test/moved:latest', 'ls', '/released']).trim()).toBe('/released');
    expect(rep(dir, ['build', '--engine', 'docker']).stdout).toMatch(/^rep: nothing to build/m);
  });
});

describe('docker: an output that is a link, through a folder that is a link', () => {
  it('is followed as the engine resolves it (/out -> real/out, then ../share/v from the real folder), not by its text, which names a decoy (found by a review)', () => {
    const dir = linkedOutputProject(
      'through',
      'mkdir -p /real/out /real/share /share && ln -s real/out /out && cp version.txt /real/share/v && echo decoy > /share/v && ln -s ../share/v /out/lib.so',
    );
    // The classic builder: BuildKit 0.8 (docker 20.10) answers such a COPY from its cache whatever the
    // bytes behind the link, and buildah copies the decoy; the emitted Dockerfile says what a consumer gets.
    const env = { DOCKER_BUILDKIT: '0' };
    expect(rep(dir, ['build', '--engine', 'docker'], env).code).toBe(0);
    expect(sh(DOCKER_BIN, ['run', '--rm', 'rep-test/through:latest'])).toBe('one\n');
    writeFileSync(path.join(dir, 'version.txt'), 'two\n');
    const again = rep(dir, ['build', '--engine', 'docker'], env);
    expect(again.stdout).toContain('build   app: outputs of "lib" changed');
    expect(sh(DOCKER_BIN, ['run', '--rm', 'rep-test/through:latest'])).toBe('two\n');
  });
});
