// The engine adapters' manners toward the network and the user, with fake
// docker and podman binaries (shell scripts that record their arguments):
// when TLS is turned off, and what `--engine auto` says when it passes docker by.
import { chmodSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BuildEvent } from '../../src/scheduler/events.js';
import { build } from '../../src/build.js';
import { CliEngine } from '../../src/engine/cli.js';
import { EngineError, type BuildOutcome, type Engine } from '../../src/engine/engine.js';
import { selectEngine } from '../../src/engine/select.js';
import { formatDiagnostic } from '../../src/diag.js';
import { isInsecure } from '../../src/lock/registry.js';
import { seal } from '../../src/state/seal.js';
import { nextState, type State } from '../../src/state/state.js';
import { readRegister } from '../../src/gc/register.js';
import { makeProject, open, rep } from '../helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * A folder of fake engine binaries. Each appends its arguments (one line per
 * call) to NAME.args; `version` prints `version` (or fails with `down`, the
 * client's words when its daemon is gone); any other command exits 1 unless
 * it is a push or pull.
 */
function fakes(bins: Record<string, { version?: string; down?: string }>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'rep-fake-engine-'));
  dirs.push(dir);
  for (const [name, how] of Object.entries(bins)) {
    const file = path.join(dir, name);
    const version = how.down !== undefined ? `echo '${how.down}' >&2; exit 1` : `echo '${how.version ?? '1.0'}'`;
    writeFileSync(
      file,
      `#!/bin/sh\nprintf '%s\\n' "$*" >> '${file}.args'\ncase "$1" in\n  version) ${version};;\n  push|pull) exit 0;;\n  *) exit 1;;\nesac\n`,
    );
    chmodSync(file, 0o755);
  }
  return dir;
}

const calls = (dir: string, name: string) => readFileSync(path.join(dir, `${name}.args`), 'utf8').trim().split('\n');

describe('isInsecure: which registries are spoken to without TLS', () => {
  it('loopback IP literals and localhost', () => {
    for (const r of ['127.0.0.1:5000', '127.0.0.1', '127.8.9.10:443', 'localhost:5000', 'localhost', 'LOCALHOST:5000', '[::1]:5000', '[::1]', '::1', '[0:0:0:0:0:0:0:1]:5000']) {
      expect(isInsecure(r), r).toBe(true);
    }
  });

  it('not names that merely look like loopback, nor any other host', () => {
    for (const r of [
      '127.evil.example',
      '127.evil.example:5000',
      '127.0.0.1.nip.io:5000',
      'localhost.evil.example',
      'evil-localhost:5000',
      'registry.example.org',
      'registry.example.org:5000',
      '10.0.0.1:5000',
      '128.0.0.1',
      '[::2]:5000',
      'docker.io',
      '',
    ]) {
      expect(isInsecure(r), r).toBe(false);
    }
  });

  it('no other registry, whatever the environment names (TLS is never turned off beyond loopback)', () => {
    process.env.REP_INSECURE_REGISTRIES = 'registry.example.org:5000,10.0.0.1';
    try {
      expect(isInsecure('registry.example.org:5000')).toBe(false);
      expect(isInsecure('10.0.0.1')).toBe(false);
    } finally {
      delete process.env.REP_INSECURE_REGISTRIES;
    }
  });
});

describe('podman push and pull: --tls-verify=false only for registries that are insecure', () => {
  const refs = {
    loopback: '127.0.0.1:5000/rep-test/cache:abc',
    localhost: 'localhost:5000/rep-test/cache:abc',
    remote: 'registry.example.org/team/cache:abc',
    lookalike: '127.evil.example/team/cache:abc',
    hub: 'busybox:latest',
  };

  it('passes it for 127.0.0.1:5000 and localhost:5000, never for registry.example.org, 127.evil.example or Docker Hub', async () => {
    const dir = fakes({ podman: { version: '4.3.1' } });
    const engine = new CliEngine({ flavor: 'podman', env: { PATH: dir } });
    for (const ref of Object.values(refs)) {
      await engine.push(ref);
      expect(await engine.pull(ref)).toBe(true);
    }
    expect(calls(dir, 'podman')).toEqual([
      `push --tls-verify=false ${refs.loopback}`,
      `pull --tls-verify=false ${refs.loopback}`,
      `push --tls-verify=false ${refs.localhost}`,
      `pull --tls-verify=false ${refs.localhost}`,
      `push ${refs.remote}`,
      `pull ${refs.remote}`,
      `push ${refs.lookalike}`,
      `pull ${refs.lookalike}`,
      `push ${refs.hub}`,
      `pull ${refs.hub}`,
    ]);
  });

  it('never for a registry elsewhere, whatever the environment names (binary from REP_PODMAN)', async () => {
    const dir = fakes({ podman: {} });
    const engine = new CliEngine({ flavor: 'podman', env: { REP_PODMAN: path.join(dir, 'podman'), REP_INSECURE_REGISTRIES: 'registry.example.org' } });
    await engine.push(refs.remote);
    await engine.push(refs.loopback);
    expect(calls(dir, 'podman')).toEqual([`push ${refs.remote}`, `push --tls-verify=false ${refs.loopback}`]);
  });

  it('docker is never told: its daemon decides', async () => {
    const dir = fakes({ docker: {} });
    const engine = new CliEngine({ flavor: 'docker', env: { PATH: dir } });
    await engine.push(refs.loopback);
    await engine.pull(refs.remote);
    expect(calls(dir, 'docker')).toEqual([`push ${refs.loopback}`, `pull ${refs.remote}`]);
  });
});

