// The container engine as rep needs it: a handful of operations, with
// adapters for the Docker and Podman CLIs and "none".
import type { Readable } from 'node:stream';

export type EngineName = 'docker' | 'podman' | 'none';

/**
 * Where the engine finds a secret's value: a file (`src`), or the value itself,
 * which reaches the engine's client in its environment and is never written to disk.
 */
export type SecretValue = { src: string } | { value: string };

/**
 * What a build reads: a tar (the Dockerfile and the files it copies) as a stream or held in
 * memory (`archive`, a small one: see Engine.smallArchive), the context folder with a Dockerfile
 * of its own (engines that sync a folder incrementally, see Engine.syncsFolders), or a Dockerfile
 * alone, which copies nothing (the final image's settings).
 */
export type BuildSource = Readable | { folder: string; dockerfile: string } | { dockerfile: string } | { archive: Buffer };

export interface BuildRequest {
  context: BuildSource;
  /**
   * What the engine tags the image it builds. Left out, the image is named by its id alone (the
   * outcome's imageId): a step image is keyed by rep only once it has checked that no input changed
   * while the engine read it (scheduler/run.ts), which a tag the engine gives on its own would not wait for.
   */
  tag?: string;
  network?: string;
  /** Run every instruction again, ignoring the engine's own layer cache (phony steps). */
  noCache?: boolean;
  /** Secrets for RUN --mount=type=secret: id, and the file holding the value or the value itself. */
  secrets?: ({ id: string } & SecretValue)[];
  /** Each line the engine prints. */
  onLine?: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * What a build came to. A build that failed or was cancelled may still have made an image (the engine
 * finished it as the client was stopped): its id, when the engine said it, so the caller can remove it.
 */
export type BuildOutcome = { ok: true; imageId: string } | { ok: false; exitCode: number; tail: string[]; cancelled: boolean; imageId?: string };

export interface ImageInfo {
  id: string;
  repoDigests: string[];
  /** Its layers' diff ids, bottom first (RootFS.Layers). */
  layers: string[];
  /**
   * Whether its config holds ONBUILD triggers (Config.OnBuild), which a build FROM it runs first: an
   * `ONBUILD COPY . /x` copies whatever context the build was given.
   */
  onBuild?: true;
}

/** An image as `rep gc` weighs it: its id, its tags in one repository, its size and layers. */
export interface ImageSummary {
  id: string;
  /** The tags (the part after ':') it has in the repository asked for. */
  tags: string[];
  /** Bytes, base layers included (as `docker image inspect` says). */
  size: number;
  /** The diff ids of its layers, bottom first. */
  layers: string[];
}

export interface Engine {
  readonly name: EngineName;
  /** A one-line description, e.g. "docker 20.10.24 (classic builder)". */
  describe(): Promise<string>;
  /** The engine and its server's version, e.g. "docker 20.10.24" (and "for linux/arm64" when the environment asks for a platform): what a no-op build depends on (the builder is not). */
  identity(): Promise<string>;
  /**
   * Which image store this is, when the engine says: docker's daemon ID (kept across upgrades; two
   * daemons of one version have two), podman's graph root. What gc names the keys it leaves for
   * another engine with (commands/gc.ts); identity() where it is not said.
   */
  store?(): Promise<string | undefined>;
  /**
   * The platform its builds are for (os/arch, as docker names it: DOCKER_DEFAULT_PLATFORM when
   * set, else the server's), or undefined when it does not say: part of the key of a step that
   * starts from an image, whose bytes differ from one platform to another.
   */
  platform(): Promise<string | undefined>;
  /** Whether builds can mount secrets (RUN --mount=type=secret). */
  readonly secretsSupported: boolean;
  /**
   * Whether a build is best given the context as a folder: BuildKit syncs only
   * the files the Dockerfile copies, and only those changed since the last
   * build, where a tar on stdin is sent whole every time.
   */
  readonly syncsFolders: boolean;
  /**
   * A step whose inputs are within this many files and bytes goes to the engine as a tar held in
   * memory (BuildSource `archive`), even where it syncs folders: it takes that faster (docker's API
   * builds it without starting the client). Undefined: every step as syncsFolders says.
   */
  readonly smallArchive?: { files: number; bytes: number };
  /** Whether the engine answers now (asked afresh). */
  answers(): Promise<boolean>;
  /** Whether an image with this reference exists locally. */
  hasImage(ref: string): Promise<boolean>;
  build(req: BuildRequest): Promise<BuildOutcome>;
  tag(src: string, dst: string): Promise<void>;
  /**
   * Hands `read` a tar stream of each path in the image's filesystem (as
   * `docker cp -L IMAGE:path -` gives it: a path that is a link is followed, every link on the
   * way resolved in the image as COPY --from resolves them, and the tar names what it led to);
   * throws PathMissingError for a path the image does not hold.
   */
  exportPaths(image: string, paths: readonly string[], read: (path: string, tar: Readable) => Promise<void>): Promise<void>;
  inspect(ref: string): Promise<ImageInfo | undefined>;
  /** Image ids of several references at once (undefined for those missing). */
  imageIds(refs: readonly string[]): Promise<Map<string, string | undefined>>;
  /** Writes images as one archive (`docker save`). */
  save(refs: string | readonly string[], file: string): Promise<void>;
  /** Loads images from an archive (`docker load`). */
  load(file: string): Promise<void>;
  /** Writes the filesystem of a container made from the image as a tar (`docker export`). */
  exportFilesystem(ref: string, file: string): Promise<void>;
  push(ref: string): Promise<void>;
  pull(ref: string): Promise<boolean>;
  removeImage(ref: string): Promise<void>;
  /** Every image tagged in `repository` (e.g. rep-cache), with its tags there. */
  listImages(repository: string): Promise<ImageSummary[]>;
}

export class EngineError extends Error {
  constructor(
    message: string,
    readonly detail = '',
  ) {
    super(message);
  }
}

/** An image id as docker (sha256:HEX) and podman (HEX) print it. */
const IMAGE_ID = /^(?:sha256:)?[0-9a-f]{64}$/;
/** A layer's diff id (RootFS.Layers). */
const DIFF_ID = /^sha256:[0-9a-f]{64}$/;

/**
 * What an engine said an image is, checked for shape: its id goes into tags,
 * API paths, `.rep/` records and the provenance, its layers into the rewrite.
 * A DOCKER_HOST that answers anything else is refused, not believed.
 */
export function checkedImage<T extends { id: unknown; repoDigests?: unknown; layers?: unknown; onBuild?: unknown }>(info: T, ref: string, engine: string): ImageInfo {
  const id = checkedImageId(info.id, ref, engine);
  const list = (v: unknown, ok: (x: string) => boolean, what: string): string[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((x): x is string => typeof x === 'string' && ok(x))) throw new EngineError(`the ${engine} engine answered ${what} of the wrong shape for image ${ref}`);
    return v;
  };
  // Anything there but nothing (absent, null, an empty list) counts, whatever its shape: a build runs what the engine stored.
  const onBuild = info.onBuild !== undefined && info.onBuild !== null && !(Array.isArray(info.onBuild) && info.onBuild.length === 0);
  return { id, repoDigests: list(info.repoDigests, (d) => /^[^\s@]+@sha256:[0-9a-f]{64}$/.test(d), 'repo digests'), layers: list(info.layers, (d) => DIFF_ID.test(d), 'layers'), ...(onBuild ? { onBuild: true as const } : {}) };
}

