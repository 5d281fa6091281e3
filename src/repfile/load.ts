// Repfile (YAML text) -> Recipe: parse with positions, validate with the one
// schema, and turn every problem into a located Diagnostic.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { isAlias, isMap, isScalar, LineCounter, parseDocument, visit, type Alias, type Document } from 'yaml';
import type { z } from 'zod';
import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import { readBounded, TEXT_LIMIT } from '../safefs.js';
import { DEFAULT_EPOCH, DEFAULT_WORKDIR, type ImageSpec, type Recipe, type Step } from './recipe.js';
import { defaultImageTag, FIELDS, repfileSchema, STEP_NAME, STEP_NAME_MAX, type RepfileDoc, type StepDoc } from './schema.js';
import { SourceMap, type FieldPath } from './source.js';
import { didYouMean } from './suggest.js';
import { utf8Text } from '../utf8.js';

export interface LoadOptions {
  /** Build context directory; defaults to the Repfile's directory. */
  contextDir?: string;
  /** Name shown in messages; defaults to the path relative to cwd. */
  displayName?: string;
  /**
   * Read for its step keys alone: the publish section (citation) is left
   * unread, so a bundle an earlier rep accepted a licence or date of is
   * checked for its keys, not refused by citation rules made since.
   */
  keysOnly?: boolean;
}

export function loadRepfile(file: string, opts: LoadOptions = {}): Result<Recipe> {
  const display = opts.displayName ?? (path.relative(process.cwd(), file) || file);
  // A regular file (a link to one is fine), bounded: never /dev/zero, a FIFO or a folder.
  const read = readBounded(file, { follow: true });
  if (!read.ok) {
    const why = read.code === 'ENOENT' ? 'no such file (write one with `rep init`, or name another with -f)' : read.message;
    return fail({ file: display, message: why });
  }
  return parseRepfile(read.bytes, { ...opts, file, displayName: display });
}

export function parseRepfile(
  bytes: Buffer | string,
  opts: { file: string; displayName?: string; contextDir?: string; keysOnly?: boolean },
): Result<Recipe> {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  const display = opts.displayName ?? path.basename(opts.file);
  const text = decodeUtf8(buf, display);
  if (typeof text !== 'string') return fail(text);
  const lines = new LineCounter();
  // Keys are checked for duplicates below, once a map: the library's check compares each key with every other (a Repfile of 40k steps took 9 s).
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: true });
  const source = new SourceMap(display, text, doc, lines);

  if (doc.errors.length > 0) {
    return fail(
      ...doc.errors.map((e): Diagnostic => {
        const span = source.spanOfOffsets(e.pos[0], e.pos[1]);
        const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return { file: display, span, message: `YAML: ${message}` };
      }),
    );
  }
  // A key twice in a map is YAML's error; a key "__proto__" would set a prototype rather than name a step,
  // variable or label: it would vanish.
  const keyProblems: Diagnostic[] = [];
  // What aliases repeat, counted in the Repfile's own bytes: 99 aliases of a 4 MiB string made a 400 MB Dockerfile.
  let repeated = 0;
  let tooMuch: Alias | undefined;
  visit(doc, {
    Alias: (_k, alias) => {
      const range = alias.resolve(doc)?.range;
      repeated += range ? range[1] - range[0] : 0;
      if (repeated > TEXT_LIMIT && !tooMuch) tooMuch = alias;
    },
    Map: (_k, map) => {
      const seen = new Set<string>();
      for (const pair of map.items) {
        if (!isScalar(pair.key) || !pair.key.range) continue;
        const span = source.spanOfOffsets(pair.key.range[0], pair.key.range[1]);
        // Keys are compared as the strings they become in the map (as toJS makes them): "true" and true,
        // 1 and '1', or null and '' name one variable, label or step, and the last would silently win.
        const typed: unknown = pair.key.value;
        const value = typed === null || typed === undefined ? '' : String(typed);
        if (seen.has(value)) keyProblems.push({ file: display, span, message: 'YAML: Map keys must be unique' });
        seen.add(value);
        if (value === '__proto__') keyProblems.push({ file: display, span, message: 'a key named "__proto__" is not allowed (as a name it would vanish)' });
      }
    },
  });
  if (tooMuch?.range) keyProblems.push({ file: display, span: source.spanOfOffsets(tooMuch.range[0], tooMuch.range[1]), message: `YAML: aliases repeat more than ${TEXT_LIMIT >> 20} MiB of the Repfile's text` });
  if (keyProblems.length) return fail(...sortDiagnostics(keyProblems));
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // e.g. an alias with no anchor, or an alias bomb: point at the first alias.
    let at: readonly [number, number, number?] | undefined;
    visit(doc, { Alias: (_k, node) => ((at = node.range ?? undefined), visit.BREAK) });
    const span = at ? source.spanOfOffsets(at[0], at[1]) : source.spanOf([]);
    return fail({ file: display, span, message: `YAML: ${(e as Error).message}` });
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return fail(source.at([], 'expected a mapping with at least `rep: 1`, `name`, `base` and `steps`'));
  }
  envAsWritten(doc, data as Record<string, unknown>);
  if (opts.keysOnly) delete (data as Record<string, unknown>).publish;
  const parsed = repfileSchema.safeParse(data);
  if (!parsed.success) {
    const errors = parsed.error.issues.flatMap((i) => issueToDiagnostics(i, data, source));
    return fail(...sortDiagnostics(errors));
  }
  const errors: Diagnostic[] = [];
  const steps = Object.entries(parsed.data.steps).map(([name, doc], index) => {
    if (!STEP_NAME.test(name) || name.length > STEP_NAME_MAX) {
      errors.push(
        source.at(['steps', name], `step name "${name}" must be lowercase letters, digits, "-", "_" or "." and start with a letter`, { key: true }),
      );
    }
    return toStep(name, index, doc);
  });
  if (errors.length) return fail(...errors);

  const r = parsed.data;
  const recipe: Recipe = {
    file: display,
    path: path.resolve(opts.file),
    contextDir: path.resolve(opts.contextDir ?? path.dirname(path.resolve(opts.file))),
    sha256: createHash('sha256').update(buf).digest('hex'),
    name: r.name,
    base: r.base,
    workdir: r.workdir ?? DEFAULT_WORKDIR,
    env: envRecord(r.env),
    steps,
    image: toImage(r),
    secrets: r.secrets ?? {},
    publish: r.publish,
    ...(r.reproducible === false ? {} : { reproducible: { epoch: r.reproducible?.epoch ?? DEFAULT_EPOCH, drop: r.reproducible?.drop ?? [] } }),
    source,
  };
  return ok(recipe);
}

