// Secrets reach RUN through BuildKit mounts and are never stored: not in a
// layer, a log, the state, the provenance or the Dockerfile.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CLI, makeProject, rep } from '../helpers.js';
import { DEBIAN_DOCKER, PODMAN_RUN, sh } from './helpers.js';

const repfile = () => `rep: 1
name: secretive
base: busybox:latest
env: {TEST_RUN: "${randomUUID()}"}
secrets:
  api: {file: keys/api.txt}
  pass: {env: REP_TEST_PASS}
steps:
  use:
    secrets: [api, pass]
    run: sha256sum < /run/secrets/api > /api.sha && wc -c < /run/secrets/pass > /pass.len
image:
  tag: rep-test/secretive:latest
  cmd: [cat, /api.sha, /pass.len]
`;

/** Removes these folders when the test ends, passed or failed. */
const removeAfter = (...dirs: string[]) => onTestFinished(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('secrets', () => {
  it('are mounted for RUN with BuildKit and appear in no layer, log, state, provenance or Dockerfile', () => {
    const api = `api-${randomUUID()}`;
    const pass = `pass-${randomUUID()}`;
    const dir = makeProject({ Repfile: repfile(), 'keys/api.txt': api, '.dockerignore': 'keys\n' });
    removeAfter(dir);
    onTestFinished(() => {
      const ref = existsSync(path.join(dir, '.rep/logs/use.log')) ? readFileSync(path.join(dir, '.rep/logs/use.log'), 'utf8').split('\n')[0]!.replace(/^# /, '') : '';
      spawnSync(DEBIAN_DOCKER, ['image', 'rm', '-f', 'rep-test/secretive:latest', ...(ref ? [ref] : [])], { stdio: 'ignore' });
    });
    const env = { REP_DOCKER: DEBIAN_DOCKER, REP_TEST_PASS: pass };
    const r = rep(dir, ['build', '--engine', 'docker', '--buildkit', '--secret', 'pass'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = sh(DEBIAN_DOCKER, ['run', '--rm', 'rep-test/secretive:latest']);
    expect(out).toBe(`${createHash('sha256').update(api).digest('hex')}  -\n${pass.length}\n`);

    const savedDir = mkdtempSync(path.join(tmpdir(), 'rep-secret-'));
    removeAfter(savedDir);
    const saved = path.join(savedDir, 'image.tar');
    sh(DEBIAN_DOCKER, ['save', '-o', saved, 'rep-test/secretive:latest']);
    const bytes = readFileSync(saved);
    expect(bytes.length).toBeGreaterThan(100_000);
    expect(bytes.includes(api)).toBe(false);
    expect(bytes.includes(pass)).toBe(false);
    for (const f of [...filesUnder(path.join(dir, '.rep')), path.join(dir, 'Dockerfile')]) {
      const text = readFileSync(f);
      expect(text.includes(api), f).toBe(false);
      expect(text.includes(pass), f).toBe(false);
    }
    expect(readFileSync(path.join(dir, 'Dockerfile'), 'utf8')).toContain('RUN --mount=type=secret,id=api,required=true --mount=type=secret,id=pass,required=true sha256sum');
    const prov = readFileSync(path.join(dir, '.rep/provenance.json'), 'utf8');
    expect(prov).not.toContain('keys/api.txt');
  });

  it('need BuildKit with docker, and say so', () => {
    const dir = makeProject({ Repfile: repfile(), 'keys/api.txt': 'x', '.dockerignore': 'keys\n' });
    removeAfter(dir);
    const r = rep(dir, ['build', '--engine', 'docker'], { REP_TEST_PASS: 'x' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Repfile:\d+:\d+: steps\.use\.secrets: secrets are mounted by BuildKit: build with --buildkit/);
  });

  it('from outside the project (a file elsewhere, the environment) are handed over only when the command line says so', () => {
    const outside = mkdtempSync(path.join(tmpdir(), 'rep-secret-host-'));
    const hostFile = path.join(outside, 'id_rsa');
    writeFileSync(hostFile, `host-${randomUUID()}`);
    const stranger = repfile().replace('{file: keys/api.txt}', `{file: ${JSON.stringify(hostFile)}}`).replace('rep-test/secretive', 'rep-test/stranger');
    const dir = makeProject({ Repfile: stranger });
    removeAfter(dir, outside);
    onTestFinished(() => {
      const ref = existsSync(path.join(dir, '.rep/logs/use.log')) ? readFileSync(path.join(dir, '.rep/logs/use.log'), 'utf8').split('\n')[0]!.replace(/^# /, '') : '';
      spawnSync(DEBIAN_DOCKER, ['image', 'rm', '-f', 'rep-test/stranger:latest', ...(ref ? [ref] : [])], { stdio: 'ignore' });
    });
    const env = { REP_DOCKER: DEBIAN_DOCKER, REP_TEST_PASS: 'hunter2' };
    const refused = rep(dir, ['build', '--engine', 'docker', '--buildkit'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr.split('\n').filter((l) => l.startsWith('Repfile:'))).toEqual([
      `Repfile:6:15: secrets.api.file: the Repfile asks for the file ${hostFile}, outside the project, as secret "api"; rep hands a build a file of this machine only when you say so: --secret api`,
      'Repfile:7:15: secrets.pass.env: the Repfile asks for the environment variable REP_TEST_PASS as secret "pass"; rep hands a build a value of your environment only when you say so: --secret pass',
    ]);
    expect(existsSync(path.join(dir, '.rep/logs/use.log'))).toBe(false);
    // A grant by id takes the source the Repfile names; id=ID,src=FILE another one; an unknown id is a mistake.
    expect(rep(dir, ['build', '--engine', 'docker', '--buildkit', '--secret', 'nope'], env).stderr).toContain('--secret nope: the Repfile declares no secret of that name (it has: api, pass)');
    const other = path.join(outside, 'other');
    writeFileSync(other, 'other value');
    const granted = rep(dir, ['build', '--engine', 'docker', '--buildkit', '--secret', `id=api,src=${other}`, '--secret', 'pass'], env);
    expect(granted.stderr).toBe('');
    expect(granted.code).toBe(0);
    expect(sh(DEBIAN_DOCKER, ['run', '--rm', 'rep-test/stranger:latest'])).toBe(`${createHash('sha256').update('other value').digest('hex')}  -\n7\n`);
  });

  it('must exist', () => {
    const dir = makeProject({ Repfile: repfile(), '.dockerignore': 'keys\n' });
    removeAfter(dir);
    const r = rep(dir, ['build', '--engine', 'docker', '--buildkit', '--secret', 'pass'], { REP_DOCKER: DEBIAN_DOCKER });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Repfile:6:15: secrets.api.file: no such file: keys/api.txt');
    expect(r.stderr).toContain('Repfile:7:15: secrets.pass.env: the environment variable REP_TEST_PASS is not set');
  });
});

/** Every regular file under `dir` (links not followed) whose name or bytes hold `value`. */
function holding(dir: string, value: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = path.join(d, n);
      const st = lstatSync(p);
      if (n.includes(value)) out.push(p);
      if (st.isDirectory()) visit(p);
      else if (st.isFile() && readFileSync(p).includes(value)) out.push(p);
    }
  };
  visit(dir);
  return out;
}

/** Pids of the processes below `pid` (children, their children, ...), from /proc. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
      parent.set(Number(n), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) if (pp === p) (out.push(c), walk(c));
  };
  walk(pid);
  return out;
}

async function until(check: () => boolean, what: string, ms = 60_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each([
  { engine: 'docker (BuildKit)', bin: DEBIAN_DOCKER, args: ['--engine', 'docker', '--buildkit'] },
  { engine: 'podman', bin: 'podman', args: ['--engine', 'podman'] },
])('an environment secret with $engine', ({ bin, args }) => {
  it('reaches RUN byte for byte', () => {
    const value = `p@ss, w=rd "$HOME" \\ \t é ${randomUUID()}\nsecond line`;
    const tag = `rep-test/secret-env-${randomUUID().slice(0, 8)}:latest`;
    const dir = makeProject({
      Repfile: `rep: 1\nname: envsecret\nbase: busybox:latest\nenv: {TEST_RUN: "${randomUUID()}"}\nsecrets:\n  pass: {env: REP_TEST_PASS}\nsteps:\n  use:\n    secrets: [pass]\n    run: sha256sum < /run/secrets/pass > /pass.sha\nimage:\n  tag: ${tag}\n  cmd: [cat, /pass.sha]\n`,
    });
    try {
      const r = rep(dir, ['build', ...args, '--secret', 'pass'], { REP_DOCKER: DEBIAN_DOCKER, REP_TEST_PASS: value });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const out = sh(bin, ['run', '--rm', ...(bin === 'podman' ? PODMAN_RUN : []), tag]);
      expect(out).toBe(`${createHash('sha256').update(value).digest('hex')}  -\n`);
    } finally {
      const ref = readFileSync(path.join(dir, '.rep/logs/use.log'), 'utf8').split('\n')[0]!.replace(/^# /, '');
      spawnSync(bin, ['image', 'rm', '-f', tag, ref], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is written to no file, even when rep is killed (SIGKILL) mid-build', async () => {
    const value = `pass-${randomUUID()}`;
    const dir = makeProject({
      Repfile: `rep: 1\nname: killed\nbase: busybox:latest\nenv: {TEST_RUN: "${randomUUID()}"}\nsecrets:\n  pass: {env: REP_TEST_PASS}\nsteps:\n  use:\n    secrets: [pass]\n    run: wc -c < /run/secrets/pass > /pass.len && sleep 3\nimage:\n  tag: rep-test/secret-killed:latest\n`,
    });
    const tmp = mkdtempSync(path.join(tmpdir(), 'rep-secret-tmp-'));
    const log = path.join(dir, '.rep/logs/use.log');
    // podman's build, its client killed with rep, leaves its working containers (buildah's, which only
    // `podman ps --external` lists): those made while this test ran are removed at its end.
    const working = () => (bin === 'podman' ? sh('podman', ['ps', '--all', '--external', '--quiet', '--no-trunc']).split('\n').filter(Boolean) : []);
    const workingBefore = new Set(working());
    try {
      const child = spawn(process.execPath, [CLI, 'build', ...args, '--secret', 'pass'], {
        cwd: dir,
        env: { ...process.env, TMPDIR: tmp, REP_DOCKER: DEBIAN_DOCKER, REP_TEST_PASS: value },
        stdio: 'ignore',
      });
      // The engine runs the RUN instruction: BuildKit's "#5 [2/2] RUN ...", podman's "STEP 3/3: RUN ...".
      await until(() => existsSync(log) && /^(#\d+ \[.*\] RUN|STEP \d+\/\d+: RUN)/m.test(readFileSync(log, 'utf8')), 'the step to run');
      const below = descendants(child.pid!);
      expect(below.length).toBeGreaterThan(0);
      child.kill('SIGKILL');
      // The engine's client, orphaned, ends on its own (a closed pipe, or the step done).
      await until(() => below.every((p) => !existsSync(`/proc/${p}`)), 'the engine client to end');
      expect(holding(tmp, value)).toEqual([]);
    } finally {
      const ref = existsSync(log) ? readFileSync(log, 'utf8').split('\n')[0]!.replace(/^# /, '') : '';
      const left = working().filter((id) => !workingBefore.has(id));
      if (left.length) spawnSync('podman', ['rm', '--force', ...left], { stdio: 'ignore' });
      if (ref) spawnSync(bin, ['image', 'rm', '-f', ref], { stdio: 'ignore' });
      rmSync(tmp, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a secret file inside the build context', () => {
  const secretive = (file: string) => repfile().replace('{file: keys/api.txt}', `{file: ${JSON.stringify(file)}}`);
  const refused = (rel: string) =>
    `Repfile:6:15: secrets.api.file: the secret is the file ${rel} of the build context, which .dockerignore does not exclude: it would be copied into images and published with the context; add ${rel} to .dockerignore, or keep the file outside the context`;

  it('is refused unless .dockerignore excludes it, whatever the engine', () => {
    const dir = makeProject({ Repfile: repfile(), 'keys/api.txt': 'k' });
    const again = makeProject({ Repfile: repfile(), 'keys/api.txt': 'k', '.dockerignore': 'keys\n!keys/api.txt\n' });
    removeAfter(dir, again);
    for (const engine of [['--engine', 'docker', '--buildkit'], ['--engine', 'none']]) {
      const r = rep(dir, ['build', ...engine], { REP_DOCKER: DEBIAN_DOCKER, REP_TEST_PASS: 'x' });
      expect(r.stderr.split('\n')[0]).toBe(refused('keys/api.txt'));
      expect(r.code).toBe(2);
    }
    expect(existsSync(path.join(dir, 'Dockerfile'))).toBe(false);
    expect(rep(again, ['build', '--engine', 'none'], { REP_TEST_PASS: 'x' }).stderr.split('\n')[0]).toBe(refused('keys/api.txt'));
  });

  it('is refused when reached through a link from outside the context', () => {
    const outside = mkdtempSync(path.join(tmpdir(), 'rep-secret-out-'));
    const dir = makeProject({ 'keys/api.txt': 'k' });
    removeAfter(outside, dir);
    symlinkSync(path.join(dir, 'keys/api.txt'), path.join(outside, 'api.txt'));
    writeFileSync(path.join(dir, 'Repfile'), secretive(path.join(outside, 'api.txt')));
    const r = rep(dir, ['build', '--engine', 'none'], { REP_TEST_PASS: 'x' });
    expect(r.stderr.split('\n')[0]).toBe(refused('keys/api.txt'));
    expect(r.code).toBe(2);
  });

  it('cannot have a "," in its path, which would end the --secret option', () => {
    const dir = makeProject({ Repfile: secretive('keys/a,src=b'), 'keys/a,src=b': 'k', '.dockerignore': 'keys\n' });
    removeAfter(dir);
    const r = rep(dir, ['build', '--engine', 'docker', '--buildkit'], { REP_DOCKER: DEBIAN_DOCKER, REP_TEST_PASS: 'x' });
    expect(r.stderr.split('\n')[0]).toBe(
      `Repfile:6:15: secrets.api.file: the path of a secret file cannot hold ",", '"' or a control character (docker and podman read --secret as comma-separated fields): rename ${path.join(dir, 'keys/a,src=b')}`,
    );
    expect(r.code).toBe(2);
  });
});
