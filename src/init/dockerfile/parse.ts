// Dockerfile text -> instructions with their line numbers, as BuildKit's
// parser reads it: parser directives (escape), comments, line continuations
// (comments and blank lines inside one are skipped), JSON vs shell form,
// flags (--from=x), and here-documents (their bodies are skipped and the
// instruction marked, since rep does not convert them). A small parser of
// our own rather than dockerfile-ast: that library serves an editor (ranges
// for every token, vscode-languageserver types) and still leaves words,
// quotes and variables to the caller, which is most of the work here.
import type { Diagnostic } from '../../diag.js';
import { heredocCapable, splitCommand } from './command.js';
import { heredocsOf } from './heredoc.js';
// Refused outside comments as the Repfile refuses them in every field: rather than write a Repfile that does not load.
import { BIDI } from '../../repfile/schema.js';

export interface Instruction {
  /** Upper case: RUN, COPY, ... */
  keyword: string;
  /** First and last physical line (1-based). */
  line: number;
  endLine: number;
  /** `--name=value` flags before the arguments (a flag without `=` has value ''). */
  flags: [string, string][];
  /** The arguments after the flags, continuations joined (the escape and newline removed). */
  args: string;
  /** The arguments as a JSON array of strings when written so (exec form). */
  json?: string[];
  /** It has a here-document (<<EOF), whose body was skipped. */
  heredoc: boolean;
  /** The instruction as written, each physical line (for comments in the Repfile). */
  text: string[];
}

export interface ParsedDockerfile {
  escape: '\\' | '`';
  instructions: Instruction[];
}

/** Control characters other than tab and LF (C0, DEL, C1) and the Unicode line separators. */
// eslint-disable-next-line no-control-regex
export const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]/;


/**
 * Unicode blanks beyond ASCII (White_Space, and U+FEFF): Docker splits and
 * continues lines only at ASCII blanks, JavaScript's \s and trim at these too,
 * so `\\` then U+00A0 ended a line for Docker and continued it for rep.
 */
const BLANK = /[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\ufeff]/;

/** Deeper `${...}` nesting than any real Dockerfile writes is refused, not expanded (each level is a recursion, and a scan to its brace). */
const MAX_NESTING = 32;

/**
 * The instructions of `text` (the Dockerfile named `file` in messages), or
 * diagnostics: a control character, an unterminated here-document, or a
 * line where rep cannot tell which here-documents Docker reads.
 */
