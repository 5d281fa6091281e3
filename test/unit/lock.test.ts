// rep lock writes only digests rep reads back (sha256: and 64 lowercase hex
// digits, what FROM name@digest takes), whatever the Repfile or the registry
// says, and writes again a lock that is not valid rather than refuse it.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lock } from '../../src/commands/lock.js';
import { formatDiagnostic } from '../../src/diag.js';
import { openProject } from '../../src/project.js';
import { resolveDigest } from '../../src/lock/registry.js';
import { parseImageRef } from '../../src/lock/reference.js';
import { CLI, makeProject } from '../helpers.js';

/** A registry on loopback answering every manifest HEAD with the digest `answer` says. */
let server: Server;
let port = 0;
let answer = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    res.writeHead(200, { 'Docker-Content-Digest': answer });
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const GOOD = `sha256:${'ab'.repeat(32)}`;
const project = (base: string) => makeProject({ Repfile: `rep: 1\nname: x\nbase: ${base}\nsteps:\n  a:\n    run: "true"\n` });
const open = (dir: string, lockToRewrite = false) => {
  const p = openProject({ cwd: dir, lockToRewrite });
  if (!p.ok) throw new Error(p.errors.map(formatDiagnostic).join('\n'));
  return p.value;
};
/** The CLI, run without blocking this process (the registry above answers it). */
const repAsync = (dir: string, args: string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

describe('rep lock', () => {
  it('writes no digest a build would refuse: one in the Repfile or from the registry that is not sha256 and 64 lowercase hex digits', async () => {
    const pinnedOdd = project('busybox@sha256:0123456789ABCDEF0123456789abcdef');
    const r = await lock(open(pinnedOdd));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map(formatDiagnostic)).toEqual(['Repfile:3:7: base: cannot pin "busybox@sha256:0123456789ABCDEF0123456789abcdef": the Repfile pins it to "sha256:0123456789ABCDEF0123456789abcdef", which is not a sha256 digest (sha256: and 64 lowercase hex digits); push it to a registry, or name it as it is there']);
    expect(existsSync(path.join(pinnedOdd, 'Repfile.lock'))).toBe(false);

    const dir = project(`127.0.0.1:${port}/x:1`);
    for (const odd of [`sha512:${'a'.repeat(128)}`, `sha256:${'AB'.repeat(32)}`, `sha256:${'a'.repeat(63)}`, `${GOOD} AS evil`]) {
      answer = odd;
      const bad = await lock(open(dir));
      expect(bad.ok, odd).toBe(false);
      if (!bad.ok) expect(bad.errors[0]!.message).toMatch(/answered ".*", which is not a sha256 digest/);
      expect(existsSync(path.join(dir, 'Repfile.lock'))).toBe(false);
    }
    answer = GOOD;
    const good = await lock(open(dir));
    expect(good.ok && good.value.lock.images).toEqual({ [`127.0.0.1:${port}/x:1`]: GOOD });
  });

  it('writes again a lock that is not valid, which every other command refuses, saying to run rep lock', async () => {
    const dir = project(`127.0.0.1:${port}/x:1`);
    answer = GOOD;
    for (const text of ['not json', JSON.stringify({ lockVersion: 1, images: { [`127.0.0.1:${port}/x:1`]: 'sha256:0123456789ABCDEF0123456789abcdef' } })]) {
      writeFileSync(path.join(dir, 'Repfile.lock'), text);
      const status = await repAsync(dir, ['status']);
      expect(status.code).toBe(2);
      expect(status.stderr).toMatch(/run rep lock to write it again/);
      const r = await repAsync(dir, ['lock']);
      expect([r.code, r.stderr]).toEqual([0, '']);
      expect(JSON.parse(readFileSync(path.join(dir, 'Repfile.lock'), 'utf8'))).toEqual({ lockVersion: 1, images: { [`127.0.0.1:${port}/x:1`]: GOOD } });
      expect((await repAsync(dir, ['status'])).code).not.toBe(2);
    }
  });
});

