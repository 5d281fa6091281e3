// REPRODUCE.md: the exact commands to check and rebuild a bundle.

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
}): string {
  const net = o.network ? ` --network ${o.network}` : '';
  const key = o.signed ? ' --key signer.pub' : '';
  const secrets = (o.secrets ?? []).map((id) => ` --secret id=${id},src=FILE`).join('');
  const lines = [
    `# Reproducing: ${o.title}`,
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
    'rep verify checks every checksum, the statement against the files' + (o.hasImage ? ' (the image\'s config and layers recomputed from `image.tar`)' : '') + ',',
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
  if (o.hasImage) lines.push('## 4. Use the saved image', '', '```sh', 'docker load -i image.tar', `docker run --rm ${o.tag}`, '```', '');
  return lines.join('\n');
}
