// Printing for the CLI: diagnostics with their source line, and plain output.
import { fileOf, renderDiagnostic, type Diagnostic } from '../src/diag.js';
import { readBounded } from '../src/safefs.js';

export function printDiagnostics(errors: readonly Diagnostic[]): void {
  const sources = new Map<string, string | undefined>();
  for (const d of errors) {
    const file = fileOf(d);
    // The source line is shown only from a regular file, read bounded (never /dev/zero or a FIFO).
    const read = file !== undefined && 'span' in d && d.span && !sources.has(file) ? readBounded(file, { follow: true }) : undefined;
    if (read) sources.set(file!, read.ok ? read.bytes.toString('utf8') : undefined);
    process.stderr.write(`${renderDiagnostic(d, file === undefined ? undefined : sources.get(file))}\n`);
  }
}

export const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);

/** What `rep build` says when every step was fresh (printed by main.ts and program.ts alike). */
export const nothingToBuild = (steps: number, engine: string, tag: string) => `rep: nothing to build; all ${steps} steps fresh (${engine}); image ${tag}`;