/** A loopback server answering each request as `answer` says; the requests it got, as "METHOD URL AUTHORIZATION". */
async function registry(answer: (req: { method: string; url: string; auth: string }, res: import('node:http').ServerResponse, port: number) => void) {
  const asked: string[] = [];
  const s = createServer((req, res) => {
    const r = { method: req.method!, url: req.url!, auth: req.headers.authorization ?? '' };
    asked.push(`${r.method} ${r.url} ${r.auth}`.trim());
    answer(r, res, (s.address() as AddressInfo).port);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { port: (s.address() as AddressInfo).port, asked, close: () => new Promise<void>((r) => s.close(() => r())) };
}

describe('rep lock asks a registry', () => {
  const at = { file: 'Repfile', span: { start: { line: 3, col: 7 }, end: { line: 3, col: 8 } } };
  it('for an anonymous token when it asks for one (Docker Hub does, for every image), and sends it to the registry alone', async () => {
    const reg = await registry((req, res, port) => {
      if (req.url.startsWith('/token')) return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: 'tok.en-1' }));
      if (req.auth !== 'Bearer tok.en-1') return void res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="reg",scope="repository:lib/x:pull"` }).end();
      res.writeHead(200, { 'Docker-Content-Digest': GOOD }).end();
    });
    try {
      expect(await resolveDigest(`127.0.0.1:${reg.port}/lib/x:1`, at)).toEqual({ ok: true, value: GOOD });
      expect(reg.asked).toEqual(['HEAD /v2/lib/x/manifests/1', 'GET /token?service=reg&scope=repository%3Alib%2Fx%3Apull', 'HEAD /v2/lib/x/manifests/1 Bearer tok.en-1']);
    } finally {
      await reg.close();
    }
  });

  it('never for a token from plain http beyond loopback, nor one it cannot send, nor one larger than a token is', async () => {
    let realm = 'http://registry.example.org/token';
    let token: string = 'x';
    const reg = await registry((req, res, port) => {
      if (req.url.startsWith('/token')) return void res.writeHead(200).end(token);
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${realm.replace('PORT', String(port))}"` }).end();
    });
    const said = async () => {
      const r = await resolveDigest(`127.0.0.1:${reg.port}/x:1`, at);
      return r.ok ? 'ok' : r.errors[0]!.message.replace(String(reg.port), 'PORT');
    };
    try {
      expect(await said()).toBe('registry 127.0.0.1:PORT asks for a token from http://registry.example.org, which is not https');
      realm = 'file:///etc/passwd';
      expect(await said()).toBe('registry 127.0.0.1:PORT asks for a token from file://, which is not https');
      realm = 'http://127.0.0.1:PORT/token';
      token = JSON.stringify({ token: 'a\r\nX-Evil: 1' });
      expect(await said()).toBe('registry 127.0.0.1:PORT gave a token answer with no token rep can send');
      token = JSON.stringify({ token: 'a'.repeat(70_000) });
      expect(await said()).toBe('registry 127.0.0.1:PORT gave a token answer larger than 65536 bytes');
      token = JSON.stringify({ token: 'fine' });
      // A token the registry does not take: rep asks as anyone, and says so.
      expect(await said()).toBe(`registry 127.0.0.1:PORT answered 401 for 127.0.0.1:${reg.port}/x:1: it wants credentials, and rep lock asks as anyone (pin the digest in the Repfile: name@sha256:…)`);
    } finally {
      await reg.close();
    }
  });

  it('follows a redirect only to https, or between loopback hosts, at most 3 times, and takes no credentials along to another host', async () => {
    const other = await registry((_req, res) => void res.writeHead(200, { 'Docker-Content-Digest': GOOD }).end());
    let to = '';
    const reg = await registry((req, res, port) => {
      if (req.url.startsWith('/token')) return void res.writeHead(200).end(JSON.stringify({ token: 't' }));
      if (req.auth === '') return void res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://127.0.0.1:${port}/token"` }).end();
      res.writeHead(307, { Location: to.replace('SELF', String(port)) }).end();
    });
    const said = async () => {
      const r = await resolveDigest(`127.0.0.1:${reg.port}/x:1`, at);
      return r.ok ? r.value : r.errors[0]!.message.replace(String(reg.port), 'PORT');
    };
    try {
      to = 'http://registry.example.org/v2/x/manifests/1';
      expect(await said()).toBe('registry 127.0.0.1:PORT redirects to http://registry.example.org, which is not https');
      to = 'http://127.0.0.1:SELF/again';
      expect(await said()).toBe('registry 127.0.0.1:PORT redirects more than 3 times');
      to = `http://localhost:${other.port}/v2/x/manifests/1`;
      expect(await said()).toBe(GOOD);
      expect(other.asked).toEqual(['HEAD /v2/x/manifests/1']);
    } finally {
      await Promise.all([reg.close(), other.close()]);
    }
  });

  it('to no URL with a user name or password, a redirect or a token realm, and says so without echoing it', async () => {
    let to = '';
    let realm = '';
    const reg = await registry((req, res) => {
      if (realm) return void res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${realm}"` }).end();
      res.writeHead(302, { Location: to }).end();
    });
    const said = async () => {
      const r = await resolveDigest(`127.0.0.1:${reg.port}/x:1`, at);
      return r.ok ? r.value : r.errors[0]!.message.replace(String(reg.port), 'PORT');
    };
    try {
      // fetch refuses such a URL itself, with an error that quotes it whole: 12 KB of a line.
      to = `http://a:${'b'.repeat(12_000)}@127.0.0.1:1/x`;
      expect(await said()).toBe('registry 127.0.0.1:PORT redirects to http://127.0.0.1:1 with a user name or password in the URL, and rep sends no credentials');
      to = 'https://me@registry.example.org/v2/x/manifests/1';
      expect(await said()).toBe('registry 127.0.0.1:PORT redirects to https://registry.example.org with a user name or password in the URL, and rep sends no credentials');
      realm = `https://u:${'p'.repeat(12_000)}@auth.example.org/token`;
      expect(await said()).toBe('registry 127.0.0.1:PORT asks for a token from https://auth.example.org with a user name or password in the URL, and rep sends no credentials');
    } finally {
      await reg.close();
    }
  });
});