describe('a container rep makes to read an image (found by an adversarial review)', () => {
  it('is never pulled (a step image gone meanwhile is not looked for in a registry), is named by rep, not by what the client printed, and goes with the anonymous volumes its image made (a review)', async () => {
    const dir = fakes({ podman: {} });
    const engine = new CliEngine({ flavor: 'podman', env: { PATH: dir } });
    await expect(engine.exportFilesystem('rep-verify/x:0123456789ab', path.join(dir, 'fs.tar'))).rejects.toThrow();
    await expect(engine.exportPaths('rep-cache:abc', ['/out'], async () => undefined)).rejects.toThrow();
    const said = calls(dir, 'podman');
    expect(said.map((l) => l.replace(/rep-out-[0-9a-f]{16}/, 'rep-out-N'))).toEqual([
      'create --pull=never --name rep-out-N rep-verify/x:0123456789ab true',
      'rm -f -v rep-out-N',
      'create --pull=never --name rep-out-N rep-cache:abc true',
      'rm -f -v rep-out-N',
    ]);
    expect(said[0]!.split(' ')[3]).toBe(said[1]!.split(' ')[3]);
  });
});

describe('an engine that takes the connection and never answers (found by an adversarial review)', () => {
  it('is given up on, with why, rather than waited for (every build, and every failed step asking whether it is still there)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-fake-engine-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, 'docker'), '#!/bin/sh\nexec /bin/sleep 60\n');
    chmodSync(path.join(dir, 'docker'), 0o755);
    const engine = new CliEngine({ flavor: 'docker', env: { PATH: dir, DOCKER_HOST: 'tcp://127.0.0.1:9' }, probeMs: 300 });
    expect(await engine.answers()).toBe(false);
    expect(await engine.whySilent()).toEqual({ kind: 'no-answer', said: 'docker version gave no answer within 0.3 s' });
  });

  it('nor one that answered its version and then falls silent (an ssh:// host asleep): a question throws, it is never read as "no such image"', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-fake-engine-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, 'docker'), `#!/bin/sh\ncase "$1" in\n  version) echo '20.10.24 20.10.24 linux/amd64';;\n  *) exec /bin/sleep 60;;\nesac\n`);
    chmodSync(path.join(dir, 'docker'), 0o755);
    const engine = new CliEngine({ flavor: 'docker', env: { PATH: dir, DOCKER_HOST: 'ssh://u@198.51.100.7' }, questionMs: 300 });
    expect(await engine.available()).toBe(true);
    await expect(engine.imageIds(['busybox:latest'])).rejects.toThrow('docker image inspect gave no answer within 0.3 s: is the engine still there?');
    await expect(engine.tag('busybox:latest', `rep-cache:${'a'.repeat(64)}`)).rejects.toThrow(/^docker tag .* gave no answer within 0\.3 s/);
  });

  it('but a removal takes as long as it takes: deleting a large image on slow storage is no question (found by a review)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-fake-engine-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, 'docker'), `#!/bin/sh\ncase "$1" in\n  version) echo '20.10.24 20.10.24 linux/amd64';;\n  *) /bin/sleep 1; exit 0;;\nesac\n`);
    chmodSync(path.join(dir, 'docker'), 0o755);
    const engine = new CliEngine({ flavor: 'docker', env: { PATH: dir, DOCKER_HOST: 'ssh://u@198.51.100.7' }, questionMs: 300 });
    await expect(engine.removeImage(`rep-cache:${'a'.repeat(64)}`)).resolves.toBeUndefined();
  });
});

