// Engine adapter for the Docker and Podman command lines (through execa).
// Both speak the same subset rep uses; the differences are named here. With
// docker's unix socket at hand, image lookups, tagging, save and load go to
// the Engine API instead of a client process each, and so do small builds on
// local images (the final image's settings, a step with few inputs: apibuild.ts);
// whether docker is there at all (and its version) is the client's answer the
// first time a client binary is asked (clientversion.ts), since the other builds
// need the client (BuildKit syncs the context folder through it; it holds the
// registry credentials and the secrets' session), and the API's afterwards.
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { parseImageRef } from '../lock/reference.js';
import { isInsecure } from '../lock/registry.js';
import { buildsIntoDaemon, buildxMayBeThere, chooseBuilder, envSwitch, needsBuildxProbe, type BuilderAsk, type BuilderChoice } from './builder.js';
import { clientBuild, stripAnsi, Tail } from './clibuild.js';
import { rememberClientVersion, rememberedClientVersion } from './clientversion.js';
import { apiBuild } from './apibuild.js';
import { containerArchive, dockerfileTar, copyContainerName, createContainer, removeStaleCopies, dockerSocket, imageId, imageJson, loadImages, removeContainer, removeImage as removeImageOverApi, saveImages, serverFacts, tagImage, daemonId } from './socket.js';
import { EngineError, PathMissingError, checkedImage, checkedImageId, askedPlatform, checkedPlatform, dockerPlatform, engineDescription, engineIdentity, type BuildOutcome, type BuildRequest, type Engine, type ImageInfo, type ImageSummary } from './engine.js';

export interface CliEngineOptions {
  flavor: 'docker' | 'podman';
  /** The client binary (default: $REP_DOCKER or "docker"; $REP_PODMAN or "podman"). */
  bin?: string;
  /**
   * Docker only: true builds with BuildKit (--buildkit); undefined lets
   * DOCKER_BUILDKIT and the client decide (see builder.ts): BuildKit wherever the client has it.
   */
  buildkit?: boolean;
  env?: NodeJS.ProcessEnv;
  /** How long the client may take to say the engine's version (PROBE_MS). */
  probeMs?: number;
  /** How long it may take to answer a question about images or containers (QUESTION_MS). */
  questionMs?: number;
}

interface ImageJson {
  Id: string;
  RepoDigests?: string[];
  RootFS?: { Layers?: string[] };
  Config?: { OnBuild?: unknown } | null;
}

/**
 * How long the client may take to say the engine's version: a DOCKER_HOST that takes the connection and never
 * answers held every build, and every failed step's question whether the engine is still there, for ever.
 */
const PROBE_MS = 30_000;
/** How long the client may take to answer a question about images or containers (see CliEngine.run). */
const QUESTION_MS = 120_000;
/**
 * The client's commands that ask or change a name, never move or delete an image's bytes (and `image
 * inspect`): removing a large image on slow storage takes as long as it takes, like a save or a load.
 */
const QUESTIONS = new Set(['tag', 'create', 'images', 'inspect']);

export class CliEngine implements Engine {
  readonly name: 'docker' | 'podman';
  readonly bin: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly ask: BuilderAsk;
  /** The builder, once the client has been asked (see serverVersion); a problem when what was asked cannot be had. */
  private builder?: BuilderChoice;
  /** Docker's API socket, where the client would talk to it. */
  private readonly socket: string | undefined;
  private readonly probeMs: number;
  private readonly questionMs: number;

  constructor(opts: CliEngineOptions) {
    this.name = opts.flavor;
    const env = opts.env ?? process.env;
    this.bin = opts.bin ?? (opts.flavor === 'docker' ? env.REP_DOCKER || 'docker' : env.REP_PODMAN || 'podman');
    this.ask = { flag: opts.buildkit, env: env.DOCKER_BUILDKIT };
    this.env = { ...env };
    this.socket = opts.flavor === 'docker' ? dockerSocket(env) : undefined;
    this.probeMs = opts.probeMs ?? PROBE_MS;
    this.questionMs = opts.questionMs ?? QUESTION_MS;
  }

