// A corpus of nasty names and values, built by rep (classic docker and
// BuildKit) and from the emitted Dockerfile by plain `docker build` (both
// builders): the same files, the same config. And run items whose commands
// must all succeed, whatever the shell.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BuildEvent } from '../../src/scheduler/events.js';
import { build } from '../../src/build.js';
import type { CliEngine } from '../../src/engine/cli.js';
import { makeProject, open } from '../helpers.js';
import { buildIn, DEBIAN_DOCKER, diffFiles, docker, DOCKER_BIN, dockerBuildKit, imageFiles, sh } from './helpers.js';

/** Every image and folder the tests make, removed in afterAll. */
const images = new Set<string>();
const folders: string[] = [];
afterAll(() => {
  if (images.size) spawnSync(DOCKER_BIN, ['image', 'rm', '-f', ...images], { stdio: 'ignore' });
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

function project(tree: Parameters<typeof makeProject>[0]): string {
  const dir = makeProject(tree, 'rep-nasty-');
  folders.push(dir);
  return dir;
}

/** Remembers every step image a build in `dir` made (its state names their keys). */
function remember(dir: string): void {
  const state = JSON.parse(readFileSync(path.join(dir, '.rep/state.json'), 'utf8')) as { steps: Record<string, { key: string }> };
  for (const { key } of Object.values(state.steps)) images.add(`rep-cache:${key.replace(/^sha256:/, '')}`);
}

/** `docker build` of the emitted Dockerfile, classic or BuildKit; its tag is removed afterwards. */
function plainBuild(dir: string, tag: string, buildkit: boolean): ReturnType<typeof spawnSync> {
  images.add(tag);
  const args = ['build', '-q', '--force-rm', '-t', tag, '-f', 'Dockerfile', '.'];
  return spawnSync(buildkit ? DEBIAN_DOCKER : DOCKER_BIN, args, { cwd: dir, env: { ...process.env, DOCKER_BUILDKIT: buildkit ? '1' : '0' }, encoding: 'utf8' });
}

interface Config {
  Env: string[];
  Labels: Record<string, string>;
  WorkingDir: string;
  Cmd: string[];
  Entrypoint: string[] | null;
  User: string;
  Volumes: Record<string, object> | null;
}
const config = (ref: string): Config => {
  const c = JSON.parse(sh(DOCKER_BIN, ['image', 'inspect', '--format', '{{json .Config}}', ref])) as Config;
  return { Env: c.Env, Labels: c.Labels, WorkingDir: c.WorkingDir, Cmd: c.Cmd, Entrypoint: c.Entrypoint, User: c.User, Volumes: c.Volumes };
};

const WORKDIR = '/w $X "q" \\b #1';
const NAMES = ['a b.txt', '$HOME', '${X}', 'q"q', "s'q", 'back\\slash', 'tr\\', 'st*ar', 'qu?est', '[a]', 'br]', '#hash', '%pct', 'ünï €', '-dash', 'a:b', 'x+(y)|^{1}'];
const yaml = (s: string) => `'${s.replace(/'/g, "''")}'`;

const REPFILE = () => `rep: 1
name: nasty
base: busybox:latest
workdir: ${yaml(WORKDIR)}
env: {TEST_RUN: "${randomUUID()}", V1: ${yaml('$HOME "q" \\ ${X} \'s\'\tt')}, X: ex}
steps:
  gen:
    from: busybox:latest
    run: mkdir -p "/out \\$X" && echo gen > "/out \\$X/o*[1].txt"
    outputs: [${yaml('/out $X/o*[1].txt')}]
  all:
    inputs: ["."]
    env: {E2: ${yaml('a\\b$X"')}}
    run:
      - ${yaml('echo ok \\')}
      - 'find . | sort > /found # every name, as the shell sees it'
      - ${yaml('test -f "d \\$X [1]/f*.txt"; test -L "d \\$X [1]/link"')}
  part:
    needs: [all, gen]
    workdir: ${yaml('/p $Y')}
    inputs: ["part/in*", "modes/"]
    user: ${yaml('65534')}
    run: ${yaml('cat "/out \\$X/o*[1].txt" > /tmp/got && echo \\')}
image:
  tag: rep-test/nasty:latest
  cmd: ${yaml('echo done \\')}
  user: nobody
  volumes: [${yaml('/v $X')}]
  labels: {${yaml('k$X')}: ${yaml('$HOME "q" \\ ${X}')}, "a b": ${yaml("it's")}}
`;

function corpus(): string {
  const dir = project({
    Repfile: REPFILE(),
    ...Object.fromEntries(NAMES.map((n) => [n, `${n}\n`])),
    'exec.sh': { mode: 0o755, text: '#!/bin/sh\n' },
    private: { mode: 0o600, text: 'p\n' },
    'd $X [1]/f*.txt': 'f\n',
    'd $X [1]/g "h"': 'g\n',
    'd $X [1]/sub dir/#k': 'k\n',
    'd $X [1]/link': { link: 'f*.txt' },
    'part/in $A.txt': 'in\n',
    'part/out.txt': 'not an input\n',
    'modes/a': 'a\n',
    'modes/sub/b': 'b\n',
    '.rep/junk': 'rep state is never copied\n',
  });
  // What COPY of a whole folder would copy differently: a folder mode, an empty folder, a hard link.
  chmodSync(path.join(dir, 'modes/sub'), 0o775);
  mkdirSync(path.join(dir, 'modes/empty'));
  linkSync(path.join(dir, 'modes/a'), path.join(dir, 'modes/sub/a2'));
  return dir;
}

describe('a corpus of nasty names, built by rep and by plain docker build', () => {
  const cases: [string, () => CliEngine][] = [
    ['classic docker', docker],
    ['BuildKit', dockerBuildKit],
  ];
  for (const [name, engine] of cases) {
    it(`rep (${name}) and the emitted Dockerfile (classic and BuildKit) give the same files and config`, async () => {
      const dir = corpus();
      const r = await buildIn(dir, engine());
      remember(dir);
      expect(r.record.ok, r.failed).toBe(true);
      const tag = 'rep-test/nasty:latest';
      images.add(sh(DOCKER_BIN, ['image', 'inspect', '--format', '{{.Id}}', tag]).trim());
      const ours = await imageFiles(DOCKER_BIN, tag);
      const ourConfig = config(tag);
      // What rep made is what the Repfile says, literally.
      const w = WORKDIR.slice(1);
      for (const n of NAMES) expect(ours.get(`${w}/${n}`)).toMatch(/^file 644 0:0 /);
      expect(ours.get(`${w}/exec.sh`)).toMatch(/^file 755 /);
      expect(ours.get(`${w}/private`)).toMatch(/^file 600 /);
      expect(ours.get(`${w}/d $X [1]/link`)).toBe('symlink 777 0:0 -> f*.txt');
      expect(ours.get(`${w}/d $X [1]/sub dir/#k`)).toMatch(/^file 644 /);
      expect(ours.get('p $Y/part/in $A.txt')).toMatch(/^file 644 /);
      expect(ours.has('p $Y/part/out.txt')).toBe(false);
      expect(ours.get('p $Y/modes/sub')).toBe('directory 755 0:0 ');
      expect(ours.get('p $Y/modes/sub/a2')).toMatch(/^file 644 /);
      expect(ours.has('p $Y/modes/empty')).toBe(false);
      expect(ours.get('out $X/o*[1].txt')).toMatch(/^file 644 /);
      expect([...ours.keys()].filter((p) => p.includes('.rep'))).toEqual([]);
      // The Dockerfile this build wrote is in the context the step takes whole, and so in the image.
      expect(ours.get(`${w}/Dockerfile`)).toMatch(/^file 644 0:0 /);
      expect(ourConfig).toMatchObject({
        WorkingDir: '/p $Y',
        User: 'nobody',
        Cmd: ['/bin/sh', '-c', 'echo done \\'],
        Labels: { 'k$X': '$HOME "q" \\ ${X}', 'a b': "it's" },
        Volumes: { '/v $X': {} },
      });
      expect(ourConfig.Env).toContain('V1=$HOME "q" \\ ${X} \'s\'\tt');
      expect(ourConfig.Env).toContain('E2=a\\b$X"');
      const found = sh(DOCKER_BIN, ['run', '--rm', '--entrypoint', 'cat', tag, '/found']);
      expect(found).toContain('./d $X [1]/sub dir/#k\n');
      expect(found).not.toContain('.rep');

      for (const buildkit of [false, true]) {
        const plain = `rep-test/nasty-plain:${buildkit ? 'buildkit' : 'classic'}`;
        const b = plainBuild(dir, plain, buildkit);
        expect(b.stderr).not.toMatch(/error|failed/i);
        expect(b.status).toBe(0);
        expect(diffFiles(ours, await imageFiles(DOCKER_BIN, plain))).toEqual([]);
        expect(config(plain)).toEqual(ourConfig);
      }
    }, 300_000);
  }
});

describe('run items: every command must succeed, whatever the shell', () => {
  /** rep's build (classic docker) and both plain builds of the emitted Dockerfile: did each succeed? */
  async function outcomes(run: string[], shell: string | undefined, base = 'busybox:latest'): Promise<{ rep: boolean; failed: string[]; classic: boolean; buildkit: boolean }> {
    const dir = project({
      Repfile: `rep: 1\nname: shells\nbase: ${base}\nenv: {TEST_RUN: "${randomUUID()}"}\nsteps:\n  s:\n${shell ? `    shell: ${shell}\n` : ''}    run: ${JSON.stringify(run)}\nimage:\n  tag: rep-test/shells:latest\n`,
    });
    images.add('rep-test/shells:latest');
    const events: BuildEvent[] = [];
    const r = await build(open(dir), { engine: docker(), onEvent: (e) => events.push(e) });
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
    remember(dir);
    const failed = events.flatMap((e) => (e.type === 'step-failed' ? [e.step] : []));
    const classic = plainBuild(dir, 'rep-test/shells-plain:classic', false).status === 0;
    const buildkit = plainBuild(dir, 'rep-test/shells-plain:buildkit', true).status === 0;
    return { rep: r.value.ok, failed, classic, buildkit };
  }
  const failing = { rep: false, failed: ['s'], classic: false, buildkit: false };
  const passing = { rep: true, failed: [], classic: true, buildkit: true };

  it('shell: [/bin/sh, -c] with a multi-line item: an earlier failing line fails the step', async () => {
    expect(await outcomes(['false\ntrue'], '[/bin/sh, -c]')).toEqual(failing);
    expect(await outcomes(['true', 'false\ntrue'], '[/bin/sh, -c]')).toEqual(failing);
  }, 120_000);

  it('bash: a failing line or item fails the step; state carries from item to item', async () => {
    const bash = '[/bin/bash, -c]';
    const debian = 'debian:bookworm-slim';
    expect(await outcomes(['false\ntrue'], bash, debian)).toEqual(failing);
    expect(await outcomes(['false && true', 'true'], '[/bin/bash, -o, pipefail, -c]', debian)).toEqual(failing);
    expect(await outcomes(['false | true'], '[/bin/bash, -o, pipefail, -c]', debian)).toEqual(failing);
    expect(await outcomes(['cd /tmp\nX=1', 'test "$PWD" = /tmp && test "$X" = 1', 'echo ends in \\'], bash, debian)).toEqual(passing);
  }, 240_000);

  it('the default shell: an item holding a comment does not hide the next one', async () => {
    expect(await outcomes(['true # a comment', 'false'], undefined)).toEqual(failing);
    expect(await outcomes(['echo a \\', 'true # a comment', 'echo "#"'], undefined)).toEqual(passing);
  }, 120_000);
});
