// A build over docker's Engine API (POST /build), from a tar held in memory:
// what `docker build -t TAG -` does with the same tar, without starting the
// client. For small builds (the final image's settings, a step with a few
// inputs), where starting the client and its session costs as much as the
// build. The lines a build prints are read from the answer: the classic
// builder's text, or BuildKit's status records (protobuf, decoded here: the
// vertices it runs and what they print), written as `--progress plain` would.
import { request } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { LineSplitter } from './lines.js';

export interface ApiBuildRequest {
  tag: string;
  /** BuildKit (version 2) or the classic builder (version 1). */
  buildkit: boolean;
  network?: string;
  noCache?: boolean;
  signal?: AbortSignal;
  /** Each line the build prints. */
  onLine?: (line: string) => void;
}

export type ApiBuilt = { ok: true; imageId: string } | { ok: false; said: string; cancelled: boolean };

const TAG = /^[a-z0-9][a-z0-9._\-/:@]*$/i;
const NETWORK = /^[a-zA-Z0-9][a-zA-Z0-9_.:-]*$/;
/** Characters of one JSON record of a build's answer at most (BuildKit's status records are a few hundred KB at most). */
const RECORD = 16 << 20;

/**
 * Builds the tar `body` (a Dockerfile and the files it copies), tagged `tag`: the image id,
 * or the engine's words when it refuses or the build fails. Rejects only when the engine
 * cannot be asked (then the client may be).
 */
export function apiBuild(socket: string, body: Buffer, req: ApiBuildRequest): Promise<ApiBuilt> {
  if (!TAG.test(req.tag)) return Promise.reject(new Error(`not an image reference: ${req.tag}`));
  if (req.network !== undefined && !NETWORK.test(req.network)) return Promise.reject(new Error(`not a network: ${req.network}`));
  const query = [`t=${encodeURIComponent(req.tag)}`, `version=${req.buildkit ? 2 : 1}`, 'rm=1', 'forcerm=1'];
  if (req.network !== undefined) query.push(`networkmode=${encodeURIComponent(req.network)}`);
  if (req.noCache) query.push('nocache=1');
  const { signal } = req;
  const lines = new Lines(req.onLine ?? (() => {}));
  return new Promise((resolve, reject) => {
    let answered = false;
    const cancelled = () => resolve({ ok: false, said: 'cancelled', cancelled: true });
    const headers = { Host: 'docker', 'Content-Type': 'application/x-tar', 'Content-Length': String(body.length) };
    const http = request({ socketPath: socket, path: `/build?${query.join('&')}`, method: 'POST', headers, signal }, (res) => {
      let imageId: string | undefined;
      let failed: string | undefined;
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
        // BuildKit names the image in an aux record (id moby.image.id), the classic builder in its last one.
        const aux = m.aux as { ID?: unknown } | undefined;
        if (typeof aux === 'object' && aux !== null && typeof aux.ID === 'string') imageId = aux.ID;
      };
      // A record over RECORD characters is cut, and then no JSON: passed over.
      const records = new LineSplitter(record, RECORD);
      res.setEncoding('utf8');
      res.on('data', (c: string) => records.push(c));
      res.on('end', () => {
        records.end();
        lines.end();
        if (res.statusCode === 200 && !failed && imageId && /^sha256:[0-9a-f]{64}$/.test(imageId)) return resolve({ ok: true, imageId });
        const said = failed ?? `engine answered ${res.statusCode} for building ${req.tag}`;
        req.onLine?.(`ERROR: ${said}`);
        resolve({ ok: false, said, cancelled: false });
      });
      // Once the engine answered, the build ran (in part): a connection lost now fails it, rather
      // than have the client run it again (its RUNs' effects twice, its lines printed twice).
      res.on('error', (e) => (signal?.aborted ? cancelled() : resolve({ ok: false, said: `the engine's answer broke off: ${e.message}`, cancelled: false })));
    });
    http.on('error', (e) => (signal?.aborted ? cancelled() : answered ? resolve({ ok: false, said: `the engine's answer broke off: ${e.message}`, cancelled: false }) : reject(e)));
    http.on('response', () => (answered = true));
    http.end(body);
  });
}

/** Lines out of a build's answer: text in pieces (per vertex: a piece may end mid-line), and BuildKit's status records. */
class Lines {
  private readonly split = new Map<string, LineSplitter>();
  /** Per vertex: a character cut between two log records is decoded whole. */
  private readonly decoders = new Map<string, StringDecoder>();
  private readonly numbers = new Map<string, number>();
  private readonly started = new Set<string>();
  private readonly done = new Set<string>();

  constructor(private readonly put: (line: string) => void) {}

  /** Text of vertex `v` ('' for the classic builder's stream). */
  text(v: string, piece: string): void {
    let split = this.split.get(v);
    if (!split) this.split.set(v, (split = new LineSplitter(this.put)));
    split.push(piece);
  }

  /** What is left of vertex `v`'s text, an unfinished last line, said now. */
  private flush(v: string): void {
    const rest = this.decoders.get(v)?.end() ?? '';
    if (rest) this.text(v, rest);
    this.split.get(v)?.end();
    this.split.delete(v);
    this.decoders.delete(v);
  }

  end(): void {
    for (const v of new Set([...this.split.keys(), ...this.decoders.keys()])) this.flush(v);
  }

  private number(digest: string): number {
    let n = this.numbers.get(digest);
    if (n === undefined) this.numbers.set(digest, (n = this.numbers.size + 1));
    return n;
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
    for (const v of vertices) {
      const digest = str(v, 1);
      if (!digest) continue;
      const n = this.number(digest);
      const has = (k: number) => v.some((f) => f.n === k);
      const cached = v.some((f) => f.n === 4 && f.value === 1);
      if ((has(5) || cached) && !this.started.has(digest)) {
        this.started.add(digest);
        this.put(`#${n} ${str(v, 3)}`);
      }
      const error = str(v, 7);
      if ((has(6) || error) && !this.done.has(digest)) {
        this.done.add(digest);
        this.flush(digest);
        this.put(error ? `#${n} ERROR: ${error}` : cached ? `#${n} CACHED` : `#${n} DONE`);
      }
    }
    for (const l of logs) {
      const digest = str(l, 1);
      const msg = l.find((f) => f.n === 4)?.bytes;
      if (!digest || !msg) continue;
      let decoder = this.decoders.get(digest);
      if (!decoder) this.decoders.set(digest, (decoder = new StringDecoder('utf8')));
      this.text(digest, decoder.write(msg));
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
