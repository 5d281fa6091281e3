// Docker with BuildKit: the behaviour suite, and what is particular to it:
// a step's build reads the context folder (which BuildKit syncs
// incrementally) instead of a tar of its inputs, and copies only the inputs.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, rep } from '../helpers.js';
import { fresh, engineSuite } from './engine-suite.js';
import { buildIn, DEBIAN_DOCKER, DOCKER_BIN, dockerBuildKit, sh } from './helpers.js';

engineSuite({
  name: 'docker',
  label: 'docker (BuildKit)',
  make: dockerBuildKit,
  cli: { args: ['--buildkit'], env: { REP_DOCKER: DEBIAN_DOCKER } },
  run: (image) => sh(DEBIAN_DOCKER, ['run', '--rm', image]),
});

describe('BuildKit reads the context folder', () => {
  it("copies a step's inputs from the folder, and nothing else of it (a step with more inputs than go as a tar in memory)", async () => {
    // Past 20 input files a step syncs the folder (a smaller one goes as a tar: see the next test).
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`data/x${String(i).padStart(3, '0')}.csv`, `${i}\n`]));
    const dir = makeProject({
      Repfile: `rep: 1\nname: folder\nbase: busybox:latest\nenv: {${fresh()}}\nsteps:\n  app:\n    inputs: [src/a.txt, data/]\n    run: find /work -type f | sort > /files\nimage:\n  tag: rep-test/folder:latest\n  cmd: [cat, /files]\n`,
      'src/a.txt': 'a\n',
      'src/b.txt': 'not an input\n',
      ...many,
      'secret.txt': 'not an input either\n',
    });
    const first = await buildIn(dir, dockerBuildKit());
    expect(first.built).toEqual(['app']);
    // The step's Dockerfile names the inputs in the context, as the standalone Dockerfile does.
    const log = readFileSync(path.join(dir, '.rep/logs/app.log'), 'utf8');
    expect(log).toContain('COPY ["data","/work/data/"]\nCOPY ["src/a.txt","/work/src/"]\n');
    expect(sh(DEBIAN_DOCKER, ['run', '--rm', 'rep-test/folder:latest'])).toBe(`${Object.keys(many).map((p) => `/work/${p}`).join('\n')}\n/work/src/a.txt\n`);
    // An edit is seen: the folder is synced again, the step rebuilt with the new bytes.
    writeFileSync(path.join(dir, 'src/a.txt'), 'A\n');
    const second = await buildIn(dir, dockerBuildKit());
    expect(second.built).toEqual(['app']);
    expect(sh(DEBIAN_DOCKER, ['run', '--rm', 'rep-test/folder:latest', 'cat', '/work/src/a.txt'])).toBe('A\n');
  });
});

