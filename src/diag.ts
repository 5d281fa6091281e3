// Diagnostics: user mistakes are values with a place, never thrown stack traces.

export interface Position {
  line: number; // 1-based
  col: number; // 1-based
}

export interface Span {
  start: Position;
  end: Position;
}

/**
 * What went wrong, and where: one union of every problem rep reports, each
 * kind with its own place (a file, a flag, the engine). The kind alone
 * decides the exit code (exitCode below); only the CLI turns problems into
 * an exit, so everything below it returns them as Result values.
 */
export type Diagnostic = FileProblem | FlagProblem | EngineProblem | RegistryProblem | BusyProblem | IoProblem | BuildFailed;

/** A place in a file: the file as the user named it, and where in it. */
export interface InFile {
  /** File the problem is in, as the user named it (e.g. "Repfile"). */
  file: string;
  /** Where in that file; absent when the problem has no place (e.g. a missing file). */
  span?: Span;
  /** Dotted field path, e.g. "steps.app.needs". */
  path?: string;
}

/** A mistake in a file the user gave rep: the Repfile, its lock, .dockerignore, an input, a key (exit 2). The kind most problems have, so it may go unsaid. */
export interface FileProblem extends InFile {
  kind?: 'file';
  message: string;
}

/** A mistake on the command line: `flag` is the flag as given, with its value (exit 2). */
export interface FlagProblem {
  kind: 'flag';
  flag: string;
  message: string;
}

/** The engine cannot be used, or failed outside a step (exit 1). `detail` is what it printed. */
export interface EngineProblem {
  kind: 'engine';
  engine: string;
  message: string;
  detail?: string;
}

/** A registry could not answer for an image the file names (exit 1: the file is right, the network or registry is not). */
export interface RegistryProblem extends InFile {
  kind: 'registry';
  message: string;
}

/** Another rep build holds the project: `file` is the build mutex, `pid` the holder (-1: unknown) (exit 1: try again when it is done). */
export interface BusyProblem {
  kind: 'busy';
  file: string;
  pid: number;
  message: string;
}

/** rep could not write a file of its own (`file`, as shown), so what it did is not recorded; or a file of the context changed while rep read it (exit 1: try again). */
export interface IoProblem {
  kind: 'io';
  file: string;
  message: string;
}

/** A build a command needed failed; the build said why on the way (exit 1). */
export interface BuildFailed {
  kind: 'build';
  message: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; errors: Diagnostic[] };

/** The last lines of what an engine printed, as a failure shows them. */
export const tailLines = (detail: string): string[] => detail.trim().split('\n').filter(Boolean).slice(-5);

/** The exit code for problems: 2 when every one is a mistake in what the user gave (a file, a flag), 1 otherwise. */
export function exitCode(errors: readonly Diagnostic[]): 1 | 2 {
  return errors.every((d) => d.kind === undefined || d.kind === 'file' || d.kind === 'flag') ? 2 : 1;
}

/** The file a problem is in, when it is in one (for showing its source line). */
export function fileOf(d: Diagnostic): string | undefined {
  return d.kind === undefined || d.kind === 'file' || d.kind === 'registry' ? d.file : undefined;
}

/**
 * `s` with its control characters (C0, DEL, C1, U+2028/U+2029) written as
 * escapes (\\x1b, \\u2028): text taken from a file someone else wrote, safe to
 * print on a terminal and to put in one comment line.
 */
// eslint-disable-next-line no-control-regex
export const printable = (s: string) => s.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, escapedChar);