  /** The Engine API's answer, or undefined when it cannot give one (no socket, no answer): then the client is asked. */
  private async api<T>(ask: (socket: string) => Promise<T>): Promise<{ value: T } | undefined> {
    if (!this.socket) return undefined;
    try {
      return { value: await ask(this.socket) };
    } catch {
      return undefined;
    }
  }

  /**
   * Runs the client. A question (inspect, tag, create, images) not answered within QUESTION_MS
   * throws: a remote engine whose link died after it answered the version (an ssh:// host asleep)
   * held rep for ever, and a timed-out inspect must not read as "no such image". Builds, saves,
   * loads, copies, removals, pushes and pulls take as long as they take (Ctrl-C stops them).
   */
  private async run(args: string[], opts: { input?: string; reject?: boolean; timeout?: number } = {}) {
    const question = opts.timeout === undefined && (QUESTIONS.has(args[0]!) || (args[0] === 'image' && args[1] === 'inspect'));
    const r = await execa(this.bin, args, { env: this.env, extendEnv: false, reject: opts.reject ?? true, input: opts.input, stripFinalNewline: true, timeout: question ? this.questionMs : opts.timeout });
    if (question && r.timedOut) throw new EngineError(`${this.bin} ${args.slice(0, 2).join(' ')} gave no answer within ${this.questionMs / 1000} s: is the engine still there?`);
    return r;
  }

  private async must(args: string[]): Promise<string> {
    const r = await this.run(args, { reject: false });
    if (r.exitCode !== 0) {
      throw new EngineError(`${this.bin} ${args[0]} failed (exit ${r.exitCode})`, String(r.stderr || r.stdout));
    }
    return String(r.stdout);
  }

  private version?: string;
  /** podman speaking to a service (podman --remote, a podman machine, CONTAINER_HOST), as it said when asked for its version. */
  private remotePodman = false;
  /** The server's os/arch, as it said when asked for its version. */
  private serverPlatform?: string;
  /** Why the engine did not answer when last asked: no such binary, or the client's first line. */
  private silence?: { kind: 'no-binary' } | { kind: 'no-answer'; said: string };

  /** Whether docker builds with BuildKit: as chosen when the client was asked, else only when asked for. */
  private get buildkit(): boolean {
    if (this.name !== 'docker') return false;
    return this.builder && 'buildkit' in this.builder ? this.builder.buildkit : this.ask.flag === true || envSwitch(this.ask.env) === true;
  }

  /** Why the builder asked for (--buildkit, DOCKER_BUILDKIT=1) cannot be had with this client, once it has answered. */
  builderProblem(): string | undefined {
    return this.builder && 'problem' in this.builder ? this.builder.problem : undefined;
  }

