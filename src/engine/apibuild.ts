// A build over docker's Engine API (POST /build), from a tar held in memory:
// what `docker build [-t TAG] -` does with the same tar, without starting the
// client. For small builds (the final image's settings, a step with a few
// inputs), where starting the client and its session costs as much as the
// build. The lines a build prints are read from the answer: the classic
// builder's text, or BuildKit's status records (protobuf, decoded here: the
// vertices it runs and what they print), written as `--progress plain` would.
import { request } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { LineSplitter, MAX_LINE } from './lines.js';

export interface ApiBuildRequest {
  /** Left out: no t= is sent, and the image is named by the id the engine's aux record gives. */
  tag?: string;
  /** BuildKit (version 2) or the classic builder (version 1). */
  buildkit: boolean;
  network?: string;
  noCache?: boolean;
  signal?: AbortSignal;
  /** Each line the build prints. */
  onLine?: (line: string) => void;
  /** How long the engine may take to begin its answer (FIRST_ANSWER_MS; tests shorten it). */
  firstAnswerMs?: number;
}

/** A failed or cancelled build's imageId: the image the engine said it made before it failed or was stopped (see BuildOutcome). */
export type ApiBuilt = { ok: true; imageId: string } | { ok: false; said: string; cancelled: boolean; imageId?: string };

const TAG = /^[a-z0-9][a-z0-9._\-/:@]*$/i;
const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;
const NETWORK = /^[a-zA-Z0-9][a-zA-Z0-9_.:-]*$/;
/** Characters of one JSON record of a build's answer at most (BuildKit's status records are a few hundred KB at most). */
const RECORD = 16 << 20;
/**
 * Milliseconds an engine may take to begin its answer (it does within milliseconds: its first line, or
 * BuildKit's first status record, as soon as it has the tar). The answer, once begun, takes as long as
 * the build: only the signal stops it.
 */
const FIRST_ANSWER_MS = 30_000;

/**
 * Builds the tar `body` (a Dockerfile and the files it copies), tagged `tag` if given: the image id,
 * or the engine's words when it refuses or the build fails. Rejects only when the engine
 * cannot be asked, or does not begin its answer in time (then the client may be).
 */
