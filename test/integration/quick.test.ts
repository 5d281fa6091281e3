// The quick no-op answer of `rep build` and `rep status` (src/commands/quick.ts)
// against the real docker engine: it answers only when the full build would
// find nothing to do, says what the full status would, and says nothing in
// every case where it cannot be sure.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { quickNoop, quickStatus, type QuickBuildArgs } from '../../src/commands/quick.js';
import { readNoop, writeNoop } from '../../src/scheduler/noop.js';
import { makeProject, rep, tempFolders } from '../helpers.js';
import { chainProject, fresh } from './engine-suite.js';
import { DEBIAN_DOCKER, DOCKER_BIN, sh } from './helpers.js';

const ARGS: Omit<QuickBuildArgs, 'command'> = { engine: 'docker', dockerfile: 'Dockerfile' };
const quick = (dir: string, args: Partial<QuickBuildArgs> = {}, env: NodeJS.ProcessEnv = {}) =>
  quickNoop({ ...ARGS, ...args }, { ...process.env, ...env }, dir);

/** A chain project built through the CLI (with the Dockerfile it writes in its context). */
function built(): string {
  const dir = chainProject();
  const r = rep(dir, ['build', '--engine', 'docker']);
  expect(r.code, r.stderr).toBe(0);
  return dir;
}

describe('quick no-op answer of rep build (docker)', () => {
  let dir: string;
  beforeAll(() => {
    dir = built();
  });

  it('answers after a successful build, from the record and the engine', async () => {
    expect(await quick(dir)).toEqual({ engine: 'docker', tag: 'rep-test/chain:latest', steps: 3 });
    expect(await quick(dir, { engine: 'auto' })).toEqual({ engine: 'docker', tag: 'rep-test/chain:latest', steps: 3 });
    // The same from another working directory, naming the Repfile and the context.
    expect(await quickNoop({ ...ARGS, file: path.join(dir, 'Repfile'), context: dir }, process.env, tmpdir())).toMatchObject({ steps: 3 });
  });

  it('says nothing for another engine setup: another daemon, another client, another Dockerfile; the builder is no part of it', async () => {
    // The step images are keyed alike whichever builder made them: with another builder, nothing to build either.
    expect(await quick(dir, {}, { DOCKER_BUILDKIT: '1' })).toBeDefined();
    expect(await quick(dir, {}, { DOCKER_BUILDKIT: '0' })).toBeDefined();
    expect(await quick(dir, {}, { DOCKER_HOST: 'unix:///nonexistent/docker.sock' })).toBeUndefined();
    expect(await quick(dir, {}, { DOCKER_HOST: 'tcp://127.0.0.1:2375' })).toBeUndefined();
    expect(await quick(dir, {}, { DOCKER_CONTEXT: 'elsewhere' })).toBeUndefined();
    expect(await quick(dir, {}, { REP_DOCKER: '/nonexistent/docker' })).toBeUndefined();
    expect(await quick(dir, {}, { REP_DOCKER: 'podman' })).toBeUndefined();
    expect(await quick(dir, {}, { PATH: '/nonexistent' })).toBeUndefined();
    expect(await quick(dir, { dockerfile: 'other/Dockerfile' })).toBeUndefined();
    // ...and answers again for the setup it was made with.
    expect(await quick(dir)).toBeDefined();
  });

  it('says nothing while another build holds the project', async () => {
    writeFileSync(path.join(dir, '.rep/build.pid'), `${process.pid}\n`);
    try {
      expect(await quick(dir)).toBeUndefined();
    } finally {
      rmSync(path.join(dir, '.rep/build.pid'));
    }
    expect(await quick(dir)).toBeDefined();
  });
});

