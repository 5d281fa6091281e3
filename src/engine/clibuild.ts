// One build through the docker or podman client: its arguments, the context
// (a tar on stdin, or a folder with the Dockerfile on stdin), and the lines it
// prints, kept as the tail a failure shows.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { execa } from 'execa';
import type { BuildOutcome, BuildRequest } from './engine.js';
import { LineSplitter } from './lines.js';
import { dockerfileTar } from './socket.js';

export interface BuildClient {
  bin: string;
  env: NodeJS.ProcessEnv;
  /** docker with BuildKit: ask for plain progress lines. */
  plainProgress: boolean;
}

const TAIL = 30;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
export const stripAnsi = (s: string) => s.replace(ANSI, '');

/** The last lines a build printed (what a failure shows), ANSI codes taken out. */
export class Tail {
  readonly lines: string[] = [];
  push(line: string): void {
    this.lines.push(stripAnsi(line));
    if (this.lines.length > TAIL) this.lines.shift();
  }
}
/** What --iidfile holds: sha256:HEX (docker; podman since buildah 1.8), or HEX alone (older buildah). */
const IID = /^(?:sha256:)?([0-9a-f]{64})$/;
/** BuildKit's plain progress puts "#7 0.293 " before what a RUN prints. */
const BUILDKIT_OUTPUT = /^#\d+ \d+\.\d+ /;

export async function clientBuild(client: BuildClient, req: BuildRequest): Promise<BuildOutcome> {
  const dir = mkdtempSync(path.join(tmpdir(), 'rep-build-'));
  const iid = path.join(dir, 'iid');
  // --force-rm: the classic builder otherwise keeps the container of a failed instruction (podman and BuildKit remove it anyway).
  const args = ['build', '--force-rm', '--iidfile', iid];
  // No tag asked: the image is named by its id alone (what the iidfile says), as run.ts wants a step image until it is checked.
  if (req.tag !== undefined) args.push('-t', req.tag);
  if (req.network) args.push('--network', req.network);
  if (req.noCache) args.push('--no-cache');
  // A secret's value is handed over in the client's environment: no file holds it (docker's BuildKit and podman read env=NAME).
  // Without the user's SOURCE_DATE_EPOCH, which buildx (0.10 and later) hands the build as the build argument of that name
  // and newer podman as its --source-date-epoch: it would override the epoch the Dockerfile's ARG gives every RUN (or set
  // the image's times), which the step's key does not name (a Nix shell exports one). The API's builds never had it.
  const { SOURCE_DATE_EPOCH: _, ...env } = client.env;
  (req.secrets ?? []).forEach((sec, i) => {
    if ('src' in sec) args.push('--secret', `id=${sec.id},src=${sec.src}`);
    else {
      env[`REP_SECRET_${i}`] = sec.value;
      args.push('--secret', `id=${sec.id},env=REP_SECRET_${i}`);
    }
  });
  if (client.plainProgress) args.push('--progress', 'plain');
  const source = req.context;
  // A folder: the Dockerfile comes on stdin (-f -) and the builder reads the folder itself.
  if ('folder' in source) args.push('-f', '-', source.folder);
  else args.push('-');
  const tail = new Tail();
  const split = (): { push: (chunk: Buffer) => void; end: () => void } => {
    // stdout and stderr each: a character cut between two chunks is decoded whole.
    const decoder = new StringDecoder('utf8');
    const lines = new LineSplitter((raw) => {
      // BuildKit's plain progress puts "#7 0.293 " before what a RUN prints: the step's own words without it.
      const l = stripAnsi(raw).replace(BUILDKIT_OUTPUT, '');
      tail.push(l);
      req.onLine?.(l);
    });
    return { push: (chunk) => lines.push(decoder.write(chunk)), end: () => (lines.push(decoder.end()), lines.end()) };
  };
  const out = split();
  const err = split();
  try {
    const child = execa(client.bin, args, {
      env,
      extendEnv: false,
      reject: false,
      stdin: 'pipe',
      buffer: false,
      cancelSignal: req.signal,
      forceKillAfterDelay: 5000,
    });
    child.stdout?.on('data', out.push);
    child.stderr?.on('data', err.push);
    if ('folder' in source) child.stdin!.end(source.dockerfile);
    // A Dockerfile alone: a tar holding it.
    else if ('dockerfile' in source) child.stdin!.end(dockerfileTar(source.dockerfile));
    else if ('archive' in source) child.stdin!.end(source.archive);
    else {
      source.on('error', (e) => child.stdin?.destroy(e));
      source.pipe(child.stdin!);
    }
    const r = await child;
    out.end();
    err.end();
    // What the client wrote is an image ID or the build is not done: it names images rep tags and removes.
    // Read when the build failed or was cancelled too: the client may have written it before it was stopped,
    // and the image it names is then one the caller removes.
    const imageId = readImageId(iid);
    if (r.exitCode === 0 && !r.isCanceled) {
      if (imageId !== undefined) return { ok: true, imageId };
      tail.push(`ERROR: ${client.bin} build wrote no image ID to its --iidfile`);
      return { ok: false, exitCode: 1, tail: tail.lines, cancelled: false };
    }
    return { ok: false, exitCode: r.exitCode ?? 1, tail: tail.lines, cancelled: Boolean(r.isCanceled), ...(imageId !== undefined ? { imageId } : {}) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The image id in an --iidfile as sha256:HEX (podman's and docker's alike), or undefined when there is none or it is no id. */
function readImageId(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const hex = IID.exec(text)?.[1];
  return hex === undefined ? undefined : `sha256:${hex}`;
}