/** One character as an escape of a fixed width: \xNN up to U+00FF, \uNNNN, \u{N…} past U+FFFF. */
function escapedChar(c: string): string {
  if (c <= '\xff') return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  return c.length > 1 ? `\\u{${c.codePointAt(0)!.toString(16)}}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** A character a name is quoted for: controls, format characters (zero-width, bidi marks, soft hyphen), separators, a quote, a backslash. */
const QUOTED = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}"\\]/u;
const QUOTED_ALL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}"\\]/gu;

/**
 * A file name on a line of its own, as git prints one (core.quotePath): as it
 * is, or, when it holds a character that does not show as itself (a control,
 * a zero-width or bidi mark, a separator), a `"` or a `\`, quoted, those
 * escaped (\xNN, \uNNNN, \", \\), so that no two names print alike.
 */
export const quotedName = (s: string): string =>
  QUOTED.test(s)
    ? `"${s.replace(QUOTED_ALL, (c) => (c === '"' || c === '\\' ? `\\${c}` : escapedChar(c)))}"`
    : s;

/**
 * JSON text as it may reach a terminal (--json): JSON.stringify escapes C0
 * controls but leaves DEL, the C1 controls (\u009b is CSI to many terminals),
 * the line separators and the bidirectional overrides raw. They can stand only
 * in strings, where \uXXXX means the same character: the parsed value is unchanged.
 */
// eslint-disable-next-line no-control-regex
export const terminalJson = (json: string) => json.replace(/[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** `s` cut to `max` characters, with an ellipsis when it was longer: a file's text quoted in a message. */
export const clip = (s: string, max = 300) => (s.length > max ? `${s.slice(0, max)}…` : s);

/** What errnos of reading and writing files mean, in words: an errno said alone, `cannot read (ELOOP)`, is not a message. */
const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'it is a folder',
  ELOOP: 'it is a symbolic link loop, or a link rep does not follow',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'a read-only file system',
  ENOSPC: 'no space left',
  EDQUOT: 'no space left',
  ENAMETOOLONG: 'the path is too long',
  EEXIST: 'it exists',
  ENXIO: 'a named pipe with no reader, or a device that is not there',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
  EBUSY: 'it is busy',
  ETXTBSY: 'it is busy',
  EIO: 'an input/output error',
  EINVAL: 'not a file rep can use',
};

/**
 * An errno `code` of a file system call in words (`ELOOP`: "it is a symbolic link loop, …"),
 * for the parentheses of "cannot read it (…)"; a code without words is said as it is, and no code as `fallback`.
 */
export const errnoWords = (code: string | undefined, fallback = 'an unknown error'): string =>
  code === undefined ? fallback : Object.hasOwn(ERRNO_WORDS, code) ? ERRNO_WORDS[code]! : printable(code);

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(...errors: Diagnostic[]): Result<T> => ({ ok: false, errors });

/** Joins a field path the way users write it: steps.app.run[2]. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

/**
 * A message with its control characters escaped but for line breaks: a
 * diagnostic quotes files, links, patterns and fields of a stranger's
 * repository, whose escape sequences would otherwise reach the terminal. Its
 * place (a file, a flag, a field) is one line, escaped with `printable`: a
 * file named with a newline split the place over two lines (a review).
 */
const shown = (s: string) => s.split('\n').map(printable).join('\n');

/**
 * One line: `Repfile:12:5: steps.app.needs: unknown step "sytem"` for a file
 * the user gave; what is placed on rep's side (a flag, the engine, rep's own
 * files) starts with `rep:` (`rep: --secret x: ...`, `rep: docker: ...`).
 */
/** A problem as JSON: its fields (the kind always said) and the line rep prints for it (`text`). */
export function diagnosticJson(d: Diagnostic): Record<string, unknown> {
  return { ...d, kind: d.kind ?? 'file', text: formatDiagnostic(d) };
}

export function formatDiagnostic(d: Diagnostic): string {
  switch (d.kind) {
    case 'flag':
      return `rep: ${printable(d.flag)}: ${shown(d.message)}`;
    case 'engine':
      return `rep: ${printable(d.engine)}: ${shown(d.message)}`;
    case 'busy':
    case 'io':
      return `rep: ${printable(d.file)}: ${shown(d.message)}`;
    case 'build':
      return `rep: ${shown(d.message)}`;
    case undefined:
    case 'file':
    case 'registry': {
      const where = d.span ? `${printable(d.file)}:${d.span.start.line}:${d.span.start.col}` : printable(d.file);
      const path = d.path ? `${printable(d.path)}: ` : '';
      return `${where}: ${path}${shown(d.message)}`;
    }
    default: {
      const never: never = d;
      return never;
    }
  }
}

/**
 * The one-line form followed by the offending source line with the span
 * underlined, as compilers do. `source` is the text of d.file.
 */
export function renderDiagnostic(d: Diagnostic, source?: string): string {
  const head = formatDiagnostic(d);
  const detail = d.kind === 'engine' && d.detail ? tailLines(d.detail).map((l) => `\n  | ${printable(l)}`).join('') : '';
  if (!('span' in d) || !d.span || source === undefined) return head + detail;
  const { start, end } = d.span;
  const text = sourceLine(source, start.line);
  if (text === undefined) return head;
  const gutter = String(start.line);
  const pad = ' '.repeat(gutter.length);
  const last = end.line === start.line ? Math.max(end.col, start.col + 1) : text.length + 1;
  const width = Math.max(1, Math.min(last, text.length + 1) - start.col);
  // A long line is shown around the place: a hostile one-line lock or Repfile of megabytes printed all of it
  // under each of its problems (a review).
  let from = 0;
  let to = text.length;
  if (text.length > SHOWN_LINE) {
    from = Math.max(0, start.col - 1 - SHOWN_BEFORE);
    to = Math.min(text.length, Math.max(from + SHOWN_LINE, start.col - 1 + Math.min(width, SHOWN_LINE - SHOWN_BEFORE)));
  }
  const cut = (a: number, b: number) => printable(text.slice(Math.max(a, from), Math.min(b, to)));
  const lead = from > 0 ? '…' : '';
  // Measured on the line as printed: an escaped character takes four columns or six.
  const before = lead.length + cut(from, start.col - 1).length;
  const marks = ' '.repeat(before) + '^'.repeat(Math.max(1, cut(start.col - 1, start.col - 1 + width).length));
  return `${head}\n ${gutter} | ${lead}${cut(from, to)}${to < text.length ? '…' : ''}\n ${pad} | ${marks}`;
}

/** How much of a long source line a diagnostic shows, and of that how much before its place. */
const SHOWN_LINE = 160;
const SHOWN_BEFORE = 40;

/** Line `n` (from 1) of `source`, without its line break; found without splitting the whole text. */
function sourceLine(source: string, n: number): string | undefined {
  let at = 0;
  for (let k = 1; k < n; k++) {
    const nl = source.indexOf('\n', at);
    if (nl < 0) return undefined;
    at = nl + 1;
  }
  if (at > source.length) return undefined;
  const nl = source.indexOf('\n', at);
  const line = source.slice(at, nl < 0 ? source.length : nl);
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
