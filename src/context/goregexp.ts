// The regular expressions moby/patternmatcher makes of .dockerignore patterns,
// read with Go's syntax and run as Go runs them: by simulating an automaton
// (Thompson's construction), never by backtracking, so that no pattern can
// take time exponential in a path (JavaScript's RegExp can: `*a*a*a*a*b`).
// The subset is what a pattern can turn into: literals, escaped punctuation,
// classes, `.`, groups, `*` `?` `+`, `^` and `$` (text anchors: Go's OneLine),
// and the escapes \d \D \s \S \w \W \a \f \n \r \t \v \A \z. Anything else Go
// would accept (octal and hex escapes, \p classes, \b, POSIX classes, counted
// repetition, alternation) is refused by name rather than matched otherwise.

/** A character test: code point -> whether it is in the set. */
type CharTest = (c: number) => boolean;

type Node =
  | { kind: 'char'; test: CharTest; out: number }
  | { kind: 'split'; out: number; out2: number }
  | { kind: 'bol' | 'eol'; out: number }
  | { kind: 'match' };

type Ast =
  | { kind: 'char'; test: CharTest; literal?: number }
  | { kind: 'bol' | 'eol' }
  | { kind: 'cat'; items: Ast[] }
  | { kind: 'star' | 'quest' | 'plus'; of: Ast };

export class GoRegexpError extends Error {}

const NEWLINE = 0x0a;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isAlnum = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isWord = (c: number) => isAlnum(c) || c === 0x5f;
// Go's \s: [\t\n\f\r ] (not \v).
const isSpace = (c: number) => c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d || c === 0x20;
const not = (t: CharTest): CharTest => (c) => !t(c);

/** Go's Perl classes. */
const PERL: Record<string, CharTest> = { d: isDigit, D: not(isDigit), w: isWord, W: not(isWord), s: isSpace, S: not(isSpace) };
/** Go's single-character escapes. */
const CONTROL: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };

class Parser {
  private i = 0;
  private readonly s: number[];

  constructor(text: string) {
    this.s = [...text].map((ch) => ch.codePointAt(0)!);
  }

  parse(): Ast {
    const ast = this.sequence(false);
    if (this.i < this.s.length) throw new GoRegexpError('an unmatched )');
    return ast;
  }

  private peek(at = this.i): string | undefined {
    const c = this.s[at];
    return c === undefined ? undefined : String.fromCodePoint(c);
  }

  private sequence(inGroup: boolean): Ast {
    const items: Ast[] = [];
    // After a repetition operator one "?" makes it lazy (the same strings match); any other is Go's nested repetition error.
    let after: 'atom' | 'repeat' | 'lazy' = 'atom';
    while (this.i < this.s.length) {
      const ch = this.peek()!;
      if (ch === ')') {
        if (!inGroup) throw new GoRegexpError('an unmatched )');
        break;
      }
      this.i++;
      if (ch === '*' || ch === '?' || ch === '+') {
        if (after === 'repeat' && ch === '?') {
          after = 'lazy';
          continue;
        }
        if (after !== 'atom') throw new GoRegexpError(`a repetition of a repetition (${ch})`);
        const last = items[items.length - 1];
        if (!last || last.kind === 'bol' || last.kind === 'eol') throw new GoRegexpError(`a repetition of nothing (${ch})`);
        items[items.length - 1] = { kind: ch === '*' ? 'star' : ch === '?' ? 'quest' : 'plus', of: last };
        after = 'repeat';
        continue;
      }
      after = 'atom';
      if (ch === '(') {
        if (this.peek() === '?') throw new GoRegexpError('a group with flags or a name');
        const inner = this.sequence(true);
        if (this.peek() !== ')') throw new GoRegexpError('an unclosed (');
        this.i++;
        items.push(inner);
      } else if (ch === '[') items.push({ kind: 'char', test: this.charClass() });
      else if (ch === '\\') items.push(this.escape());
      else if (ch === '.') items.push({ kind: 'char', test: (c) => c !== NEWLINE });
      else if (ch === '^') items.push({ kind: 'bol' });
      else if (ch === '$') items.push({ kind: 'eol' });
      else if (ch === '|' || ch === '{') throw new GoRegexpError(`the operator ${ch}`);
      else {
        const code = ch.codePointAt(0)!;
        items.push({ kind: 'char', test: (c) => c === code, literal: code });
      }
    }
    return { kind: 'cat', items };
  }