describe('a step with few inputs', () => {
  it("goes to docker's API as a tar in memory, its inputs only, and prints what it runs", async () => {
    const dir = makeProject({
      Repfile: `rep: 1\nname: small\nbase: busybox:latest\nenv: {${fresh()}}\nsteps:\n  app:\n    inputs: [src/a.txt]\n    run: find /work -type f | sort > /files && echo said-by-the-step\nimage:\n  tag: rep-test/small:latest\n  cmd: [cat, /files]\n`,
      'src/a.txt': 'a\n',
      'src/b.txt': 'not an input\n',
    });
    const first = await buildIn(dir, dockerBuildKit());
    expect(first.built).toEqual(['app']);
    const log = readFileSync(path.join(dir, '.rep/logs/app.log'), 'utf8');
    // Copied from the tar's inputs/ folder, not from the context folder.
    expect(log).toMatch(/^COPY \["inputs\//m);
    expect(log).not.toMatch(/^COPY \["src/m);
    // BuildKit's status, read from the API's answer: the RUN numbered as plain progress numbers it, and what it printed.
    expect(log).toMatch(/^#\d+ \[2\/4\] WORKDIR|^#\d+ \[\d\/\d\] RUN find \/work/m);
    expect(log).toContain('\nsaid-by-the-step\n');
    expect(sh(DEBIAN_DOCKER, ['run', '--rm', 'rep-test/small:latest'])).toBe('/work/src/a.txt\n');
    writeFileSync(path.join(dir, 'src/a.txt'), 'A\n');
    expect((await buildIn(dir, dockerBuildKit())).built).toEqual(['app']);
    expect(sh(DEBIAN_DOCKER, ['run', '--rm', 'rep-test/small:latest', 'cat', '/work/src/a.txt'])).toBe('A\n');
  });
});

describe('the builder a plain rep build uses', () => {
  const project = () => makeProject({
    Repfile: `rep: 1\nname: builder\nbase: busybox:latest\nenv: {${fresh()}}\nsteps:\n  app:\n    inputs: [a.txt]\n    run: cat a.txt > /a\nimage:\n  tag: rep-test/builder:latest\n`,
    'a.txt': 'a\n',
  });
  /** What built the step: BuildKit's plain progress numbers its lines (#1 ...), the classic builder counts steps (Step 1/3 : ...). */
  const builtBy = (dir: string) => {
    const log = readFileSync(path.join(dir, '.rep/logs/app.log'), 'utf8');
    return /^#\d+ /m.test(log) ? 'BuildKit' : /^Step 1\/\d+ : FROM /m.test(log) ? 'classic' : log;
  };
  const provenanceEngine = (dir: string) => JSON.parse(readFileSync(path.join(dir, '.rep/provenance.json'), 'utf8')).predicate.runDetails.builder.version.engine;

  it('is BuildKit with a client that has it (Debian\'s docker 20.10), the classic builder with DOCKER_BUILDKIT=0', () => {
    const dir = project();
    const r = rep(dir, ['build', '--engine', 'docker'], { REP_DOCKER: DEBIAN_DOCKER });
    expect(r.code, r.stderr).toBe(0);
    expect(builtBy(dir)).toBe('BuildKit');
    expect(provenanceEngine(dir)).toMatch(/^docker \S+ \(BuildKit\)$/);
    writeFileSync(path.join(dir, 'a.txt'), 'b\n');
    expect(rep(dir, ['build', '--engine', 'docker'], { REP_DOCKER: DEBIAN_DOCKER, DOCKER_BUILDKIT: '0' }).code).toBe(0);
    expect(builtBy(dir)).toBe('classic');
    expect(provenanceEngine(dir)).toMatch(/^docker \S+ \(classic builder\)$/);
    sh(DEBIAN_DOCKER, ['image', 'rm', 'rep-test/builder:latest']);
  });

  it('is the classic builder with a docker 23+ client without buildx; --buildkit there fails the build and says why, though a no-op still answers', () => {
    // This machine's first docker on PATH is such a client (provisioned so): the case a user without buildx meets.
    expect(Number(sh(DOCKER_BIN, ['version', '--format', '{{.Client.Version}}']).split('.')[0])).toBeGreaterThanOrEqual(23);
    expect(spawnSync(DOCKER_BIN, ['buildx', 'version']).status).not.toBe(0);
    const dir = project();
    expect(rep(dir, ['build', '--engine', 'docker']).code).toBe(0);
    expect(builtBy(dir)).toBe('classic');
    // Nothing changed: nothing to build, whichever builder is asked for (quick path and full path alike).
    expect(rep(dir, ['build', '--engine', 'docker', '--buildkit']).stdout).toMatch(/^rep: nothing to build; all 1 steps fresh/);
    const full = rep(dir, ['build', '--engine', 'docker', '--buildkit', '--json']);
    expect(full.code, full.stderr).toBe(0);
    writeFileSync(path.join(dir, 'a.txt'), 'c\n');
    for (const [args, env, asked] of [[['--buildkit'], {}, '--buildkit'], [[], { DOCKER_BUILDKIT: '1' }, 'DOCKER_BUILDKIT=1']] as const) {
      const r = rep(dir, ['build', '--engine', 'docker', ...args], env);
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toContain(`${asked}: this docker client (`);
      expect(r.stdout + r.stderr).toContain('builds with BuildKit only through its buildx plugin, which it does not have');
      expect(readFileSync(path.join(dir, '.rep/logs/app.log'), 'utf8')).toContain(`${asked}: this docker client (`);
    }
    sh(DOCKER_BIN, ['image', 'rm', 'rep-test/builder:latest']);
  });
});

describe('a step on a base with ONBUILD triggers', () => {
  it('gets a tar of its inputs, not the project folder (a review)', async () => {
    // The triggers run first, with the build's context: ONBUILD COPY . copied the whole project (files no input
    // names, .rep/) into a step image keyed by the inputs alone. (The step tar's .dockerignore keeps its Dockerfile,
    // which may name this run's pins, from such a COPY with the classic builder and podman; docker 20.10's BuildKit
    // does not read a .dockerignore in a tar it is sent, and copies both.)
    sh(DEBIAN_DOCKER, ['build', '-t', 'rep-test/onbuild:1', '-'], { input: 'FROM busybox:latest\nONBUILD COPY . /ctx\n', env: { DOCKER_BUILDKIT: '1' } });
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`data/x${String(i).padStart(3, '0')}.csv`, `${i}\n`]));
    const dir = makeProject({
      Repfile: `rep: 1\nname: onbuild\nbase: rep-test/onbuild:1\nenv: {${fresh()}}\nsteps:\n  app:\n    inputs: [data/]\n    run: cd /ctx && find . | sort > /files\nimage:\n  tag: rep-test/onbuild-app:latest\n  cmd: [cat, /files]\n`,
      ...many,
      'secret.txt': 'not an input\n',
    });
    try {
      const first = await buildIn(dir, dockerBuildKit());
      expect(first.built).toEqual(['app']);
      const seen = sh(DEBIAN_DOCKER, ['run', '--rm', 'rep-test/onbuild-app:latest']).trim().split('\n');
      expect(seen).toContain('./inputs/data/x000.csv');
      expect(seen.filter((p) => !p.startsWith('./inputs'))).toEqual(['.', './.dockerignore', './Dockerfile']);
    } finally {
      spawnSync(DEBIAN_DOCKER, ['image', 'rm', 'rep-test/onbuild-app:latest', 'rep-test/onbuild:1'], { stdio: 'ignore' });
    }
  });
});
