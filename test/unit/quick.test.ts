// Which command lines the quick no-op path may answer, and which docker
// socket it would ask (the engine side is in test/integration/quick.test.ts).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { quickArgs } from '../../src/commands/quick.js';
import { dockerSocket, imageJson } from '../../src/engine/socket.js';
import { isNoopRecord, MAX_NOOP_REFS } from '../../src/scheduler/noop.js';

describe('quickArgs', () => {
  it('takes a plain rep build, with the options that do not change what a no-op answers', () => {
    expect(quickArgs(['build'])).toEqual({ command: 'build', engine: 'auto', dockerfile: 'Dockerfile', reproducible: true });
    expect(quickArgs(['build', '--no-reproducible'])).toEqual({ command: 'build', engine: 'auto', dockerfile: 'Dockerfile', reproducible: false });
    expect(quickArgs(['-f', 'x/Repfile', 'build', '--engine', 'docker', '-j', '2', '--network', 'host'])).toEqual({
      command: 'build',
      file: 'x/Repfile',
      engine: 'docker',
      dockerfile: 'Dockerfile',
      reproducible: true,
    });
    expect(quickArgs(['build', '--file=R', '--context=ctx', '--engine=auto', '--buildkit', '--dockerfile', 'out/Dockerfile', '--jobs=8'])).toEqual({
      command: 'build',
      file: 'R',
      context: 'ctx',
      engine: 'auto',
      dockerfile: 'out/Dockerfile',
      reproducible: true,
    });
    expect(quickArgs(['-C', 'ctx', 'build'])).toMatchObject({ context: 'ctx' });
  });

  it('takes a plain rep status: the project options, --engine auto|docker, --json and -q', () => {
    expect(quickArgs(['status'])).toEqual({ command: 'status', engine: 'auto' });
    expect(quickArgs(['-C', 'ctx', 'status', '--json', '--engine=docker', '-f', 'R'])).toEqual({ command: 'status', context: 'ctx', file: 'R', engine: 'docker', json: true });
    expect(quickArgs(['status', '-q'])).toEqual({ command: 'status', engine: 'auto', question: true });
    expect(quickArgs(['status', '--question', '--engine', 'auto'])).toEqual({ command: 'status', engine: 'auto', question: true });
  });

  it('leaves everything else to the full command line', () => {
    for (const argv of [
      [],
      ['build', 'extra'],
      ['status', 'extra'],
      ['status', 'build'],
      ['build', 'status'],
      ['status', '--engine', 'none'],
      ['status', '--engine', 'podman'],
      ['status', '--engine'],
      ['status', '--buildkit'],
      ['status', '--dockerfile', 'D'],
      ['status', '-j', '2'],
      ['status', '-qj'],
      ['status', '--json=1'],
      ['status', 'toString'],
      ['status', '__proto__'],
      ['status', 'constructor'],
      ['status', '--help'],
      ['--json', 'status'],
      ['-q', 'status'],
      ['build', '-q'],
      ['build', 'build'],
      ['build', '--json'],
      ['build', '-n'],
      ['build', '--dry-run'],
      ['build', '--cache-to', 'dir:///tmp/c'],
      ['build', '--cache-from', 'dir:///tmp/c'],
      ['build', '--engine', 'podman'],
      ['build', '--engine', 'none'],
      ['build', '--engine', 'dockr'],
      ['build', '--engine'],
      ['build', '-j', '0'],
      ['build', '-j', 'x'],
      ['build', '--buildkit=yes'],
      ['build', '--no-reproducible=1'],
      ['status', '--no-reproducible'],
      ['build', '--help'],
      ['build', '-h'],
      ['--version'],
      ['build', '-f'],
      ['build', '--'],
    ]) {
      expect(quickArgs(argv), argv.join(' ')).toBeUndefined();
    }
  });
});

describe('dockerSocket', () => {
  const home = () => mkdtempSync(path.join(tmpdir(), 'rep-home-'));

  it('is the default socket, or the one DOCKER_HOST names', () => {
    expect(dockerSocket({ HOME: home() })).toBe('/var/run/docker.sock');
    expect(dockerSocket({ HOME: home(), DOCKER_HOST: 'unix:///run/user/1000/docker.sock' })).toBe('/run/user/1000/docker.sock');
    expect(dockerSocket({ HOME: home(), DOCKER_CONTEXT: 'default' })).toBe('/var/run/docker.sock');
  });

  it('is none where the client would talk to something else', () => {
    expect(dockerSocket({ HOME: home(), DOCKER_HOST: 'tcp://10.0.0.1:2376' })).toBeUndefined();
    expect(dockerSocket({ HOME: home(), DOCKER_HOST: 'ssh://me@host' })).toBeUndefined();
    expect(dockerSocket({ HOME: home(), DOCKER_CONTEXT: 'remote' })).toBeUndefined();
    const h = home();
    writeFileSync(path.join(h, 'config.json'), '{"currentContext": "rootless"}');
    expect(dockerSocket({ HOME: '/nonexistent', DOCKER_CONFIG: h })).toBeUndefined();
    writeFileSync(path.join(h, 'config.json'), '{"auths": {}}');
    expect(dockerSocket({ HOME: '/nonexistent', DOCKER_CONFIG: h })).toBe('/var/run/docker.sock');
    writeFileSync(path.join(h, 'config.json'), '{not json');
    expect(dockerSocket({ HOME: '/nonexistent', DOCKER_CONFIG: h })).toBeUndefined();
  });
});

describe('a no-op record planted in .rep/', () => {
  const record = (refs: unknown[], tag = 'paper/x:1', bases: unknown[] = []) => ({ stamp: 's', imageId: 'sha256:x', tag, refs, steps: [], lock: [], bases });

  it('names only image references, and not more than a project does: its references go to the engine API before its stamp is compared', () => {
    expect(isNoopRecord(record([`rep-cache:${'a'.repeat(64)}`, 'debian:bookworm-slim@sha256:' + 'b'.repeat(64)]))).toBe(true);
    for (const bad of ['../../containers/json', '../../../v1.41/info', '-evil', 'a/./b', 'x y']) expect(isNoopRecord(record([bad])), bad).toBe(false);
    expect(isNoopRecord(record([], '-evil'))).toBe(false);
    expect(isNoopRecord(record(Array.from({ length: MAX_NOOP_REFS + 1 }, (_, i) => `rep-cache:${String(i).padStart(64, '0')}`)))).toBe(false);
    // The bases it names with their ids go to the engine too.
    const id = `sha256:${'c'.repeat(64)}`;
    expect(isNoopRecord(record([], 'paper/x:1', [['debian:bookworm-slim', id]]))).toBe(true);
    for (const bad of [['../../info', id], ['debian:12', 'sha256:x'], ['debian:12'], 'debian:12']) expect(isNoopRecord(record([], 'paper/x:1', [bad])), String(bad)).toBe(false);
    expect(isNoopRecord({ ...record([]), bases: undefined })).toBe(false);
  });

  it('cannot make an API path climb: a reference with a "." or ".." segment is refused before anything is sent', async () => {
    // No socket is there: the refusal comes before any connection.
    for (const ref of ['../../containers/json', 'a/../../info', 'a/./b']) {
      await expect(imageJson('/nonexistent/docker.sock', ref), ref).rejects.toThrow(/not an image reference/);
    }
  });
});
