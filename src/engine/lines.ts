// Text an engine streams (a build's output, its JSON records) cut into lines
// as it comes: each piece is searched for newlines once, never the whole
// unfinished line again (a RUN that printed 40 MB without a newline took 45 s
// to split, and past 512 MB crashed rep), and a line is kept to MAX_LINE
// characters, the rest of it dropped up to its newline.

/** Characters of one line kept at most. */
export const MAX_LINE = 16 * 1024;

export class LineSplitter {
  private partial = '';
  private cut = false;

  constructor(
    private readonly put: (line: string) => void,
    private readonly max = MAX_LINE,
  ) {}

  /** More text; each line it finishes is put (without its "\n" or "\r\n"). */
  push(text: string): void {
    let from = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
      this.add(text.slice(from, nl));
      this.emit();
      from = nl + 1;
    }
    this.add(text.slice(from));
  }

  /** The stream is over: an unfinished last line is put. */
  end(): void {
    if (this.partial || this.cut) this.emit();
  }

  private add(s: string): void {
    if (this.cut || !s) return;
    // One character more than kept: a "\r" that ends a line at the bound is taken off, not counted.
    if (this.partial.length + s.length > this.max + 1) {
      this.partial = (this.partial + s.slice(0, this.max + 1 - this.partial.length)).slice(0, this.max);
      this.cut = true;
    } else this.partial += s;
  }

  private emit(): void {
    let line = this.partial;
    let cut = this.cut;
    if (!cut && line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length > this.max) {
      line = line.slice(0, this.max);
      cut = true;
    }
    this.put(cut ? `${line} … (a line over ${this.max} characters, cut)` : line);
    this.partial = '';
    this.cut = false;
  }
}