/** A self-signed certificate for CN=x, made by openssl in a folder removed at once. */
function selfSigned(): { key: string; cert: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'rep-tls-'));
  try {
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=x', '-nodes'], { cwd: dir });
    if (r.status !== 0) throw new Error(`openssl: ${r.stderr.toString()}`);
    return { key: readFileSync(path.join(dir, 'key.pem'), 'utf8'), cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('rep lock checks certificates', () => {
  const at = { file: 'Repfile', span: { start: { line: 3, col: 7 }, end: { line: 3, col: 8 } } };
  it('of every registry beyond loopback whatever the environment says: with NODE_TLS_REJECT_UNAUTHORIZED=0 it asks nothing over https', async () => {
    // An https registry with a certificate no one vouches for, answering a digest to whoever connects.
    const tls = createHttpsServer(selfSigned(), (_req, res) => void res.writeHead(200, { 'Docker-Content-Digest': GOOD }).end());
    let connections = 0;
    tls.on('connection', () => connections++);
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    const tlsPort = (tls.address() as AddressInfo).port;
    const reg = await registry((_req, res) => void res.writeHead(302, { Location: `https://127.0.0.1:${tlsPort}/v2/x/manifests/1` }).end());
    const said = async (image: string) => {
      const r = await resolveDigest(image, at);
      return r.ok ? r.value : r.errors[0]!.message.replaceAll(String(reg.port), 'PORT').replaceAll(String(tlsPort), 'TLS');
    };
    const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    try {
      process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
      expect(await said(`127.0.0.1:${reg.port}/x:1`)).toBe('registry 127.0.0.1:PORT: NODE_TLS_REJECT_UNAUTHORIZED=0 turns certificate checks off, and rep checks them for every registry beyond loopback: unset it (rep did not connect to 127.0.0.1:TLS)');
      expect(connections).toBe(0);
      // Docker Hub is https from the first question: not asked (no network is needed to see it).
      expect(await said('busybox:1')).toBe('registry docker.io: NODE_TLS_REJECT_UNAUTHORIZED=0 turns certificate checks off, and rep checks them for every registry beyond loopback: unset it (rep did not connect to registry-1.docker.io)');
      // A loopback registry over plain http has no certificate to check: asked as before.
      answer = GOOD;
      expect(await said(`127.0.0.1:${port}/x:1`)).toBe(GOOD);
      expect(process.env.NODE_TLS_REJECT_UNAUTHORIZED).toBe('0');
      // With the checks on, the certificate is refused.
      delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      expect(await said(`127.0.0.1:${reg.port}/x:1`)).toMatch(/^cannot reach registry 127\.0\.0\.1:PORT \(.*self[- ]signed certificate/);
    } finally {
      if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved;
      tls.closeAllConnections();
      await Promise.all([reg.close(), new Promise<void>((r) => tls.close(() => r()))]);
    }
  });
});

describe('a Repfile.lock', () => {
  it('that nests a value a million lists deep is refused with a message, not a stack overflow', () => {
    const dir = project('busybox:latest');
    writeFileSync(path.join(dir, 'Repfile.lock'), `{"lockVersion":1,"images":{"busybox:latest":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}}`);
    const p = openProject({ cwd: dir });
    expect(p.ok).toBe(false);
    // Refused before it is parsed (canonical.ts shallowJson).
    if (!p.ok) expect(p.errors.map((e) => e.message)).toEqual(['nested more than 64 levels deep, which no lock is; run rep lock to write it again']);
  });

  it('that is hostile is refused in a line of bounded length: a key of megabytes is quoted clipped', () => {
    const dir = project('busybox:latest');
    const refused = (images: Record<string, string>) => {
      writeFileSync(path.join(dir, 'Repfile.lock'), JSON.stringify({ lockVersion: 1, images }));
      const p = openProject({ cwd: dir });
      return p.ok ? 'ok' : p.errors.map((e) => e.message).join('\n');
    };
    const a = 'a'.repeat(300);
    expect(refused({ [`${'a'.repeat(3 << 20)}!`]: 'x' })).toBe(`images: "${a}…" is not an image reference: expected [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST], e.g. debian:bookworm-slim`);
    // A valid reference whose digest goes on for a megabyte.
    const long = `busybox@sha256:${'a'.repeat(1 << 20)}`;
    expect(refused({ [long]: 'x' })).toBe(`images[${JSON.stringify(`${long.slice(0, 300)}…`)}]: "x" is not a digest (sha256: and 64 hex digits); run rep lock to write it again`);
    expect(refused({ [long]: GOOD })).toBe(`images[${JSON.stringify(`${long.slice(0, 300)}…`)}]: "${GOOD}" is not the digest the reference names; run rep lock to write it again`);
  });

  it('may not pin a reference that names its digest to another one (the build used the lock\'s, the Repfile showed its own)', () => {
    const own = `sha256:${'aa'.repeat(32)}`;
    const dir = project(`busybox@${own}`);
    writeFileSync(path.join(dir, 'Repfile.lock'), JSON.stringify({ lockVersion: 1, images: { [`busybox@${own}`]: GOOD } }));
    const p = openProject({ cwd: dir });
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.errors[0]!.message).toBe(`images["busybox@${own}"]: "${GOOD}" is not the digest the reference names; run rep lock to write it again`);
    writeFileSync(path.join(dir, 'Repfile.lock'), JSON.stringify({ lockVersion: 1, images: { [`busybox@${own}`]: own } }));
    expect(openProject({ cwd: dir }).ok).toBe(true);
  });
});

describe('an image reference', () => {
  it('that is not one is quoted clipped in the Repfile\'s diagnostic too', () => {
    const p = openProject({ cwd: project(`${'a'.repeat(3 << 20)}!`) });
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.errors.map(formatDiagnostic)).toEqual([`Repfile:3:7: base: "${'a'.repeat(300)}…" is not an image reference: expected [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST], e.g. debian:bookworm-slim`]);
  });

  it('names its registry as distribution/reference splits it: a capital letter makes a registry, index.docker.io is Docker Hub', () => {
    const reg = (t: string) => [parseImageRef(t).registry, parseImageRef(t).repository];
    expect(reg('Myregistry/foo:1')).toEqual(['Myregistry', 'foo']);
    expect(reg('LOCALHOST/foo')).toEqual(['LOCALHOST', 'foo']);
    expect(reg('index.docker.io/debian')).toEqual(['docker.io', 'library/debian']);
    expect(reg('myuser/foo')).toEqual(['docker.io', 'myuser/foo']);
    expect(reg('localhost:5000/a/b@sha256:' + 'a'.repeat(64))).toEqual(['localhost:5000', 'a/b']);
  });
});

describe('rep lock asks a registry that does not answer', () => {
  it('once: the later images on it fail at once, saying so, in the order of the references, and other registries are asked all the same', async () => {
    // A registry that drops every connection it is asked on.
    const dead = await registry((_req, res) => void res.socket?.destroy());
    const live = await registry((_req, res) => void res.writeHead(200, { 'Docker-Content-Digest': GOOD }).end());
    const d = `127.0.0.1:${dead.port}`;
    const l = `127.0.0.1:${live.port}`;
    const dir = makeProject({
      Repfile: `rep: 1\nname: x\nbase: ${d}/a:1\nsteps:\n  a:\n    run: "true"\n  b:\n    from: ${d}/b:1\n    run: "true"\n  c:\n    from: ${d}/c:1\n    run: "true"\n  d:\n    from: ${l}/x:1\n    run: "true"\nimage:\n  from: a\n`,
    });
    try {
      const r = await lock(open(dir));
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(dead.asked).toEqual(['HEAD /v2/a/manifests/1']);
      expect(live.asked).toEqual(['HEAD /v2/x/manifests/1']);
      const lines = r.errors.map(formatDiagnostic);
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(new RegExp(`^Repfile:3:7: base: cannot pin "${d}/a:1": cannot reach registry ${d} \\(.+\\); push it`));
      const again = (line: number, step: string) =>
        `Repfile:${line}:11: steps.${step}.from: cannot pin "${d}/${step}:1": registry ${d} did not answer for ${d}/a:1, so rep did not ask it again; push it to a registry, or name it as it is there`;
      expect(lines.slice(1)).toEqual([again(8, 'b'), again(11, 'c')]);
      expect(existsSync(path.join(dir, 'Repfile.lock'))).toBe(false);
    } finally {
      await Promise.all([dead.close(), live.close()]);
    }
  });

  it('but a registry that answered is asked again, though its token service did not answer (the review of the day\'s diff)', async () => {
    // A token realm on a port nothing listens on: a closed server's.
    const gone = await registry(() => undefined);
    const realm = `http://127.0.0.1:${gone.port}/token`;
    await gone.close();
    const reg = await registry((_req, res) => void res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${realm}",service="reg"` }).end());
    const r = `127.0.0.1:${reg.port}`;
    const dir = makeProject({ Repfile: `rep: 1\nname: x\nbase: ${r}/a:1\nsteps:\n  a:\n    run: "true"\n  b:\n    from: ${r}/b:1\n    run: "true"\nimage:\n  from: a\n` });
    try {
      const out = await lock(open(dir));
      expect(out.ok).toBe(false);
      if (out.ok) return;
      expect(reg.asked).toEqual(['HEAD /v2/a/manifests/1', 'HEAD /v2/b/manifests/1']);
      const lines = out.errors.map(formatDiagnostic);
      expect(lines).toHaveLength(2);
      for (const l of lines) expect(l).toMatch(new RegExp(`cannot reach the token service of registry ${r} \\(`));
    } finally {
      await reg.close();
    }
  });
});
