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

/** How many redirects a question to a registry may follow. */
const MAX_HOPS = 3;
/** The most of a token answer read: a JSON object with a token in it (Docker Hub's are about 1 KB). */
const TOKEN_LIMIT = 64 << 10;
const REDIRECT = new Set([301, 302, 303, 307, 308]);

/**
 * Why rep may not go to `to` from a question to a registry (a redirect, a token realm), or undefined: https anywhere,
 * plain http only from a loopback registry to a loopback host, and never a URL with a user name or password (rep sends
 * no credentials, and fetch refuses one, echoing it whole).
 */
function leadsAstray(to: URL, insecure: boolean): string | undefined {
  const where = clip(`${to.protocol}//${to.host}`, 100);
  if (to.username !== '' || to.password !== '') return `${where} with a user name or password in the URL, and rep sends no credentials`;
  if (to.protocol === 'https:') return undefined;
  if (to.protocol === 'http:' && insecure && isLoopback(to.hostname.replace(/^\[(.*)\]$/, '$1'))) return undefined;
  return `${where}, which is not https`;
}

/** A registry that leads where rep does not go: said after "registry NAME ". */
class Astray extends Error {}

/**
 * Node's fetch checks no certificate when NODE_TLS_REJECT_UNAUTHORIZED=0 (a setting CI jobs leave behind), for every
 * host; rep checks them beyond loopback whatever the environment says (SECURITY.md), so it asks nothing over https
 * then. The environment is not changed: rep is also a library, and the variable is its caller's.
 */
class TlsOff extends Error {
  constructor(to: URL) {
    super(`NODE_TLS_REJECT_UNAUTHORIZED=0 turns certificate checks off, and rep checks them for every registry beyond loopback: unset it (rep did not connect to ${clip(to.host, 100)})`);
  }
}

/**
 * fetch, following at most MAX_HOPS redirects, each checked by leadsAstray
 * (fetch's own would follow one from https to plain http, or anywhere). The
 * Authorization header goes to the origin it was made for, and no other.
 */
async function ask(url: string, init: { method: string; headers: Record<string, string>; signal: AbortSignal }, insecure: boolean): Promise<Response> {
  let at = new URL(url);
  const origin = at.origin;
  for (let hop = 0; ; hop++) {
    const headers = { ...init.headers };
    if (at.origin !== origin) delete headers.Authorization;
    if (at.protocol === 'https:' && process.env.NODE_TLS_REJECT_UNAUTHORIZED === '0') throw new TlsOff(at);
    const res = await fetch(at, { ...init, headers, redirect: 'manual' });
    const location = res.headers.get('location');
    if (!REDIRECT.has(res.status) || location === null) return res;
    await res.body?.cancel();
    if (hop === MAX_HOPS) throw new Astray(`redirects more than ${MAX_HOPS} times`);
    let next: URL;
    try {
      next = new URL(location, at);
    } catch {
      throw new Astray(`redirects to ${JSON.stringify(clip(location, 100))}, which is not a URL`);
    }
    const astray = leadsAstray(next, insecure);
    if (astray) throw new Astray(`redirects to ${astray}`);
    at = next;
  }
}

/** The parameters of a `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` challenge, or undefined when it is not one. */
export function bearerChallenge(header: string): Record<string, string> | undefined {
  const m = /^\s*Bearer\s+(.*)$/i.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[1]!.matchAll(/([A-Za-z]+)="([^"]*)"/g)) params[p[1]!.toLowerCase()] = p[2]!;
  return params;
}

