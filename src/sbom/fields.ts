// Header fields as Debian control files (dpkg status), Python core metadata
// (METADATA, PKG-INFO) and R's DESCRIPTION write them: "Name: value" lines,
// continued by lines that start with a space or tab, paragraphs separated by a
// blank line. Parsed leniently (the files come from an image, which may be
// hostile): a line that is neither is skipped, and nothing here is trusted
// beyond being a string.

export type Fields = Map<string, string[]>;

/** Paragraphs of `text`, each a map of field name (as written) to its values (a field may repeat). */
export function paragraphs(text: string, max = Infinity): Fields[] {
  const out: Fields[] = [];
  let cur: Fields | undefined;
  let last: { name: string; i: number } | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') {
      if (cur) out.push(cur);
      if (out.length >= max) return out;
      cur = undefined;
      last = undefined;
      continue;
    }
    if (/^[ \t]/.test(line)) {
      if (cur && last) {
        const values = cur.get(last.name)!;
        values[last.i] += `\n${line.trim()}`;
      }
      continue;
    }
    const m = /^([A-Za-z0-9][A-Za-z0-9_.@-]*):[ \t]*(.*)$/.exec(line);
    if (!m) continue;
    cur ??= new Map();
    const values = cur.get(m[1]!) ?? [];
    values.push(m[2]!.trim());
    cur.set(m[1]!, values);
    last = { name: m[1]!, i: values.length - 1 };
  }
  if (cur && out.length < max) out.push(cur);
  return out;
}

/** The header of a core-metadata or DESCRIPTION file: its first paragraph (a METADATA body follows the blank line). */
export const header = (text: string): Fields => paragraphs(text, 1)[0] ?? new Map();

/** The first value of a field, if it is one plain line. */
export function field(f: Fields, name: string): string | undefined {
  const v = f.get(name)?.[0];
  return v === undefined || v === '' || v.includes('\n') ? undefined : v;
}