describe('the platform an engine builds for', () => {
  it("is the server's, as its version says, or the one DOCKER_DEFAULT_PLATFORM asks docker for; the no-op identity names only an asked one", async () => {
    const dir = fakes({ docker: { version: '20.10.24 28.2.2 linux/amd64' }, podman: { version: '4.3.1 - linux/arm64' } });
    const plain = new CliEngine({ flavor: 'docker', env: { PATH: dir, DOCKER_HOST: 'unix:///nonexistent.sock' } });
    expect(await plain.platform()).toBe('linux/amd64');
    expect(await plain.identity()).toBe('docker 20.10.24');
    const asked = new CliEngine({ flavor: 'docker', env: { PATH: dir, DOCKER_HOST: 'unix:///nonexistent.sock', DOCKER_DEFAULT_PLATFORM: 'Linux/ARM64' } });
    expect(await asked.platform()).toBe('linux/arm64');
    expect(await asked.identity()).toBe('docker 20.10.24 for linux/arm64');
    const podman = new CliEngine({ flavor: 'podman', env: { PATH: dir, DOCKER_DEFAULT_PLATFORM: 'linux/s390x' } });
    expect(await podman.platform()).toBe('linux/arm64');
    // Spelled as containerd normalises it: one platform, one key.
    for (const [asked, is] of [['linux/x86_64', 'linux/amd64'], ['linux/aarch64', 'linux/arm64'], ['linux/arm64/v8', 'linux/arm64'], ['linux/arm/v7', 'linux/arm/v7'], ['linux/arm', 'linux/arm/v7'], ['linux/armhf', 'linux/arm/v7'], ['linux/armel', 'linux/arm/v6'], ['linux/amd64/v1', 'linux/amd64'], ['linux/amd64/v3', 'linux/amd64/v3']]) {
      expect(await new CliEngine({ flavor: 'docker', env: { PATH: dir, DOCKER_HOST: 'unix:///x.sock', DOCKER_DEFAULT_PLATFORM: asked } }).platform(), asked).toBe(is);
    }
    // A version line without one (an older fake, a client that prints no platform) says none.
    const bare = new CliEngine({ flavor: 'docker', env: { PATH: fakes({ docker: { version: '20.10.24 28.2.2 <no value>/x y' } }), DOCKER_HOST: 'unix:///x.sock' } });
    expect(await bare.platform()).toBeUndefined();
  });

  it('is one platform or refused: a list, a word, or a newline and an escape reached keys, the no-op record and the provenance (a review)', async () => {
    const dir = fakes({ docker: { version: '20.10.24 28.2.2 linux/amd64' }, podman: { version: '4.3.1 - linux/amd64' } });
    for (const bad of ['linux/amd64,linux/arm64', 'nonsense', 'linux', 'Linux/AMD64\n\x1b[31mred']) {
      const env = { PATH: dir, DOCKER_HOST: 'unix:///nonexistent.sock', DOCKER_DEFAULT_PLATFORM: bad };
      expect(await new CliEngine({ flavor: 'docker', env }).platform(), bad).toBe('linux/amd64');
      expect(await new CliEngine({ flavor: 'docker', env }).identity(), bad).toBe('docker 20.10.24');
      for (const choice of ['docker', 'auto'] as const) {
        const r = await selectEngine(choice, { env });
        expect(r.ok, `${choice} ${bad}`).toBe(false);
        const text = r.ok ? '' : formatDiagnostic(r.errors[0]!);
        expect(text).toBe(`rep: DOCKER_DEFAULT_PLATFORM=${JSON.stringify(bad).replace(/\\u001b/g, '\\u001b')}: names no one platform rep can key its steps by: give os/arch or os/arch/variant, such as linux/amd64 (an architecture alone, such as arm64, is taken as linux/arm64, as docker takes it)`);
        expect(text).not.toMatch(/[\x00-\x1f]/);
      }
      // podman reads no DOCKER_DEFAULT_PLATFORM: asked for, it is used.
      expect((await selectEngine('podman', { env })).ok).toBe(true);
    }
    expect((await selectEngine('docker', { env: { PATH: dir, DOCKER_HOST: 'unix:///nonexistent.sock', DOCKER_DEFAULT_PLATFORM: 'linux/arm64' } })).ok).toBe(true);
    // An architecture alone is one on linux, as docker reads it (a refusal of arm64 was a regression: a review).
    for (const [word, is] of [['arm64', 'linux/arm64'], ['AMD64', 'linux/amd64'], ['x86_64', 'linux/amd64'], ['armhf', 'linux/arm/v7'], ['s390x', 'linux/s390x']]) {
      const env = { PATH: dir, DOCKER_HOST: 'unix:///nonexistent.sock', DOCKER_DEFAULT_PLATFORM: word };
      expect((await selectEngine('docker', { env })).ok, word).toBe(true);
      expect(await new CliEngine({ flavor: 'docker', env }).platform(), word).toBe(is);
    }
  });
});