/** An image id the engine printed, refused unless it is one (see checkedImage). */
export function checkedImageId(id: unknown, ref: string, engine: string): string {
  if (typeof id !== 'string' || !IMAGE_ID.test(id)) throw new EngineError(`the ${engine} engine answered an image id of the wrong shape for image ${ref}: ${JSON.stringify(String(id).slice(0, 80))}`);
  return id;
}

/** A path asked of `exportPaths` that the image does not hold. */
export class PathMissingError extends EngineError {
  constructor(
    readonly path: string,
    detail = '',
  ) {
    super(`${path} is not in the image`, detail);
  }
}

/** What `Engine.describe` says of a docker or podman engine: what the provenance records. */
export function engineDescription(name: 'docker' | 'podman', serverVersion: string | undefined, buildkit: boolean): string {
  const builder = name === 'docker' ? (buildkit ? ' (BuildKit)' : ' (classic builder)') : '';
  return `${name} ${serverVersion ?? '?'}${builder}`;
}

/** Architectures by the names containerd normalises them to (platforms.Normalize): one platform, one spelling, one key. */
const ARCHES: Record<string, [arch: string, variant?: string]> = {
  x86_64: ['amd64'], 'x86-64': ['amd64'], aarch64: ['arm64'], i386: ['386'], i686: ['386'], armhf: ['arm', 'v7'], armel: ['arm', 'v6'],
};

