// Header fields as Debian control files (dpkg status), Python core metadata
// (METADATA, PKG-INFO) and R's DESCRIPTION write them: "Name: value" lines,
// continued by lines that start with a space or tab, paragraphs separated by a
// blank line. Parsed leniently (the files come from an image, which may be
// hostile): a line that is neither is skipped (its continuations with it), and
// nothing here is trusted beyond being a string.

export type Fields = Map<string, string[]>;

/** The longest value kept for a field: continuation lines past it are dropped (a description may run for megabytes). */
const FIELD_MAX = 64 << 10;

/**
 * Paragraphs of `text`, one at a time, each a map of field name (as
 * written) to its values (a field may repeat); with `wanted`, only those
 * fields are kept. Read line by line in place, never split whole: a status
 * file of millions of lines, or of one field continued for as many, costs the
 * paragraph being read and no more.
 */
export function* paragraphs(text: string, wanted?: ReadonlySet<string>): Generator<Fields> {
  let cur: Fields | undefined;
  let last: { values: string[]; i: number } | undefined;
  for (let at = 0; at <= text.length; ) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    const line = text.slice(at, end > at && text.charCodeAt(end - 1) === 13 ? end - 1 : end);
    at = end + 1;
    if (line.trim() === '') {
      if (cur) yield cur;
      cur = undefined;
      last = undefined;
      continue;
    }
    if (line[0] === ' ' || line[0] === '\t') {
      if (last && last.values[last.i]!.length < FIELD_MAX) last.values[last.i] += `\n${line.trim()}`;
      continue;
    }
    // Any name up to the colon: R's DESCRIPTION has Config/Needs/website and Date/Publication. A line that is
    // not a field still ends the one before, or its continuations would be read as that field's (a Version of
    // two lines, and the package gone).
    last = undefined;
    const m = /^([^\s:]+):[ \t]*(.*)$/.exec(line);
    if (!m) continue;
    cur ??= new Map();
    if (wanted && !wanted.has(m[1]!)) continue;
    const values = cur.get(m[1]!) ?? [];
    values.push(m[2]!.trim());
    cur.set(m[1]!, values);
    last = { values, i: values.length - 1 };
  }
  if (cur) yield cur;
}

/** The header of a core-metadata or DESCRIPTION file: its first paragraph (a METADATA body follows the blank line). */
export const header = (text: string): Fields => paragraphs(text).next().value ?? new Map();

/** The first value of a field, if it is one plain line. */
export function field(f: Fields, name: string): string | undefined {
  const v = f.get(name)?.[0];
  return v === undefined || v === '' || v.includes('\n') ? undefined : v;
}
