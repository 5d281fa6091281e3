// Lock against a real registry, publish with a real engine, verify across engines.
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import tar from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { Statement } from '../../src/emit/provenance.js';
import { publish } from '../../src/publish/publish.js';
import { verifyBundle } from '../../src/publish/verify.js';
import { makeProject, open, rep } from '../helpers.js';
import { docker, DOCKER_BIN, podman, PODMAN_RUN, sh } from './helpers.js';

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
  removeAfter.push([DOCKER_BIN, `${repo}:1`]);
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

/** Images a test tagged, removed when the file is done: [engine binary, reference]. */
const removeAfter: [string, string][] = [];
afterAll(() => {
  for (const [bin, ref] of removeAfter) spawnSync(bin, ['image', 'rm', ref], { stdio: 'ignore' });
});
const verifyTagOf = (bundleSha256: string, name = 'paper') => `rep-verify/${name}:${bundleSha256.slice(0, 12)}`;
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

/** What an attacker without the key can redo: SHA256SUMS and the CITE files that quote its hash. */
function resum(dir: string): void {
  const old = readFileSync(path.join(dir, 'SHA256SUMS'));
  const sums = old.toString('utf8').split('\n').filter(Boolean).map((l) => l.slice(66)).map((f) => `${sha(readFileSync(path.join(dir, f)))}  ${f}\n`).join('');
  writeFileSync(path.join(dir, 'SHA256SUMS'), sums);
  for (const f of ['CITE.md', 'CITE.tex']) writeFileSync(path.join(dir, f), readFileSync(path.join(dir, f), 'utf8').replaceAll(sha(old), sha(sums)));
}

