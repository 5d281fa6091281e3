// Asking a registry (Docker Registry HTTP API v2 / OCI distribution) for the
// digest a tag points at.
import { parseImageRef } from './reference.js';

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** Registries spoken to over plain HTTP: loopback, and those named in REP_INSECURE_REGISTRIES. */
export function isInsecure(registry: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const host = registry.replace(/:\d+$/, '');
  if (host === 'localhost' || /^127\./.test(host) || host === '[::1]') return true;
  return (env.REP_INSECURE_REGISTRIES ?? '').split(',').map((s) => s.trim()).includes(registry);
}

export type DigestResult = { ok: true; digest: string } | { ok: false; message: string };

export async function resolveDigest(text: string, env: NodeJS.ProcessEnv = process.env): Promise<DigestResult> {
  const ref = parseImageRef(text);
  if (ref.digest) return { ok: true, digest: ref.digest };
  const host = ref.registry === 'docker.io' ? 'registry-1.docker.io' : ref.registry;
  const url = `${isInsecure(ref.registry, env) ? 'http' : 'https'}://${host}/v2/${ref.repository}/manifests/${ref.tag}`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'HEAD', headers: { Accept: ACCEPT }, signal: AbortSignal.timeout(15_000) });
  } catch (e) {
    return { ok: false, message: `cannot reach registry ${ref.registry} (${(e as Error).cause ? String((e as { cause: Error }).cause.message ?? (e as Error).cause) : (e as Error).message})` };
  }
  if (res.status === 404) return { ok: false, message: `${text} is not in registry ${ref.registry}` };
  if (!res.ok) return { ok: false, message: `registry ${ref.registry} answered ${res.status} for ${text}` };
  const digest = res.headers.get('docker-content-digest');
  if (!digest) return { ok: false, message: `registry ${ref.registry} gave no digest for ${text}` };
  return { ok: true, digest };
}