export function parseDockerfile(text: string, file: string): { ok: true; value: ParsedDockerfile } | { ok: false; errors: Diagnostic[] } {
  // A line ends at \n, a \r before it dropped (Go's ScanLines); a \r anywhere else is a control character.
  // The byte order mark was dropped with the decoding (utf8Text), once, as BuildKit drops it: another is refused below.
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  for (const [re, what] of [
    [CONTROL, 'control character'],
    [BLANK, 'blank beyond ASCII'],
    [BIDI, 'bidirectional control'],
  ] as const) {
    // A comment line splits nothing and continues nothing (BuildKit passes over it, inside a continuation too):
    // a no-break space or a right-to-left mark there (`# Copyright\u00a0ACME`) is text. A byte order mark is refused anywhere.
    const bad = lines.findIndex((l) => re.test(l) && (re === CONTROL || (re === BLANK && /\ufeff/.test(l)) || !/^[\t ]*#/.test(l)));
    if (bad < 0) continue;
    const col = lines[bad]!.search(re) + 1;
    const code = lines[bad]!.codePointAt(col - 1)!.toString(16).toUpperCase().padStart(4, '0');
    return { ok: false, errors: [{ file, span: { start: { line: bad + 1, col }, end: { line: bad + 1, col: col + 1 } }, message: `${what} U+${code}: rep init converts only a Dockerfile of plain text` }] };
  }
  // The frontend docker build hands the file to, found as BuildKit's DetectSyntax finds it, which is not where
  // the parser reads directives: after a #! line, as //syntax=, or as a JSON file's "syntax" (found by a review).
  const frontend = detectedSyntax(lines);
  if (frontend && !DOCKERFILE_FRONTEND.test(frontend.value.split(/[\t ]/)[0]!)) {
    const place = { start: { line: frontend.line + 1, col: 1 }, end: { line: frontend.line + 1, col: (lines[frontend.line]?.length ?? 0) + 1 } };
    return { ok: false, errors: [{ file, span: place, message: `syntax=${frontend.value}: rep init reads a Dockerfile as Docker's own frontend (docker/dockerfile) does; another frontend may read it otherwise` }] };
  }
  let escape: '\\' | '`' = '\\';
  let i = 0;
  // Parser directives, as BuildKit's DirectiveParser reads them: `# key=value` lines at the very top; the
  // first line that is not one of a known key (escape, syntax, check), a blank line included, ends them.
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const d = directive(lines[i]!);
    if (!d) break;
    const place = { start: { line: i + 1, col: 1 }, end: { line: i + 1, col: lines[i]!.length + 1 } };
    if (seen.has(d.key)) return { ok: false, errors: [{ file, span: place, message: `a second ${d.key} parser directive: Docker refuses it (only one ${d.key} parser directive can be used)` }] };
    seen.add(d.key);
    if (d.key === 'escape') {
      if (d.value !== '`' && d.value !== '\\') return { ok: false, errors: [{ file, span: place, message: `escape=${d.value}: Docker refuses an escape character other than \` or \\` }] };
      escape = d.value;
    }
  }
  const instructions: Instruction[] = [];
  const continued = (l: string) => {
    // BuildKit: the escape then only spaces and tabs ([ \t]*$). A scan, not /[ \t]+$/: that regex restarts at every blank of a long run, quadratic in it.
    let end = l.length;
    while (end > 0 && (l[end - 1] === ' ' || l[end - 1] === '\t')) end--;
    const t = l.slice(0, end);
    return t.endsWith(escape) && !t.endsWith(escape + escape) ? t.slice(0, -1) : undefined;
  };
  while (i < lines.length) {
    const first = lines[i]!;
    if (/^\s*(#|$)/.test(first)) {
      i++;
      continue;
    }
    const start = i;
    const text: string[] = [first];
    let joined = '';
    /** Where each physical line's part starts in `joined`: [offset, line index]. */
    const parts: [number, number][] = [];
    let cur: string | undefined = first;
    for (;;) {
      parts.push([joined.length, i]);
      const head = continued(cur);
      if (head === undefined) {
        joined += cur;
        i++;
        break;
      }
      joined += head;
      i++;
      // Inside a continuation, comment lines and blank lines are dropped.
      while (i < lines.length && /^\s*(#|$)/.test(lines[i]!)) text.push(lines[i++]!);
      if (i >= lines.length) break;
      cur = lines[i]!;
      text.push(cur);
    }
    const whole = { start: { line: start + 1, col: 1 }, end: { line: start + 1, col: first.length + 1 } };
    /** The place of offset `at` of `joined`. */
    const at = (off: number) => {
      let k = parts.length - 1;
      while (k > 0 && parts[k]![0] > off) k--;
      const [base, l] = parts[k]!;
      const col = off - base + 1;
      return { start: { line: l + 1, col }, end: { line: l + 1, col: col + 2 } };
    };
    const cmd = splitCommand(joined, escape);
    if (typeof cmd === 'string') return { ok: false, errors: [{ file, span: whole, message: `${cmd}; rep init does not convert it` }] };
    const { keyword, flags, args } = cmd;
    if (nesting(args) > MAX_NESTING) {
      return { ok: false, errors: [{ file, span: whole, message: `\${...} nested more than ${MAX_NESTING} deep: rep init does not convert it` }] };
    }
    let heredoc = false;
    const capable = heredocCapable(cmd, escape);
    if (typeof capable === 'string') return { ok: false, errors: [{ file, span: whole, message: `${capable}; rep init does not convert it` }] };
    if (capable) {
      const found = heredocsOf(joined);
      if (!found.ok) return { ok: false, errors: [{ file, span: at(found.unsure.at), message: found.unsure.message }] };
      for (const doc of found.docs) {
        heredoc = true;
        while (i < lines.length && (doc.chomp ? lines[i]!.replace(/^\t+/, '') : lines[i]) !== doc.name) text.push(lines[i++]!);
        if (i >= lines.length) return { ok: false, errors: [{ file, span: whole, message: `here-document <<${doc.name} has no line "${doc.name}" that ends it` }] };
        text.push(lines[i++]!);
      }
    }
    instructions.push({ keyword, line: start + 1, endLine: i, flags, args, json: jsonForm(args), heredoc, text });
  }
  return { ok: true, value: { escape, instructions } };
}

const DIRECTIVES = new Set(['escape', 'syntax', 'check']);
/** The frontends that read a Dockerfile as BuildKit's built-in one does: docker/dockerfile[-upstream], any tag or digest. */
const DOCKERFILE_FRONTEND = /^(?:docker\.io\/)?docker\/dockerfile(?:-upstream)?(?::\w[\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;
/** Go's regexp \s. */
const GO_SPACE = /[\t\n\f\r ]/;

/**
 * The parser directive on `line` (key lower case), if it is one BuildKit
 * knows: `#` (or `//`, as DetectSyntax also reads), then
 * ^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$. The value is
 * trimmed by a scan, not by that lazy regex, which is quadratic in a long
 * run of blanks.
 */
function directive(line: string, comment: '#' | '//' = '#'): { key: string; value: string } | undefined {
  const m = (comment === '#' ? /^[\t ]*#[\t ]*([a-zA-Z][a-zA-Z0-9]*)[\t\f\r ]*=/ : /^[\t ]*\/\/[\t ]*([a-zA-Z][a-zA-Z0-9]*)[\t\f\r ]*=/).exec(line);
  if (!m || !DIRECTIVES.has(m[1]!.toLowerCase())) return undefined;
  let a = m[0].length;
  let b = line.length;
  while (a < b && GO_SPACE.test(line[a]!)) a++;
  while (b > a && GO_SPACE.test(line[b - 1]!)) b--;
  return a < b ? { key: m[1]!.toLowerCase(), value: line.slice(a, b) } : undefined;
}

/**
 * The syntax directive as BuildKit's DetectSyntax finds it (its line, its value): a first
 * line `#!...` passed over; `#` directives at the top, else `//` ones; else the file as a
 * JSON object's "syntax". More lenient than BuildKit here and there (blanks before the
 * comment): what it finds more is refused, never read otherwise.
 */
function detectedSyntax(lines: readonly string[]): { line: number; value: string } | undefined {
  const start = lines[0]?.startsWith('#!') ? 1 : 0;
  for (const comment of ['#', '//'] as const) {
    for (let k = start; k < lines.length; k++) {
      const d = directive(lines[k]!, comment);
      if (!d) break;
      if (d.key === 'syntax') return { line: k, value: d.value };
    }
  }
  try {
    const v: unknown = JSON.parse(lines.slice(start).join('\n'));
    if (v !== null && typeof v === 'object' && typeof (v as { syntax?: unknown }).syntax === 'string') return { line: 0, value: (v as { syntax: string }).syntax };
  } catch {
    // Not JSON: a Dockerfile.
  }
  return undefined;
}

/** How deep `${` nests in `s` (an unclosed one counts): words.ts expands each level by recursion. */
function nesting(s: string): number {
  let depth = 0;
  let max = 0;
  for (let k = 0; k < s.length; k++) {
    if (s[k] === '$' && s[k + 1] === '{') max = Math.max(max, ++depth);
    else if (s[k] === '}' && depth > 0) depth--;
  }
  return max;
}

/** The arguments as a list when they are a JSON array of strings (exec form), else undefined (shell form). */
function jsonForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const v: unknown = JSON.parse(args);
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}
