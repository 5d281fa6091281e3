// Reading a tar that arrives as a stream (a bundle's .tar.gz, an archive in
// it, what an engine saved) the way Go's archive/tar reads it, which is how
// docker and podman load an image, with the headers read by the same code as
// an image's layers (tarindex.ts), strictly: what Go and GNU tar (which a
// reader unpacks a bundle with) read apart is refused, not read one way here
// and another by the tool a reader unpacks or loads the archive with (a
// global pax header, two extended headers for one entry, a pax header and a
// GNU long name together, numbers spelled so that GNU reads another, a file
// named as a folder). Nothing may follow the end of the archive but zeros, a
// megabyte of them at most; extended headers are gathered once each, 256 MiB
// of them at most.
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

/** Bytes of extended headers (pax headers, long names) a stream may hold in all: a name of 4 KB for each of 60,000 entries. */
export const MAX_META_TOTAL = 256 << 20;
/** Zeros after the end of the archive at most (GNU tar pads to its record size, 10 KB by default). */
export const MAX_TRAILING_ZEROS = 1 << 20;

/** A tar fed a chunk at a time (push), each entry handed to `onEntry` as it comes; finish() at the end of the stream. */
export class TarStreamReader {
  private readonly headers: HeaderReader;
  private reading: Reading = { kind: 'header' };
  /** The first bytes of a header or an extended header that came in chunks short of it (joined once whole). */
  private pieces: Buffer[] = [];
  private held = 0;
  /** Bytes read so far. */
  private at = 0;
  private meta = 0;
  private zeros = 0;

  constructor(
    private readonly onEntry: OnEntry,
    bounds: TarBounds = DEFAULT_TAR_BOUNDS,
  ) {
    // Strict: what comes as a stream is a bundle or an archive from one, which a reader may unpack with GNU tar.
    this.headers = new HeaderReader(bounds, true);
  }

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      const r = this.reading;
      if (r.kind === 'end') {
        // After the end-of-archive block: zeros (a record's padding), never more entries.
        const nz = nonZero(chunk, i, chunk.length);
        if (nz >= 0) throw new TarError(`data after the end of the tar, at byte ${this.at + nz - i}`);
        if ((this.zeros += chunk.length - i) > MAX_TRAILING_ZEROS) throw new TarError(`more than ${MAX_TRAILING_ZEROS} bytes after the end of the tar`);
        this.at += chunk.length - i;
        return;
      }
      if (r.kind === 'body') {
        if (r.left > 0) {
          const n = Math.min(r.left, chunk.length - i);
          r.sink?.data(chunk.subarray(i, i + n));
          r.left -= n;
          i += n;
          this.at += n;
          if (r.left > 0) return;
          r.sink?.end();
        }
        const skip = Math.min(r.padding, chunk.length - i);
        r.padding -= skip;
        i += skip;
        this.at += skip;
        if (r.padding === 0) this.reading = { kind: 'header' };
        continue;
      }
      // A header block, or an extended header and its padding: gathered whole, each byte copied once.
      const need = r.kind === 'meta' ? pad(r.size) : BLOCK;
      const take = Math.min(need - this.held, chunk.length - i);
      let whole: Buffer;
      if (this.held === 0 && take === need) whole = chunk.subarray(i, i + need);
      else {
        this.pieces.push(chunk.subarray(i, i + take));
        this.held += take;
        if (this.held < need) {
          this.at += take;
          return;
        }
        whole = Buffer.concat(this.pieces, need);
        this.pieces = [];
        this.held = 0;
      }
      const start = this.at - (need - take);
      i += take;
      this.at += take;
      if (r.kind === 'meta') {
        this.headers.meta(r.type, whole.subarray(0, r.size));
        this.reading = { kind: 'header' };
        continue;
      }
      if (nonZero(whole, 0, BLOCK) < 0) {
        this.reading = { kind: 'end' };
        continue;
      }
      const read = this.headers.read(whole, start, start + BLOCK);
      if ('meta' in read) {
        if ((this.meta += read.size) > MAX_META_TOTAL) throw new TarError(`a tar whose extended headers hold more than ${MAX_META_TOTAL} bytes`);
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
  }

  /** The stream is over: it must have ended with the end of the archive. */
  finish(): void {
    const r = this.reading;
    if (r.kind === 'end') return;
    if (r.kind === 'header' && this.held === 0) throw new TarError('the tar ends without its end-of-archive block (cut short?)');
    throw new TarError(`the tar ends inside ${r.kind === 'header' ? 'a header' : 'an entry'} (cut short?)`);
  }
}

/** Reads the tar stream `input` to its end, each entry handed to `onEntry`; throws a TarError for a tar rep refuses, or what the stream throws. */
export async function readTarStream(input: Readable, onEntry: OnEntry, bounds: TarBounds = DEFAULT_TAR_BOUNDS): Promise<void> {
  const reader = new TarStreamReader(onEntry, bounds);
  for await (const chunk of input) reader.push(chunk as Buffer);
  reader.finish();
}
