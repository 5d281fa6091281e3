// Go's slash-path functions (path.Clean, filepath.Join), where rep must name
// paths as Docker's Go code names them.

/** Go's path.Clean on slash paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  return rooted ? `/${joined}` : joined || '.';
}

/** filepath.Join: the parts that are not empty, joined and cleaned; "" when all are empty. */
export function goJoin(...parts: string[]): string {
  const kept = parts.filter((p) => p !== '');
  return kept.length ? cleanPath(kept.join('/')) : '';
}
