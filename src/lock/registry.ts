// Asking a registry (Docker Registry HTTP API v2 / OCI distribution) for the
// digest a tag points at.
import { isIPv4, isIPv6 } from 'node:net';
import { clip, fail, ok, type InFile, type Result } from '../diag.js';
import { LOCK_DIGEST } from './lockfile.js';
import { parseImageRef } from './reference.js';

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** The host of a registry name host[:port], brackets dropped: "[::1]:5000" -> "::1". */
function registryHost(registry: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d+)?$/.exec(registry);
  if (bracketed) return bracketed[1]!;
  return isIPv6(registry) ? registry : registry.replace(/:\d+$/, '');
}

/** Whether `host` is loopback as written: an IP literal in 127.0.0.0/8 or ::1, or localhost (never a name resolved by DNS). */
function isLoopback(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) return new URL(`http://[${host}]/`).hostname === '[::1]';
  return false;
}

/**
 * Registries spoken to without TLS (plain HTTP, or podman's --tls-verify=false):
 * loopback IP literals and localhost, and no other, whatever the environment
 * says (a registry elsewhere that speaks plain HTTP is the engine's to allow, in
 * its own settings). The one place that decides it.
 */
export function isInsecure(registry: string): boolean {
  return isLoopback(registryHost(registry));
}

/** The registry digest of image `text`, or a registry problem placed `at` (where the file names the image). */
export async function resolveDigest(text: string, at: InFile): Promise<Result<string>> {
  const unanswered = (message: string) => fail<string>({ ...at, kind: 'registry', message });
  const ref = parseImageRef(text);
  // What the lock would hold is checked before it is written: rep reads no other (lockfile.ts).
  const pinned = (digest: string, from: string) =>
    LOCK_DIGEST.test(digest) ? ok(digest) : unanswered(`${from} ${JSON.stringify(clip(digest, 100))}, which is not a sha256 digest (sha256: and 64 lowercase hex digits)`);
  if (ref.digest) return pinned(ref.digest, 'the Repfile pins it to');
  const host = ref.registry === 'docker.io' ? 'registry-1.docker.io' : ref.registry;
  const url = `${isInsecure(ref.registry) ? 'http' : 'https'}://${host}/v2/${ref.repository}/manifests/${ref.tag}`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'HEAD', headers: { Accept: ACCEPT }, signal: AbortSignal.timeout(15_000) });
  } catch (e) {
    return unanswered(`cannot reach registry ${ref.registry} (${(e as Error).cause ? String((e as { cause: Error }).cause.message ?? (e as Error).cause) : (e as Error).message})`);
  }
  if (res.status === 404) return unanswered(`${text} is not in registry ${ref.registry}`);
  if (!res.ok) return unanswered(`registry ${ref.registry} answered ${res.status} for ${text}`);
  const digest = res.headers.get('docker-content-digest');
  if (!digest) return unanswered(`registry ${ref.registry} gave no digest for ${text}`);
  return pinned(digest, `registry ${ref.registry} answered`);
}
