// Diagnostics: user mistakes are values with a place, never thrown stack traces.

export interface Position {
  line: number; // 1-based
  col: number; // 1-based
}

export interface Span {
  start: Position;
  end: Position;
}

export interface Diagnostic {
  /** File the problem is in, as the user named it (e.g. "Repfile"). */
  file: string;
  /** Where in that file; absent when the problem has no place (e.g. a missing file). */
  span?: Span;
  /** Dotted field path, e.g. "steps.app.needs". */
  path?: string;
  message: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; errors: Diagnostic[] };

/**
 * A mistake in what the user gave rep (exit 2, like a bad Repfile), found
 * where no Result can carry it up, e.g. deep in a walk of the context.
 */
export class InputError extends Error {}

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

/** One line: `Repfile:12:5: steps.app.needs: unknown step "sytem"`. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.span ? `${d.file}:${d.span.start.line}:${d.span.start.col}` : d.file;
  const path = d.path ? `${d.path}: ` : '';
  return `${where}: ${path}${d.message}`;
}

/**
 * The one-line form followed by the offending source line with the span
 * underlined, as compilers do. `source` is the text of d.file.
 */
export function renderDiagnostic(d: Diagnostic, source?: string): string {
  const head = formatDiagnostic(d);
  if (!d.span || source === undefined) return head;
  const lines = source.split(/\r?\n/);
  const { start, end } = d.span;
  const text = lines[start.line - 1];
  if (text === undefined) return head;
  const gutter = String(start.line);
  const pad = ' '.repeat(gutter.length);
  const last = end.line === start.line ? Math.max(end.col, start.col + 1) : text.length + 1;
  const width = Math.max(1, Math.min(last, text.length + 1) - start.col);
  const marks = ' '.repeat(start.col - 1) + '^'.repeat(width);
  return `${head}\n ${gutter} | ${text}\n ${pad} | ${marks}`;
}