  /** The engine's (server's) version, asked once; for docker, the client's version and buildx too, which choose the builder. */
  private async serverVersion(): Promise<string | undefined> {
    if (this.version === undefined) {
      const docker = this.name === 'docker';
      // Two words (a version holds no blank; the client turns a tab into blanks).
      // Three words: the server's version, the client's (docker: it chooses the builder), the platform.
      // podman: the server's when it speaks to one (podman --remote, a podman machine), else its own.
      const fmt = docker
        ? '{{.Server.Version}} {{.Client.Version}} {{.Server.Os}}/{{.Server.Arch}}'
        : '{{if .Server}}{{.Server.Version}} - {{.Server.OsArch}} remote{{else}}{{.Client.Version}} - {{.Client.OsArch}}{{end}}';
      // Asked side by side: buildx answers (or not) while the daemon does.
      const buildx = docker && needsBuildxProbe(this.ask) && buildxMayBeThere(this.env) ? this.run(['buildx', 'inspect'], { reject: false, timeout: this.probeMs }).then((r) => r.exitCode === 0 && buildsIntoDaemon(String(r.stdout)), () => false) : Promise.resolve(false);
      // A client asked before (this very binary): the server's half from the API, no client started.
      const known = docker ? rememberedClientVersion(this.bin, this.env) : undefined;
      const facts = known === undefined ? undefined : await this.api((s) => serverFacts(s));
      if (known !== undefined && facts?.value) {
        this.version = facts.value.version;
        this.serverPlatform = checkedPlatform(facts.value.platform);
        this.builder = chooseBuilder(this.ask, { version: known, buildx: await buildx });
        return this.version;
      }
      try {
        const r = await this.run(['version', '--format', fmt], { reject: false, timeout: this.probeMs });
        const [server, client, platform, remote] = String(r.stdout).split(' ');
        if (r.exitCode === 0 && server) {
          this.version = server;
          this.remotePodman = !docker && remote === 'remote';
          this.serverPlatform = checkedPlatform(platform);
          if (docker) this.builder = chooseBuilder(this.ask, { version: client || undefined, buildx: await buildx });
          if (docker && client) rememberClientVersion(this.bin, this.env, client);
        }
        else if ((r as { code?: string }).code === 'ENOENT') this.silence = { kind: 'no-binary' };
        else if (r.timedOut) this.silence = { kind: 'no-answer', said: `${this.bin} version gave no answer within ${this.probeMs / 1000} s` };
        else {
          const said = stripAnsi(String(r.stderr)).split('\n').map((l) => l.trim()).find(Boolean);
          this.silence = { kind: 'no-answer', said: (said ?? `exit ${r.exitCode ?? (r as { code?: string }).code}`).slice(0, 200) };
        }
      } catch (e) {
        this.silence = { kind: 'no-answer', said: (e as Error).message.slice(0, 200) };
      }
    }
    return this.version;
  }

  /**
   * Undefined when the engine answers; otherwise whether there is no such
   * binary at all or what the client said (e.g. its daemon is down).
   */
  async whySilent(): Promise<CliEngine['silence']> {
    return (await this.serverVersion()) === undefined ? this.silence : undefined;
  }

  /** Whether a step's build reads the context folder (BuildKit syncs it): see Engine.syncsFolders. */
  get syncsFolders(): boolean {
    return this.name === 'docker' && this.buildkit;
  }

  /**
   * docker with its API socket at hand: a step with up to 20 input files and 1 MiB is sent as a
   * tar in memory, which the API builds without the client (measured with BuildKit: a step with
   * no input, 190 ms against 250 ms through the client). Past that, the tar's extra copy in the
   * engine eats the gain (100 files of 4 KiB: the same time either way) and BuildKit's sync of
   * the context folder through the client wins (1,000 files: 430 ms as a tar, 365 ms synced).
   */
  get smallArchive(): { files: number; bytes: number } | undefined {
    return this.name === 'docker' && this.socket ? { files: 20, bytes: 1 << 20 } : undefined;
  }

  /** Whether builds can mount secrets (BuildKit for docker; podman always). */
  get secretsSupported(): boolean {
    return this.name === 'podman' || this.buildkit;
  }

  async describe(): Promise<string> {
    return engineDescription(this.name, await this.serverVersion(), this.buildkit);
  }

  async identity(): Promise<string> {
    return engineIdentity(this.name, await this.serverVersion(), this.name === 'docker' ? askedPlatform(this.env) : undefined);
  }

  async store(): Promise<string | undefined> {
    if (!(await this.available())) return undefined;
    const docker = this.name === 'docker';
    const a = docker ? await this.api((s) => daemonId(s)) : undefined;
    let said = a?.value;
    if (!a) {
      const r = await this.run(['info', '--format', docker ? '{{.ID}}' : '{{.Store.GraphRoot}}'], { reject: false, timeout: this.probeMs }).catch(() => undefined);
      const out = r?.exitCode === 0 ? String(r.stdout).trim() : '';
      said = out && out !== '<no value>' && !/[\0-\x1f\x7f]/.test(out) && out.length <= 200 ? out : undefined;
    }
    return said === undefined ? undefined : `${this.name} ${docker ? 'daemon' : 'store'} ${said}`;
  }

