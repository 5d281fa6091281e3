// Lock against a real registry, publish with a real engine, verify across engines.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Statement } from '../../src/emit/provenance.js';
import { publish } from '../../src/publish/publish.js';
import { verifyBundle } from '../../src/publish/verify.js';
import { makeProject, open, rep } from '../helpers.js';
import { docker, DOCKER_BIN, podman, sh } from './helpers.js';

const REGISTRY = '127.0.0.1:5000';

const repfile = (base: string) => `rep: 1
name: paper
base: ${base}
env: {TEST_RUN: "${randomUUID()}"}
steps:
  data:
    from: busybox:latest
    inputs: [data/]
    run: mkdir -p /out && sort data/in.txt > /out/sorted.txt
    outputs: [/out/sorted.txt]
  analysis:
    needs: [system, data]
    inputs: [src/]
    run: cat /out/sorted.txt src/msg > /result
  system:
    run: echo system > /system
image:
  tag: rep-test/paper:latest
  cmd: [cat, /result]
`;

const tree = (base: string) => ({ Repfile: repfile(base), 'data/in.txt': 'b\na\n', 'src/msg': 'hello\n' });

const repfileOn = (base: string) => repfile(base).replace('from: busybox:latest', `from: ${base}`);

async function pushedBase(): Promise<{ ref: string; repo: string; digest: string }> {
  const repo = `${REGISTRY}/rep-test/base-${randomUUID().slice(0, 8)}`;
  sh(DOCKER_BIN, ['tag', 'busybox:latest', `${repo}:1`]);
  sh(DOCKER_BIN, ['push', `${repo}:1`]);
  const res = await fetch(`http://${REGISTRY}/v2/${repo.slice(REGISTRY.length + 1)}/manifests/1`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
  });
  return { ref: `${repo}:1`, repo, digest: res.headers.get('docker-content-digest')! };
}

describe('rep lock against the local registry', () => {
  it('pins base images to registry digests; builds use name@sha256; status notices a stale lock', async () => {
    const base = await pushedBase();
    expect(base.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const dir = makeProject({ ...tree(base.ref), Repfile: repfileOn(base.ref) });
    const before = rep(dir, ['status', '--json', '--engine', 'docker']);
    const r = rep(dir, ['lock']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`pinned  ${base.ref} -> ${base.digest}\nrep: wrote Repfile.lock (1 images)\n`);
    expect(JSON.parse(readFileSync(path.join(dir, 'Repfile.lock'), 'utf8'))).toEqual({ images: { [base.ref]: base.digest }, lockVersion: 1 });
    // The pin is part of the keys.
    const after = rep(dir, ['status', '--json', '--engine', 'docker']);
    expect(JSON.parse(after.stdout).steps[0].key).not.toBe(JSON.parse(before.stdout).steps[0].key);

    const b = rep(dir, ['build', '--engine', 'docker']);
    expect(b.code).toBe(0);
    const dockerfile = readFileSync(path.join(dir, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`FROM ${base.repo}@${base.digest} AS data`);
    expect(readFileSync(path.join(dir, '.rep/logs/system.log'), 'utf8')).toContain(`FROM ${base.repo}@${base.digest}`);
    const prov = JSON.parse(readFileSync(path.join(dir, '.rep/provenance.json'), 'utf8')) as Statement;
    expect(prov.predicate.buildDefinition.resolvedDependencies[0]).toEqual({
      name: base.ref,
      uri: `docker-image://${base.repo}@${base.digest}`,
      digest: { sha256: base.digest.slice(7) },
      annotations: { kind: 'base-image', digestSource: 'lock' },
    });
    expect(rep(dir, ['status', '-q', '--engine', 'docker']).code).toBe(0);

    writeFileSync(path.join(dir, 'Repfile'), repfileOn(base.ref).replace(`from: ${base.ref}`, 'from: busybox:latest'));
    const st = rep(dir, ['status', '--engine', 'docker']);
    expect(st.stdout).toContain('\nRepfile.lock: "busybox:latest" is not pinned (run rep lock)\n');
    expect(rep(dir, ['status', '-q', '--engine', 'docker']).code).toBe(1);
  });

  it('says which image it cannot pin', () => {
    const dir = makeProject(tree(`${REGISTRY}/rep-test/nonexistent-${randomUUID().slice(0, 8)}:1`));
    const r = rep(dir, ['lock']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Repfile:3:7: base: cannot pin "127\.0\.0\.1:5000\/rep-test\/nonexistent-[0-9a-f]{8}:1": .* is not in registry 127\.0\.0\.1:5000; push it to a registry, or name it as it is there\n/);
  });
});

describe('rep publish with a real engine', () => {
  it('adds the image and its pushed repo digest; the bundle rebuilds the same files on podman and on docker', async () => {
    const dir = makeProject(tree('busybox:latest'));
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'rep-pub-')), 'paper.tar.gz');
    const push = `${REGISTRY}/rep-test/paper:${randomUUID().slice(0, 8)}`;
    const r = await publish(open(dir), { engine: docker(), out, image: true, push });
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
    expect(r.value.files).toContain('image.tar');
    expect(r.value.files).toContain('filesystem.json');
    expect(r.value.repoDigest).toMatch(new RegExp(`^${REGISTRY.replace(/\./g, '\\.')}/rep-test/paper@sha256:[0-9a-f]{64}$`));
    // The pushed digest is what the registry serves.
    const tag = push.split(':').pop()!;
    const head = await fetch(`http://${REGISTRY}/v2/rep-test/paper/manifests/${tag}`, {
      method: 'HEAD',
      headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    expect(r.value.repoDigest!.split('@')[1]).toBe(head.headers.get('docker-content-digest'));

    const viaPodman = await verifyBundle(out, { rebuild: { engine: podman() } });
    expect(viaPodman.checks.map((c) => [c.name, c.ok, c.ok ? '' : c.detail.join('; ')])).toEqual([
      ['checksums', true, ''], ['subjects', true, ''], ['signature', true, ''], ['keys', true, ''], ['rebuild', true, ''],
    ]);
    expect(viaPodman.differences).toEqual([]);
    const viaDocker = await verifyBundle(out, { rebuild: { engine: docker() } });
    expect(viaDocker.ok).toBe(true);
  });

  it('reports, file by file, where a rebuild differs from the recorded image', async () => {
    const dir = makeProject(tree('busybox:latest'));
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'rep-pub-')), 'bundle');
    const r = await publish(open(dir), { engine: docker(), out });
    if (!r.ok) throw new Error();
    // Record a different image than the one the bundle builds (and redo the checksums).
    const fsPath = path.join(out, 'filesystem.json');
    const fs = JSON.parse(readFileSync(fsPath, 'utf8'));
    fs['result'].sha256 = '0'.repeat(64);
    fs['system'].mode = '600';
    delete fs['out/sorted.txt'];
    writeFileSync(fsPath, JSON.stringify(fs));
    const sums = readFileSync(path.join(out, 'SHA256SUMS'), 'utf8').replace(/^[0-9a-f]{64}(?=  filesystem\.json$)/m, sh('sha256sum', [fsPath]).slice(0, 64));
    writeFileSync(path.join(out, 'SHA256SUMS'), sums);
    const cli = rep(process.cwd(), ['verify', out, '--rebuild', '--engine', 'docker']);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(
      'FAILED  rebuild\n        added    /out/sorted.txt\n        changed  /result: content differs\n        changed  /system: mode 600 -> 644\n',
    );
  });
});
