// The regular expressions picomatch makes of globs (fast-glob matches input
// globs with them, and the drop list is matched with them), read with
// JavaScript's syntax and meaning (no flags: UTF-16 code units, `.` stops at
// line terminators, `^` and `$` at the text's ends) but run without
// backtracking: by simulating an automaton (Thompson's construction), so that
// no glob can take time exponential in a path (V8 takes 43 s for `*a*a*a*a*b`
// on a 250-character name). Lookaheads, which picomatch puts at every star, are
// run as sub-automata from the position they stand at, each (lookahead,
// position) once. The subset is what picomatch emits: literals, escapes,
// classes, `.`, groups, alternation, every quantifier (greedy or lazy: a test
// has no use for which match is found), `^`, `$`, `\b`, `\B`, `(?=` and `(?!`. Anything
// else (backreferences, octal escapes, lookbehinds, named groups) is refused by name.

/** An expression JsRegexp does not run (a construct outside the subset, or too large). */
export class JsRegexpError extends Error {}
/** Matching has taken more steps than the expression was given. */
export class JsRegexpBudgetError extends JsRegexpError {}

/** Sorted, disjoint, inclusive [lo, hi] pairs of UTF-16 code units. */
type Ranges = number[];

type Ast =
  | { kind: 'set'; ranges: Ranges }
  | { kind: 'bol' | 'eol' | 'boundary' | 'nonboundary' }
  | { kind: 'cat' | 'alt'; items: Ast[] }
  | { kind: 'repeat'; of: Ast; min: number; max: number }
  | { kind: 'look'; negate: boolean; of: Ast };

const MAX_UNIT = 0xffff;
/** Counted repetition larger than this is refused: it is copied into the automaton. */
const MAX_COUNT = 1000;
/** Instructions in one automaton, all patterns of a union together (and visits of the parse tree to make them). */
const MAX_PROGRAM = 1 << 20;
/** Different lookaheads in one automaton: each is asked at every position of a path tested. */
const MAX_LOOKS = 1024;
/** Lookahead answers one test may keep (bytes): lookaheads times the positions of a path. */
const MAX_MEMO = 64 << 20;