/**
 * A platform as containerd's platforms.Normalize names it: lowercase, x86_64 as amd64, aarch64 as
 * arm64 (v8 dropped), armhf as arm/v7 and armel as arm/v6, arm alone as arm/v7, amd64/v1 as amd64.
 */
export function normalPlatform(text: string): string {
  const [os = '', arch = '', given] = text.trim().toLowerCase().split('/');
  const [a, implied] = ARCHES[arch] ?? [arch];
  let v: string | undefined = given ?? implied;
  if (a === 'arm64' && v === 'v8') v = undefined;
  if (a === 'amd64' && v === 'v1') v = undefined;
  if (a === 'arm' && v === undefined) v = 'v7';
  return [os, a, ...(v ? [v] : [])].join('/');
}

/**
 * The platform the environment asks docker to build for (DOCKER_DEFAULT_PLATFORM, which the client passes on), if
 * any: only one platform is (a list, or a newline and an escape, went into keys, the no-op record and the
 * provenance: a review). selectEngine refuses one that is not (askedPlatformProblem), and the quick path gives up.
 */
export const askedPlatform = (env: NodeJS.ProcessEnv): string | undefined => {
  const text = env.DOCKER_DEFAULT_PLATFORM?.trim();
  if (!text) return undefined;
  // A lone architecture is one on linux, as containerd's platforms.Parse reads it on a linux daemon (arm64 built
  // before, keyed as "arm64/"); a lone OS means the daemon's architecture, which is not known here: refused.
  const word = text.toLowerCase();
  return checkedPlatform(!word.includes('/') && (KNOWN_ARCHES.has(word) || Object.hasOwn(ARCHES, word)) ? `linux/${word}` : text);
};

/** The architectures containerd knows by name (platforms.isKnownArch), beside the aliases ARCHES maps. */
const KNOWN_ARCHES = new Set(['386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'ppc64', 'ppc64le', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64', 'wasm']);

/** Why DOCKER_DEFAULT_PLATFORM, when set, names no one platform; undefined when it does or is not set. */
export const askedPlatformProblem = (env: NodeJS.ProcessEnv): string | undefined =>
  env.DOCKER_DEFAULT_PLATFORM?.trim() && askedPlatform(env) === undefined
    ? 'names no one platform rep can key its steps by: give os/arch or os/arch/variant, such as linux/amd64 (an architecture alone, such as arm64, is taken as linux/arm64, as docker takes it)'
    : undefined;

/** The platform docker builds for: the one the environment asks for, else the server's os/arch. */
export function dockerPlatform(env: NodeJS.ProcessEnv, server: string | undefined): string | undefined {
  return askedPlatform(env) ?? server;
}

/** A platform as an engine printed it (os/arch[/variant]), or undefined when it is not one. */
export const checkedPlatform = (text: string | undefined): string | undefined => {
  const p = text === undefined ? undefined : normalPlatform(text);
  return p !== undefined && /^[a-z0-9_.-]{1,32}\/[a-z0-9_.-]{1,32}(\/[a-z0-9_.-]{1,32})?$/.test(p) ? p : undefined;
};

/**
 * What `Engine.identity` says: part of what a no-op build checks. Not the
 * builder: the step images are keyed alike whichever builder made them, so a
 * build with another builder and nothing changed has nothing to do either.
 * The platform only when the environment asks for one (DOCKER_DEFAULT_PLATFORM):
 * the server's own is that of its images, which the no-op checks are there.
 */
export function engineIdentity(name: 'docker' | 'podman', serverVersion: string | undefined, asked?: string): string {
  return `${name} ${serverVersion ?? '?'}${asked ? ` for ${asked}` : ''}`;
}
