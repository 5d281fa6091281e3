// The docker client's version, asked once per client binary and then taken
// from what was kept (clientversion.ts), the server's half from the API: a
// fake client (a shell script that records its calls) and a stand-in API on a
// unix socket. What is checked is which of them is asked, and that a client
// replaced, or a kept file that is not rep's, means asking the client again.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CliEngine } from '../../src/engine/cli.js';
import { clientsFile, MAX_CLIENTS, rememberClientVersion, rememberedClientVersion } from '../../src/engine/clientversion.js';

/** Debian's docker client (provisioned, scripts/provision.sh): a program named docker, as rep remembers. */
const DEBIAN_DOCKER = '/usr/bin/docker';

const dirs: string[] = [];
const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function temp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'rep-clientversion-'));
  dirs.push(d);
  return d;
}

/** A fake docker client in `dir` answering `version` with `said`; its calls go to docker.args. */
function client(dir: string, said = '20.10.24+dfsg1 20.10.24+dfsg1 linux/amd64'): string {
  const file = path.join(dir, 'docker');
  writeFileSync(file, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${file}.args'\ncase "$1" in\n  version) echo '${said}';;\n  *) exit 1;;\nesac\n`);
  chmodSync(file, 0o755);
  return file;
}

/** A program (an ELF: a copy of /bin/true) named docker in `dir`: a client rep may remember, never run here. */
function program(dir: string): string {
  const file = path.join(dir, 'docker');
  copyFileSync('/bin/true', file);
  chmodSync(file, 0o755);
  return file;
}

const versionCalls = (bin: string): number => (existsSync(`${bin}.args`) ? readFileSync(`${bin}.args`, 'utf8').split('\n').filter((l) => l.startsWith('version')).length : 0);

/** A stand-in Engine API: /version answers `body` (status `status`), /info `info`; every path asked is logged, and requests from a docker client (its User-Agent) counted. */
async function api(dir: string, body: unknown, status = 200, info: unknown = {}): Promise<{ socket: string; asked: string[]; clients: () => number }> {
  const socket = path.join(dir, 'api.sock');
  const asked: string[] = [];
  let fromClients = 0;
  const server = createServer((req, res) => {
    asked.push(req.url ?? '');
    if (req.headers['user-agent']?.startsWith('Docker-Client/')) fromClients++;
    if (req.url?.endsWith('/_ping')) return void res.writeHead(200, { 'Api-Version': '1.41' }).end('OK');
    if (req.url?.endsWith('/version')) res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    else if (req.url?.endsWith('/info')) res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(info));
    else res.writeHead(404).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  servers.push(server);
  return { socket, asked, clients: () => fromClients };
}

function stateEnv(dir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const state = path.join(dir, 'state');
  mkdirSync(path.join(state, 'rep'), { recursive: true, mode: 0o700 });
  return { PATH: '/usr/bin:/bin', XDG_STATE_HOME: state, ...extra };
}

describe('the docker client is asked its version once per binary', () => {
  it('the first engine asks the client; the next takes the server from the API and starts no client (a real docker client: Debian\'s)', async () => {
    const dir = temp();
    const { socket, asked, clients } = await api(dir, { Version: '9.9.9', ApiVersion: '1.41', MinAPIVersion: '1.12', Os: 'linux', Arch: 'arm64' });
    const env = stateEnv(dir, { DOCKER_HOST: `unix://${socket}` });
    const first = new CliEngine({ flavor: 'docker', bin: DEBIAN_DOCKER, env });
    expect(await first.describe()).toBe('docker 9.9.9 (BuildKit)');
    expect(await first.platform()).toBe('linux/arm64');
    expect(clients()).toBeGreaterThan(0);
    const asked1 = clients();
    expect(rememberedClientVersion(DEBIAN_DOCKER, env)).toMatch(/^20\.10\./);

    const next = new CliEngine({ flavor: 'docker', bin: DEBIAN_DOCKER, env });
    expect(await next.describe()).toBe('docker 9.9.9 (BuildKit)');
    expect(await next.platform()).toBe('linux/arm64');
    // Asked over the API by rep, not by a client.
    expect(clients()).toBe(asked1);
    expect(asked).toContain('/version');
  });

  it('a client that is a script (a wrapper, a shim choosing the client by folder) is asked every time: what it starts is not in its own stat', async () => {
    const dir = temp();
    const bin = client(dir);
    const { socket } = await api(dir, { Version: '20.10.24+dfsg1', Os: 'linux', Arch: 'amd64' });
    const env = stateEnv(dir, { DOCKER_HOST: `unix://${socket}` });
    expect(await new CliEngine({ flavor: 'docker', bin, env }).describe()).toContain('20.10.24+dfsg1');
    expect(await new CliEngine({ flavor: 'docker', bin, env }).describe()).toContain('20.10.24+dfsg1');
    expect(versionCalls(bin)).toBe(2);
    expect(rememberedClientVersion(bin, env)).toBeUndefined();
    // Nor a program of another name that a link named docker leads to (snap's /snap/bin/docker -> /usr/bin/snap).
    const link = path.join(dir, 'bin');
    mkdirSync(link);
    symlinkSync('/bin/true', path.join(link, 'docker'));
    rememberClientVersion(path.join(link, 'docker'), env, '20.10.24');
    expect(rememberedClientVersion(path.join(link, 'docker'), env)).toBeUndefined();
  });

  it('asks the client again when the API does not answer as docker does', async () => {
    for (const [body, status] of [[{ Version: 'x y', Os: 'linux', Arch: 'amd64' }, 200], [{ message: 'no' }, 500], [{ Version: 1 }, 200]] as const) {
      const dir = temp();
      const { socket, clients } = await api(dir, body, status);
      const env = stateEnv(dir, { DOCKER_HOST: `unix://${socket}` });
      rememberClientVersion(DEBIAN_DOCKER, env, '20.10.24+dfsg1');
      await new CliEngine({ flavor: 'docker', bin: DEBIAN_DOCKER, env }).describe();
      expect(clients(), JSON.stringify(body)).toBeGreaterThan(0);
    }
  });

  it('a client replaced or touched is another binary: asked again', () => {
    const dir = temp();
    const env = stateEnv(dir);
    const bin = program(dir);
    rememberClientVersion(bin, env, '20.10.24');
    expect(rememberedClientVersion(bin, env)).toBe('20.10.24');
    utimesSync(bin, new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(rememberedClientVersion(bin, env)).toBeUndefined();
    rememberClientVersion(bin, env, '20.10.24');
    rmSync(bin);
    program(dir);
    expect(rememberedClientVersion(bin, env)).toBeUndefined();
  });

  it('finds a bare name on PATH, as the client is started, and a link to another binary is that binary', () => {
    const dir = temp();
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    mkdirSync(a);
    mkdirSync(b);
    const real = program(a);
    const env = stateEnv(dir, { PATH: `${path.join(dir, 'none')}:${b}:${a}` });
    rememberClientVersion('docker', env, '20.10.24');
    expect(rememberedClientVersion(real, env)).toBe('20.10.24');
    // A docker earlier on PATH now: not the binary that was asked.
    const other = program(b);
    expect(rememberedClientVersion('docker', env)).toBeUndefined();
    rmSync(other);
    symlinkSync(real, other);
    expect(rememberedClientVersion('docker', env)).toBe('20.10.24');
  });

  it('keeps the binaries asked last, at most MAX_CLIENTS', () => {
    const dir = temp();
    const env = stateEnv(dir);
    const bins = Array.from({ length: MAX_CLIENTS + 2 }, (_, n) => {
      const d = path.join(dir, `c${n}`);
      mkdirSync(d);
      return program(d);
    });
    bins.forEach((b, n) => rememberClientVersion(b, env, `1.${n}`));
    expect(rememberedClientVersion(bins[0]!, env)).toBeUndefined();
    expect(rememberedClientVersion(bins[1]!, env)).toBeUndefined();
    expect(rememberedClientVersion(bins[2]!, env)).toBe('1.2');
    expect(rememberedClientVersion(bins.at(-1)!, env)).toBe(`1.${MAX_CLIENTS + 1}`);
    const kept = JSON.parse(readFileSync(clientsFile(env)!, 'utf8')) as { clients: unknown[] };
    expect(kept.clients).toHaveLength(MAX_CLIENTS);
  });
});

describe('a kept file that is not rep\'s (hostile input is normal input)', () => {
  it('is a miss, never an error: garbage, a deep nest, a huge file, a link, a version that is not one', () => {
    const dir = temp();
    const env = stateEnv(dir);
    const bin = program(dir);
    rememberClientVersion(bin, env, '20.10.24');
    const file = clientsFile(env)!;
    const good = readFileSync(file, 'utf8');
    const id = (JSON.parse(good) as { clients: [string, string][] }).clients[0]![0];
    const plant = (text: string) => {
      rmSync(file, { force: true });
      writeFileSync(file, text);
    };
    for (const text of [
      'not json',
      `${'['.repeat(100_000)}`,
      JSON.stringify({ format: 1, clients: [[id, '18.09 ; rm -rf /']] }),
      JSON.stringify({ format: 1, clients: [[id, '']] }),
      JSON.stringify({ format: 1, clients: [[id, 20]] }),
      JSON.stringify({ format: 2, clients: [[id, '20.10.24']] }),
      JSON.stringify({ format: 1, clients: { [id]: '20.10.24' } }),
      `${JSON.stringify({ format: 1, clients: [[id, '20.10.24']] })}${' '.repeat(70 << 10)}`,
    ]) {
      plant(text);
      expect(rememberedClientVersion(bin, env), text.slice(0, 40)).toBeUndefined();
    }
    // A link at the file's name is not followed, for reading or writing.
    const elsewhere = path.join(dir, 'elsewhere.json');
    writeFileSync(elsewhere, good);
    rmSync(file);
    symlinkSync(elsewhere, file);
    expect(rememberedClientVersion(bin, env)).toBeUndefined();
    rememberClientVersion(bin, env, '20.10.25');
    expect(readFileSync(elsewhere, 'utf8')).toBe(good);
    expect(rememberedClientVersion(bin, env)).toBe('20.10.25');
  });

  it('a version that is not one is not kept', () => {
    const dir = temp();
    const env = stateEnv(dir);
    const bin = program(dir);
    rememberClientVersion(bin, env, '20.10\n24');
    expect(existsSync(clientsFile(env)!)).toBe(false);
  });
});

describe('the image store an engine names for gc', () => {
  it("is docker's daemon ID (from /info), which two daemons of one version do not share; none when the daemon says none a line can hold", async () => {
    const dir = temp();
    const bin = client(dir);
    const facts = { Version: '20.10.24+dfsg1', Os: 'linux', Arch: 'amd64' };
    const one = await api(dir, facts, 200, { ID: 'AAAA:BBBB:CCCC' });
    const env = stateEnv(dir, { DOCKER_HOST: `unix://${one.socket}` });
    expect(await new CliEngine({ flavor: 'docker', bin, env }).store()).toBe('docker daemon AAAA:BBBB:CCCC');
    for (const info of [{}, { ID: '' }, { ID: 'a\nb' }, { ID: 'x'.repeat(300) }, { ID: 7 }]) {
      const d = temp();
      const other = await api(d, facts, 200, info);
      const e = new CliEngine({ flavor: 'docker', bin, env: { ...env, DOCKER_HOST: `unix://${other.socket}` } });
      expect(await e.store(), JSON.stringify(info)).toBeUndefined();
    }
  });
});