function normalize(ranges: Ranges): Ranges {
  const pairs: [number, number][] = [];
  for (let i = 0; i < ranges.length; i += 2) pairs.push([ranges[i]!, ranges[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: Ranges = [];
  for (const [lo, hi] of pairs) {
    const last = out.length - 1;
    if (last > 0 && lo <= out[last]! + 1) out[last] = Math.max(out[last]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

function complement(ranges: Ranges): Ranges {
  const norm = normalize(ranges);
  const out: Ranges = [];
  let next = 0;
  for (let i = 0; i < norm.length; i += 2) {
    if (norm[i]! > next) out.push(next, norm[i]! - 1);
    next = norm[i + 1]! + 1;
  }
  if (next <= MAX_UNIT) out.push(next, MAX_UNIT);
  return out;
}

const DIGIT: Ranges = [0x30, 0x39];
const WORD: Ranges = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
// JavaScript's \s: WhiteSpace and LineTerminator.
const SPACE: Ranges = normalize([9, 13, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000, 0xfeff, 0xfeff]);
/** `.` without the s flag: anything but a line terminator. */
const DOT: Ranges = complement([0x0a, 0x0a, 0x0d, 0x0d, 0x2028, 0x2029]);
const CLASS_ESCAPES: Record<string, Ranges> = { d: DIGIT, D: complement(DIGIT), w: WORD, W: complement(WORD), s: SPACE, S: complement(SPACE) };
const CONTROL: Record<string, number> = { f: 12, n: 10, r: 13, t: 9, v: 11 };
const HEX = /^[0-9A-Fa-f]+$/;

class Parser {
  private i = 0;

  constructor(private readonly s: string) {}

  parse(): Ast {
    const ast = this.alternation();
    if (this.i < this.s.length) throw new JsRegexpError('an unmatched )');
    return ast;
  }

  private alternation(): Ast {
    const items = [this.sequence()];
    while (this.s[this.i] === '|') {
      this.i++;
      items.push(this.sequence());
    }
    return items.length === 1 ? items[0]! : { kind: 'alt', items };
  }

  private sequence(): Ast {
    const items: Ast[] = [];
    while (this.i < this.s.length && this.s[this.i] !== '|' && this.s[this.i] !== ')') items.push(this.quantified());
    return { kind: 'cat', items };
  }

  private quantified(): Ast {
    const atom = this.atom();
    const q = this.quantifier();
    if (!q) return atom;
    if (atom.kind !== 'set' && atom.kind !== 'cat' && atom.kind !== 'alt') throw new JsRegexpError('a quantifier on an assertion');
    return { kind: 'repeat', of: atom, ...q };
  }

  /** `{n}`, `{n,}` or `{n,m}` at `at`, or undefined where a brace is a literal (Annex B). */
  private counted(at: number): { min: number; max: number; end: number } | undefined {
    const re = /\{(\d+)(,(\d*))?\}/y;
    re.lastIndex = at;
    const m = re.exec(this.s);
    if (!m) return undefined;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    if (max < min) throw new JsRegexpError('numbers out of order in a {} quantifier');
    if (min > MAX_COUNT || (max !== Infinity && max > MAX_COUNT)) throw new JsRegexpError(`a repetition over ${MAX_COUNT}`);
    return { min, max, end: at + m[0].length };
  }

  private quantifier(): { min: number; max: number } | undefined {
    const c = this.s[this.i];
    let q: { min: number; max: number } | undefined;
    if (c === '*') q = { min: 0, max: Infinity };
    else if (c === '+') q = { min: 1, max: Infinity };
    else if (c === '?') q = { min: 0, max: 1 };
    if (q) this.i++;
    else if (c === '{') {
      const counted = this.counted(this.i);
      if (!counted) return undefined;
      q = { min: counted.min, max: counted.max };
      this.i = counted.end;
    } else return undefined;
    if (this.s[this.i] === '?') this.i++;
    return q;
  }

  private atom(): Ast {
    const s = this.s;
    const c = s[this.i]!;
    if (c === '(') {
      let negate: boolean | undefined;
      if (s.startsWith('(?:', this.i)) this.i += 3;
      else if (s.startsWith('(?=', this.i) || s.startsWith('(?!', this.i)) {
        negate = s[this.i + 2] === '!';
        this.i += 3;
      } else if (s[this.i + 1] === '?') throw new JsRegexpError(`a group rep does not match: ${s.slice(this.i, this.i + 4)}`);
      else this.i++;
      const inner = this.alternation();
      if (s[this.i] !== ')') throw new JsRegexpError('an unterminated group');
      this.i++;
      return negate === undefined ? inner : { kind: 'look', negate, of: inner };
    }
    if (c === '[') return this.charClass();
    if (c === '*' || c === '+' || c === '?' || (c === '{' && this.counted(this.i))) throw new JsRegexpError('nothing to repeat');
    this.i++;
    if (c === '.') return { kind: 'set', ranges: DOT };
    if (c === '^') return { kind: 'bol' };
    if (c === '$') return { kind: 'eol' };
    if (c === '\\') {
      const e = s[this.i];
      if (e === 'b' || e === 'B') {
        this.i++;
        return { kind: e === 'b' ? 'boundary' : 'nonboundary' };
      }
      const ranges = e === undefined ? undefined : CLASS_ESCAPES[e];
      if (ranges) {
        this.i++;
        return { kind: 'set', ranges };
      }
      const unit = this.escape(false);
      return { kind: 'set', ranges: [unit, unit] };
    }
    const unit = c.charCodeAt(0);
    return { kind: 'set', ranges: [unit, unit] };
  }

  /** The code unit of an escape after its backslash (not a class escape, not \b), in a class or not. */
  private escape(inClass: boolean): number {
    const s = this.s;
    const e = s[this.i];
    if (e === undefined) throw new JsRegexpError('a \\ at the end');
    this.i++;
    if (e in CONTROL) return CONTROL[e]!;
    if (e === '0' && !/[0-9]/.test(s[this.i] ?? '')) return 0;
    if (/[0-9]/.test(e)) throw new JsRegexpError(`a backreference or octal escape (\\${e})`);
    if (e === 'c') {
      // \cX is X's control character; a \c before anything else is a backslash, the c read after it (Annex B).
      const x = s[this.i];
      if (x !== undefined && /[A-Za-z]/.test(x)) {
        this.i++;
        return x.charCodeAt(0) % 32;
      }
      if (inClass) throw new JsRegexpError('a control escape (\\c) in a class');
      this.i--;
      return 0x5c;
    }
    for (const [letter, digits] of [['x', 2], ['u', 4]] as const) {
      if (e !== letter) continue;
      const hex = s.slice(this.i, this.i + digits);
      if (hex.length === digits && HEX.test(hex)) {
        this.i += digits;
        return parseInt(hex, 16);
      }
      if (letter === 'u' && s[this.i] === '{') throw new JsRegexpError('a \\u{…} escape');
    }
    return e.charCodeAt(0);
  }

  private charClass(): Ast {
    const s = this.s;
    this.i++;
    const negate = s[this.i] === '^';
    if (negate) this.i++;
    const ranges: Ranges = [];
    for (;;) {
      if (this.i >= s.length) throw new JsRegexpError('an unterminated character class');
      if (s[this.i] === ']') {
        this.i++;
        break;
      }
      const lo = this.classAtom();
      if (s[this.i] === '-' && this.i + 1 < s.length && s[this.i + 1] !== ']') {
        this.i++;
        const hi = this.classAtom();
        if (typeof lo === 'number' && typeof hi === 'number') {
          if (lo > hi) throw new JsRegexpError('a range out of order in a character class');
          ranges.push(lo, hi);
        } else {
          // Annex B: a class escape at either end makes the dash a literal.
          for (const x of [lo, 0x2d, hi]) {
            if (typeof x === 'number') ranges.push(x, x);
            else ranges.push(...x);
          }
        }
        continue;
      }
      if (typeof lo === 'number') ranges.push(lo, lo);
      else ranges.push(...lo);
    }
    const set = normalize(ranges);
    return { kind: 'set', ranges: negate ? complement(set) : set };
  }

  private classAtom(): number | Ranges {
    const s = this.s;
    const c = s[this.i]!;
    this.i++;
    if (c !== '\\') return c.charCodeAt(0);
    const e = s[this.i];
    const ranges = e === undefined ? undefined : CLASS_ESCAPES[e];
    if (ranges) {
      this.i++;
      return ranges;
    }
    if (e === 'b') {
      this.i++;
      return 8;
    }
    if (e === '-') {
      this.i++;
      return 0x2d;
    }
    return this.escape(true);
  }
}

// Instructions: CHAR a=set; SPLIT a b; JMP a; BOL; EOL; LOOK a=lookahead b=negate; MATCH; BOUNDARY a=negate.
const CHAR = 0;
const SPLIT = 1;
const JMP = 2;
const BOL = 3;
const EOL = 4;
const LOOK = 5;
const MATCH = 6;
const BOUNDARY = 7;

class Compiler {
  readonly op: number[] = [];
  readonly a: number[] = [];
  readonly b: number[] = [];
  readonly sets: Ranges[] = [];
  readonly looks: { of: Ast; start: number }[] = [];
  private readonly lookIds = new Map<string, number>();
  private readonly lookKeys = new WeakMap<Ast, string>();
  private visits = 0;

  emit(op: number, a = 0, b = 0): number {
    if (this.op.length >= MAX_PROGRAM) throw new JsRegexpError(`an automaton over ${MAX_PROGRAM} instructions`);
    this.op.push(op);
    this.a.push(a);
    this.b.push(b);
    return this.op.length - 1;
  }

  compile(ast: Ast): void {
    // Counted repetition copies a node: a group that emits nothing, repeated a thousand times three deep,
    // adds no instruction, so the visits are bounded too.
    if (++this.visits > MAX_PROGRAM) throw new JsRegexpError(`an automaton of over ${MAX_PROGRAM} parts`);
    switch (ast.kind) {
      case 'set':
        this.sets.push(ast.ranges);
        this.emit(CHAR, this.sets.length - 1);
        return;
      case 'bol':
        this.emit(BOL);
        return;
      case 'eol':
        this.emit(EOL);
        return;
      case 'boundary':
      case 'nonboundary':
        this.emit(BOUNDARY, ast.kind === 'nonboundary' ? 1 : 0);
        return;
      case 'cat':
        for (const item of ast.items) this.compile(item);
        return;
      case 'alt': {
        const jumps: number[] = [];
        ast.items.forEach((item, k) => {
          if (k === ast.items.length - 1) return this.compile(item);
          const split = this.emit(SPLIT, this.op.length + 1);
          this.compile(item);
          jumps.push(this.emit(JMP));
          this.b[split] = this.op.length;
        });
        for (const j of jumps) this.a[j] = this.op.length;
        return;
      }
      case 'repeat': {
        for (let k = 0; k < ast.min; k++) this.compile(ast.of);
        if (ast.max === Infinity) {
          const split = this.emit(SPLIT, this.op.length + 1);
          this.compile(ast.of);
          this.emit(JMP, split);
          this.b[split] = this.op.length;
          return;
        }
        const splits: number[] = [];
        for (let k = ast.min; k < ast.max; k++) {
          splits.push(this.emit(SPLIT, this.op.length + 1));
          this.compile(ast.of);
        }
        for (const sp of splits) this.b[sp] = this.op.length;
        return;
      }
      case 'look': {
        // picomatch repeats the same few lookaheads at every star: one sub-automaton (and one answer per position) each.
        let key = this.lookKeys.get(ast.of);
        if (key === undefined) this.lookKeys.set(ast.of, (key = JSON.stringify(ast.of)));
        let id = this.lookIds.get(key);
        if (id === undefined) {
          if (this.looks.length >= MAX_LOOKS) throw new JsRegexpError(`over ${MAX_LOOKS} different lookaheads`);
          id = this.looks.push({ of: ast.of, start: -1 }) - 1;
          this.lookIds.set(key, id);
        }
        this.emit(LOOK, id, ast.negate ? 1 : 0);
        return;
      }
    }
  }

  /** Lookahead bodies go after the main automaton, each ending in MATCH; theirs may add more. */
  compileLooks(): void {
    for (let k = 0; k < this.looks.length; k++) {
      this.looks[k]!.start = this.op.length;
      this.compile(this.looks[k]!.of);
      this.emit(MATCH);
    }
  }
}

const FALSE = 0;
const TRUE = 1;

/**
 * Steps all tests of one expression may take together before matching stops
 * with an error: a step is one instruction followed while working out a new
 * state, one condition decided in a state's tree, one character read, or 64
 * lookahead answers cleared. A glob over 100k paths takes some millions.
 */
const DEFAULT_BUDGET = 1_000_000_000;
/** States kept before the cache of states is dropped and started again (RE2 does the same). */
const MAX_STATES = 10_000;
/** Threads kept in states and closures together before the cache is dropped: a state of a large union holds many. */
const MAX_CACHED_THREADS = 1 << 22;

// Conditions a state's threads may have to test where they stand: ^, $, \b, and each lookahead (C_LOOK + id).
const C_BOL = 0;
const C_EOL = 1;
const C_BOUNDARY = 2;
const C_LOOK = 3;

/** The threads after the last character read, before following what reads nothing. */
type Core = { pcs: Int32Array; tree?: Tree };
/**
 * What a core's threads become where they stand, given the conditions they test there: tested in a fixed
 * order, so a tree of the answers met so far leads to the closure they make.
 */
type Tree = Decision | Closure;
type Decision = { cond: number; branches: (Tree | undefined)[] };
/** The threads waiting on a character, whether one has matched, and where each character leads. */
type Closure = { chars: Int32Array; matched: boolean; next: (Core | undefined)[]; nextOther?: Map<number, Core> };

/** The marks and stack of working out a closure, per depth (lookaheads work one level down). */
type Frame = { stack: Int32Array; marks: Uint32Array; gen: number; decisions: number[]; values: number[]; asked: Uint32Array };

function inSet(ranges: Ranges, c: number): boolean {
  let lo = 0;
  let hi = (ranges.length >> 1) - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (c < ranges[2 * mid]!) hi = mid - 1;
    else if (c > ranges[2 * mid + 1]!) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Whether every match of `ast` must start with `^` (false where unsure). */
function anchoredAst(ast: Ast): boolean {
  switch (ast.kind) {
    case 'bol':
      return true;
    case 'alt':
      return ast.items.every(anchoredAst);
    case 'cat':
      return ast.items.length > 0 && anchoredAst(ast.items[0]!);
    case 'repeat':
      return ast.min > 0 && anchoredAst(ast.of);
    default:
      return false;
  }
}

/**
 * One or more regular expression sources (a union: any of them), tested
 * without backtracking: Thompson's automaton, run as a DFA built lazily
 * (states are sets of threads, kept with the transitions found), whose
 * lookaheads are sub-automata run the same way.
 */
export class JsRegexp {
  private readonly op: Uint8Array;
  private readonly a: Int32Array;
  private readonly b: Int32Array;
  private readonly sets: Ranges[];
  private readonly lookStart: Int32Array;
  /** Per set, whether each ASCII code unit is in it. */
  private readonly ascii: Uint8Array;
  /**
   * Per lookahead, the ASCII characters it can start by reading (where it
   * cannot match reading nothing): elsewhere it fails without a run. Most
   * positions of a path fail picomatch's lookaheads at their first character.
   */
  private readonly lookFirst: Uint8Array;
  private readonly lookNullable: boolean[];
  private readonly frames: Frame[] = [];
  private cores = new Map<string, Core>();
  /** The core of one thread at each instruction a run starts from (the start, each lookahead's). */
  private starts = new Map<number, Core>();
  private cached = 0;
  private text = '';
  private memo = new Uint8Array(0);
  private steps = 0;

  private readonly budget: number;
  private readonly maxStates: number;

  /** `budget`: steps before JsRegexpBudgetError; `maxStates`: states kept before the cache starts again. */
  constructor(sources: string | readonly string[], { budget = DEFAULT_BUDGET, maxStates = MAX_STATES } = {}) {
    this.budget = budget;
    this.maxStates = maxStates;
    const list = typeof sources === 'string' ? [sources] : sources;
    const asts = list.map((source) => new Parser(source).parse());
    let ast: Ast = asts.length === 1 ? asts[0]! : { kind: 'alt', items: asts };
    // RegExp.test finds a match anywhere: one that need not start at the start starts after anything.
    if (!anchoredAst(ast)) ast = { kind: 'cat', items: [{ kind: 'repeat', of: { kind: 'set', ranges: [0, MAX_UNIT] }, min: 0, max: Infinity }, ast] };
    const c = new Compiler();
    c.compile(ast);
    c.emit(MATCH);
    c.compileLooks();
    this.op = Uint8Array.from(c.op);
    this.a = Int32Array.from(c.a);
    this.b = Int32Array.from(c.b);
    this.sets = c.sets;
    this.lookStart = Int32Array.from(c.looks.map((l) => l.start));
    this.ascii = new Uint8Array(this.sets.length * 128);
    this.sets.forEach((set, k) => {
      for (let ch = 0; ch < 128; ch++) if (inSet(set, ch)) this.ascii[k * 128 + ch] = 1;
    });
    this.lookFirst = new Uint8Array(this.lookStart.length * 128);
    this.lookNullable = [...this.lookStart].map((start, id) => this.firstChars(start, id));
  }

  /** Marks in lookFirst what the sub-automaton at `start` can read first, taking every condition as met; true if it can match reading nothing. */
  private firstChars(start: number, id: number): boolean {
    const seen = new Set<number>();
    const stack = [start];
    let nullable = false;
    while (stack.length) {
      const pc = stack.pop()!;
      if (seen.has(pc)) continue;
      seen.add(pc);
      const op = this.op[pc];
      if (op === CHAR) {
        for (let ch = 0; ch < 128; ch++) if (this.ascii[this.a[pc]! * 128 + ch]) this.lookFirst[id * 128 + ch] = 1;
      } else if (op === MATCH) nullable = true;
      else if (op === JMP) stack.push(this.a[pc]!);
      else if (op === SPLIT) stack.push(this.a[pc]!, this.b[pc]!);
      else stack.push(pc + 1);
    }
    return nullable;
  }

  /** Whether any of the expressions matches somewhere in `text`, as RegExp.prototype.test answers. */
  test(text: string): boolean {
    this.text = text;
    const size = this.lookStart.length * (text.length + 1);
    // Clearing the lookaheads' answers is work too: a step per 64 of them.
    this.steps += size >> 6;
    if (size > MAX_MEMO) throw new JsRegexpBudgetError(`has ${this.lookStart.length} lookaheads to answer at each of ${text.length} positions`);
    if (this.memo.length < size) this.memo = new Uint8Array(Math.max(size, 2 * this.memo.length));
    else this.memo.fill(0, 0, size);
    return this.run(0, 0, 0) === TRUE;
  }

  private core(pcs: Int32Array): Core {
    const key = pcs.join(',');
    let core = this.cores.get(key);
    if (!core) {
      if (this.cores.size >= this.maxStates) this.forget();
      core = { pcs };
      this.cores.set(key, core);
      this.remember(pcs.length);
    }
    return core;
  }

  /** Counts threads kept; past the bound, the cache starts again (what a run holds stays valid, unkept). */
  private remember(threads: number): void {
    this.cached += threads + 1;
    if (this.cached > MAX_CACHED_THREADS) this.forget();
  }

  private forget(): void {
    this.cores = new Map();
    this.starts = new Map();
    this.cached = 0;
  }

  /** Counts one step against the budget. */
  private tick(): void {
    if (++this.steps > this.budget) throw new JsRegexpBudgetError(`takes more than ${this.budget} steps`);
  }

  /** Runs from the instruction `pc0` at `from`: TRUE once a thread matches, else FALSE. */
  private run(pc0: number, from: number, depth: number): number {
    const text = this.text;
    const n = text.length;
    let core = this.starts.get(pc0);
    if (!core) this.starts.set(pc0, (core = this.core(Int32Array.of(pc0))));
    for (let pos = from; ; pos++) {
      const closure = this.closureAt(core, pos, depth);
      if (closure.matched) return TRUE;
      if (closure.chars.length === 0) return FALSE;
      if (pos === n) return FALSE;
      this.tick();
      const c = text.charCodeAt(pos);
      core = (c < 128 ? closure.next[c] : closure.nextOther?.get(c)) ?? this.step(closure, c);
    }
  }

  /** The core the closure's threads make by reading `c`, kept in the closure. */
  private step(closure: Closure, c: number): Core {
    const targets: number[] = [];
    for (const pc of closure.chars) {
      const set = this.a[pc]!;
      if (c < 128 ? this.ascii[set * 128 + c] === 1 : inSet(this.sets[set]!, c)) targets.push(pc + 1);
    }
    const core = this.core(Int32Array.from(targets.sort((x, y) => x - y)));
    if (c < 128) closure.next[c] = core;
    else (closure.nextOther ??= new Map()).set(c, core);
    return core;
  }

  /** A condition's value at `pos`: FALSE or TRUE. */
  private cond(cond: number, pos: number, depth: number): number {
    if (cond === C_BOL) return pos === 0 ? TRUE : FALSE;
    if (cond === C_EOL) return pos === this.text.length ? TRUE : FALSE;
    if (cond === C_BOUNDARY) return this.isWordAt(pos - 1) !== this.isWordAt(pos) ? TRUE : FALSE;
    return this.look(cond - C_LOOK, pos, depth);
  }

  /** The closure of a core at `pos`: from the core's tree of conditions, or worked out and added to it. */
  private closureAt(core: Core, pos: number, depth: number): Closure {
    let node = core.tree;
    while (node && 'cond' in node) {
      this.tick();
      node = node.branches[this.cond(node.cond, pos, depth)];
    }
    if (node) return node;
    const f = this.frame(depth);
    const closure = this.close(core, pos, depth, f);
    this.remember(closure.chars.length);
    // The conditions were asked in the tree's order: follow it, growing it where it ends.
    if (f.decisions.length === 0) {
      core.tree = closure;
      return closure;
    }
    let at: Decision;
    if (!core.tree) core.tree = at = { cond: f.decisions[0]!, branches: [] };
    else at = core.tree as Decision;
    for (let k = 0; k < f.decisions.length; k++) {
      if (at.cond !== f.decisions[k]) return closure;
      const v = f.values[k]!;
      if (k === f.decisions.length - 1) {
        at.branches[v] = closure;
        break;
      }
      let child = at.branches[v];
      if (!child) at.branches[v] = child = { cond: f.decisions[k + 1]!, branches: [] };
      if (!('cond' in child)) return closure;
      at = child;
    }
    return closure;
  }

  private frame(depth: number): Frame {
    let f = this.frames[depth];
    if (!f) {
      const size = this.op.length;
      f = { stack: new Int32Array(2 * size + 2), marks: new Uint32Array(size), gen: 0, decisions: [], values: [], asked: new Uint32Array(C_LOOK + this.lookStart.length) };
      this.frames[depth] = f;
    }
    return f;
  }

  /** Follows every instruction that reads nothing from the core's threads at `pos`, noting each condition asked. */
  private close(core: Core, pos: number, depth: number, f: Frame): Closure {
    if (++f.gen === 0xffffffff) {
      f.marks.fill(0);
      f.asked.fill(0);
      f.gen = 1;
    }
    const { marks, stack, asked } = f;
    const gen = f.gen;
    f.decisions.length = 0;
    f.values.length = 0;
    const chars: number[] = [];
    let matched = false;
    const ask = (cond: number): number => {
      if (asked[cond] === gen) return f.values[f.decisions.indexOf(cond)]!;
      const v = this.cond(cond, pos, depth);
      asked[cond] = gen;
      f.decisions.push(cond);
      f.values.push(v);
      return v;
    };
    let top = 0;
    for (let k = core.pcs.length - 1; k >= 0; k--) stack[top++] = core.pcs[k]!;
    while (top > 0) {
      const pc = stack[--top]!;
      if (marks[pc] === gen) continue;
      marks[pc] = gen;
      this.tick();
      switch (this.op[pc]) {
        case CHAR:
          chars.push(pc);
          break;
        case MATCH:
          matched = true;
          break;
        case JMP:
          stack[top++] = this.a[pc]!;
          break;
        case SPLIT:
          stack[top++] = this.b[pc]!;
          stack[top++] = this.a[pc]!;
          break;
        case BOL:
          if (ask(C_BOL) === TRUE) stack[top++] = pc + 1;
          break;
        case EOL:
          if (ask(C_EOL) === TRUE) stack[top++] = pc + 1;
          break;
        case BOUNDARY:
          if ((ask(C_BOUNDARY) === TRUE) !== (this.a[pc] === 1)) stack[top++] = pc + 1;
          break;
        case LOOK:
          if ((ask(C_LOOK + this.a[pc]!) === TRUE) !== (this.b[pc] === 1)) stack[top++] = pc + 1;
          break;
      }
    }
    return { chars: Int32Array.from(chars), matched, next: [] };
  }

  private isWordAt(pos: number): boolean {
    return pos >= 0 && pos < this.text.length && inSet(WORD, this.text.charCodeAt(pos));
  }

  private look(id: number, pos: number, depth: number): number {
    const at = id * (this.text.length + 1) + pos;
    const known = this.memo[at]!;
    if (known) return known - 1;
    const c = pos < this.text.length ? this.text.charCodeAt(pos) : -1;
    if (c >= 0 && c < 128 && !this.lookNullable[id] && !this.lookFirst[id * 128 + c]) {
      this.memo[at] = FALSE + 1;
      return FALSE;
    }
    const r = this.run(this.lookStart[id]!, pos, depth + 1);
    this.memo[at] = r + 1;
    return r;
  }
}