  async platform(): Promise<string | undefined> {
    await this.serverVersion();
    return this.name === 'docker' ? dockerPlatform(this.env, this.serverPlatform) : this.serverPlatform;
  }

  /** Whether the engine answers at all (the daemon runs, the binary exists). */
  async available(): Promise<boolean> {
    return (await this.serverVersion()) !== undefined;
  }

  async answers(): Promise<boolean> {
    this.version = undefined;
    return this.available();
  }

  async hasImage(ref: string): Promise<boolean> {
    const a = await this.api((s) => imageId(s, ref));
    if (a) return a.value !== undefined;
    const r = await this.run(['image', 'inspect', '--format', '{{.Id}}', ref], { reject: false });
    return r.exitCode === 0;
  }

  async imageIds(refs: readonly string[]): Promise<Map<string, string | undefined>> {
    const ids = new Map<string, string | undefined>();
    if (refs.length === 0) return ids;
    const a = await this.api((s) => Promise.all(refs.map((ref) => imageId(s, ref))));
    if (a) {
      refs.forEach((ref, i) => ids.set(ref, a.value[i]));
      return ids;
    }
    const r = await this.run(['image', 'inspect', '--format', '{{.Id}}', ...refs], { reject: false });
    const lines = String(r.stdout).split('\n').filter(Boolean);
    if (r.exitCode === 0 && lines.length === refs.length) {
      refs.forEach((ref, i) => ids.set(ref, checkedImageId(lines[i], ref, this.name)));
      return ids;
    }
    // Some are missing: ask one by one to know which.
    for (const ref of refs) ids.set(ref, (await this.inspect(ref))?.id);
    return ids;
  }

  async build(req: BuildRequest): Promise<BuildOutcome> {
    // The builder (docker), whether podman is remote: asked once.
    await this.serverVersion();
    // Said when something is to be built, not before: a build with nothing to do needs no builder.
    const problem = this.builderProblem();
    if (problem) {
      req.onLine?.(problem);
      return { ok: false, exitCode: 1, tail: [problem], cancelled: false };
    }
    // podman --remote hands a secret given in the environment (env=NAME) to the build as an empty file, and the
    // build goes on (containers/podman#19844): the step would be keyed and cached as built with its secret.
    if (this.remotePodman && req.secrets?.some((sec) => !('src' in sec))) {
      const said = `podman ${this.version} is remote here (podman --remote, a podman machine, CONTAINER_HOST), and hands a secret given from the environment to the build as an empty file: give it as a file (--secret id=ID,src=FILE), or build with a local podman or docker`;
      req.onLine?.(said);
      return { ok: false, exitCode: 1, tail: [said], cancelled: false };
    }
    const source = req.context;
    // A Dockerfile that copies nothing (the final image's settings), or a small tar in memory, goes over
    // the API when docker's socket is at hand (secrets need the client's session; a platform the environment
    // asks for, DOCKER_DEFAULT_PLATFORM, the client passes on, and the keys hold it: see platform()).
    if (this.name === 'docker' && !req.secrets?.length && askedPlatform(this.env) === undefined && !('folder' in source) && ('dockerfile' in source || 'archive' in source)) {
      const tail = new Tail();
      const onLine = (l: string) => {
        tail.push(l);
        req.onLine?.(l);
      };
      const ask = { tag: req.tag, buildkit: this.buildkit, network: req.network, noCache: req.noCache, signal: req.signal, onLine };
      const a = await this.api((s) => apiBuild(s, 'archive' in source ? source.archive : dockerfileTar(source.dockerfile), ask));
      if (a) {
        if (a.value.ok) return a.value;
        // As the client exits: with the RUN's own code under the classic builder, 1 under BuildKit.
        const code = this.buildkit ? undefined : /returned a non-zero code: (\d+)/.exec(a.value.said)?.[1];
        return { ok: false, exitCode: code ? Number(code) : 1, tail: tail.lines, cancelled: a.value.cancelled, ...(a.value.imageId !== undefined ? { imageId: a.value.imageId } : {}) };
      }
    }
    const env = this.name === 'docker' ? { ...this.env, DOCKER_BUILDKIT: this.buildkit ? '1' : '0' } : this.env;
    return clientBuild({ bin: this.bin, env, plainProgress: this.buildkit }, req);
  }