  /** The character after a backslash: a Perl class, a control character, or punctuation as itself. */
  private escaped(): string | number | CharTest {
    const e = this.peek();
    if (e === undefined) throw new GoRegexpError('a trailing backslash');
    this.i++;
    if (PERL[e]) return PERL[e];
    if (CONTROL[e] !== undefined) return CONTROL[e];
    const code = e.codePointAt(0)!;
    // Go takes any ASCII character that is not a letter or digit as itself; the rest are its own escapes.
    if (code < 0x80 && !isAlnum(code)) return code;
    return e;
  }

  /** After a backslash, outside a class: a character, or \A and \z (Go's text anchors). */
  private escape(): Ast & { kind: 'char' | 'bol' | 'eol' } {
    const e = this.escaped();
    if (e === 'A') return { kind: 'bol' };
    if (e === 'z') return { kind: 'eol' };
    if (typeof e === 'string') throw new GoRegexpError(`the escape \\${e}`);
    return typeof e === 'number' ? { kind: 'char', test: (c) => c === e, literal: e } : { kind: 'char', test: e };
  }

  /** After "[": Go's class syntax (negation, ranges, escapes); a POSIX class ([:alpha:]) is refused. */
  private charClass(): CharTest {
    const negated = this.peek() === '^';
    if (negated) this.i++;
    const parts: CharTest[] = [];
    for (let first = true; ; first = false) {
      const ch = this.peek();
      if (ch === undefined) throw new GoRegexpError('an unclosed [');
      if (ch === ']' && !first) {
        this.i++;
        break;
      }
      if (ch === '[' && this.peek(this.i + 1) === ':') throw new GoRegexpError('a POSIX class ([:name:])');
      const lo = this.classChar();
      const range = this.peek() === '-' && this.peek(this.i + 1) !== undefined && this.peek(this.i + 1) !== ']';
      if (!range) {
        parts.push(typeof lo === 'number' ? (c) => c === lo : lo);
        continue;
      }
      this.i++;
      const hi = this.classChar();
      if (typeof lo !== 'number' || typeof hi !== 'number' || hi < lo) throw new GoRegexpError('a class range out of order or not of characters');
      parts.push((c) => c >= lo && c <= hi);
    }
    const any: CharTest = parts.length === 1 ? parts[0]! : (c) => parts.some((t) => t(c));
    // Go's ClassNL: a negated class matches a newline too.
    return negated ? not(any) : any;
  }

  /** One class member: a code point, or a Perl class (\d). */
  private classChar(): number | CharTest {
    const ch = this.peek()!;
    this.i++;
    if (ch !== '\\') return ch.codePointAt(0)!;
    const e = this.escaped();
    if (typeof e === 'string') throw new GoRegexpError(`the escape \\${e}`);
    return e;
  }
}

/** A compiled expression: whether it matches a whole string (the patterns anchor themselves with ^ and $). */
export class GoRegexp {
  private readonly nodes: Node[] = [];
  private readonly start: number;

  /** Text every match ends with (the literal characters before a final $): most paths fail on it at once. */
  private readonly suffix: string;

  /** The automaton's state lists, made at the first test and used by every one after it. */
  private lists?: { current: Int32Array; next: Int32Array; seen: Int32Array; todo: Int32Array; step: number };