/** The engine auto picks, with its notice (the test fails when none is picked). */
async function pickAuto(env: NodeJS.ProcessEnv) {
  const r = await selectEngine('auto', { env });
  if (!r.ok) throw new Error(`no engine: ${r.errors[0]!.message}`);
  return r.value;
}

describe('secrets through podman --remote (found by a review)', () => {
  it('one given from the environment is refused, said why: podman --remote hands it to the build as an empty file and the build goes on', async () => {
    const dir = fakes({ podman: { version: '5.7.1 - linux/amd64 remote' } });
    const engine = new CliEngine({ flavor: 'podman', env: { PATH: dir } });
    const lines: string[] = [];
    const r = await engine.build({ context: { dockerfile: 'FROM busybox\n' }, tag: `rep-cache:${'a'.repeat(64)}`, secrets: [{ id: 'token', value: 's3cret' }], onLine: (l) => lines.push(l) });
    expect(r.ok).toBe(false);
    expect(lines.join('\n')).toMatch(/^podman 5\.7\.1 is remote here .* give it as a file \(--secret id=ID,src=FILE\)/);
    expect(calls(dir, 'podman').some((c) => c.startsWith('build'))).toBe(false);
    // A file, and a local podman, go to the build as before.
    await engine.build({ context: { dockerfile: 'FROM busybox\n' }, tag: `rep-cache:${'a'.repeat(64)}`, secrets: [{ id: 'token', src: '/tmp/token' }] });
    expect(calls(dir, 'podman').some((c) => c.startsWith('build') && c.includes('id=token,src=/tmp/token'))).toBe(true);
    const local = fakes({ podman: { version: '4.3.1 - linux/amd64' } });
    await new CliEngine({ flavor: 'podman', env: { PATH: local } }).build({ context: { dockerfile: 'FROM busybox\n' }, tag: `rep-cache:${'a'.repeat(64)}`, secrets: [{ id: 'token', value: 's3cret' }] });
    expect(calls(local, 'podman').some((c) => c.startsWith('build') && c.includes('id=token,env=REP_SECRET_0'))).toBe(true);
  });
});

describe("the client's environment for a build", () => {
  it("has no SOURCE_DATE_EPOCH of the user's: buildx and newer podman take it over the Dockerfile's epoch, which the key names (a review)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-fake-engine-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, 'docker'), `#!/bin/sh\ncase "$1" in\n  version) echo '20.10.24 20.10.24 linux/amd64';;\n  build) env > "${dir}/build.env"; cat > /dev/null; exit 1;;\n  *) exit 1;;\nesac\n`);
    chmodSync(path.join(dir, 'docker'), 0o755);
    const engine = new CliEngine({ flavor: 'docker', env: { PATH: `${dir}:/usr/bin:/bin`, DOCKER_HOST: 'unix:///nonexistent.sock', SOURCE_DATE_EPOCH: '1', KEPT: 'yes' } });
    await engine.build({ context: { dockerfile: 'FROM busybox\n' }, secrets: [] });
    const seen = readFileSync(path.join(dir, 'build.env'), 'utf8');
    expect(seen).toContain('KEPT=yes');
    expect(seen).not.toContain('SOURCE_DATE_EPOCH');
  });
});

