// Parsed Dockerfile -> the steps and image of a Repfile: each stage's steps
// built on one another (FROM an image or an earlier stage), each other
// instruction converted in its stage (instructions.ts, copysteps.ts), and
// the image settings of the final stage on the image. What rep cannot
// express becomes a note at its line.
import type { Diagnostic } from '../../diag.js';
import { finalNotes, linesOf, newConversion, report, type Conversion } from './conversion.js';
import type { Kind } from './copy.js';
import { explicitRef, startProblem } from './imageref.js';
import { convertInstruction } from './instructions.js';
import type { Converted, DraftStep } from './model.js';
import type { Instruction, ParsedDockerfile } from './parse.js';
import { finishStage, newStage, varsOf, type Stage } from './stages.js';
import { keyValues, splitWords } from './words.js';

export function convertDockerfile(parsed: ParsedDockerfile, file: string, kind: (rel: string) => Kind): { ok: true; value: Converted } | { ok: false; errors: Diagnostic[] } {
  const cx = newConversion(file, parsed.escape, kind);
  // BuildKit finds a COPY --from stage anywhere in the file, a later one too.
  for (const ins of parsed.instructions) {
    const w = ins.keyword === 'FROM' ? ins.args.trim().split(/\s+/) : [];
    if (w[1]?.toLowerCase() === 'as' && w[2]) cx.aliases.add(w[2].toLowerCase());
  }
  const errors: Diagnostic[] = [];
  let last: [number, number] = [1, 1];
  for (const ins of parsed.instructions) {
    const prevLines = last;
    last = linesOf(ins);
    const vars = cx.stage ? varsOf(cx.stage) : new Map([...cx.globalArgs].filter((e): e is [string, string] => e[1] !== undefined));
    if (ins.keyword === 'FROM') {
      if (cx.stage) finishStage(cx.stage, cx.all, cx.base, prevLines);
      const problem = from(cx, ins, vars);
      if (problem) errors.push({ file, span: wholeLine(ins), message: problem });
    } else if (!cx.stage) {
      if (ins.keyword === 'ARG') for (const [k, v] of keyValues(ins.args, vars, cx).pairs) cx.globalArgs.set(k, v);
      else report(cx, ins, `${ins.keyword} before the first FROM is not converted`);
    } else convertInstruction(cx, ins, cx.stage, vars);
    // Its variables expanded past a limit (words.ts): what it made is cut short, and the conversion ends here.
    if (cx.expansion.over) return { ok: false, errors: [...errors, { file, span: wholeLine(ins), message: `${ins.keyword} ${cx.expansion.over}: rep init does not convert it` }] };
  }
  if (errors.length) return { ok: false, errors };
  const final = cx.stage;
  if (!final) return { ok: false, errors: [{ file, message: 'has no FROM instruction' }] };
  finishStage(final, cx.all, cx.base, last);
  const m = final.meta;
  rename(cx.stages, cx.all);
  const target = final.steps[final.steps.length - 1]!.name;
  return {
    ok: true,
    value: {
      base: cx.base,
      steps: cx.all,
      image: { from: target, cmd: m.cmd, entrypoint: m.entrypoint, expose: m.expose, volumes: m.volumes, labels: [...m.labels] },
      notes: finalNotes(cx),
    },
  };
}

/** The first line of `ins`, as a diagnostic marks it. */
const wholeLine = (ins: Instruction) => ({ start: { line: ins.line, col: 1 }, end: { line: ins.line, col: ins.text[0]!.length + 1 } });

/** A FROM: a new stage on an image or an earlier stage; what is wrong with its image, if anything. */
function from(cx: Conversion, ins: Instruction, vars: Map<string, string>): string | undefined {
  for (const [f] of ins.flags) report(cx, ins, `FROM --${f} is not converted; rep builds for the engine's platform`);
  const w = splitWords(ins.args, vars, cx);
  if (w.unresolved.length) report(cx, ins, `FROM refers to ${w.unresolved.map((u) => `$${u}`).join(', ')}, which no ARG before it sets`);
  const ref = w.words[0] ?? '';
  const alias = w.words[1]?.toLowerCase() === 'as' ? w.words[2]?.toLowerCase() : undefined;
  const prev = cx.stages.find((s) => s.alias === ref.toLowerCase());
  if (!prev) {
    const problem = ref === 'scratch' ? 'rep starts every stage from an image: FROM scratch is not converted' : startProblem(ref);
    if (problem) return problem;
    if (!cx.base) cx.base = explicitRef(ref);
  }
  const parent = prev ? { kind: 'step' as const, name: prev.steps[prev.steps.length - 1]!.name } : { kind: 'image' as const, ref: explicitRef(ref) };
  cx.stage = newStage(cx.stages.length, parent, prev, stageName(alias, cx.stages), alias, ins.line);
  cx.stages.push(cx.stage);
  return undefined;
}

/** A step-name stem for a stage: its AS name made a step name, else stage-N; unique. */
function stageName(alias: string | undefined, stages: Stage[]): string {
  let n = (alias ?? (stages.length ? `stage-${stages.length}` : 'main')).replace(/[^a-z0-9_.-]+/g, '-').replace(/^[^a-z]+/, '').slice(0, 40) || `stage-${stages.length}`;
  while (stages.some((s) => s.name === n)) n = `${n}-${stages.length}`;
  return n;
}

/** A stage with one step names it after the stage alone. */
function rename(stages: Stage[], all: DraftStep[]): void {
  const map = new Map<string, string>();
  for (const st of stages) if (st.steps.length === 1 && !all.some((s) => s.name === st.name)) map.set(st.steps[0]!.name, st.name);
  const r = (n: string) => map.get(n) ?? n;
  for (const s of all) {
    s.name = r(s.name);
    if (s.from !== undefined) s.from = r(s.from);
    s.needs = s.needs.map(r);
  }
}