  constructor(source: string) {
    const ast = new Parser(source).parse();
    const matchAt = this.add({ kind: 'match' });
    this.start = this.compile(ast, matchAt);
    let suffix = '';
    if (ast.kind === 'cat' && ast.items[ast.items.length - 1]?.kind === 'eol') {
      for (let k = ast.items.length - 2; k >= 0; k--) {
        const item = ast.items[k]!;
        if (item.kind !== 'char' || item.literal === undefined) break;
        suffix = String.fromCodePoint(item.literal) + suffix;
      }
    }
    this.suffix = suffix;
  }

  private add(n: Node): number {
    this.nodes.push(n);
    return this.nodes.length - 1;
  }

  /** Nodes for `ast` that go on to `next`; returns its entry. Built back to front, so each knows where it goes. */
  private compile(ast: Ast, next: number): number {
    switch (ast.kind) {
      case 'char':
        return this.add({ kind: 'char', test: ast.test, out: next });
      case 'bol':
      case 'eol':
        return this.add({ kind: ast.kind, out: next });
      case 'cat': {
        let at = next;
        for (let k = ast.items.length - 1; k >= 0; k--) at = this.compile(ast.items[k]!, at);
        return at;
      }
      case 'quest': {
        const split = this.add({ kind: 'split', out: next, out2: next });
        (this.nodes[split] as { out: number }).out = this.compile(ast.of, next);
        return split;
      }
      case 'star':
      case 'plus': {
        const split = this.add({ kind: 'split', out: next, out2: next });
        const body = this.compile(ast.of, split);
        (this.nodes[split] as { out: number }).out = body;
        return ast.kind === 'star' ? split : body;
      }
      default: {
        const never: never = ast;
        return never;
      }
    }
  }

  /**
   * Whether the expression matches `text` from its start (Go's MatchString of an expression that
   * begins with ^): the states the automaton may be in, advanced a code point at a time.
   */
  test(text: string): boolean {
    if (!text.endsWith(this.suffix)) return false;
    // The lists are the expression's, not the call's: a context of 100k paths asks each pattern 100k
    // times, and lists the size of a long pattern made anew each time cost more than the match.
    const lists = (this.lists ??= { current: new Int32Array(this.nodes.length), next: new Int32Array(this.nodes.length), seen: new Int32Array(this.nodes.length), todo: new Int32Array(2 * this.nodes.length + 2), step: 0 });
    let { current, next } = lists;
    const { seen, todo } = lists;
    // The step at which a node was last put in a list: each node once per step. Steps go on from call to
    // call, so `seen` need not be cleared (until they would run past what an Int32Array holds).
    if (lists.step > 0x7fff0000 - text.length) {
      seen.fill(0);
      lists.step = 0;
    }
    let step = ++lists.step;
    let pos = 0;
    // The nodes reachable from `from` without reading a character, put in `list` (by hand rather than
    // by recursion: a pattern of 20,000 "**/" is a chain of 20,000 splits).
    const put = (list: Int32Array, size: number, from: number): number => {
      let top = 0;
      todo[top++] = from;
      while (top > 0) {
        const node = todo[--top]!;
        if (seen[node] === step) continue;
        seen[node] = step;
        const x = this.nodes[node]!;
        if (x.kind === 'split') {
          todo[top++] = x.out2;
          todo[top++] = x.out;
        } else if (x.kind === 'bol') {
          if (pos === 0) todo[top++] = x.out;
        } else if (x.kind === 'eol') {
          if (pos === text.length) todo[top++] = x.out;
        } else list[size++] = node;
      }
      return size;
    };
    let size = put(current, 0, this.start);
    while (pos < text.length) {
      const c = text.codePointAt(pos)!;
      pos += c > 0xffff ? 2 : 1;
      step = ++lists.step;
      let nextSize = 0;
      for (let k = 0; k < size; k++) {
        const x = this.nodes[current[k]!]!;
        if (x.kind === 'match') return true;
        if (x.kind === 'char' && x.test(c)) nextSize = put(next, nextSize, x.out);
      }
      if (nextSize === 0) return false;
      [current, next] = [next, current];
      size = nextSize;
    }
    for (let k = 0; k < size; k++) if (this.nodes[current[k]!]!.kind === 'match') return true;
    return false;
  }
}