export function apiBuild(socket: string, body: Buffer, req: ApiBuildRequest): Promise<ApiBuilt> {
  if (req.tag !== undefined && !TAG.test(req.tag)) return Promise.reject(new Error(`not an image reference: ${req.tag}`));
  if (req.network !== undefined && !NETWORK.test(req.network)) return Promise.reject(new Error(`not a network: ${req.network}`));
  const query = [...(req.tag !== undefined ? [`t=${encodeURIComponent(req.tag)}`] : []), `version=${req.buildkit ? 2 : 1}`, 'rm=1', 'forcerm=1'];
  if (req.network !== undefined) query.push(`networkmode=${encodeURIComponent(req.network)}`);
  if (req.noCache) query.push('nocache=1');
  const { signal } = req;
  const lines = new Lines(req.onLine ?? (() => {}));
  return new Promise((resolve, reject) => {
    let answered = false;
    // BuildKit names the image in an aux record (id moby.image.id), the classic builder in its last one; with
    // or without t=. Kept out here: a build cancelled or failed after the record came made that image.
    let imageId: string | undefined;
    const made = () => (imageId !== undefined && IMAGE_ID.test(imageId) ? { imageId } : {});
    const failedWith = (said: string, cancelled: boolean) => resolve({ ok: false, said, cancelled, ...made() });
    const cancelled = () => failedWith('cancelled', true);
    const headers = { Host: 'docker', 'Content-Type': 'application/x-tar', 'Content-Length': String(body.length) };
    const http = request({ socketPath: socket, path: `/build?${query.join('&')}`, method: 'POST', headers, signal }, (res) => {
      let failed: string | undefined;
      let left = false;
      const record = (l: string) => {
        if (!l.trim()) return;
        let m: { stream?: unknown; error?: unknown; message?: unknown; id?: unknown; aux?: unknown };
        try {
          m = JSON.parse(l) as typeof m;
        } catch {
          return;
        }
        if (typeof m !== 'object' || m === null) return;
        if (typeof m.error === 'string') failed ??= m.error;
        else if (typeof m.message === 'string' && res.statusCode !== 200) failed ??= m.message;
        if (typeof m.stream === 'string') lines.text('', m.stream);
        if (m.id === 'moby.buildkit.trace' && typeof m.aux === 'string') lines.status(m.aux);
        const aux = m.aux as { ID?: unknown } | undefined;
        if (typeof aux === 'object' && aux !== null && typeof aux.ID === 'string') imageId = aux.ID;
      };
      // A record over RECORD characters is cut, and then no JSON: passed over.
      const records = new LineSplitter(record, RECORD);
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        records.push(c);
        if (!lines.failed || left) return;
        // A status past what rep holds is no build's: the build fails, and hanging up stops it.
        left = true;
        req.onLine?.(`ERROR: ${lines.failed}`);
        failedWith(lines.failed, false);
        http.destroy();
      });
      res.on('end', () => {
        if (left) return;
        records.end();
        lines.end();
        if (res.statusCode === 200 && !failed && imageId && IMAGE_ID.test(imageId)) return resolve({ ok: true, imageId });
        const said = failed ?? `engine answered ${res.statusCode} for building ${req.tag ?? 'an image'}`;
        req.onLine?.(`ERROR: ${said}`);
        failedWith(said, false);
      });
      // Once the engine answered, the build ran (in part): a connection lost now fails it, rather
      // than have the client run it again (its RUNs' effects twice, its lines printed twice).
      res.on('error', (e) => (signal?.aborted ? cancelled() : failedWith(`the engine's answer broke off: ${e.message}`, false)));
    });
    http.on('error', (e) => (signal?.aborted ? cancelled() : answered ? failedWith(`the engine's answer broke off: ${e.message}`, false) : reject(e)));
    // An engine that takes the request and never answers left the build waiting for ever (found by a
    // review). Hanging up before it answers stops a build it may have begun: the client runs it once.
    const ms = req.firstAnswerMs ?? FIRST_ANSWER_MS;
    const silence = setTimeout(() => http.destroy(new Error(`no answer from ${socket} within ${ms} ms`)), ms);
    http.on('response', () => {
      answered = true;
      clearTimeout(silence);
    });
    http.on('close', () => clearTimeout(silence));
    http.end(body);
  });
}

/** Vertices of one build followed at most: a build over the API (a few steps) has tens. */
const MAX_VERTICES = 1000;
/** Characters of unfinished lines held across vertices at most: past it, the longest is said now, unfinished. */
const MAX_PENDING = 1 << 20;
/** Characters of vertex digests, with the unfinished lines held then, at most: past it, the build fails. */
const MAX_KEPT = 4 << 20;

/** What is held of one vertex (BuildKit's step; '' the classic builder's stream). */
interface Vertex {
  /** Its number in the lines said (#n), from the first status record naming it. */
  n?: number;
  started?: boolean;
  done?: boolean;
  split?: LineSplitter;
  /** A character cut between two log records is decoded whole. */
  decoder?: StringDecoder;
  /** Characters of its unfinished line held, at most (what its LineSplitter holds is no more). */
  pending: number;
}

/**
 * Lines out of a build's answer: text in pieces (per vertex: a piece may end mid-line), and BuildKit's
 * status records. What it holds is bounded, whatever the engine sends (found by a review: a daemon naming
 * new vertices without end, with text that never ends a line, grew rep ~100 MB/s): past MAX_VERTICES
 * vertices or MAX_KEPT characters it takes no more, and `failed` says why (the build fails with it).
 */
export class Lines {
  private readonly vertices = new Map<string, Vertex>();
  private numbered = 0;
  private names = 0;
  private pending = 0;
  /** Why the build's status was left (a bound passed): the build fails with it. */
  failed?: string;

  constructor(private readonly put: (line: string) => void) {}

  /** How much is held: vertices, and characters of their digests and unfinished lines (what the tests bound). */
  get held(): { vertices: number; chars: number } {
    return { vertices: this.vertices.size, chars: this.names + this.pending };
  }

  private vertex(digest: string): Vertex | undefined {
    if (this.failed) return undefined;
    let v = this.vertices.get(digest);
    if (v) return v;
    if (this.vertices.size >= MAX_VERTICES) this.failed = `the engine's build status names more than ${MAX_VERTICES} steps`;
    else if (this.names + digest.length + this.pending > MAX_KEPT) this.failed = `the engine's build status holds more than ${MAX_KEPT} characters of step names and unfinished lines`;
    else {
      this.vertices.set(digest, (v = { pending: 0 }));
      this.names += digest.length;
    }
    return v;
  }