describe('quick no-op answer: what the full path refuses before its own no-op (found by an adversarial review)', () => {
  it('a folder at one of rep\'s file names in .rep/, a Dockerfile\'s own ignore file that .dockerignore leaves out', async () => {
    const dir = built();
    expect(await quick(dir)).toBeDefined();
    const folder = path.join(dir, '.rep/statcache.json');
    rmSync(folder, { force: true });
    mkdirSync(folder);
    expect(await quick(dir)).toBeUndefined();
    const r = rep(dir, ['build', '--engine', 'docker']);
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining('.rep/statcache.json: is a folder')]);
    rmSync(folder, { recursive: true });
    expect(await quick(dir)).toBeDefined();

    // BuildKit reads Dockerfile.dockerignore instead of .dockerignore: that .dockerignore leaves it out changes nothing.
    writeFileSync(path.join(dir, '.dockerignore'), '*.dockerignore\n');
    expect(rep(dir, ['build', '--engine', 'docker']).code).toBe(0);
    expect(await quick(dir)).toBeDefined();
    writeFileSync(path.join(dir, 'Dockerfile.dockerignore'), 'x\n');
    expect(await quick(dir)).toBeUndefined();
    expect(rep(dir, ['build', '--engine', 'docker']).code).toBe(2);
    rmSync(path.join(dir, 'Dockerfile.dockerignore'));
    expect(await quick(dir)).toBeDefined();

  });

  it('a Repfile that gives a secret a file (however YAML spells the key): where it lies can change outside the context, so the full path checks it every time', async () => {
    const dir = makeProject({
      Repfile: `rep: 1\nname: quicksecret\nbase: busybox:latest\nenv: {TEST_RUN: "${randomUUID()}"}\n"secr\\x65ts":\n  api: {file: keys/api.txt}\nsteps:\n  use:\n    "secr\\x65ts": [api]\n    run: wc -c < /run/secrets/api > /api.len\nimage:\n  tag: rep-test/quicksecret:latest\n`,
      'keys/api.txt': 'key\n',
      '.dockerignore': 'keys\n',
    });
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    // Secrets are mounted by BuildKit: Debian's client has it.
    const BK = { REP_DOCKER: DEBIAN_DOCKER };
    const r = rep(dir, ['build', '--engine', 'docker'], BK);
    expect(r.code, r.stderr).toBe(0);
    expect(readNoop(dir)?.secretFiles).toBe(true);
    expect(await quick(dir, {}, BK)).toBeUndefined();
    // The full path answers the no-op, having checked where the secret's file lies.
    expect(rep(dir, ['build', '--engine', 'docker'], BK).stdout).toMatch(/^rep: nothing to build/);
    // A link moved into the context: the full path refuses, where a no-op answer said nothing.
    rmSync(path.join(dir, 'keys'), { recursive: true });
    writeFileSync(path.join(dir, 'api.txt'), 'key\n');
    mkdirSync(path.join(dir, 'keys'));
    symlinkSync('../api.txt', path.join(dir, 'keys/api.txt'));
    const refused = rep(dir, ['build', '--engine', 'docker'], BK);
    expect([refused.code, refused.stderr]).toEqual([2, expect.stringContaining('the secret is the file api.txt of the build context')]);
    sh(DOCKER_BIN, ['image', 'rm', '-f', 'rep-test/quicksecret:latest']);
  });
});

