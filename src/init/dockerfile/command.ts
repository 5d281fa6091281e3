// An instruction's joined line split as BuildKit splits it (parser
// splitCommand, extractBuilderFlags): the keyword up to the first run of
// [\t\v\f\r ], then `--flag` words with quotes and the escape character
// removed, then the arguments. Whether the line can hold here-documents
// (RUN, COPY, ADD, also under ONBUILD, in shell form) is decided here too.

export interface Command {
  /** Upper case: RUN, COPY, ... */
  keyword: string;
  /** `--name=value` flags, the name lower case (a flag without `=` has value ''). */
  flags: [string, string][];
  args: string;
}

const HEREDOC_KEYWORDS = new Set(['RUN', 'COPY', 'ADD']);
/** Go's unicode.IsSpace. */
export const SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
/** Go's strings.TrimSpace, by a scan from each end (a /\s+$/ regex is quadratic in a long run of blanks). */
function trim(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && SPACE.test(s[a]!)) a++;
  while (b > a && SPACE.test(s[b - 1]!)) b--;
  return s.slice(a, b);
}
const blank = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';

/** The keyword, flags and arguments of `line`, or a message where BuildKit reads a flag byte by byte and rep cannot follow. */
export function splitCommand(line: string, escape: string): Command | string {
  const t = trim(line);
  const sep = /[\t\v\f\r ]+/.exec(t);
  const keyword = (sep ? t.slice(0, sep.index) : t).toUpperCase();
  if (!sep) return { keyword, flags: [], args: '' };
  const rest = builderFlags(t.slice(sep.index + sep[0].length), escape);
  if (typeof rest === 'string') return rest;
  const flags = rest.words.map((w): [string, string] => {
    const eq = w.indexOf('=');
    return eq < 0 ? [w.slice(2).toLowerCase(), ''] : [w.slice(2, eq).toLowerCase(), w.slice(eq + 1)];
  });
  return { keyword, flags, args: trim(rest.args) };
}

/** BuildKit's extractBuilderFlags: the leading `--` words, and the rest of the line. */
function builderFlags(line: string, escape: string): { words: string[]; args: string } | string {
  const SPACES = 0;
  const WORD = 1;
  const QUOTE = 2;
  const words: string[] = [];
  let phase = SPACES;
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    let ch = line[pos] ?? '';
    // Go indexes the line by byte here: a character beyond ASCII in a flag is split into bytes, some of them blanks.
    if (phase !== SPACES && ch > '\x7f') return 'a flag with a character beyond ASCII: Docker reads it byte by byte';
    if (phase === SPACES) {
      if (pos === line.length) break;
      if (blank(ch)) continue;
      if (ch !== '-' || line[pos + 1] !== '-') return { words, args: line.slice(pos) };
      phase = WORD;
    }
    if (pos === line.length) {
      if (word !== '--' && (blankOK || word)) words.push(word);
      break;
    }
    if (phase === WORD) {
      if (blank(ch)) {
        phase = SPACES;
        if (word === '--') return { words, args: line.slice(pos) };
        if (blankOK || word) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = QUOTE;
        continue;
      }
    } else if (ch === quote) {
      phase = WORD;
      continue;
    }
    if (ch === escape) {
      if (pos + 1 === line.length) {
        phase = WORD;
        continue;
      }
      ch = line[++pos]!;
      if (ch > '\x7f') return 'a flag with a character beyond ASCII: Docker reads it byte by byte';
    }
    word += ch;
  }
  return { words, args: '' };
}

/** The form that decides whether the line can hold here-documents: RUN, COPY or ADD (also after ONBUILD) not in JSON form. */
export function heredocCapable(cmd: Command, escape: string): boolean | string {
  let c: Command | string = cmd;
  if (cmd.keyword === 'ONBUILD' && cmd.args) c = splitCommand(cmd.args, escape);
  if (typeof c === 'string') return c;
  if (!HEREDOC_KEYWORDS.has(c.keyword)) return false;
  if (!c.args.startsWith('[')) return true;
  let v: unknown;
  try {
    v = JSON.parse(c.args);
  } catch {
    return true;
  }
  if (!Array.isArray(v)) return true;
  return v.every((x) => typeof x === 'string') ? false : 'a JSON list of other than strings: Docker refuses it';
}