describe('--engine auto', () => {
  const DOWN = 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?';

  it('says why it passes docker by when docker is configured (DOCKER_HOST) but does not answer', async () => {
    const dir = fakes({ docker: { down: 'error during connect' }, podman: { version: '4.3.1' } });
    const sel = await pickAuto({ PATH: dir, DOCKER_HOST: 'tcp://10.0.0.9:2376' });
    expect(sel.engine.name).toBe('podman');
    expect(sel.notice).toBe('docker does not answer (DOCKER_HOST=tcp://10.0.0.9:2376): using podman');
  });

  it('says why when a docker binary is there but its daemon does not answer', async () => {
    const dir = fakes({ docker: { down: DOWN }, podman: { version: '4.3.1' } });
    const sel = await pickAuto({ PATH: dir });
    expect(sel.engine.name).toBe('podman');
    expect(sel.notice).toBe(`docker does not answer (${DOWN}): using podman`);
  });

  it('says so with DOCKER_HOST set even when there is no docker binary', async () => {
    const dir = fakes({ podman: {} });
    const sel = await pickAuto({ PATH: dir, DOCKER_HOST: 'unix:///run/user/1000/docker.sock' });
    expect(sel.engine.name).toBe('podman');
    expect(sel.notice).toBe('docker does not answer (DOCKER_HOST=unix:///run/user/1000/docker.sock): using podman');
  });

  it('says so when REP_DOCKER names a client that is not there (a typo, a stale path; found by a review)', async () => {
    const dir = fakes({ podman: {} });
    const sel = await pickAuto({ PATH: dir, REP_DOCKER: '/opt/docker-27/bin/docker' });
    expect(sel.engine.name).toBe('podman');
    expect(sel.notice).toBe('docker does not answer (REP_DOCKER=/opt/docker-27/bin/docker: no such program): using podman');
  });

  it('stays quiet on a machine with podman and no docker at all', async () => {
    const dir = fakes({ podman: {} });
    const sel = await pickAuto({ PATH: dir });
    expect(sel.engine.name).toBe('podman');
    expect(sel.notice).toBeUndefined();
  });

  it('names docker when neither answers', async () => {
    const dir = fakes({ docker: { down: DOWN }, podman: { down: 'cannot' } });
    const sel = await pickAuto({ PATH: dir });
    expect(sel.engine.name).toBe('none');
    expect(sel.notice).toBe(`no container engine answers (docker: ${DOWN}; podman): building nothing, as with --engine none`);
    const bare = await pickAuto({ PATH: fakes({}) });
    expect(bare.notice).toBe('no container engine answers (docker, podman): building nothing, as with --engine none');
  });

  it('uses docker, quietly, when it answers', async () => {
    const dir = fakes({ docker: { version: '20.10.24' }, podman: {} });
    const sel = await pickAuto({ PATH: dir, DOCKER_HOST: 'unix:///x.sock' });
    expect(sel.engine.name).toBe('docker');
    expect(sel.notice).toBeUndefined();
  });

  it('rep build prints the notice on stderr', () => {
    const bins = fakes({ docker: { down: DOWN }, podman: { version: '4.3.1' } });
    const dir = makeProject({ Repfile: 'rep: 1\nname: n\nbase: busybox:latest\nsteps:\n  one:\n    run: echo one\n' });
    dirs.push(dir);
    const r = rep(dir, ['build', '--dry-run'], { PATH: bins, DOCKER_HOST: 'unix:///nonexistent/docker.sock', REP_DOCKER: '', REP_PODMAN: '' });
    expect(r.stderr).toBe('rep: docker does not answer (DOCKER_HOST=unix:///nonexistent/docker.sock): using podman\n');
    expect(r.code).toBe(0);
  });
});

/** An engine whose every image question fails, as a client that lost its daemon between two calls would. */
class BrokenEngine implements Engine {
  readonly name = 'docker' as const;
  readonly secretsSupported = false;
  readonly syncsFolders = false;
  async describe() {
    return 'docker (broken)';
  }
  async identity() {
    return 'docker ?';
  }
  async platform(): Promise<string | undefined> {
    return undefined;
  }
  async answers() {
    return true;
  }
  async hasImage(_ref?: string): Promise<boolean> {
    throw new EngineError('docker image inspect failed (exit 1)', 'first line\nerror during connect: the daemon went away\n');
  }
  async imageIds(refs: readonly string[]): Promise<Map<string, string | undefined>> {
    return new Map(refs.map((r) => [r, undefined] as const));
  }
  async build(_req?: { tag?: string }): Promise<BuildOutcome> {
    return { ok: false, exitCode: 1, tail: [], cancelled: false };
  }
  async tag(_src?: string, _dst?: string) {}
  async exportPaths(_image?: string) {}
  async inspect() {
    return undefined;
  }
  async save(_refs?: string | readonly string[], _file?: string) {}
  async load() {}
  async exportFilesystem() {}
  async push() {}
  async pull() {
    return false;
  }
  async removeImage(_ref: string): Promise<void> {}
  async listImages() {
    return [];
  }
}

