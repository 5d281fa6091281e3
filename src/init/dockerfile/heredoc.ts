// Which here-documents BuildKit's Dockerfile parser finds on the line of a
// RUN, COPY or ADD (frontend/dockerfile/parser heredocsFromLine): the line is
// split into shell words keeping quotes and escapes (escape `\` whatever the
// escape directive says), each word that matches ^(\d*)<<(-?)([^<]*)$ opens
// one, and its name is that rest with quotes and escapes removed, when it is
// one word. `<<` inside quotes opens none. What BuildKit reads differently
// from one version to another (a blank after `<<`, read as a here-document
// since dockerfile 1.16), or where its lexer fails or rewrites the word
// (a `${...}` with an operator, an unclosed quote) is refused, not guessed.
import { SPACE } from './command.js';

export interface Heredoc {
  name: string;
  /** `<<-`: leading tabs are dropped before a line is compared with the name. */
  chomp: boolean;
}

/** A reason rep cannot tell what Docker reads, and where on the line (0-based). */
export interface Unsure {
  at: number;
  message: string;
}

/** Shell special parameters ($$, $#, ...): after `$`, BuildKit takes one as the name. */
const SPECIAL = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);
const HEREDOC = /^([0-9]*)<<(-?)([^<]*)$/;

/** The here-documents of an instruction's line, in order, or why rep cannot tell. */
export function heredocsOf(line: string): { ok: true; docs: Heredoc[] } | { ok: false; unsure: Unsure } {
  if (!line.includes('<<')) return { ok: true, docs: [] };
  const words = shellWords(line, true);
  if (!Array.isArray(words)) return { ok: false, unsure: words };
  const docs: Heredoc[] = [];
  for (const word of words) {
    const m = HEREDOC.exec(word.text);
    if (!m || !m[3]) continue;
    const at = word.at;
    const name = shellWords(m[3], false);
    const raw = shellWords(m[3], true);
    if (!Array.isArray(name) || !Array.isArray(raw)) return { ok: false, unsure: { at, message: `here-document ${word.text}: Docker cannot read its name` } };
    if (name.length !== 1) continue;
    if (raw.length !== 1) return { ok: false, unsure: { at, message: `here-document ${word.text}: Docker cannot read its name` } };
    docs.push({ name: name[0]!.text, chomp: m[2] === '-' });
  }
  return { ok: true, docs };
}

interface Word {
  text: string;
  /** Where the word starts in the text (0-based). */
  at: number;
}

/**
 * BuildKit's shell.Lex ProcessWords with no variables set and unset ones kept
 * as written: `raw` keeps quotes and escapes (RawQuotes, RawEscapes). What it
 * does not model exactly is returned as Unsure.
 */
function shellWords(s: string, raw: boolean): Word[] | Unsure {
  const words: Word[] = [];
  let buf = '';
  let at = 0;
  const add = (t: string, from: number) => {
    if (!buf) at = from;
    buf += t;
  };
  let i = 0;
  // `$` at s[i]: a name (or special parameter) or `${name}` stay as written; `${` with an operator is refused.
  const dollar = (): string | Unsure => {
    const from = i++;
    if (s[i] !== '{') {
      if (s[i] !== undefined && SPECIAL.has(s[i]!) && !/[0-9]/.test(s[i]!)) return s.slice(from, ++i);
      return '$';
    }
    const m = /^\{([0-9]+|[@*#?\-$!]|[\p{L}_][\p{L}\p{Nd}_]*)\}/u.exec(s.slice(i, i + 1024));
    if (!m) return { at: from, message: '${...} with an operator beside <<: rep init cannot tell which here-documents Docker reads on this line; write it as ${NAME} or move it to another line' };
    i += m[0].length;
    return s.slice(from, i);
  };
  while (i < s.length) {
    const ch = s[i]!;
    const from = i;
    if (ch === '$') {
      const d = dollar();
      if (typeof d !== 'string') return d;
      add(d, from);
    } else if (ch === '<') {
      if (s[i + 1] !== '<') {
        i++;
        add('<', from);
        continue;
      }
      i += 2;
      if (/[\t\r ]/.test(s[i] ?? '')) return { at: from, message: 'a blank after <<: Docker reads a here-document there since dockerfile 1.16 and not before; write <<NAME' };
      add('<<', from);
    } else if (ch === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) return { at: from, message: "a ' with no ' that closes it, on a line with <<: rep init cannot tell which here-documents Docker reads" };
      add(raw ? s.slice(i, end + 1) : s.slice(i + 1, end), from);
      i = end + 1;
    } else if (ch === '"') {
      let out = raw ? '"' : '';
      for (i++; ; ) {
        const c = s[i];
        if (c === undefined) return { at: from, message: 'a " with no " that closes it, on a line with <<: rep init cannot tell which here-documents Docker reads' };
        if (c === '"') {
          i++;
          if (raw) out += '"';
          break;
        }
        if (c === '$') {
          const d = dollar();
          if (typeof d !== 'string') return d;
          out += d;
          continue;
        }
        i++;
        let w = c;
        if (c === '\\') {
          if (raw) out += '\\';
          const next = s[i];
          if (next === undefined) continue;
          if (next === '"' || next === '$' || next === '\\') {
            w = next;
            i++;
          }
        }
        out += w;
      }
      add(out, from);
    } else if (ch === '\\') {
      i++;
      if (raw) add('\\', from);
      if (i >= s.length) break;
      add(s[i++]!, from);
    } else {
      i++;
      if (!SPACE.test(ch)) add(ch, from);
      else if (buf) {
        words.push({ text: buf, at });
        buf = '';
      }
    }
  }
  if (buf) words.push({ text: buf, at });
  return words;
}
