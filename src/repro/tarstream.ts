// Reading a tar that arrives as a stream (a bundle's .tar.gz, an archive in
// it, what an engine saved) the way Go's archive/tar reads it, which is how
// docker and podman load an image, with the headers read by the same code as
// an image's layers (tarindex.ts): a global pax header, two extended headers
// for one entry, a pax header and a GNU long name together are refused, not
// read one way here and another by the tool a reader unpacks or loads the
// archive with. Nothing may follow the end of the archive but zeros.
import type { Readable } from 'node:stream';
import { BLOCK, DEFAULT_TAR_BOUNDS, HeaderReader, pad, TarError, type TarBounds, type TarHeader } from './tarindex.js';

/** Where an entry's bytes go, in order; end() once they are all there. */
export interface EntrySink {
  data(chunk: Buffer): void;
  end(): void;
}

/** Asked of each entry as its header is read: where its body goes (undefined: passed over). */
export type OnEntry = (h: TarHeader) => EntrySink | undefined;

type Reading =
  | { kind: 'header' }
  | { kind: 'meta'; type: 'x' | 'L' | 'K'; size: number }
  | { kind: 'body'; sink: EntrySink | undefined; left: number; padding: number }
  | { kind: 'end' };

/** Where the first byte that is not zero lies in b[from, to), or -1. */
const nonZero = (b: Buffer, from: number, to: number) => {
  for (let i = from; i < to; i++) if (b[i] !== 0) return i;
  return -1;
};

/** A tar fed a chunk at a time (push), each entry handed to `onEntry` as it comes; finish() at the end of the stream. */
export class TarStreamReader {
  private readonly headers: HeaderReader;
  private reading: Reading = { kind: 'header' };
  /** Bytes of a header or an extended header that came in a chunk short of it. */
  private rest: Buffer | undefined;
  /** Bytes read before the current chunk. */
  private at = 0;

  constructor(
    private readonly onEntry: OnEntry,
    bounds: TarBounds = DEFAULT_TAR_BOUNDS,
  ) {
    this.headers = new HeaderReader(bounds);
  }

  push(chunk: Buffer): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    const start = this.at - (this.rest?.length ?? 0);
    this.rest = undefined;
    let i = 0;
    const short = (need: number) => {
      if (buf.length - i >= need) return false;
      this.rest = Buffer.from(buf.subarray(i));
      return true;
    };
    while (i < buf.length) {
      const r = this.reading;
      if (r.kind === 'end') {
        // After the end-of-archive block: zeros (a record's padding), never more entries.
        const at = nonZero(buf, i, buf.length);
        if (at >= 0) throw new TarError(`data after the end of the tar, at byte ${start + at}`);
        break;
      }
      if (r.kind === 'body') {
        if (r.left > 0) {
          const n = Math.min(r.left, buf.length - i);
          r.sink?.data(buf.subarray(i, i + n));
          r.left -= n;
          i += n;
          if (r.left > 0) break;
          r.sink?.end();
        }
        const skip = Math.min(r.padding, buf.length - i);
        r.padding -= skip;
        i += skip;
        if (r.padding === 0) this.reading = { kind: 'header' };
        continue;
      }
      if (r.kind === 'meta') {
        if (short(pad(r.size))) break;
        this.headers.meta(r.type, buf.subarray(i, i + r.size));
        i += pad(r.size);
        this.reading = { kind: 'header' };
        continue;
      }
      if (short(BLOCK)) break;
      const h = buf.subarray(i, i + BLOCK);
      const at = start + i;
      i += BLOCK;
      if (nonZero(h, 0, BLOCK) < 0) {
        this.reading = { kind: 'end' };
        continue;
      }
      const read = this.headers.read(h, at, at + BLOCK);
      if ('meta' in read) {
        this.reading = { kind: 'meta', type: read.meta, size: read.size };
        continue;
      }
      const sink = this.onEntry(read.entry);
      this.reading = { kind: 'body', sink, left: read.entry.size, padding: pad(read.entry.size) - read.entry.size };
      // An entry without bytes is done now (its sink learns it before the next entry's header is read).
      if (read.entry.size === 0) {
        sink?.end();
        this.reading = { kind: 'header' };
      }
    }
    this.at = start + buf.length;
  }

  /** The stream is over: it must have ended with the end of the archive. */
  finish(): void {
    const r = this.reading;
    if (r.kind === 'end') return;
    if (r.kind === 'header' && !this.rest) throw new TarError('the tar ends without its end-of-archive block (cut short?)');
    throw new TarError(`the tar ends inside ${r.kind === 'header' ? 'a header' : 'an entry'} (cut short?)`);
  }
}

/** Reads the tar stream `input` to its end, each entry handed to `onEntry`; throws a TarError for a tar rep refuses, or what the stream throws. */
export async function readTarStream(input: Readable, onEntry: OnEntry, bounds: TarBounds = DEFAULT_TAR_BOUNDS): Promise<void> {
  const reader = new TarStreamReader(onEntry, bounds);
  for await (const chunk of input) reader.push(chunk as Buffer);
  reader.finish();
}
