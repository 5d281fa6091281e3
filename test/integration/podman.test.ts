// Real builds with Podman (Debian's podman 4.3), on the same locally made base images.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, rep } from '../helpers.js';
import { engineSuite } from './engine-suite.js';
import { buildIn, diffFiles, DOCKER_BIN, docker, imageFiles, podman, PODMAN_RUN, sh } from './helpers.js';

const repfile = () => `rep: 1
name: pod
base: busybox:latest
env: {TEST_RUN: "${randomUUID()}"}
steps:
  data:
    from: busybox:latest
    phony: true
    inputs: [data/]
    run: mkdir -p /out && sort data/in.txt > /out/sorted.txt
    outputs: [/out/sorted.txt]
  tools:
    inputs: [bin/]
    run: bin/tool > /tool.out
  app:
    needs: [tools, data]
    inputs: [src/]
    run: cat /tool.out /out/sorted.txt src/msg > /app.out
image:
  tag: rep-test/pod:latest
  cmd: [cat, /app.out]
`;

const project = () =>
  makeProject({
    Repfile: repfile(),
    'data/in.txt': 'b\na\n',
    'bin/tool': { mode: 0o755, text: '#!/bin/sh\necho tool\n' },
    'src/msg': 'hello\n',
  });

engineSuite({ name: 'podman', make: podman, run: (image) => sh('podman', ['run', '--rm', ...PODMAN_RUN, image]) });

describe('podman: more', () => {
  it('builds an image that runs, skips unchanged steps, cuts off early, and rebuilds only what changed', async () => {
    const dir = project();
    const first = await buildIn(dir, podman());
    expect(first.record.ok, first.failed).toBe(true);
    expect(first.built.sort()).toEqual(['app', 'data', 'tools']);
    expect(sh('podman', ['run', '--rm', ...PODMAN_RUN, 'rep-test/pod:latest'])).toBe('tool\na\nb\nhello\n');
    const second = await buildIn(dir, podman());
    expect(second.built).toEqual(['data']);
    writeFileSync(path.join(dir, 'src/msg'), 'bye\n');
    expect(rep(dir, ['status', '--engine', 'podman']).stdout).toMatch(
      /^data   stale  phony: always rebuilt\ntools  fresh  sha256:[0-9a-f]{12}\napp    stale  input changed: src\/msg; outputs of "data" are known once it reruns\n$/,
    );
    const third = await buildIn(dir, podman());
    expect(third.built.sort()).toEqual(['app', 'data']);
    expect(sh('podman', ['run', '--rm', ...PODMAN_RUN, 'rep-test/pod:latest'])).toBe('tool\na\nb\nbye\n');
  });

  it('gives the same files as docker for the same Repfile, and the same keys on the same base image', async () => {
    // podman's busybox:latest here is another image than docker's (each made its own): a base no digest
    // pins is keyed by the engine's id of it, so the keys differ. Docker's, loaded into podman, is the same image.
    const base = `rep-test/pod-base:${randomUUID().slice(0, 8)}`;
    sh(DOCKER_BIN, ['tag', 'busybox:latest', base]);
    const archive = path.join(makeProject({}), 'base.tar');
    sh(DOCKER_BIN, ['save', '-o', archive, base]);
    sh('podman', ['load', '-i', archive]);
    const dir = project();
    writeFileSync(path.join(dir, 'Repfile'), repfile().replaceAll('busybox:latest', base));
    const p = await buildIn(dir, podman());
    const d = await buildIn(dir, docker());
    // Every key but the phony step's (a fresh nonce each build) is the same on both engines.
    const keys = (b: typeof p) => b.record.steps.filter((s) => s.name !== 'data').map((s) => [s.name, s.key]);
    expect(keys(d)).toEqual(keys(p));
    // On each engine's own busybox:latest, another base image: other keys, said why.
    const own = project();
    const o = await buildIn(own, podman());
    expect(keys(o)).not.toEqual(keys(p));
    const viaPodman = await imageFiles('podman', 'rep-test/pod:latest');
    const viaDocker = await imageFiles(DOCKER_BIN, 'rep-test/pod:latest');
    expect(diffFiles(viaPodman, viaDocker)).toEqual([]);
  });
});