describe('the scheduler', () => {
  it('turns an engine error in a step into that step failing: a step-failed event with the message, the rest skipped, a finish event', async () => {
    const dir = makeProject({ Repfile: 'rep: 1\nname: n\nbase: busybox:latest\nsteps:\n  one:\n    run: echo one\n  two:\n    needs: [one]\n    run: echo two\n' });
    dirs.push(dir);
    const events: BuildEvent[] = [];
    const r = await build(open(dir), { engine: new BrokenEngine(), onEvent: (e) => events.push(e) });
    expect(r.ok && r.value.ok).toBe(false);
    expect(events.map((e) => e.type)).toEqual(['step-failed', 'step-skipped', 'finish']);
    expect(events[0]).toMatchObject({
      step: 'one',
      exitCode: 1,
      error: 'docker image inspect failed (exit 1)',
      tail: ['first line', 'error during connect: the daemon went away'],
    });
    expect(events[1]).toEqual({ type: 'step-skipped', step: 'two', because: '"one" failed' });
    // Registered for rep gc all the same, with the state it wrote: gc in another project kept none of the step images
    // a project whose first build failed had made (a review).
    expect(readRegister()).toContain(realpathSync(dir));
    expect(events[2]).toMatchObject({ type: 'finish', ok: false, built: 0, cached: 0 });
  });

  it('measures the outputs of a step it built, whatever digest a .rep/state.json that came with the clone records for its key', async () => {
    // A planted digest made `b`'s key (a shared rep-cache tag) stand for outputs `a` never made, and went into the provenance.
    const dir = makeProject({
      Repfile: 'rep: 1\nname: n\nbase: busybox:latest\nsteps:\n  a:\n    run: mkdir /out && echo a > /out/tool\n    outputs: [/out/tool]\n  sys:\n    run: echo sys\n  b:\n    needs: [sys, a]\n    run: /out/tool\nreproducible: false\n',
    });
    dirs.push(dir);
    const engine = new RecordingEngine();
    await build(open(dir), { engine });
    const built = engine.calls.find((c) => c.startsWith('tag rep-cache:'))!;
    const keyOfA = `sha256:${built.slice('tag rep-cache:'.length)}`;
    expect(engine.calls).toContainEqual(measuredOn(keyOfA));
    const plant = (name: string) =>
      writeFileSync(path.join(dir, '.rep', 'state.json'), JSON.stringify({ version: 2, repfileSha256: 'x', engine: 'docker', target: 'b', steps: { [name]: { key: keyOfA, outputsDigest: `sha256:${'1'.repeat(64)}` } } }));
    for (const name of ['anything', 'a']) {
      plant(name);
      const fresh = new RecordingEngine();
      await build(open(dir), { engine: fresh });
      expect(fresh.calls, name).toContain(`tag rep-cache:${keyOfA.slice(7)}`);
      expect(fresh.calls, name).toContainEqual(measuredOn(keyOfA));
    }
    // Cached under the key its own record names, a step's recorded digest is taken only under a seal this
    // user's rep made (state/seal.ts): a planted one, or one whose digest was changed since, is measured again.
    const measured = async (record: Record<string, unknown>) => {
      writeFileSync(path.join(dir, '.rep', 'state.json'), JSON.stringify({ version: 2, repfileSha256: 'x', engine: 'docker', target: 'b', steps: { a: record } }));
      const cached = new RecordingEngine([`rep-cache:${keyOfA.slice(7)}`]);
      await build(open(dir), { engine: cached });
      return cached.calls.filter((c) => c.startsWith('exportPaths'));
    };
    const digest = `sha256:${'1'.repeat(64)}`;
    const sealed = seal(dir, `rep state step\0a\0${keyOfA}\0${digest}\0${BUILT_ID}`)!;
    expect(sealed).toMatch(/^[0-9a-f]{64}$/);
    expect(await measured({ key: keyOfA, outputsDigest: digest, image: BUILT_ID, seal: sealed })).toEqual([]);
    expect(await measured({ key: keyOfA, outputsDigest: digest, image: BUILT_ID })).toEqual([measuredOn(keyOfA)]);
    expect(await measured({ key: keyOfA, outputsDigest: `sha256:${'2'.repeat(64)}`, image: BUILT_ID, seal: sealed })).toEqual([measuredOn(keyOfA)]);
    // Sealed, but measured on another image than the one the key names now (the step built again under its key by
    // a build killed before it wrote the state, or by another project): those outputs may be other bytes.
    const other = `sha256:${'3'.repeat(64)}`;
    const sealedOther = seal(dir, `rep state step\0a\0${keyOfA}\0${digest}\0${other}`)!;
    expect(await measured({ key: keyOfA, outputsDigest: digest, image: other, seal: sealedOther })).toEqual([measuredOn(keyOfA)]);
    const sealedNone = seal(dir, `rep state step\0a\0${keyOfA}\0${digest}\0`)!;
    expect(await measured({ key: keyOfA, outputsDigest: digest, seal: sealedNone })).toEqual([measuredOn(keyOfA)]);
  });
});

