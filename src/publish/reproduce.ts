// REPRODUCE.md: the exact commands to check and rebuild a bundle, how to run
// the saved image (docker, podman, Apptainer), and the software in it.
import { markdownText } from './citation.js';

export function reproduceMd(o: {
  title: string;
  tag: string;
  imageDigest?: string;
  hasLock: boolean;
  hasImage: boolean;
  signed: boolean;
  network?: string;
  /** Ids of the secrets the steps mount: a rebuild gets them only from the verifier. */
  secrets?: string[];
  /** The section on the software in the image (from the SBOM). */
  software?: string[];
}): string {
  const net = o.network ? ` --network ${o.network}` : '';
  const key = o.signed ? ' --key signer.pub' : '';
  const secrets = (o.secrets ?? []).map((id) => ` --secret id=${id},src=FILE`).join('');
  const lines = [
    `# Reproducing: ${markdownText(o.title)}`,
    '',
    `This bundle holds everything needed to rebuild the image \`${o.tag}\`${o.imageDigest ? ` (config \`${o.imageDigest}\`)` : ''}:`,
    'the Repfile' + (o.hasLock ? ' and Repfile.lock (base images pinned to digests)' : '') + ', the standalone Dockerfile,',
    'the exact build context (`context.tar`), and the provenance statement (`provenance.json`).',
    '',
    '## 1. Check the bundle',
    '',
    '```sh',
    `rep verify .${key}`,
    'sha256sum -c SHA256SUMS   # without rep: the checksums only',
    '```',
    '',
    'rep verify checks every checksum, the statement against the files' + (o.hasImage ? ' (the image\'s config and layers recomputed from `image.oci.tar`)' : '') + ',',
    'and that the Repfile and the context give the recorded step keys.',
  ];
  if (o.signed) {
    lines.push(
      'With `--key`, it checks two signatures: `provenance.dsse.json` signs the provenance statement (for SLSA tools),',
      'and `bundle.dsse.json` signs the list of every file of the bundle with its sha256: a file added, removed or changed after signing fails.',
    );
  }
  lines.push(
    '',
    '## 2. Rebuild with rep, and compare the image file by file',
    '',
    '```sh',
    `rep verify .${key} --rebuild${net}${secrets}`,
    '```',
    '',
    `The rebuild tags its image \`rep-verify/NAME:BUNDLESHA12\`, never \`${o.tag}\`, and runs without network unless given \`--network host\`.`,
    secrets
      ? 'The steps mount secrets: a rebuild uses none of yours unless you give each with `--secret id=ID,src=FILE` (or `id=ID,env=NAME`).'
      : 'It uses none of your secrets.',
    '',
    '## 3. Rebuild without rep',
    '',
    '```sh',
    'mkdir context && tar -xf context.tar -C context',
    `${secrets ? 'DOCKER_BUILDKIT=1 ' : ''}docker build${net}${secrets} -t ${o.tag} -f Dockerfile context`,
    '```',
    '',
  );
  if (o.hasImage) {
    lines.push(
      '## 4. Use the saved image',
      '',
      '`image.oci.tar` is the image as an OCI image layout archive (uncompressed layers; it also holds',
      "docker's `manifest.json`). Its config digest is the image ID above.",
      '',
      '```sh',
      `docker load -i image.oci.tar && docker run --rm ${o.tag}`,
      `podman load -i image.oci.tar && podman run --rm ${o.tag}`,
      `skopeo copy oci-archive:image.oci.tar docker-daemon:${o.tag}   # or containers-storage:${o.tag}`,
      '```',
      '',
      'On an HPC cluster without a root daemon, Apptainer (or SingularityCE) turns it into a SIF image:',
      '',
      '```sh',
      'apptainer build image.sif oci-archive:image.oci.tar',
      'apptainer run image.sif',
      '```',
      '',
    );
  }
  if (o.software) lines.push(...o.software);
  return lines.join('\n');
}