  async tag(src: string, dst: string): Promise<void> {
    // The client says why a tag fails better: it is asked when the API refuses.
    if (await this.api((s) => tagImage(s, src, dst))) return;
    await this.must(['tag', src, dst]);
  }

  /** The sweep of stale copy containers (removeStaleCopies), made once. */
  private swept?: Promise<void>;

  async exportPaths(image: string, paths: readonly string[], read: (path: string, tar: Readable) => Promise<void>): Promise<void> {
    // Once a process, beside this copy: copy containers a killed rep left (long dead by their age) go.
    this.swept ??= this.api((s) => removeStaleCopies(s)).then(() => undefined);
    try {
      await this.copyOut(image, paths, read);
    } finally {
      await this.swept;
    }
  }

  private async copyOut(image: string, paths: readonly string[], read: (path: string, tar: Readable) => Promise<void>): Promise<void> {
    // Over the API when docker's socket is at hand: three requests instead of three client processes.
    const made = await this.api((s) => createContainer(s, image));
    if (made) {
      const socket = this.socket!;
      try {
        for (const p of paths) {
          const tar = await containerArchive(socket, made.value, p, true).catch((e: Error) => {
            throw new EngineError(`cannot copy ${p} out of the image`, e.message);
          });
          if (!tar) throw new PathMissingError(p);
          await read(p, tar).catch((e: unknown) => {
            tar.destroy();
            throw e;
          });
        }
      } finally {
        await removeContainer(socket, made.value).catch(() => undefined);
      }
      return;
    }
    // Named, so that it is removed even when the client fails after the engine made it.
    const cid = copyContainerName();
    try {
      // Never pulled: a step image gone meanwhile is not looked for in a registry, where anyone may publish its name.
      await this.must(['create', '--pull=never', '--name', cid, image, 'true']);
      for (const p of paths) {
        // A path that is a link is followed by the engine, every link on its way resolved in the image, as COPY --from
        // follows it: docker when told (-L), podman always.
        const follow = this.name === 'docker' ? ['-L'] : [];
        const child = execa(this.bin, ['cp', ...follow, `${cid}:${p}`, '-'], { env: this.env, extendEnv: false, buffer: { stdout: false }, reject: false, encoding: 'buffer' });
        const [r] = await Promise.all([child, read(p, child.stdout!)]);
        if (r.exitCode !== 0) {
          const said = Buffer.from(r.stderr ?? '').toString('utf8');
          // docker 28's client: "Could not find the file P in container C"; docker 20.10's: "No such container:path: C:P";
          // podman: "P could not be found on container C: no such file or directory"
          if (/could not (find|be found)|no such (file|container:path)/i.test(said)) throw new PathMissingError(p, said);
          throw new EngineError(`${this.bin} cp ${p} failed (exit ${r.exitCode})`, said);
        }
      }
    } finally {
      await this.run(['rm', '-f', '-v', cid], { reject: false });
    }
  }

  async inspect(ref: string): Promise<ImageInfo | undefined> {
    const a = await this.api((s) => imageJson(s, ref));
    if (a) return a.value;
    const r = await this.run(['image', 'inspect', '--format', '{{json .}}', ref], { reject: false });
    if (r.exitCode !== 0) return undefined;
    // podman prints an array whatever the format says
    let parsed: unknown;
    try {
      parsed = JSON.parse(String(r.stdout));
    } catch {
      throw new EngineError(`${this.bin} image inspect printed no JSON for image ${ref}`, String(r.stdout));
    }
    const j = (Array.isArray(parsed) ? parsed[0] : parsed) as Partial<ImageJson> | null | undefined;
    if (j === null || typeof j !== 'object') throw new EngineError(`${this.bin} image inspect printed no image for ${ref}`, String(r.stdout));
    return checkedImage({ id: j.Id, repoDigests: j.RepoDigests, layers: j.RootFS?.Layers, onBuild: j.Config?.OnBuild }, ref, this.name);
  }