describe('outputs that cannot be read', () => {
  it("remove the key's tag only while it names the image measured: another project's build moved it to its own meanwhile", async () => {
    const repfile = 'rep: 1\nname: n\nbase: busybox:latest\nsteps:\n  a:\n    run: mkdir /out && echo a > /out/tool\n    outputs: [/out/tool]\n  sys:\n    run: echo sys\n  b:\n    needs: [sys, a]\n    run: /out/tool\nreproducible: false\n';
    for (const moved of [false, true]) {
      const dir = makeProject({ Repfile: repfile });
      dirs.push(dir);
      class Moved extends RecordingEngine {
        private gone = false;
        override async imageIds(refs: readonly string[]) {
          const ids = await super.imageIds(refs);
          if (this.gone) for (const r of refs) if (r.startsWith('rep-cache:')) ids.set(r, `sha256:${'3'.repeat(64)}`);
          return ids;
        }
        override async exportPaths(image: string): Promise<void> {
          this.gone = moved;
          return super.exportPaths(image);
        }
      }
      const engine = new Moved();
      const r = await build(open(dir), { engine });
      expect(r.ok && r.value.ok, JSON.stringify(engine.calls)).toBe(false);
      const removedKeys = engine.calls.filter((c) => c.startsWith('removeImage rep-cache:'));
      expect(removedKeys, String(moved)).toHaveLength(moved ? 0 : 1);
    }
  });
});

describe('the canonical rewrite', () => {
  it('reads every step image by what the run settled, its pin or its id: never by a rep-cache tag (a review)', async () => {
    // a and b cached, c rebuilt: only b (c's parent) and c (the target) were pinned, and the rewrite read a by its
    // rep-cache tag, which another project's build may have moved, or rep gc removed, meanwhile.
    const dir = makeProject({ Repfile: 'rep: 1\nname: n\nbase: busybox:latest\nsteps:\n  a:\n    run: echo a\n  b:\n    from: a\n    run: echo b\n  c:\n    from: b\n    inputs: [c.txt]\n    run: cat c.txt\n', 'c.txt': '1\n' });
    dirs.push(dir);
    const first = new RecordingEngine(['busybox:latest']);
    await build(open(dir), { engine: first, reproducible: false });
    const keys = first.calls.filter((c) => c.startsWith('tag rep-cache:')).map((c) => c.slice('tag rep-cache:'.length));
    expect(keys).toHaveLength(3);
    writeFileSync(path.join(dir, 'c.txt'), '2\n');
    /** Each image an id of its own, a tag naming its source's; what the rewrite saves is kept. */
    const reversed = (k: string) => `sha256:${k.split('').reverse().join('')}`;
    class Saving extends RecordingEngine {
      readonly saved: string[] = [];
      private readonly idOf = new Map<string, string>([['busybox:latest', BUILT_ID], ...keys.slice(0, 2).map((k) => [`rep-cache:${k}`, reversed(k)] as [string, string])]);
      override async hasImage(ref: string) {
        return this.idOf.has(ref);
      }
      override async imageIds(refs: readonly string[]) {
        return new Map(refs.map((r) => [r, this.idOf.get(r) ?? (r.startsWith('sha256:') ? r : undefined)] as const));
      }
      override async tag(src: string, dst: string) {
        await super.tag(src, dst);
        this.idOf.set(dst, this.idOf.get(src) ?? src);
      }
      override async save(refs: string | readonly string[], file?: string) {
        this.saved.push(...(typeof refs === 'string' ? [refs] : refs));
        writeFileSync(file!, '');
      }
    }
    const again = new Saving(keys.slice(0, 2).map((k) => `rep-cache:${k}`));
    await build(open(dir), { engine: again });
    expect(again.saved.length, JSON.stringify(again.saved)).toBeGreaterThan(0);
    expect(again.saved.filter((r) => r.startsWith('rep-cache:'))).toEqual([]);
    // a by its id (nothing built on it this time); b by the pin c was built on.
    expect(again.calls.filter((c) => c.startsWith('build'))).toHaveLength(1);
    expect(again.saved).toContain(reversed(keys[0]!));
    expect(again.saved).toContainEqual(expect.stringMatching(new RegExp(`^rep-pin:\\d+-\\d*-[0-9a-f]{8}-${keys[1]}$`)));
  });
});