/** At most `limit` bytes of a response's body; past them, undefined (and the rest is not read). */
async function bodyWithin(res: Response, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  if (!res.body) return Buffer.alloc(0);
  for await (const chunk of res.body) {
    size += (chunk as Uint8Array).byteLength;
    if (size > limit) {
      await res.body.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks);
}

/**
 * An anonymous pull token for `repository`, as Docker Hub and most registries
 * want before they answer a manifest question: no credentials are sent, so
 * none can reach the realm's host; the realm must be https (http only when it
 * and the registry are loopback).
 */
async function anonymousToken(challenge: Record<string, string>, repository: string, insecure: boolean, signal: AbortSignal): Promise<string> {
  let realm: URL;
  try {
    realm = new URL(challenge.realm ?? '');
  } catch {
    throw new Astray(`asks for a token from ${JSON.stringify(clip(challenge.realm ?? '', 100))}, which is not a URL`);
  }
  const astray = leadsAstray(realm, insecure);
  if (astray) throw new Astray(`asks for a token from ${astray}`);
  if (challenge.service !== undefined) realm.searchParams.set('service', challenge.service);
  realm.searchParams.set('scope', challenge.scope ?? `repository:${repository}:pull`);
  const res = await ask(realm.href, { method: 'GET', headers: { Accept: 'application/json' }, signal }, insecure);
  if (!res.ok) {
    await res.body?.cancel();
    throw new Astray(`gave no token (${clip(realm.host, 100)} answered ${res.status})`);
  }
  const body = await bodyWithin(res, TOKEN_LIMIT);
  if (body === undefined) throw new Astray(`gave a token answer larger than ${TOKEN_LIMIT} bytes`);
  let said: { token?: unknown; access_token?: unknown };
  try {
    said = JSON.parse(body.toString('utf8')) as typeof said;
  } catch {
    throw new Astray('gave a token answer that is not JSON');
  }
  const token = typeof said?.token === 'string' && said.token ? said.token : said?.access_token;
  // It goes into a header: visible ASCII only (what a JWT or an opaque token is).
  if (typeof token !== 'string' || !/^[\x21-\x7e]{1,8192}$/.test(token)) throw new Astray('gave a token answer with no token rep can send');
  return token;
}

/**
 * The registries that did not answer in one command (no connection, or no answer in time), each with the image it
 * was asked for: a later image on one fails at once rather than wait its time out again.
 */
export type Unanswering = Map<string, string>;

/** The registry digest of image `text`, or a registry problem placed `at` (where the file names the image). */
/** The errors of a request no server answered: it timed out, or no connection was made or kept. */
const NO_ANSWER = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT']);
function unanswering(e: unknown): boolean {
  const name = (e as Error).name;
  if (name === 'TimeoutError' || name === 'AbortError') return true;
  const cause = (e as { cause?: { code?: unknown; name?: unknown } }).cause;
  return (typeof cause?.code === 'string' && NO_ANSWER.has(cause.code)) || cause?.name === 'TimeoutError' || cause?.name === 'ConnectTimeoutError';
}

export async function resolveDigest(text: string, at: InFile, silent: Unanswering = new Map()): Promise<Result<string>> {
  const unanswered = (message: string) => fail<string>({ ...at, kind: 'registry', message });
  const ref = parseImageRef(text);
  // What the lock would hold is checked before it is written: rep reads no other (lockfile.ts).
  const pinned = (digest: string, from: string) =>
    LOCK_DIGEST.test(digest) ? ok(digest) : unanswered(`${from} ${JSON.stringify(clip(digest, 100))}, which is not a sha256 digest (sha256: and 64 lowercase hex digits)`);
  if (ref.digest) return pinned(ref.digest, 'the Repfile pins it to');
  const before = silent.get(ref.registry);
  if (before !== undefined) return unanswered(`registry ${ref.registry} did not answer for ${before}, so rep did not ask it again`);
  const host = ref.registry === 'docker.io' ? 'registry-1.docker.io' : ref.registry;
  const insecure = isInsecure(ref.registry);
  const url = `${insecure ? 'http' : 'https'}://${host}/v2/${ref.repository}/manifests/${ref.tag}`;
  const signal = AbortSignal.timeout(15_000);
  let res: Response;
  // Whom rep was asking when it failed: a token service that does not answer is no silent registry.
  let asking: 'registry' | 'token' = 'registry';
  try {
    res = await ask(url, { method: 'HEAD', headers: { Accept: ACCEPT }, signal }, insecure);
    const challenge = res.status === 401 ? bearerChallenge(res.headers.get('www-authenticate') ?? '') : undefined;
    if (challenge) {
      asking = 'token';
      const token = await anonymousToken(challenge, ref.repository, insecure, signal);
      asking = 'registry';
      res = await ask(url, { method: 'HEAD', headers: { Accept: ACCEPT, Authorization: `Bearer ${token}` }, signal }, insecure);
    }
  } catch (e) {
    if (e instanceof Astray) return unanswered(`registry ${ref.registry} ${e.message}`);
    if (e instanceof TlsOff) return unanswered(`registry ${ref.registry}: ${e.message}`);
    // What the network stack says can quote the URL it was given: clipped.
    const why = (e as Error).cause ? String((e as { cause: Error }).cause.message ?? (e as Error).cause) : (e as Error).message;
    // Only a registry that did not answer at all (no connection, or not in time) is not asked again.
    if (asking === 'registry' && unanswering(e)) silent.set(ref.registry, text);
    return unanswered(`cannot reach ${asking === 'token' ? `the token service of registry ${ref.registry}` : `registry ${ref.registry}`} (${clip(why)})`);
  }
  if (res.status === 404) return unanswered(`${text} is not in registry ${ref.registry}`);
  if (res.status === 401) return unanswered(`registry ${ref.registry} answered 401 for ${text}: it wants credentials, and rep lock asks as anyone (pin the digest in the Repfile: name@sha256:…)`);
  if (!res.ok) return unanswered(`registry ${ref.registry} answered ${res.status} for ${text}`);
  const digest = res.headers.get('docker-content-digest');
  if (!digest) return unanswered(`registry ${ref.registry} gave no digest for ${text}`);
  return pinned(digest, `registry ${ref.registry} answered`);
}