  /** Text of vertex `digest` ('' for the classic builder's stream). */
  text(digest: string, piece: string): void {
    const v = this.vertex(digest);
    if (v) this.write(v, piece);
  }

  private write(v: Vertex, piece: string): void {
    if (!piece) return;
    v.split ??= new LineSplitter(this.put);
    v.split.push(piece);
    const nl = piece.lastIndexOf('\n');
    const pending = Math.min(nl >= 0 ? piece.length - nl - 1 : v.pending + piece.length, MAX_LINE + 1);
    this.pending += pending - v.pending;
    v.pending = pending;
    if (this.pending <= MAX_PENDING) return;
    // The longest unfinished line is said now: it holds at least what this piece added, so the bound holds
    // again and the other lines stay whole; it held MAX_PENDING / MAX_VERTICES characters at least, so
    // a scan comes once a thousand characters at most.
    let most = v;
    for (const w of this.vertices.values()) if (w.pending > most.pending) most = w;
    this.endLine(most);
  }

  /** Vertex `v`'s unfinished line, said now. */
  private endLine(v: Vertex): void {
    v.split?.end();
    v.split = undefined;
    this.pending -= v.pending;
    v.pending = 0;
  }

  /** What is left of vertex `v`'s text, an unfinished last line, said now. */
  private flush(v: Vertex): void {
    const rest = v.decoder?.end() ?? '';
    v.decoder = undefined;
    this.write(v, rest);
    this.endLine(v);
  }

  end(): void {
    for (const v of this.vertices.values()) this.flush(v);
  }

  /** A BuildKit status record (base64 protobuf of moby/buildkit's StatusResponse): vertices started and done, their logs. */
  status(b64: string): void {
    let vertices: Field[][];
    let logs: Field[][];
    try {
      const top = fields(Buffer.from(b64, 'base64'));
      vertices = top.filter((f) => f.n === 1).map((f) => fields(f.bytes!));
      logs = top.filter((f) => f.n === 3).map((f) => fields(f.bytes!));
    } catch {
      return;
    }
    for (const fs of vertices) {
      const digest = str(fs, 1);
      if (!digest) continue;
      const v = this.vertex(digest);
      if (!v) return;
      const n = (v.n ??= ++this.numbered);
      const has = (k: number) => fs.some((f) => f.n === k);
      const cached = fs.some((f) => f.n === 4 && f.value === 1);
      if ((has(5) || cached) && !v.started) {
        v.started = true;
        this.put(`#${n} ${str(fs, 3)}`);
      }
      const error = str(fs, 7);
      if ((has(6) || error) && !v.done) {
        v.done = true;
        this.flush(v);
        this.put(error ? `#${n} ERROR: ${error}` : cached ? `#${n} CACHED` : `#${n} DONE`);
      }
    }
    for (const l of logs) {
      const digest = str(l, 1);
      const msg = l.find((f) => f.n === 4)?.bytes;
      if (!digest || !msg) continue;
      const v = this.vertex(digest);
      if (!v) return;
      v.decoder ??= new StringDecoder('utf8');
      this.write(v, v.decoder.write(msg));
    }
  }
}

interface Field {
  n: number;
  value?: number;
  bytes?: Buffer;
}

const str = (fs: Field[], n: number): string => fs.find((f) => f.n === n)?.bytes?.toString('utf8') ?? '';

/** One protobuf message's fields (varints and length-delimited ones; fixed-width skipped); throws on a malformed one. */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): number => {
    let v = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (i >= buf.length) throw new Error('cut short');
      const b = buf[i++]!;
      if (shift < 49) v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return v;
    }
    throw new Error('varint too long');
  };
  while (i < buf.length) {
    const tag = varint();
    const n = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) out.push({ n, value: varint() });
    else if (wire === 2) {
      const len = varint();
      if (i + len > buf.length) throw new Error('cut short');
      out.push({ n, bytes: buf.subarray(i, i + len) });
      i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`wire type ${wire}`);
  }
  return out;
}