async function tarEntries(file: string): Promise<{ header: tar.Header; body: Buffer }[]> {
  const out: { header: tar.Header; body: Buffer }[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      const chunks: Buffer[] = [];
      body.on('data', (c: unknown) => chunks.push(c as Buffer));
      body.on('end', () => {
        out.push({ header, body: Buffer.concat(chunks) });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(readFileSync(file));
  await done;
  return out;
}

async function packTar(entries: { header: tar.Header; body: Buffer }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.header.type === 'file') pack.entry({ ...e.header, size: e.body.length }, e.body);
    else pack.entry(e.header);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('rep publish with a real engine', () => {
  it('adds the image and its pushed repo digest; the bundle rebuilds the same files on podman and on docker', async () => {
    const dir = makeProject(tree('busybox:latest'));
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'rep-pub-')), 'paper.tar.gz');
    const push = `${REGISTRY}/rep-test/paper:${randomUUID().slice(0, 8)}`;
    removeAfter.push([DOCKER_BIN, push]);
    const r = await publish(open(dir), { engine: docker(), out, image: true, push });
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
    expect(r.value.files).toContain('image.oci.tar');
    expect(r.value.files).toContain('sbom.cdx.json');
    expect(r.value.files).toContain('filesystem.json');
    expect(r.value.repoDigest).toMatch(new RegExp(`^${REGISTRY.replace(/\./g, '\\.')}/rep-test/paper@sha256:[0-9a-f]{64}$`));
    // The pushed digest is what the registry serves.
    const tag = push.split(':').pop()!;
    const head = await fetch(`http://${REGISTRY}/v2/rep-test/paper/manifests/${tag}`, {
      method: 'HEAD',
      headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    expect(r.value.repoDigest!.split('@')[1]).toBe(head.headers.get('docker-content-digest'));

    removeAfter.push(['podman', verifyTagOf(r.value.bundleSha256)], [DOCKER_BIN, verifyTagOf(r.value.bundleSha256)]);
    // podman's busybox:latest here is another image than docker's (each imported its own): the same files, another digest.
    const viaPodman = await verifyBundle(out, { rebuild: { engine: podman() } });
    expect(viaPodman.checks.map((c) => [c.name, c.ok, c.ok ? '' : c.detail.join('; ')])).toEqual([
      ['checksums', true, ''], ['subjects', true, ''], ['signature', true, ''], ['keys', true, ''], ['dockerfile', true, ''],
      ['rebuild', false, expect.stringMatching(/^differs: the rebuilt image is sha256:[0-9a-f]{64}, the statement names sha256:[0-9a-f]{64}; no file differs/)],
    ]);
    expect(viaPodman.differences).toEqual([]);
    const viaDocker = await verifyBundle(out, { rebuild: { engine: docker() } });
    expect(viaDocker.ok).toBe(true);
    expect(viaDocker.checks.at(-1)!.detail).toEqual([`reproduced: ${r.value.imageDigest} (identical image)`]);
  });

  it('without the rewrite (reproducible: false), a rebuild is compared with filesystem.json, which must list the files of the image the bundle holds: a real docker export and the archive\'s layers agree', async () => {
    const dir = makeProject({ ...tree('busybox:latest'), Repfile: `${repfile('busybox:latest')}reproducible: false\n` });
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'rep-pub-')), 'bundle');
    const r = await publish(open(dir), { engine: docker(), out, image: true });
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
    removeAfter.push([DOCKER_BIN, verifyTagOf(r.value.bundleSha256)]);
    const v = await verifyBundle(out, { rebuild: { engine: docker() } });
    expect(v.checks.map((c) => [c.name, c.ok, c.ok ? '' : c.detail.join('; ')])).toEqual([
      ['checksums', true, ''], ['subjects', true, ''], ['signature', true, ''], ['keys', true, ''], ['dockerfile', true, ''], ['rebuild', true, ''],
    ]);
  });

  it('refuses to publish when a context file changes while publish reads it (the bundle would not verify)', async () => {
    const dir = makeProject({ ...tree('busybox:latest'), Repfile: repfile('busybox:latest').replace('run: echo system > /system', 'run: sleep 4 && echo system > /system') });
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'rep-pub-')), 'bundle');
    const publishing = publish(open(dir), { engine: docker(), out, reproducible: false });
    // context.tar is written first, straight into the folder bundle: then the build runs (a step sleeps).
    for (let i = 0; i < 200 && !existsSync(path.join(out, 'context.tar')); i++) await new Promise((r) => setTimeout(r, 25));
    expect(existsSync(path.join(out, 'context.tar'))).toBe(true);
    writeFileSync(path.join(dir, 'src/msg'), 'edited while publishing\n');
    const r = await publishing;
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([{ file: 'src/msg', message: expect.stringMatching(/^changed while rep publish read the context .*: run rep publish again$/) }]);
    // Nothing is left looking like a bundle.
    expect(existsSync(out)).toBe(false);
    // Unchanged from here on, the same project publishes.
    const again = await publish(open(dir), { engine: docker(), out, reproducible: false });
    expect(again.ok).toBe(true);
  }, 60_000);

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
    removeAfter.push([DOCKER_BIN, verifyTagOf(sha(sums))]);
    const cli = rep(process.cwd(), ['verify', out, '--rebuild', '--engine', 'docker']);
    expect(cli.code).toBe(1);
    // The same image (its digest answers first), which the edited filesystem.json does not describe.
    expect(cli.stdout).toContain(
      `FAILED  rebuild\n        reproduced: ${r.value.imageDigest} (identical image), but filesystem.json does not list its files:\n` +
        '        added    /out/sorted.txt\n        changed  /result: content differs\n        changed  /system: mode 600 -> 644\n',
    );
  });
});

