// REPRODUCE.md: the exact commands to check and rebuild a bundle.

export function reproduceMd(o: { title: string; tag: string; imageDigest?: string; hasLock: boolean; hasImage: boolean; signed: boolean; network?: string }): string {
  const net = o.network ? ` --network ${o.network}` : '';
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
    'sha256sum -c SHA256SUMS',
    `rep verify .${o.signed ? ' --key signer.pub' : ''}`,
    '```',
    '',
    '## 2. Rebuild with rep, and compare the image file by file',
    '',
    '```sh',
    `rep verify .${o.signed ? ' --key signer.pub' : ''} --rebuild${net}`,
    '```',
    '',
    '## 3. Rebuild without rep',
    '',
    '```sh',
    'mkdir context && tar -xf context.tar -C context',
    `docker build${net} -t ${o.tag} -f Dockerfile context`,
    '```',
    '',
  ];
  if (o.hasImage) lines.push('## 4. Use the saved image', '', '```sh', 'docker load -i image.tar', `docker run --rm ${o.tag}`, '```', '');
  return lines.join('\n');
}
