// The Docker Engine API over its unix socket, for the small questions a build
// asks (the version, an image's id and digests), tagging, saving and loading
// images, and building a Dockerfile that copies nothing (the final image): answered without starting the docker client (tens of
// milliseconds each) or copying archives through it. Only where the client
// would talk to that same socket; anything else is left to the client.
import { randomBytes } from 'node:crypto';
import { closeSync, createReadStream, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { TarWriter } from '../repro/tarwriter.js';
import { letGoOfYoungGarbage } from '../heap.js';
import { checkedImage, type ImageInfo } from './engine.js';
import { isJsonMap, shallowJson } from '../canonical.js';

const DEFAULT_SOCKET = '/var/run/docker.sock';

/**
 * The unix socket the docker client would use under `env`, or undefined when
 * it would go elsewhere (a TCP or SSH DOCKER_HOST, a docker context other
 * than the default).
 */
export function dockerSocket(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const host = env.DOCKER_HOST;
  if (host) return host.startsWith('unix://') ? host.slice('unix://'.length) : undefined;
  if (env.DOCKER_CONTEXT && env.DOCKER_CONTEXT !== 'default') return undefined;
  const configDir = env.DOCKER_CONFIG || path.join(env.HOME || homedir(), '.docker');
  try {
    const config = JSON.parse(readFileSync(path.join(configDir, 'config.json'), 'utf8')) as { currentContext?: unknown };
    if (config.currentContext !== undefined && config.currentContext !== 'default') return undefined;
  } catch (e) {
    // No config file is the common case; one that cannot be read or parsed is the client's business.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
  }
  return DEFAULT_SOCKET;
}

export interface ApiAnswer {
  status: number;
  body: string;
  /** The Server header: docker sets it on every answer ("Docker/20.10.24 (linux)"). */
  server?: string;
}

/** GET `apiPath` from the engine on `socket`; rejects when nothing answers within `timeoutMs`. */
export function apiGet(socket: string, apiPath: string, timeoutMs = 2000): Promise<ApiAnswer> {
  return apiCall(socket, 'GET', apiPath, timeoutMs);
}

/** Bytes of an answer to a small question at most (an image's JSON is a few KB): a larger one is no engine's. */
const MAX_ANSWER = 8 << 20;

/**
 * The answer to a small question: rejected when the engine says nothing for `timeoutMs`, has not
 * finished within five times that (an answer that trickles in), or says more than MAX_ANSWER bytes.
 */
function apiCall(socket: string, method: 'GET' | 'POST' | 'DELETE', apiPath: string, timeoutMs: number, json?: unknown): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const body = json === undefined ? undefined : JSON.stringify(json);
    const headers = { Host: 'docker', ...(body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) }) };
    const req = request({ socketPath: socket, path: apiPath, method, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER) req.destroy(new Error(`the engine's answer to ${method} ${apiPath} is larger than ${MAX_ANSWER} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), server: String(res.headers.server ?? '') }));
      res.on('error', reject);
    });
    // A timeout of 0: none (an answer that takes as long as the engine's work, as a removal's).
    const deadline = timeoutMs > 0 ? setTimeout(() => req.destroy(new Error(`no whole answer from ${socket} within ${5 * timeoutMs} ms`)), 5 * timeoutMs) : undefined;
    req.on('close', () => clearTimeout(deadline));
    req.on('timeout', () => req.destroy(new Error(`no answer from ${socket} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The server's version, as `docker version --format {{.Server.Version}}`
 * prints it. Read from the Server header of a ping, which docker writes from
 * the same version ("Docker/20.10.24+dfsg1 (linux)"): its /version runs runc
 * and docker-init to report theirs too, 10 to 50 ms where a ping takes one.
 * An engine whose ping says nothing of the kind is asked /version.
 */
export async function serverVersion(socket: string): Promise<string | undefined> {
  const ping = await apiGet(socket, '/_ping');
  const said = ping.status === 200 ? /^Docker\/([^\s()]+) \(/.exec(ping.server ?? '')?.[1] : undefined;
  if (said) return said;
  const r = await apiGet(socket, '/version');
  if (r.status !== 200) return undefined;
  const v = (JSON.parse(r.body) as { Version?: unknown }).Version;
  return typeof v === 'string' && v ? v : undefined;
}

/**
 * What `docker version` says of the server, from the API: its version and
 * platform (os/arch, as the client's {{.Server.Os}}/{{.Server.Arch}}).
 * Undefined when the answer is not docker's.
 */
export async function serverFacts(socket: string): Promise<{ version: string; platform: string } | undefined> {
  const r = await apiGet(socket, '/version');
  if (r.status !== 200) return undefined;
  const j = shallowJson(r.body);
  if (!isJsonMap(j)) return undefined;
  const { Version: version, Os: os, Arch: arch } = j;
  const word = (x: unknown): x is string => typeof x === 'string' && /^[\x21-\x7e]{1,64}$/.test(x);
  return word(version) && word(os) && word(arch) ? { version, platform: `${os}/${arch}` } : undefined;
}

/** The daemon's ID (GET /info): docker keeps it in its data root, across restarts and upgrades. Undefined when it says none. */
export async function daemonId(socket: string): Promise<string | undefined> {
  const r = await apiGet(socket, '/info', 10_000);
  if (r.status !== 200) return undefined;
  const j = shallowJson(r.body);
  const id = isJsonMap(j) ? j.ID : undefined;
  return typeof id === 'string' && /^[\x21-\x7e]{1,128}$/.test(id) ? id : undefined;
}

/** The image `ref` names: its id and repo digests, or undefined when there is none. */
export async function imageJson(socket: string, ref: string): Promise<ImageInfo | undefined> {
  // The API takes the reference as it is, slashes and all (as the docker client sends it).
  if (!isReference(ref)) throw new Error(`not an image reference: ${ref}`);
  const r = await apiGet(socket, `/images/${ref}/json`);
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`engine answered ${r.status} for image ${ref}`);
  const j = JSON.parse(r.body) as { Id?: unknown; RepoDigests?: unknown; RootFS?: { Layers?: unknown }; Config?: { OnBuild?: unknown } | null };
  return checkedImage({ id: j.Id, repoDigests: j.RepoDigests, layers: j.RootFS?.Layers, onBuild: j.Config?.OnBuild }, ref, 'docker');
}

/** The id of the image `ref` names, or undefined when there is none. */
export async function imageId(socket: string, ref: string): Promise<string | undefined> {
  return (await imageJson(socket, ref))?.id;
}

const REFERENCE = /^[A-Za-z0-9._\-/:@]+$/;
/** What may stand in an API path as a reference: its characters, and no "." or ".." segment to climb the path with. */
const isReference = (ref: string) => REFERENCE.test(ref) && !ref.split('/').some((s) => s === '.' || s === '..');

/** Tags image `src` as `dst` (REPO:TAG), as `docker tag` does; rejects with the engine's words when it refuses. */
export async function tagImage(socket: string, src: string, dst: string): Promise<void> {
  const colon = dst.lastIndexOf(':');
  const [repo, tag] = colon > dst.lastIndexOf('/') ? [dst.slice(0, colon), dst.slice(colon + 1)] : [dst, 'latest'];
  if (!isReference(src) || !isReference(repo)) throw new Error(`not an image reference: ${src} or ${dst}`);
  const r = await apiCall(socket, 'POST', `/images/${src}/tag?repo=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}`, 10_000);
  if (r.status !== 201 && r.status !== 200) throw new Error(`engine answered ${r.status} for tag ${src} ${dst}: ${r.body.trim().slice(0, 300)}`);
}

/**
 * Removes the name `ref` (REPO:TAG), as `docker image rm REF` does without -f: the image goes with its last name,
 * unless a container uses it (the engine refuses: left alone, as the client's refusal is) or images are built on
 * it. A name already gone is no failure either. No timeout: deleting a large image on slow storage takes long.
 */
export async function removeImage(socket: string, ref: string): Promise<void> {
  if (!isReference(ref)) throw new Error(`not an image reference: ${ref}`);
  const r = await apiCall(socket, 'DELETE', `/images/${ref}`, 0);
  if (!(r.status >= 200 && r.status < 300) && r.status !== 404 && r.status !== 409) throw new Error(`engine answered ${r.status} for image rm ${ref}: ${r.body.trim().slice(0, 300)}`);
}

/** A fresh name for a container rep makes to copy paths out of an image (see createContainer). */
export const copyContainerName = (): string => `rep-out-${randomBytes(8).toString('hex')}`;

/**
 * Creates (does not start) a container of `image` named `name`, running `true` (as `docker create
 * --name NAME IMAGE true` does), and returns its id. The name is what lets it be
 * removed when the answer is lost (no answer within `timeoutMs`, the connection dropped): the
 * engine may have made the container anyway, and it is removed by its name before this rejects.
 */
export async function createContainer(socket: string, image: string, name = copyContainerName(), timeoutMs = 30_000): Promise<string> {
  if (!isReference(image)) throw new Error(`not an image reference: ${image}`);
  if (!/^rep-out-[0-9a-f]{16}$/.test(name)) throw new Error(`not a copy container's name: ${name}`);
  try {
    const r = await apiCall(socket, 'POST', `/containers/create?name=${name}`, timeoutMs, { Image: image, Cmd: ['true'] });
    const id = r.status === 201 ? (JSON.parse(r.body) as { Id?: unknown }).Id : undefined;
    if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id)) throw new Error(`engine answered ${r.status} for creating a container of ${image}: ${r.body.trim().slice(0, 300)}`);
    return id;
  } catch (e) {
    await removeContainer(socket, name).catch(() => undefined);
    throw e;
  }
}

/** How old a copy container must be before it is taken for one a killed rep left (they live for a moment). */
export const STALE_COPY_MS = 10 * 60_000;

/**
 * Removes the copy containers (see createContainer) made more than STALE_COPY_MS ago: a rep killed
 * while it copied outputs (SIGKILL) left one behind, holding its image. Younger ones may be
 * another rep's at work. Returns how many it removed; failures to remove one are passed over.
 */
export async function removeStaleCopies(socket: string, now = Date.now()): Promise<number> {
  const filters = encodeURIComponent(JSON.stringify({ name: ['rep-out-'] }));
  const r = await apiGet(socket, `/containers/json?all=1&filters=${filters}`, 5000);
  if (r.status !== 200) return 0;
  const list = JSON.parse(r.body) as unknown;
  if (!Array.isArray(list)) return 0;
  let removed = 0;
  for (const c of list as { Id?: unknown; Names?: unknown; Created?: unknown }[]) {
    const names = Array.isArray(c?.Names) ? c.Names : [];
    const ours = names.some((n) => typeof n === 'string' && /^\/rep-out-[0-9a-f]{16}$/.test(n));
    if (!ours || typeof c.Id !== 'string' || !/^[0-9a-f]{64}$/.test(c.Id) || typeof c.Created !== 'number' || now - c.Created * 1000 <= STALE_COPY_MS) continue;
    try {
      await removeContainer(socket, c.Id, 10_000);
      removed++;
    } catch {
      // another rep removed it first, or the engine would not: left
    }
  }
  return removed;
}

/** Go's fs.ModeSymlink, in the mode of docker's path stat. */
const MODE_SYMLINK = 2 ** 27;

/**
 * Where the path a container archive was asked for leads when it is a link: docker's stat of it
 * (X-Docker-Container-Path-Stat, base64 JSON), whose linkTarget the engine resolved in the
 * container's filesystem, every link on the way followed. Undefined when it is no link.
 */
function linkTargetOf(res: IncomingMessage): string | undefined {
  const header = res.headers['x-docker-container-path-stat'];
  if (typeof header !== 'string' || header.length > 64 << 10) return undefined;
  try {
    const stat = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as { mode?: unknown; linkTarget?: unknown };
    const link = typeof stat.mode === 'number' && Math.floor(stat.mode / MODE_SYMLINK) % 2 === 1;
    return link && typeof stat.linkTarget === 'string' && stat.linkTarget.startsWith('/') ? stat.linkTarget : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A tar of `containerPath` in container `id`, as `docker cp ID:PATH -` writes it (with `follow`, as
 * `docker cp -L` does: of what a link there leads to, named as that is); undefined when the
 * container holds no such path (the engine answers 404).
 */
export async function containerArchive(socket: string, id: string, containerPath: string, follow = false): Promise<IncomingMessage | undefined> {
  const res = await send(socket, 'GET', `/containers/${id}/archive?path=${encodeURIComponent(containerPath)}`);
  const target = follow && res.statusCode === 200 ? linkTargetOf(res) : undefined;
  if (target !== undefined) {
    res.destroy();
    return containerArchive(socket, id, target);
  }
  if (res.statusCode === 200) return res;
  const answer = await said(res);
  if (res.statusCode === 404 && !/no such container/i.test(answer)) return undefined;
  throw new Error(`engine answered ${res.statusCode} for ${containerPath} in container ${id.slice(0, 12)}: ${answer.slice(0, 300)}`);
}

/** Removes container `id` (an id or a name: `docker rm -f -v`), with the anonymous volumes its image's VOLUME made. */
export async function removeContainer(socket: string, id: string, timeoutMs = 30_000): Promise<void> {
  await apiCall(socket, 'DELETE', `/containers/${id}?force=1&v=1`, timeoutMs);
}

/** An answer's body, its first 64 KiB (the rest is read and dropped). */
async function said(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    if (size < 1 << 16) chunks.push(c);
    size += c.length;
  }
  return Buffer.concat(chunks).subarray(0, 1 << 16).toString('utf8').trim();
}

/** Sends one request; resolves with the answer's head once it comes (no timeout: saves and loads take long). */
function send(socket: string, method: 'GET' | 'POST', apiPath: string, body?: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Host: 'docker' };
    // With its length said, not chunked: the engine takes it faster.
    if (body !== undefined) Object.assign(headers, { 'Content-Type': 'application/x-tar', 'Content-Length': String(statSync(body).size) });
    const req = request({ socketPath: socket, path: apiPath, method, headers }, resolve);
    req.on('error', reject);
    if (body === undefined) req.end();
    // pipeline closes the file however the request ends (an engine that answers before it took it all).
    else pipeline(createReadStream(body, { highWaterMark: 1 << 20 }), req).catch(() => undefined);
  });
}