describe('quick no-op answer: every change is seen', () => {
  it('an input written again with the same bytes: the full build decides, and the next quick answer is back', async () => {
    const dir = built();
    const file = path.join(dir, 'two.txt');
    const later = new Date(Date.now() + 5000);
    utimesSync(file, later, later);
    expect(await quick(dir)).toBeUndefined();
    const r = rep(dir, ['build', '--engine', 'docker']);
    expect(r.stdout).toBe('rep: nothing to build; all 3 steps fresh (docker); image rep-test/chain:latest\n');
    expect(await quick(dir)).toBeDefined();
  });

  it('a racy file (modified just before the build read it) is checked by its bytes: the record keeps the hash the build keyed it by', async () => {
    const dir = built();
    // Every file was written a moment before the build: all racy, the Dockerfile the build wrote too.
    const record = readNoop(dir)!;
    const racy = new Map(record.racy);
    expect([...racy.keys()]).toEqual(expect.arrayContaining(['Dockerfile', 'Repfile', 'three.txt']));
    expect(racy.get('three.txt')).toBe(createHash('sha256').update(readFileSync(path.join(dir, 'three.txt'))).digest('hex'));
    expect(await quick(dir)).toBeDefined();
    // What a write within one tick of the clock would leave: the stamp as it was, other bytes than those hashed.
    writeNoop(dir, { ...record, racy: record.racy!.map(([p, h]) => [p, p === 'three.txt' ? 'f'.repeat(64) : h]) });
    expect(await quick(dir)).toBeUndefined();
  });

  it('a changed input, Repfile, .dockerignore, lock file or a new context file', async () => {
    const dir = built();
    const edits: [string, () => void][] = [
      ['input', () => writeFileSync(path.join(dir, 'three.txt'), '3 changed\n')],
      ['Repfile', () => writeFileSync(path.join(dir, 'Repfile'), `${readFileSync(path.join(dir, 'Repfile'), 'utf8')}# a comment\n`)],
      ['.dockerignore', () => writeFileSync(path.join(dir, '.dockerignore'), 'notes/\n')],
      ['lock', () => writeFileSync(path.join(dir, 'Repfile.lock'), '{"lockVersion": 1, "images": {}}\n')],
      ['new file', () => writeFileSync(path.join(dir, 'new.txt'), 'new\n')],
      ['removed file', () => rmSync(path.join(dir, 'new.txt'))],
    ];
    for (const [what, edit] of edits) {
      expect(await quick(dir), `before: ${what}`).toBeDefined();
      edit();
      expect(await quick(dir), `after: ${what}`).toBeUndefined();
      expect(rep(dir, ['build', '--engine', 'docker']).code, what).toBe(0);
    }
    expect(await quick(dir)).toBeDefined();
  });

  it('a step image removed, or the tag moved, behind rep\'s back; the Dockerfile removed', async () => {
    const dir = built();
    const state = () => JSON.parse(readFileSync(path.join(dir, '.rep/state.json'), 'utf8'));
    sh(DOCKER_BIN, ['image', 'rm', '-f', `rep-cache:${state().steps.two.key.slice(7)}`]);
    expect(await quick(dir)).toBeUndefined();
    expect(rep(dir, ['build', '--engine', 'docker']).stdout).toMatch(/^build   two: no image for key/);
    expect(await quick(dir)).toBeDefined();
    sh(DOCKER_BIN, ['tag', 'busybox:latest', 'rep-test/chain:latest']);
    expect(await quick(dir)).toBeUndefined();
    rep(dir, ['build', '--engine', 'docker']);
    expect(await quick(dir)).toBeDefined();
    rmSync(path.join(dir, 'Dockerfile'));
    expect(await quick(dir)).toBeUndefined();
    expect(rep(dir, ['build', '--engine', 'docker']).stdout).toContain(`rep: wrote ${path.join(dir, 'Dockerfile')}\n`);
    expect(existsSync(path.join(dir, 'Dockerfile'))).toBe(true);
  });

  it('a build without the rewrite (--no-reproducible) is no no-op for a plain build, which rewrites the image', async () => {
    const dir = built();
    const created = () => sh(DOCKER_BIN, ['image', 'inspect', '-f', '{{.Created}}', 'rep-test/chain:latest']).trim();
    expect(created()).toBe('1980-01-01T00:00:00Z');
    writeFileSync(path.join(dir, 'three.txt'), '3 again\n');
    expect(rep(dir, ['build', '--engine', 'docker', '--no-reproducible']).code).toBe(0);
    expect(created()).not.toBe('1980-01-01T00:00:00Z');
    expect(await quick(dir, { reproducible: false })).toBeDefined();
    expect(await quick(dir)).toBeUndefined();
    // Every step is as fresh either way: rep status is answered quickly all the same.
    expect(await quickStatus({ command: 'status', engine: 'auto' }, { ...process.env }, dir)).toEqual({ text: expect.stringMatching(/^one +fresh/m), exitCode: 0 });
    expect(rep(dir, ['build', '--engine', 'docker']).stdout).toBe('rep: nothing to build; all 3 steps fresh (docker); image rep-test/chain:latest\n');
    expect(created()).toBe('1980-01-01T00:00:00Z');
    expect(await quick(dir)).toBeDefined();
  });

  it('the full build answers the same no-op from the same record, without writing (as with --json, which the quick path leaves alone)', () => {
    const dir = built();
    const stateFile = path.join(dir, '.rep/state.json');
    const before = statSync(stateFile).mtimeMs;
    const r = rep(dir, ['build', '--engine', 'docker', '--json']);
    expect(r.code).toBe(0);
    const record = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(record).toMatchObject({ type: 'record', ok: true, engine: 'docker', tag: 'rep-test/chain:latest' });
    expect(record.steps.map((s: { action: string }) => s.action)).toEqual(['cached', 'cached', 'cached']);
    expect(statSync(stateFile).mtimeMs).toBe(before);
  });

  it('answers with the keys of its sealed record, not of a state.json changed under it (a git pull): one without a step made the answer throw', () => {
    const dir = built();
    const stateFile = path.join(dir, '.rep/state.json');
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { steps: Record<string, { key: string }> };
    const keys = Object.values(state.steps).map((s) => s.key);
    const first = Object.keys(state.steps)[0]!;
    delete state.steps[first];
    writeFileSync(stateFile, JSON.stringify(state));
    const r = rep(dir, ['build', '--engine', 'docker', '--json']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const record = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(record.steps.map((s: { key: string }) => s.key).sort()).toEqual(keys.sort());
  });

  it('a step that takes the written Dockerfile as an input copies the bytes that build wrote: the next build is answered quickly', async () => {
    const dir = makeProject({
      Repfile: `rep: 1
name: whole
base: busybox:latest
env: {${fresh()}}
steps:
  all:
    inputs: [.]
    run: ls > /listing
image:
  tag: rep-test/whole:latest
`,
      'data.txt': 'd\n',
    });
    expect(rep(dir, ['build', '--engine', 'docker']).code).toBe(0);
    expect(await quick(dir)).toBeDefined();
    const written = readFileSync(path.join(dir, 'Dockerfile'), 'utf8');
    expect(written).toMatch(/^COPY \["Dockerfile","Repfile","data.txt","\/work\/"\]$/m);
    expect(sh(DOCKER_BIN, ['run', '--rm', 'rep-test/whole:latest', 'cat', '/work/Dockerfile'])).toBe(written);
    sh(DOCKER_BIN, ['image', 'rm', 'rep-test/whole:latest']);
  });
});

describe('quick answer of rep status (docker)', () => {
  // The full path, for comparison: the same client under another name, which the quick path does not vouch for.
  const client = path.join(tempFolders().make('rep-client-'), 'docker-client');
  beforeAll(() => symlinkSync(sh('sh', ['-c', `command -v ${DOCKER_BIN}`]).trim(), client));
  const full = (dir: string, args: string[]) => rep(dir, ['status', ...args], { REP_DOCKER: client });
  const asked = (dir: string, extra: object = {}, env: NodeJS.ProcessEnv = {}) =>
    quickStatus({ command: 'status', engine: 'auto', ...extra }, { ...process.env, ...env }, dir);

  it('prints what the full status prints, with --json and -q, lock problems included', async () => {
    const dir = built();
    expect(await asked(dir, {}, { REP_DOCKER: client })).toBeUndefined();
    for (const lock of [undefined, '{"lockVersion": 1, "images": {}}\n']) {
      if (lock) {
        writeFileSync(path.join(dir, 'Repfile.lock'), lock);
        expect(await asked(dir)).toBeUndefined();
        expect(rep(dir, ['build', '--engine', 'docker']).code).toBe(0);
      }
      for (const args of [[], ['--json'], ['-q'], ['--engine', 'docker']]) {
        const extra = { json: args.includes('--json') || undefined, question: args.includes('-q') || undefined };
        expect(await asked(dir, extra), `${lock ? 'with a lock: ' : ''}${args.join(' ')}`).toBeDefined();
        const quickly = rep(dir, ['status', ...args]);
        const slowly = full(dir, args);
        expect({ out: quickly.stdout, err: quickly.stderr, code: quickly.code }, args.join(' ')).toEqual({ out: slowly.stdout, err: slowly.stderr, code: slowly.code });
      }
    }
    // The lock pins nothing: status lists the base as not pinned, and -q says not fresh.
    expect(rep(dir, ['status']).stdout).toMatch(/^Repfile\.lock: "busybox:latest" is not pinned \(run rep lock\)$/m);
    expect(rep(dir, ['status', '-q']).code).toBe(1);
    expect(rep(dir, ['status']).stdout).toMatch(/^one +fresh +sha256:/m);
  });

  it('leaves a changed input, a removed step image and another engine to the full path', async () => {
    const dir = built();
    expect(await asked(dir)).toEqual({ text: expect.stringMatching(/^one /), exitCode: 0 });
    expect(await asked(dir, {}, { DOCKER_HOST: 'unix:///nonexistent/docker.sock' })).toBeUndefined();
    writeFileSync(path.join(dir, 'three.txt'), '3 changed\n');
    expect(await asked(dir)).toBeUndefined();
    expect(rep(dir, ['status']).stdout).toMatch(/^three +stale +input changed: three\.txt/m);
    expect(rep(dir, ['status', '-q']).code).toBe(1);
    expect(rep(dir, ['build', '--engine', 'docker']).code).toBe(0);
    expect(await asked(dir)).toBeDefined();
    // Without the state (the outputs measured, which the full path keys consumers by), the full path decides.
    const stateFile = path.join(dir, '.rep/state.json');
    const saved = readFileSync(stateFile);
    rmSync(stateFile);
    expect(await asked(dir)).toBeUndefined();
    writeFileSync(stateFile, saved);
    expect(await asked(dir)).toBeDefined();
    const state = JSON.parse(readFileSync(path.join(dir, '.rep/state.json'), 'utf8'));
    sh(DOCKER_BIN, ['image', 'rm', '-f', `rep-cache:${state.steps.two.key.slice(7)}`]);
    expect(await asked(dir)).toBeUndefined();
    expect(rep(dir, ['status']).stdout).toMatch(/^two +stale +no image for key/m);
  });
});