/** The text of a UTF-8 file (a leading BOM dropped), or a diagnostic at its first byte that is not UTF-8. */
function decodeUtf8(buf: Buffer, file: string): string | Diagnostic {
  const text = utf8Text(buf);
  if (text === undefined) {
    const at = firstInvalidUtf8(buf);
    const before = new TextDecoder('utf-8').decode(buf.subarray(0, at));
    const line = before.split('\n').length;
    const col = before.length - before.lastIndexOf('\n');
    const byte = (buf[at] ?? 0).toString(16).toUpperCase().padStart(2, '0');
    return { file, span: { start: { line, col }, end: { line, col: col + 1 } }, message: `not UTF-8 text (byte 0x${byte}); save the ${file} as UTF-8` };
  }
  return text;
}

/** Offset of the first byte that does not begin a well-formed UTF-8 sequence (Unicode table 3-7); buf.length if none. */
function firstInvalidUtf8(buf: Uint8Array): number {
  let i = 0;
  while (i < buf.length) {
    const c = buf[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const more = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (more === 0) return i;
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    if (i + more >= buf.length || buf[i + 1]! < lo || buf[i + 1]! > hi) return i;
    for (let k = 2; k <= more; k++) if ((buf[i + k]! & 0xc0) !== 0x80) return i;
    i += more + 1;
  }
  return buf.length;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * Environment values that YAML reads as numbers or booleans are kept as
 * written: `PYTHON_VERSION: 3.10` is the string "3.10", not the number 3.1,
 * and `0x10`, `010`, `1e400` or `True` reach ENV unchanged (toJS made them
 * "16", "10", "Infinity" and "true"). Quoted values are strings already.
 */
function envAsWritten(doc: Document, data: Record<string, unknown>): void {
  const own = (o: unknown, k: string): unknown => (o !== null && typeof o === 'object' && Object.hasOwn(o, k) ? (o as Record<string, unknown>)[k] : undefined);
  const maps: [unknown, unknown][] = [[doc.get('env', true), own(data, 'env')]];
  const steps = doc.get('steps', true);
  if (isMap(steps)) for (const pair of steps.items) if (isMap(pair.value) && isScalar(pair.key)) maps.push([pair.value.get('env', true), own(own(own(data, 'steps'), String(pair.key.value)), 'env')]);
  for (const [map, values] of maps) {
    if (!isMap(map) || values === null || typeof values !== 'object') continue;
    for (const pair of map.items) {
      // Anchored elsewhere, an alias's value is read where it is written; the anchor's own node is left as it is.
      const node = isAlias(pair.value) ? pair.value.resolve(doc) : pair.value;
      if (!isScalar(pair.key) || !isScalar(node) || (typeof node.value !== 'number' && typeof node.value !== 'boolean') || node.source === undefined) continue;
      const key = String(pair.key.value);
      if (Object.hasOwn(values, key)) (values as Record<string, unknown>)[key] = node.source;
    }
  }
}

function envRecord(env: Record<string, string | number | boolean> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(env ?? {}).sort()) out[k] = String(env![k]);
  return out;
}

function toStep(name: string, index: number, d: StepDoc): Step {
  return {
    name,
    index,
    description: d.description,
    run: list(d.run),
    inputs: list(d.inputs),
    needs: list(d.needs),
    from: d.from,
    outputs: list(d.outputs),
    env: envRecord(d.env),
    workdir: d.workdir,
    user: d.user,
    shell: d.shell,
    phony: d.phony ?? false,
    secrets: d.secrets ?? [],
  };
}

function toImage(r: RepfileDoc): ImageSpec {
  const i = r.image ?? {};
  const labels: Record<string, string> = {};
  for (const k of Object.keys(i.labels ?? {}).sort()) labels[k] = i.labels![k]!;
  return {
    from: i.from,
    tag: i.tag ?? defaultImageTag(r.name),
    cmd: i.cmd,
    entrypoint: i.entrypoint,
    expose: (i.expose ?? []).map(String),
    volumes: i.volumes ?? [],
    user: i.user,
    labels,
  };
}

function valueAt(data: unknown, p: FieldPath): unknown {
  let v: unknown = data;
  for (const seg of p) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

function fieldsAt(p: FieldPath): readonly string[] {
  if (p.length === 0) return FIELDS.top;
  if (p.length === 2 && p[0] === 'steps') return FIELDS.step;
  if (p.length === 1 && p[0] === 'image') return FIELDS.image;
  if (p.length === 1 && p[0] === 'publish') return FIELDS.publish;
  return [];
}

function issueToDiagnostics(issue: z.core.$ZodIssue, data: unknown, source: SourceMap): Diagnostic[] {
  const p = issue.path as (string | number)[];
  const value = valueAt(data, p);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) =>
        source.at([...p, k], `unknown field "${k}"${didYouMean(k, fieldsAt(p))}`, { key: true }),
      );
    case 'invalid_type':
      if (value === undefined) {
        return [source.at(p, `missing required field "${String(p[p.length - 1])}"`, { shownPath: p })];
      }
      return [source.at(p, `expected ${issue.expected}, got ${describe(value)}`)];
    case 'too_small':
      if (issue.origin === 'array') return [source.at(p, `expected at least ${issue.minimum} item(s)`)];
      if (issue.origin === 'string') return [source.at(p, 'must not be empty')];
      return [source.at(p, issue.message)];
    case 'invalid_key':
      // A bad key of a map (env, labels, secrets): point at the key, and name the map, not the key (it may hold a newline).
      return [source.at(p, [...new Set(issue.issues.map((i) => i.message))].join('; ') || issue.message, { key: true, shownPath: p.slice(0, -1) })];
    case 'invalid_union':
    case 'invalid_value':
    case 'invalid_format':
    case 'too_big':
    case 'not_multiple_of':
    case 'invalid_element':
    case 'custom':
      return [source.at(p, issue.message)];
    default: {
      const never: never = issue;
      return [source.at(p, (never as { message: string }).message)];
    }
  }
}

function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  const pos = (d: Diagnostic) => ('span' in d && d.span ? d.span.start.line * 100000 + d.span.start.col : 0);
  return [...ds].sort((a, b) => pos(a) - pos(b));
}
