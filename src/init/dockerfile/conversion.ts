// The state one Dockerfile's conversion shares between the converters of its
// instructions (convert.ts, instructions.ts, copysteps.ts): the stages and
// steps made so far, the notes, and how a note reaches the Repfile (as a
// comment at the step it falls in).
import { printable } from '../../diag.js';
import type { Kind } from './copy.js';
import type { DraftStep, Note } from './model.js';
import type { Instruction } from './parse.js';
import type { Stage } from './stages.js';

export interface Conversion {
  /** The Dockerfile, as named in notes and comments. */
  file: string;
  escape: '\\' | '`';
  /** What a context path is (file, folder, or not there). */
  kind: (rel: string) => Kind;
  /** The image of the first stage that starts from one: the Repfile's base. */
  base: string;
  stages: Stage[];
  /** Every step, in Dockerfile order. */
  all: DraftStep[];
  notes: Note[];
  /** The stage being converted (none before the first FROM). */
  stage?: Stage;
  /** ARGs before the first FROM, for FROM lines and for ARGs in a stage that name them. */
  globalArgs: Map<string, string | undefined>;
  /** Copy steps made so far, to number the next. */
  copies: number;
}

export function newConversion(file: string, escape: Conversion['escape'], kind: Conversion['kind']): Conversion {
  return { file, escape, kind, base: '', stages: [], all: [], notes: [], globalArgs: new Map(), copies: 0 };
}

/** The Dockerfile lines of an instruction, as a step records them. */
export const linesOf = (ins: Instruction): [number, number] => [ins.line, ins.endLine];

/** What rep cannot express (or `changed`: expressed otherwise): reported, and kept as a comment (with the instruction) at the step it falls in. */
export function note(cx: Conversion, ins: Instruction, message: string, changed = false): void {
  cx.notes.push({ line: ins.line, message });
  const keep = changed ? [`${cx.file}:${ins.line}: ${message}`] : [`${cx.file}:${ins.line}: not converted: ${message}`, ...ins.text.slice(0, 20).map((t) => `  ${t}`)];
  if (cx.stage) cx.stage.comments.push(...keep.map(printable));
}

/** Notes for the variables an instruction's words named that the Dockerfile does not set. */
export function unresolved(cx: Conversion, ins: Instruction, names: string[], what: string): void {
  for (const n of names) note(cx, ins, `${what} refers to $${n}, which this Dockerfile does not set (a base image's variable or a build argument): rep wrote it as empty`);
}
