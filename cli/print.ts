// Printing for the CLI: diagnostics with their source line, and plain output.
import { existsSync, readFileSync } from 'node:fs';
import { renderDiagnostic, type Diagnostic } from '../src/diag.js';

export function printDiagnostics(errors: readonly Diagnostic[]): void {
  const sources = new Map<string, string | undefined>();
  for (const d of errors) {
    if (!sources.has(d.file)) sources.set(d.file, existsSync(d.file) ? readFileSync(d.file, 'utf8') : undefined);
    process.stderr.write(`${renderDiagnostic(d, sources.get(d.file))}\n`);
  }
}

export const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);

/** What `rep build` says when every step was fresh (printed by main.ts and program.ts alike). */
export const nothingToBuild = (steps: number, engine: string, tag: string) => `rep: nothing to build; all ${steps} steps fresh (${engine}); image ${tag}`;
