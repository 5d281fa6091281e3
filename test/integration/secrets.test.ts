// Secrets reach RUN through BuildKit mounts and are never stored: not in a
// layer, a log, the state, the provenance or the Dockerfile.
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, rep } from '../helpers.js';
import { DEBIAN_DOCKER, sh } from './helpers.js';

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
    const env = { REP_DOCKER: DEBIAN_DOCKER, REP_TEST_PASS: pass };
    const r = rep(dir, ['build', '--engine', 'docker', '--buildkit'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = sh(DEBIAN_DOCKER, ['run', '--rm', 'rep-test/secretive:latest']);
    expect(out).toBe(`${createHash('sha256').update(api).digest('hex')}  -\n${pass.length}\n`);

    const saved = path.join(mkdtempSync(path.join(tmpdir(), 'rep-secret-')), 'image.tar');
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
    const r = rep(dir, ['build', '--engine', 'docker'], { REP_TEST_PASS: 'x' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Repfile:\d+:\d+: steps\.use\.secrets: secrets are mounted by BuildKit: build with --buildkit/);
  });

  it('must exist', () => {
    const dir = makeProject({ Repfile: repfile(), '.dockerignore': 'keys\n' });
    const r = rep(dir, ['build', '--engine', 'docker', '--buildkit'], { REP_DOCKER: DEBIAN_DOCKER });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Repfile:6:15: secrets.api.file: no such file: keys/api.txt');
    expect(r.stderr).toContain('Repfile:7:15: secrets.pass.env: the environment variable REP_TEST_PASS is not set');
  });
});
