// rep lock writes only digests rep reads back (sha256: and 64 lowercase hex
// digits, what FROM name@digest takes), whatever the Repfile or the registry
// says, and writes again a lock that is not valid rather than refuse it.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lock } from '../../src/commands/lock.js';
import { formatDiagnostic } from '../../src/diag.js';
import { openProject } from '../../src/project.js';
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