describe('rep verify against a hostile bundle, with a real engine', () => {
  it('recomputes the image from image.oci.tar: a layer added and the config rewritten under its old name fails with --key', async () => {
    const keyDir = mkdtempSync(path.join(tmpdir(), 'rep-keys-'));
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(path.join(keyDir, 'k.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(path.join(keyDir, 'k.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const pub = path.join(keyDir, 'k.pub');
    const tag = `rep-test/signed-${randomUUID().slice(0, 8)}:latest`;
    removeAfter.push([DOCKER_BIN, tag], ['podman', tag]);
    const dir = makeProject({ ...tree('busybox:latest'), Repfile: repfile('busybox:latest').replace('tag: rep-test/paper:latest', `tag: ${tag}`) });
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'rep-pub-')), 'bundle');
    const r = await publish(open(dir), { engine: docker(), out, image: true, sign: path.join(keyDir, 'k.key') });
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
    expect((await verifyBundle(out, { key: pub })).checks.filter((c) => !c.ok)).toEqual([]);

    // The attacker adds a layer, appends its diff_id to the config, keeps the config's old
    // name, and redoes every checksum; the statement and its signature stay as they were.
    const imageTar = path.join(out, 'image.oci.tar');
    const entries = await tarEntries(imageTar);
    const manifestEntry = entries.find((e) => e.header.name === 'manifest.json')!;
    const manifest = JSON.parse(manifestEntry.body.toString('utf8')) as { Config: string; Layers: string[] }[];
    const configEntry = entries.find((e) => e.header.name === manifest[0]!.Config)!;
    const config = JSON.parse(configEntry.body.toString('utf8')) as { rootfs: { diff_ids: string[] } };
    const evilPack = tar.pack();
    evilPack.entry({ name: 'usr/bin/backdoor', mode: 0o755 }, '#!/bin/sh\necho pwned\n');
    evilPack.finalize();
    const evilChunks: Buffer[] = [];
    for await (const c of evilPack) evilChunks.push(c as Buffer);
    const evil = Buffer.concat(evilChunks);
    config.rootfs.diff_ids.push(`sha256:${sha(evil)}`);
    configEntry.body = Buffer.from(JSON.stringify(config));
    manifest[0]!.Layers.push(`${sha(evil)}/layer.tar`);
    manifestEntry.body = Buffer.from(JSON.stringify(manifest));
    entries.unshift({ header: { name: `${sha(evil)}/layer.tar`, type: 'file', mode: 0o644 } as tar.Header, body: evil });
    writeFileSync(imageTar, await packTar(entries));
    resum(out);
    const cli = rep(process.cwd(), ['verify', out, '--key', pub]);
    expect(cli.code).toBe(1);
    const configName = manifest[0]!.Config;
    const configHex = configName.replace(/^blobs\/sha256\//, '');
    const forged = sha(configEntry.body);
    expect(cli.stdout).toContain('FAILED  subjects\n');
    for (const line of [
      `image.oci.tar: blob ${configName} has sha256:${forged}, not the digest its name says`,
      `image.oci.tar: the config ${configName} has sha256:${forged}, not the digest its name says`,
      `image.oci.tar holds image sha256:${forged}, the statement names sha256:${configHex}`,
      'image.oci.tar was changed after signing',
    ]) expect(cli.stdout).toContain(`        ${line}\n`);
    expect(cli.stdout.trim().split('\n').at(-1)).toBe('rep: verify failed: subjects, signature');

    // podman save writes its own layout (layers named by digest, links for the legacy folders): it verifies too.
    const viaPodman = path.join(mkdtempSync(path.join(tmpdir(), 'rep-pub-')), 'bundle.tar.gz');
    const p = await publish(open(makeProject({ ...tree('busybox:latest'), Repfile: repfile('busybox:latest').replace('tag: rep-test/paper:latest', `tag: ${tag}`) })), { engine: podman(), out: viaPodman, image: true });
    if (!p.ok) throw new Error(p.errors.map((e) => e.message).join('\n'));
    expect((await verifyBundle(viaPodman)).checks.filter((c) => !c.ok)).toEqual([]);
  });

  it("a rebuild uses none of the verifier's secrets, tags none of its images and has no network, unless the verifier says so", async () => {
    const run = randomUUID().slice(0, 8);
    const hostSecret = path.join(mkdtempSync(path.join(tmpdir(), 'rep-host-')), 'id_rsa');
    const victim = `rep-test/victim-${run}:latest`;
    sh('podman', ['tag', 'busybox:latest', victim]);
    removeAfter.push(['podman', victim]);
    const victimId = sh('podman', ['image', 'inspect', '--format', '{{.Id}}', victim]).trim();
    const stranger = `rep: 1
name: stranger
base: busybox:latest
env: {TEST_RUN: "${run}"}
secrets:
  hostkey: {file: ${hostSecret}}
  token: {env: REP_TEST_STRANGER_TOKEN}
steps:
  grab:
    secrets: [hostkey, token]
    run: cat /run/secrets/hostkey /run/secrets/token > /loot; ls /sys/class/net | grep -cv '^lo$' > /ifaces || true
image:
  tag: ${victim}
`;
    // The author publishes with their own values...
    writeFileSync(hostSecret, 'author-key\n');
    const dir = makeProject({ Repfile: stranger });
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'rep-pub-')), 'bundle');
    process.env.REP_TEST_STRANGER_TOKEN = 'author-token';
    const r = await publish(open(dir), { engine: podman(), out, secrets: [{ id: 'hostkey' }, { id: 'token' }] }).finally(() => delete process.env.REP_TEST_STRANGER_TOKEN);
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
    sh('podman', ['tag', 'busybox:latest', victim]);
    // The verifier's machine is another one: it has none of the author's step images.
    const st = JSON.parse(readFileSync(path.join(out, 'provenance.json'), 'utf8')) as Statement;
    for (const b of st.predicate.runDetails.byproducts) spawnSync('podman', ['image', 'rm', `rep-cache:${b.digest!.sha256}`], { stdio: 'ignore' });
    const rebuilt = verifyTagOf(r.value.bundleSha256, 'stranger');
    removeAfter.push(['podman', rebuilt]);
    // ...and the verifier has secrets of their own at the same places.
    writeFileSync(hostSecret, 'HOST-PRIVATE-KEY\n');
    const env = { REP_TEST_STRANGER_TOKEN: 'HOST-TOKEN' };
    const refused = rep(process.cwd(), ['verify', out, '--rebuild', '--engine', 'podman'], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(
      `FAILED  rebuild\n        Repfile:10:15: steps.grab.secrets: step grab mounts the secret "hostkey", which the Repfile takes from the file ${hostSecret}; a rebuild for verification uses none of your secrets: give one with --secret id=hostkey,src=FILE if you trust this bundle\n` +
        '        Repfile:10:24: steps.grab.secrets: step grab mounts the secret "token", which the Repfile takes from the environment variable REP_TEST_STRANGER_TOKEN; a rebuild for verification uses none of your secrets: give one with --secret id=token,env=NAME if you trust this bundle\n',
    );
    expect(sh('podman', ['image', 'inspect', '--format', '{{.Id}}', victim]).trim()).toBe(victimId);
    expect(spawnSync('podman', ['image', 'exists', rebuilt]).status).toBe(1);

    // Secrets the verifier grants, and no network: the rebuild is tagged in rep's namespace only.
    const granted = path.join(path.dirname(hostSecret), 'granted');
    writeFileSync(granted, 'granted-key\n');
    const ok = rep(process.cwd(), ['verify', out, '--rebuild', '--engine', 'podman', '--secret', `id=hostkey,src=${granted}`, '--secret', 'id=token,env=GRANTED_TOKEN'], { ...env, GRANTED_TOKEN: 'granted-token' });
    expect(ok.stdout).toMatch(/FAILED {2}rebuild\n {8}differs: the rebuilt image is sha256:[0-9a-f]{64}, the statement names sha256:[0-9a-f]{64}\n/);
    expect(ok.stdout).toContain('        changed  /ifaces: content differs (in the layer of step grab)\n        changed  /loot: content differs (in the layer of step grab)\n');
    expect(sh('podman', ['image', 'inspect', '--format', '{{.Id}}', victim]).trim()).toBe(victimId);
    const inside = sh('podman', ['run', '--rm', ...PODMAN_RUN, rebuilt, 'cat', '/loot', '/ifaces']);
    expect(inside).toBe('granted-key\ngranted-token0\n');
    // The step images the rebuild made are removed (its history was in a temporary .rep/: no rep gc would
    // find them); the image verify names stays. Found by an adversarial review.
    const left = st.predicate.runDetails.byproducts.map((b) => spawnSync('podman', ['image', 'exists', `rep-cache:${b.digest!.sha256}`]).status);
    expect(left).toEqual(st.predicate.runDetails.byproducts.map(() => 1));
    const rebuiltId = sh('podman', ['image', 'inspect', '--format', '{{.Id}}', rebuilt]).trim();
    const tagsOfIt = sh('podman', ['images', '--no-trunc', '--format', '{{.Id}} {{.Repository}}:{{.Tag}}']).split('\n').filter((l) => l.replace(/^sha256:/, '').startsWith(`${rebuiltId} `));
    expect(tagsOfIt.map((l) => l.split(' ')[1])).toEqual([`localhost/${rebuilt}`]);
    expect(readdirSync(path.dirname(hostSecret)).sort()).toEqual(['granted', 'id_rsa']);
  });
});
