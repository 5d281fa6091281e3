// Which command lines the quick no-op path may answer, and which docker
// socket it would ask (the engine side is in test/integration/quick.test.ts).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { quickArgs } from '../../src/commands/quick.js';
import { dockerSocket, imageJson } from '../../src/engine/socket.js';
import { isNoopRecord, MAX_NOOP_REFS, MAX_RACY, racyFiles, racyFilesHold } from '../../src/scheduler/noop.js';
import { RACY_MS, type ContextFile } from '../../src/context/files.js';

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

describe('racy files: written again within one tick of the file system clock, their stat as it was (found by an adversarial review)', () => {
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');
  const file = (p: string, mtimeMs: number, size = 2, type: 'file' | 'symlink' = 'file'): ContextFile => ({ path: p, abs: `/x/${p}`, type, mode: 0o644, size, stamp: `${size}:${mtimeMs}:${mtimeMs}:1:1` });

  it('are the files modified within RACY_MS before the build read them, each with the hash the build keyed it by', () => {
    const now = 1_000_000;
    const files = [file('old.txt', now - RACY_MS - 1), file('new.txt', now - 5), file('later.txt', now + 50), file('link', now, 2, 'symlink')];
    const hashes = new Map([['old.txt', 'a'.repeat(64)], ['new.txt', 'b'.repeat(64)], ['later.txt', 'c'.repeat(64)]]);
    expect(racyFiles(files, now, hashes)).toEqual([['new.txt', 'b'.repeat(64)], ['later.txt', 'c'.repeat(64)]]);
    // An old mtime set on a file just written (touch -d, rsync -t): its ctime tells.
    const touched = { ...file('touched.txt', now - 100_000), stamp: `2:${now - 100_000}:${now - 3}:1:1` };
    expect(racyFiles([touched], now, new Map([['touched.txt', 'e'.repeat(64)]]))).toEqual([['touched.txt', 'e'.repeat(64)]]);
    // One whose hash the build does not know, or too many to check quickly: no record at all.
    expect(racyFiles(files, now, new Map([['new.txt', 'b'.repeat(64)]]))).toBeUndefined();
    const many = Array.from({ length: MAX_RACY + 1 }, (_, n) => file(`f${n}`, now));
    expect(racyFiles(many, now, new Map(many.map((f) => [f.path, 'd'.repeat(64)])))).toBeUndefined();
  });

  it('hold only while their bytes are those hashed; a link at the name is not followed', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-racy-'));
    try {
      writeFileSync(path.join(dir, 'a.txt'), 'one\n');
      const record = { stamp: 's', imageId: 'sha256:x', tag: 't:1', refs: [], steps: [], lock: [], bases: [], racy: [['a.txt', sha('one\n')]] as [string, string][] };
      expect(racyFilesHold(dir, record)).toBe(true);
      // Same size, other bytes: what a write within one tick leaves with the stat the stamp holds.
      writeFileSync(path.join(dir, 'a.txt'), 'two\n');
      expect(racyFilesHold(dir, record)).toBe(false);
      rmSync(path.join(dir, 'a.txt'));
      writeFileSync(path.join(dir, 'b.txt'), 'one\n');
      symlinkSync('b.txt', path.join(dir, 'a.txt'));
      expect(racyFilesHold(dir, record)).toBe(false);
      expect(racyFilesHold(dir, { ...record, racy: undefined })).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('are named in a record as context paths with hex hashes, no more than MAX_RACY', () => {
    const record = (racy: unknown) => ({ stamp: 's', imageId: 'sha256:x', tag: 'paper/x:1', refs: [], steps: [], lock: [], bases: [], racy });
    expect(isNoopRecord(record([['src/a.py', 'a'.repeat(64)]]))).toBe(true);
    for (const bad of [[['../x', 'a'.repeat(64)]], [['/etc/passwd', 'a'.repeat(64)]], [['a//b', 'a'.repeat(64)]], [['a', 'xyz']], [['a']], 'a', [['a\0b', 'a'.repeat(64)]]]) {
      expect(isNoopRecord(record(bad)), JSON.stringify(bad)).toBe(false);
    }
    expect(isNoopRecord(record(Array.from({ length: MAX_RACY + 1 }, (_, n) => [`f${n}`, 'a'.repeat(64)])))).toBe(false);
  });
});