/** A build's tar holding only `dockerfile`, as Dockerfile (root-owned, time 0). */
export function dockerfileTar(dockerfile: string): Buffer {
  const chunks: Buffer[] = [];
  const tar = new TarWriter((b) => chunks.push(Buffer.from(b)));
  const body = Buffer.from(dockerfile);
  tar.entry({ name: 'Dockerfile', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: body.length }, body);
  tar.finish();
  return Buffer.concat(chunks);
}

/** Bytes of an image saved through the socket between two collections of what was written. */
const YOUNG_GARBAGE = 2 << 20;

/** Writes the images `refs` as one archive to `file`, as `docker save -o FILE REFS…` does. */
export async function saveImages(socket: string, refs: readonly string[], file: string): Promise<void> {
  if (!refs.every(isReference)) throw new Error(`not an image reference: ${refs.join(' ')}`);
  const res = await send(socket, 'GET', `/images/get?${refs.map((r) => `names=${encodeURIComponent(r)}`).join('&')}`);
  if (res.statusCode !== 200) throw new Error(`engine answered ${res.statusCode} for saving ${refs.join(' ')}: ${(await said(res)).slice(0, 300)}`);
  // Written as it comes, each piece at once: a write stream's queue made the save a third slower.
  const fd = openSync(file, 'w', 0o600);
  try {
    let since = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      writeAll(fd, chunk);
      // The pieces written are let go every two megabytes, before they outlive two collections of the
      // young generation and wait for a full one (see heap.ts).
      if ((since += chunk.length) >= YOUNG_GARBAGE) {
        since = 0;
        letGoOfYoungGarbage();
      }
    }
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, b: Buffer): void {
  for (let at = 0; at < b.length; ) at += writeSync(fd, b, at, b.length - at);
}

/** Loads the archive `file` (`docker load -i FILE`); rejects with the engine's words when it refuses. */
export async function loadImages(socket: string, file: string): Promise<void> {
  const res = await send(socket, 'POST', '/images/load?quiet=1', file);
  const answer = await said(res);
  // A load that fails after it began answers 200 with an error in its JSON stream.
  const error = /"error(?:Detail)?"\s*:/.test(answer);
  if (res.statusCode !== 200 || error) throw new Error(`engine answered ${res.statusCode} for loading ${file}: ${answer.slice(0, 300)}`);
}
