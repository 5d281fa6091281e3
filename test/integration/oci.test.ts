// What rep publish writes about the image, checked by tools other than rep:
// sbom.cdx.json by the CycloneDX library's validator, image.oci.tar by skopeo
// and umoci (Debian's packages), loaded back into podman and docker, and the
// same bytes when the same image is published again.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { afterAll, describe, expect, it } from 'vitest';
import type { Statement } from '../../src/emit/provenance.js';
import { saveOciArchive } from '../../src/publish/ociarchive.js';
import { publish } from '../../src/publish/publish.js';
import { verifyBundle } from '../../src/publish/verify.js';
import { makeProject, open, tempFolders } from '../helpers.js';
import { docker, DOCKER_BIN, podman, sh } from './helpers.js';

const run = randomUUID().slice(0, 8);
const TAG = `rep-test/oci-${run}:latest`;
const removeAfter: [string, string][] = [[DOCKER_BIN, TAG], ['podman', TAG], [DOCKER_BIN, `rep-test/oci-copied-${run}:latest`]];
const temp = tempFolders().make;
afterAll(() => {
  for (const [bin, ref] of removeAfter) spawnSync(bin, ['image', 'rm', ref], { stdio: 'ignore' });
});

const REPFILE = `rep: 1
name: oci
base: debian:bookworm-slim
env: {TEST_RUN: "${run}"}
steps:
  result:
    run: echo hello > /result
image:
  tag: ${TAG}
  cmd: [cat, /result]
`;

describe('rep publish --image, read by other tools', () => {
  it('writes a valid CycloneDX SBOM and an OCI archive that skopeo, umoci, podman and docker read, the same bytes from either engine', async () => {
    const dir = makeProject({ Repfile: REPFILE });
    const out = path.join(temp('rep-pub-'), 'bundle');
    const r = await publish(open(dir), { engine: docker(), out, image: true });
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
    expect(r.value.files).toEqual(expect.arrayContaining(['image.oci.tar', 'sbom.cdx.json']));
    expect(r.value.files).not.toContain('image.tar');
    const digest = r.value.imageDigest!;

    // The SBOM: valid CycloneDX 1.6, Debian's packages with purls, referenced by the statement and the RO-Crate.
    const sbomText = readFileSync(path.join(out, 'sbom.cdx.json'), 'utf8');
    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(sbomText)).toBeNull();
    const sbom = JSON.parse(sbomText);
    expect(sbom.metadata.component).toMatchObject({ type: 'container', name: TAG, version: digest });
    expect(sbom.components.find((c: { name: string }) => c.name === 'libc6').purl).toMatch(/^pkg:deb\/debian\/libc6@[^?]+\?arch=amd64&distro=bookworm$/);
    const st = JSON.parse(readFileSync(path.join(out, 'provenance.json'), 'utf8')) as Statement;
    expect(st.predicate.runDetails.byproducts.find((b) => b.name === 'sbom.cdx.json')).toEqual({
      name: 'sbom.cdx.json',
      digest: { sha256: sh('sha256sum', [path.join(out, 'sbom.cdx.json')]).slice(0, 64) },
      mediaType: 'application/vnd.cyclonedx+json',
      annotations: { kind: 'sbom' },
    });
    const crate = JSON.parse(readFileSync(path.join(out, 'ro-crate-metadata.json'), 'utf8'));
    expect(crate['@graph'].find((e: { '@id': string }) => e['@id'] === 'sbom.cdx.json')).toMatchObject({ encodingFormat: 'application/vnd.cyclonedx+json', about: { '@id': 'image.oci.tar' } });
    const reproduce = readFileSync(path.join(out, 'REPRODUCE.md'), 'utf8');
    expect(reproduce).toMatch(/## Software in the image\n\n- Operating system: `Debian GNU\/Linux 12 \(bookworm\)`\n- \d+ Debian packages\n/);
    expect(reproduce).toContain('apptainer build image.sif oci-archive:image.oci.tar');

    // skopeo reads the archive: the manifest names the image's config and uncompressed layers.
    const archive = path.join(out, 'image.oci.tar');
    const raw = JSON.parse(sh('skopeo', ['inspect', '--raw', `oci-archive:${archive}`]));
    expect(raw.config.digest).toBe(digest);
    expect(raw.layers.every((l: { mediaType: string }) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar')).toBe(true);
    expect(JSON.parse(sh('skopeo', ['inspect', '--config', `oci-archive:${archive}`])).rootfs.diff_ids).toEqual(raw.layers.map((l: { digest: string }) => l.digest));

    // umoci reads the layout and unpacks the image's filesystem.
    const layout = temp('rep-umoci-');
    sh('tar', ['-xf', archive, '-C', layout]);
    expect(sh('umoci', ['ls', '--layout', layout]).trim()).toBe(TAG);
    sh('umoci', ['unpack', '--image', `${layout}:${TAG}`, path.join(layout, 'bundle')]);
    expect(readFileSync(path.join(layout, 'bundle', 'rootfs', 'result'), 'utf8')).toBe('hello\n');

    // docker loads it (docker's manifest.json), podman loads it, skopeo copies it into docker: each has the image with the same ID.
    sh(DOCKER_BIN, ['image', 'rm', TAG]);
    expect(sh(DOCKER_BIN, ['load', '-i', archive])).toContain(`Loaded image: ${TAG}`);
    expect(sh(DOCKER_BIN, ['image', 'inspect', '--format', '{{.Id}}', TAG]).trim()).toBe(digest);
    spawnSync('podman', ['image', 'rm', TAG], { stdio: 'ignore' });
    sh('podman', ['load', '-i', archive]);
    expect(sh('podman', ['image', 'inspect', '--format', '{{.Id}}', TAG]).trim()).toBe(digest.slice(7));
    const copied = `rep-test/oci-copied-${run}:latest`;
    sh('skopeo', ['copy', '--quiet', `oci-archive:${archive}`, `docker-daemon:${copied}`]);
    expect(sh(DOCKER_BIN, ['image', 'inspect', '--format', '{{.Id}}', copied]).trim()).toBe(digest);

    // The same image gives the same archive, byte for byte: saved again from docker, and from podman (which loaded it).
    for (const engine of [docker(), podman()]) {
      const again = path.join(temp('rep-oci-'), 'image.oci.tar');
      expect(await saveOciArchive(engine, TAG, temp('rep-oci-work-'), again)).toEqual({ imageId: digest.slice(7) });
      expect(readFileSync(again).equals(readFileSync(archive)), engine.name).toBe(true);
    }

    // verify checks the archive's digests and the SBOM against the statement.
    expect((await verifyBundle(out)).checks.filter((c) => !c.ok)).toEqual([]);
    const sbomPath = path.join(out, 'sbom.cdx.json');
    writeFileSync(sbomPath, sbomText.replace('"libc6"', '"libc7"'));
    const sumsPath = path.join(out, 'SHA256SUMS');
    writeFileSync(sumsPath, readFileSync(sumsPath, 'utf8').replace(/^[0-9a-f]{64}(?=  sbom\.cdx\.json$)/m, sh('sha256sum', [sbomPath]).slice(0, 64)));
    const tampered = await verifyBundle(out);
    expect(tampered.checks.find((c) => c.name === 'subjects')?.detail).toEqual(["sbom.cdx.json does not match the statement's byproduct", "ro-crate-metadata.json: the sha256 it gives sbom.cdx.json is not the file's"]);
  });
});