  async save(refs: string | readonly string[], file: string): Promise<void> {
    const list = typeof refs === 'string' ? [refs] : [...refs];
    // Straight from the engine into the file; the client (asked when the API fails) copies it through itself.
    if (await this.api((s) => saveImages(s, list, file))) return;
    await this.must(['save', ...(this.name === 'podman' && list.length > 1 ? ['-m'] : []), '-o', file, ...list]);
  }

  async load(file: string): Promise<void> {
    if (await this.api((s) => loadImages(s, file))) return;
    await this.must(['load', '-i', file]);
  }

  async exportFilesystem(ref: string, file: string): Promise<void> {
    // Named by rep (not by what the client prints), never pulled (as above).
    const cid = copyContainerName();
    try {
      await this.must(['create', '--pull=never', '--name', cid, ref, 'true']);
      // -o rather than stdout: podman cannot export to a pipe here
      await this.must(['export', '-o', file, cid]);
    } finally {
      await this.run(['rm', '-f', '-v', cid], { reject: false });
    }
  }

  /**
   * podman checks TLS unless told not to: only for the registries rep speaks
   * to without TLS (isInsecure). Docker's daemon decides for itself.
   */
  private tlsArgs(ref: string): string[] {
    return this.name === 'podman' && isInsecure(parseImageRef(ref).registry) ? ['--tls-verify=false'] : [];
  }

  async push(ref: string): Promise<void> {
    await this.must(['push', ...this.tlsArgs(ref), ref]);
  }

  async pull(ref: string): Promise<boolean> {
    const r = await this.run(['pull', ...this.tlsArgs(ref), ref], { reject: false });
    return r.exitCode === 0;
  }

  async removeImage(ref: string): Promise<void> {
    // Over the API when docker's socket is at hand: a build releasing its pins (scheduler/pins.ts) started a client each.
    if (await this.api((s) => removeImageOverApi(s, ref))) return;
    // Without -f: podman's removes the containers that use the image (running ones too), and docker's
    // untags an image a container uses. The engine's refusal leaves both alone (gc says so).
    await this.run(['image', 'rm', ref], { reject: false });
  }

  async listImages(repository: string): Promise<ImageSummary[]> {
    // podman lists every tag of an image one tag matches, and names local images localhost/NAME.
    const ours = new RegExp(`^(?:localhost/)?${repository.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:([^:/]+)$`);
    const refs = (await this.must(['images', '--format', '{{.Repository}}:{{.Tag}}', repository])).split('\n').filter((r) => ours.test(r));
    const out = new Map<string, ImageSummary>();
    for (let i = 0; i < refs.length; i += 100) {
      // Missing ones (removed meanwhile) are left out; the client says so on stderr and exits non-zero.
      const r = await this.run(['image', 'inspect', '--format', '{{.Id}}|{{.Size}}|{{json .RootFS.Layers}}|{{json .RepoTags}}', ...refs.slice(i, i + 100)], { reject: false });
      for (const line of String(r.stdout).split('\n').filter(Boolean)) {
        const [id, size, layers, tags] = line.split('|');
        if (!id || out.has(id)) continue;
        let said: { layers: unknown; tags: unknown };
        try {
          said = { layers: JSON.parse(layers ?? 'null'), tags: JSON.parse(tags ?? 'null') };
        } catch {
          throw new EngineError(`${this.bin} image inspect printed a line rep cannot read`, line);
        }
        const info = checkedImage({ id, layers: said.layers }, id, this.name);
        const tagList = said.tags ?? [];
        if (!Array.isArray(tagList) || !tagList.every((t): t is string => typeof t === 'string')) throw new EngineError(`${this.bin} image inspect printed tags rep cannot read`, line);
        const mine = tagList.flatMap((t) => ours.exec(t)?.[1] ?? []);
        out.set(id, { id, tags: mine, size: Number(size), layers: info.layers });
      }
    }
    return [...out.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
