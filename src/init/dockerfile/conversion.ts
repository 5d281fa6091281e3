// The state one Dockerfile's conversion shares between the converters of its
// instructions (convert.ts, instructions.ts, copysteps.ts): the stages and
// steps made so far, the notes, and how a note reaches the Repfile (as a
// comment at the step it falls in).
import { clip, printable } from '../../diag.js';
import type { Kind } from './copy.js';
import type { DraftStep, Note } from './model.js';
import type { Instruction } from './parse.js';
import type { Stage } from './stages.js';
import type { Expansion, Lexing } from './words.js';

/** A conversion is also how its words are read (words.ts): the escape character and what its variables expanded to so far. */
export interface Conversion extends Lexing {
  /** The Dockerfile, as named in notes and comments. */
  file: string;
  escape: '\\' | '`';
  /** What a context path is (file, folder, or not there). */
  kind: (rel: string) => Kind;
  /** The image of the first stage that starts from one: the Repfile's base. */
  base: string;
  stages: Stage[];
  /** Every stage's AS name in the Dockerfile, lower case (later ones too). */
  aliases: Set<string>;
  /** Every step, in Dockerfile order. */
  all: DraftStep[];
  notes: Note[];
  /** The stage being converted (none before the first FROM). */
  stage?: Stage;
  /** ARGs before the first FROM, for FROM lines and for ARGs in a stage that name them. */
  globalArgs: Map<string, string | undefined>;
  /** Copy steps made so far, to number the next. */
  copies: number;
  /** How many notes each instruction has had (see NOTES_PER_INSTRUCTION). */
  noted: Map<Instruction, number>;
  expansion: Expansion;
}

/** Notes said for one instruction; the rest are counted in one more (an EXPOSE of 100k bad words is one line). */
const NOTES_PER_INSTRUCTION = 10;

export function newConversion(file: string, escape: Conversion['escape'], kind: Conversion['kind']): Conversion {
  return { file, escape, kind, base: '', stages: [], aliases: new Set(), all: [], notes: [], globalArgs: new Map(), copies: 0, noted: new Map(), expansion: { total: 0 } };
}

/** The Dockerfile lines of an instruction, as a step records them. */
export const linesOf = (ins: Instruction): [number, number] => [ins.line, ins.endLine];

/** Reports `message` at `ins` (cut to a bounded length); false once the instruction has had its share of notes. */
export function report(cx: Conversion, ins: Instruction, message: string): boolean {
  const n = (cx.noted.get(ins) ?? 0) + 1;
  cx.noted.set(ins, n);
  if (n > NOTES_PER_INSTRUCTION) return false;
  cx.notes.push({ line: ins.line, message: clip(message) });
  return true;
}

/**
 * What rep cannot express (or `changed`: expressed otherwise): reported, and
 * kept as a comment at the step it falls in, with the instruction the first
 * time (its first 20 lines, each cut short).
 */
export function note(cx: Conversion, ins: Instruction, message: string, changed = false): void {
  if (!report(cx, ins, message)) return;
  const text = cx.noted.get(ins) === 1 ? ins.text.slice(0, 20).map((t) => `  ${clip(t, 200)}`) : [];
  const keep = changed ? [`${cx.file}:${ins.line}: ${clip(message)}`] : [`${cx.file}:${ins.line}: not converted: ${clip(message)}`, ...text];
  if (cx.stage) cx.stage.comments.push(...keep.map(printable));
}

/** The notes, in line order, with one more for each instruction that had more than its share. */
export function finalNotes(cx: Conversion): Note[] {
  const more = [...cx.noted].filter(([, n]) => n > NOTES_PER_INSTRUCTION).map(([ins, n]) => ({ line: ins.line, message: `${n - NOTES_PER_INSTRUCTION} more problems at this line, not listed` }));
  return [...cx.notes, ...more].sort((a, b) => a.line - b.line);
}

/** Notes for the variables an instruction's words named that the Dockerfile does not set. */
export function unresolved(cx: Conversion, ins: Instruction, names: string[], what: string): void {
  for (const n of names) note(cx, ins, `${what} refers to $${n}, which this Dockerfile does not set (a base image's variable or a build argument): rep wrote it as empty`);
}

/**
 * A relative WORKDIR or COPY destination (`path`) in a stage whose workdir is
 * still the base image's: Docker resolves it against the image's WorkingDir
 * (/home/jovyan in Jupyter's images), which rep init cannot read without an
 * engine and takes as /. Said once per stage, at the first such place.
 */
export function relativeToImage(cx: Conversion, ins: Instruction, st: Stage, path: string): void {
  if (path.startsWith('/') || st.workdirFrom !== 'image') return;
  st.workdirFrom = 'noted';
  note(cx, ins, `${ins.keyword} ${JSON.stringify(path)} is relative to the base image's working directory, which rep init cannot read: it took / (the Repfile's \`workdir: /\`). If the image sets another (docker image inspect -f '{{.Config.WorkingDir}}' IMAGE), set \`workdir:\` to it and put it in front of the workdirs below`, true);
}
