// Repfile (YAML text) -> Recipe: parse with positions, validate with the one
// schema, and turn every problem into a located Diagnostic.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, visit } from 'yaml';
import type { z } from 'zod';
import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import { DEFAULT_WORKDIR, type ImageSpec, type Recipe, type Step } from './recipe.js';
import { FIELDS, repfileSchema, STEP_NAME, type RepfileDoc, type StepDoc } from './schema.js';
import { SourceMap, type FieldPath } from './source.js';
import { didYouMean } from './suggest.js';

export interface LoadOptions {
  /** Build context directory; defaults to the Repfile's directory. */
  contextDir?: string;
  /** Name shown in messages; defaults to the path relative to cwd. */
  displayName?: string;
}

export function loadRepfile(file: string, opts: LoadOptions = {}): Result<Recipe> {
  const display = opts.displayName ?? (path.relative(process.cwd(), file) || file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file (write one with `rep init`, or name another with -f)' : `cannot read (${code})`;
    return fail({ file: display, message: why });
  }
  return parseRepfile(bytes, { ...opts, file, displayName: display });
}

export function parseRepfile(
  bytes: Buffer | string,
  opts: { file: string; displayName?: string; contextDir?: string },
): Result<Recipe> {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  const text = buf.toString('utf8');
  const display = opts.displayName ?? path.basename(opts.file);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: true });
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
  const parsed = repfileSchema.safeParse(data);
  if (!parsed.success) {
    const errors = parsed.error.issues.flatMap((i) => issueToDiagnostics(i, data, source));
    return fail(...sortDiagnostics(errors));
  }
  const errors: Diagnostic[] = [];
  const steps = Object.entries(parsed.data.steps).map(([name, doc], index) => {
    if (!STEP_NAME.test(name) || name.length > 63) {
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
    source,
  };
  return ok(recipe);
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

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
    tag: i.tag ?? `${r.name}:latest`,
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
    case 'invalid_union':
    case 'invalid_value':
    case 'invalid_format':
    case 'too_big':
    case 'not_multiple_of':
    case 'invalid_key':
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
  const pos = (d: Diagnostic) => (d.span ? d.span.start.line * 100000 + d.span.start.col : 0);
  return [...ds].sort((a, b) => pos(a) - pos(b));
}
