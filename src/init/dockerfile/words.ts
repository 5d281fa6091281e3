// The words of an instruction's arguments as Docker's shell lexer reads them
// for ENV, LABEL, ARG, COPY, WORKDIR, USER, EXPOSE and FROM: split at
// unquoted blanks, quotes removed, the escape character taken literally
// after, and $VAR / ${VAR} / ${VAR:-x} / ${VAR:+x} expanded from the
// variables the Dockerfile set so far. A variable it did not set (one of
// the base image's, or unset) is named in `unresolved` and expands to ''.
// RUN, CMD and ENTRYPOINT are never expanded by Docker: the shell does it.

export interface Words {
  words: string[];
  unresolved: string[];
}

type Vars = ReadonlyMap<string, string>;

/** The words of `s`, expanded with `vars`; with `keepBlanks`, one word that keeps the blanks outside quotes (Docker's ProcessWord). */
export function splitWords(s: string, vars: Vars, escape = '\\', keepBlanks = false): Words {
  const unresolved = new Set<string>();
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  const expand = (): string => {
    // At a `$`: the variable after it, or a lone `$`.
    const rest = s.slice(i + 1);
    const simple = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (simple) {
      i += 1 + simple[0].length;
      return lookup(simple[0], vars, unresolved);
    }
    if (rest.startsWith('{')) {
      const close = matchingBrace(s, i + 1);
      if (close > 0) {
        const body = s.slice(i + 2, close);
        i = close + 1;
        const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([\s\S]*))?$/.exec(body);
        if (!m) {
          unresolved.add(`\${${body}}`);
          return '';
        }
        const [, name, op, word] = m;
        const set = vars.has(name!);
        const value = vars.get(name!) ?? '';
        const present = op?.startsWith(':') ? set && value !== '' : set;
        if (op === undefined) return lookup(name!, vars, unresolved);
        const inner = () => splitWords(word ?? '', vars, escape);
        if (op.endsWith('-')) {
          if (present) return value;
          const w = inner();
          w.unresolved.forEach((u) => unresolved.add(u));
          if (!set) unresolved.add(name!);
          return w.words.join(' ');
        }
        if (!set) unresolved.add(name!);
        if (!present) return '';
        const w = inner();
        w.unresolved.forEach((u) => unresolved.add(u));
        return w.words.join(' ');
      }
    }
    i += 1;
    return '$';
  };
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c) && !keepBlanks) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === escape) {
      cur += s[i + 1] ?? '';
      i += 2;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      const stop = end < 0 ? s.length : end;
      cur += s.slice(i + 1, stop);
      i = stop + 1;
    } else if (c === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === escape && /["$`\\]/.test(s[i + 1] ?? '')) {
          cur += s[i + 1];
          i += 2;
        } else if (s[i] === '$') cur += expand();
        else cur += s[i++];
      }
      i++;
    } else if (c === '$') cur += expand();
    else {
      cur += c;
      i++;
    }
  }
  if (inWord) words.push(cur);
  return { words, unresolved: [...unresolved] };
}

/** One word: the whole of `s` with blanks kept (WORKDIR, USER, a legacy `ENV K v a l`). */
export function oneWord(s: string, vars: Vars, escape = '\\'): Words {
  const w = splitWords(s.trim(), vars, escape, true);
  return { words: [w.words[0] ?? ''], unresolved: w.unresolved };
}

/** `K=V` pairs (ENV, LABEL, ARG), or the legacy `K V...` form of ENV and LABEL when the first word has no `=`. */
export function keyValues(s: string, vars: Vars, escape = '\\'): { pairs: [string, string | undefined][]; unresolved: string[] } {
  // The first word as written (quotes kept, as Docker decides the form before removing them).
  const first = /^(?:[^\s"']+|"(?:\\.|[^"\\])*"|'[^']*')+/.exec(s.trim())?.[0] ?? '';
  if (first && !first.includes('=')) {
    const rest = s.trim().slice(first.length).trim();
    const k = splitWords(first, vars, escape);
    if (rest === '') return { pairs: [[k.words.join(''), undefined]], unresolved: k.unresolved };
    const v = oneWord(rest, vars, escape);
    return { pairs: [[k.words.join(''), v.words[0]!]], unresolved: [...k.unresolved, ...v.unresolved] };
  }
  const w = splitWords(s, vars, escape);
  return {
    pairs: w.words.map((word) => {
      const eq = word.indexOf('=');
      return eq < 0 ? [word, undefined] : [word.slice(0, eq), word.slice(eq + 1)];
    }),
    unresolved: w.unresolved,
  };
}

function lookup(name: string, vars: Vars, unresolved: Set<string>): string {
  const v = vars.get(name);
  if (v === undefined) unresolved.add(name);
  return v ?? '';
}

function matchingBrace(s: string, open: number): number {
  let depth = 0;
  for (let k = open; k < s.length; k++) {
    if (s[k] === '{') depth++;
    else if (s[k] === '}' && --depth === 0) return k;
  }
  return -1;
}