describe('the state', () => {
  it('removes the image of a phony step\'s old key only when rep recorded that key: a planted state.json names another project\'s', async () => {
    const dir = makeProject({ Repfile: 'rep: 1\nname: n\nbase: busybox:latest\nsteps:\n  a:\n    run: echo a\n  stamp:\n    needs: [a]\n    phony: true\n    run: date\nreproducible: false\n' });
    dirs.push(dir);
    const engine = new RecordingEngine();
    expect((await build(open(dir), { engine })).ok).toBe(true);
    const state = () => JSON.parse(readFileSync(path.join(dir, '.rep', 'state.json'), 'utf8'));
    const mine = state().steps.stamp.key as string;
    // The next build drops the phony step's last image, which it made.
    await build(open(dir), { engine });
    expect(engine.calls).toContain(`removeImage rep-cache:${mine.slice(7)}`);
    // A state that came with the project, naming a key of an image of someone else's.
    const other = `sha256:${'e'.repeat(64)}`;
    const planted = state();
    planted.steps.stamp = { key: other };
    writeFileSync(path.join(dir, '.rep', 'state.json'), JSON.stringify(planted));
    const after = new RecordingEngine([`rep-cache:${other.slice(7)}`]);
    expect((await build(open(dir), { engine: after })).ok).toBe(true);
    expect(after.calls.filter((c) => c.startsWith('removeImage') && !c.startsWith('removeImage rep-pin:'))).toEqual([]);
    // Nor does it go into the history gc reads, sealed as this project's.
    expect(readFileSync(path.join(dir, '.rep', 'history.jsonl'), 'utf8')).not.toContain(other.slice(7));
  });


  it('keeps a step\'s outputs digest measured before only while its key names the image it was measured on', () => {
    // A producer not imported now, built again under its key (its image was removed; its command writes other bytes each
    // time): the old digest, kept with the new image, was taken when a consumer imported it again.
    const dir = makeProject({ Repfile: 'rep: 1\nname: n\nbase: busybox:latest\nsteps:\n  a:\n    run: echo a\n' });
    dirs.push(dir);
    const key = `sha256:${'4'.repeat(64)}`;
    const digest = `sha256:${'1'.repeat(64)}`;
    const measuredImage = `sha256:${'5'.repeat(64)}`;
    const prev: State = { version: 2, repfileSha256: 'x', engine: 'docker', target: 'a', steps: { a: { key, outputsDigest: digest, image: measuredImage } } };
    const after = (image: string | undefined) => nextState(open(dir), 'docker', prev, [['a', { key, ...(image ? { image } : {}) }]]).steps.a;
    expect(after(measuredImage)).toEqual({ key, image: measuredImage, outputsDigest: digest });
    expect(after(`sha256:${'6'.repeat(64)}`)).toEqual({ key, image: `sha256:${'6'.repeat(64)}` });
    expect(after(undefined)).toEqual({ key });
  });

  it('is read by step name only: a step named "constructor" has no record of Object\'s', async () => {
    // dropOldPhonyImages took Object.prototype.constructor for the phony step's old record and threw after the build.
    const dir = makeProject({ Repfile: 'rep: 1\nname: n\nbase: busybox:latest\nsteps:\n  a:\n    run: echo a\n  constructor:\n    needs: [a]\n    phony: true\n    run: echo x\nreproducible: false\n' });
    dirs.push(dir);
    const engine = new RecordingEngine();
    const first = await build(open(dir), { engine });
    expect(first.ok && first.value.ok, JSON.stringify(first)).toBe(true);
    const state = JSON.parse(readFileSync(path.join(dir, '.rep', 'state.json'), 'utf8'));
    delete state.steps.constructor;
    writeFileSync(path.join(dir, '.rep', 'state.json'), JSON.stringify(state));
    const again = await build(open(dir), { engine });
    expect(again.ok && again.value.ok, JSON.stringify(again)).toBe(true);
  });
});

const BUILT_ID = `sha256:${'0'.repeat(64)}`;

/** The outputs of `key`'s image measured, on the run's pin of it (scheduler/pins.ts). */
const measuredOn = (key: string) => expect.stringMatching(new RegExp(`^exportPaths rep-pin:\\d+-\\d*-[0-9a-f]{8}-${key.slice(7)}$`));

/** An engine that builds every step at once and records what rep asks; measuring outputs fails the step. */
class RecordingEngine extends BrokenEngine {
  readonly calls: string[] = [];
  private readonly images: Set<string>;
  constructor(images: string[] = []) {
    super();
    this.images = new Set(images);
  }
  override async hasImage(ref: string): Promise<boolean> {
    return this.images.has(ref);
  }
  /** Every image it has is the one image it builds. */
  override async imageIds(refs: readonly string[]) {
    return new Map(refs.map((r) => [r, this.images.has(r) ? BUILT_ID : undefined] as const));
  }
  override async build(req: { tag?: string }): Promise<BuildOutcome> {
    this.calls.push(`build ${req.tag ?? '(untagged)'}`);
    if (req.tag) this.images.add(req.tag);
    return { ok: true, imageId: BUILT_ID };
  }
  override async tag(_src: string, dst: string): Promise<void> {
    this.calls.push(`tag ${dst}`);
    this.images.add(dst);
  }
  override async exportPaths(image: string): Promise<void> {
    this.calls.push(`exportPaths ${image}`);
    throw new EngineError('stop: measured', '');
  }
  override async removeImage(ref: string): Promise<void> {
    this.calls.push(`removeImage ${ref}`);
    this.images.delete(ref);
  }
}
