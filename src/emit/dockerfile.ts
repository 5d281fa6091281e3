// Plan -> one standalone multi-stage Dockerfile that plain `docker build` on
// the context turns into the same filesystem as rep's step images.
import path from 'node:path';
import { dependenciesOf, parentStepOf, stageOf, workdirOf, type Dag, type DagNode, type Parent } from '../graph/dag.js';
import type { ImageSpec, Recipe, Step } from '../repfile/recipe.js';
import { copiesFor } from '../context/folders.js';
import { goTrimSpace, type DockerIgnore } from '../context/dockerignore.js';
import type { ContextFile } from '../context/files.js';
import { planCopies } from './copies.js';
import { contextSource, imageSource } from './copysource.js';
import { VERSION } from '../version.js';
import { UNSHOWABLE } from '../repfile/schema.js';

/**
 * The Repfile's path as the header's comment names it: JSON-quoted when it holds a character a comment line cannot
 * show as it is. A folder named "sub\nRUN touch pwned #" (its Repfile given with -f) put a RUN line into the Dockerfile.
 */
const headerPath = (p: string): string => (UNSHOWABLE.test(p) ? JSON.stringify(p) : p);

// Every string from the Repfile or the context is written so that both
// builders (classic and BuildKit) read it back literally: a Dockerfile line
// ends at a newline or continues after a trailing `\`, and ENV, LABEL,
// WORKDIR, USER, COPY and VOLUME expand `$VAR` and remove quotes and `\`.
const json = (v: unknown) => JSON.stringify(v);
/** A value in double quotes, where `\`, `"` and `$` are escaped (the schema keeps newlines out; never a raw one here). */
const quoted = (v: string) => `"${v.replace(/[\\"$]/g, (c) => `\\${c}`).replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`;
/** WORKDIR and USER: bare when nothing in it is special, else quoted. */
const word = (v: string) => (/^[A-Za-z0-9_.,:@+\/-]+$/.test(v) ? v : quoted(v));
/** One element of a JSON-form COPY or VOLUME (expanded too): `\`, `$` and quotes escaped. */
const unexpanded = (v: string) => v.replace(/[\\$"']/g, (c) => `\\${c}`);
/**
 * The longest line rep writes, in bytes. Both builders read a Dockerfile with Go's bufio.Scanner, which fails
 * the whole file on a line over 65,535 bytes ("dockerfile line greater than max allowed size"): a folder of
 * 3,000 loose inputs made one COPY line of 87 KB. A quarter of that leaves room for a source's escapes.
 */
export const MAX_LINE_BYTES = 16 * 1024;

/**
 * COPY of context paths (or, `from` a stage, image paths), each named alone (copysource.ts), to `dest`, in JSON
 * form: one line, or as many as keep each within MAX_LINE_BYTES, all to `dest` (which ends in "/" wherever there
 * are several sources, as COPY wants, so each line copies its share as the one line would).
 */
export function copyLines(sources: readonly string[], dest: string, from?: string): string[] {
  const head = `COPY ${from ? `--from=${from} ` : ''}[`;
  const tail = `,${json(unexpanded(dest))}]`;
  const empty = Buffer.byteLength(head) + Buffer.byteLength(tail);
  const lines: string[] = [];
  let group: string[] = [];
  let bytes = empty;
  for (const s of sources) {
    const named = json(unexpanded(from ? imageSource(s) : contextSource(s)));
    // Each source after the first costs its comma as well (counted for the first too: a byte to spare).
    const cost = Buffer.byteLength(named) + 1;
    if (group.length && bytes + cost > MAX_LINE_BYTES) {
      lines.push(`${head}${group.join(',')}${tail}`);
      group = [];
      bytes = empty;
    }
    group.push(named);
    bytes += cost;
  }
  if (group.length) lines.push(`${head}${group.join(',')}${tail}`);
  return lines;
}

/** copyLines as one piece of text. */
export const copyLine = (sources: readonly string[], dest: string, from?: string): string => copyLines(sources, dest, from).join('\n');

/**
 * `text` (one instruction, on several lines already or not) with every line longer than MAX_LINE_BYTES continued
 * on the next. Both parsers join a line ending in the escape `\` to the next before they read the instruction,
 * JSON form included, taking off that `\` alone (a space before it would stay in the text, inside a string of the
 * JSON too). So a line is cut only where the joined text comes back byte for byte: not after a `\` (BuildKit does
 * not take a `\\` at the end for a continuation, and would end the instruction there), not before a `#` or a
 * space (a continued line that starts with `#` after spaces is a comment, and is dropped), not inside a
 * character. A run of those longer than a line, which no script is likely to hold, is cut where a cut is next
 * allowed, however long that makes the line.
 */
export function continued(text: string): string {
  return text.split('\n').map(continuedLine).join('\n');
}

function continuedLine(line: string): string {
  if (Buffer.byteLength(line) <= MAX_LINE_BYTES) return line;
  // Bytes before each UTF-16 unit (a surrogate pair is four bytes, two per unit).
  const before = new Array<number>(line.length + 1);
  before[0] = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    before[i + 1] = before[i]! + (c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdfff ? 2 : 3);
  }
  const cuttable = (k: number) => {
    const c = line.charCodeAt(k);
    return line[k - 1] !== '\\' && line[k] !== '#' && goTrimSpace(line[k]!) !== '' && !(c >= 0xdc00 && c <= 0xdfff);
  };
  const pieces: string[] = [];
  let start = 0;
  while (before[line.length]! - before[start]! > MAX_LINE_BYTES) {
    // The furthest cut that leaves room for the `\` the piece ends with.
    let limit = start + 1;
    while (limit < line.length && before[limit + 1]! - before[start]! <= MAX_LINE_BYTES - 1) limit++;
    let k = limit;
    while (k > start && !cuttable(k)) k--;
    if (k === start) for (k = limit + 1; k < line.length && !cuttable(k); k++);
    if (k >= line.length) break;
    pieces.push(line.slice(start, k));
    start = k;
  }
  pieces.push(line.slice(start));
  return pieces.join('\\\n');
}
const joinPath = (dir: string, rel: string) => (rel === '' ? (dir.endsWith('/') ? dir : `${dir}/`) : `${dir.replace(/\/$/, '')}/${rel}`);
const trimSlash = (p: string) => (p.length > 1 ? p.replace(/\/+$/, '') : p);

export function envLines(env: Record<string, string>): string[] {
  const keys = Object.keys(env).sort();
  return keys.length ? [`ENV ${keys.map((k) => `${k}=${quoted(env[k]!)}`).join(' \\\n    ')}`] : [];
}

/** Shells that read POSIX sh (`set -e`, `eval`), by file name; after `env` or `busybox`, the next word. */
const POSIX_SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'ksh', 'mksh', 'zsh', 'yash', 'posh']);
const baseName = (p: string | undefined) => (p ?? '').slice((p ?? '').lastIndexOf('/') + 1);
function posixShell(shell: readonly string[]): boolean {
  const first = baseName(shell[0]);
  return POSIX_SHELLS.has(first === 'env' || first === 'busybox' ? baseName(shell[1]) : first);
}

/**
 * An item that runs the same in `a && b` as alone: one line, one command
 * list (no `;`), no comment or here-document, nothing at its end (`\`, `&`,
 * `|`) that would run on into the next item.
 */
export const joinable = (c: string) => c.trim() !== '' && !/[\n\r;#]|<</.test(c) && !/[\\&|]\s*$/.test(c);
/**
 * Text a Dockerfile would not read as shell form: blank, or starting (after
 * whitespace) like a flag or a JSON array. Whitespace as BuildKit skips it, Go's
 * unicode.IsSpace, which counts U+0085 (JS's \s does not), and JS's \s besides.
 */
const NOT_SHELL_FORM = /^[\s\x85]*(?:[-[]|$)/;
/** `s` as one single-quoted POSIX shell word. */
export const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** Items as one POSIX script: each evaluated on its own, so none runs into the next and each one's status counts (with -e). */
const evalEach = (run: readonly string[]) => (run.length === 1 ? run[0]! : run.map((c) => `eval ${shellQuote(c)}`).join('\n'));

/**
 * The RUN instruction for a step's commands, in order, in one shell, each of
 * which must succeed: items joined by `&&` when that is exact, else each
 * evaluated on its own with -e (`set -e` for a POSIX `shell`). Any other
 * shell is called once per item, chained by /bin/sh. A long script is
 * continued over several lines (continued).
 */
export function runLine(step: Pick<Step, 'run' | 'shell'> & { secrets?: string[] }): string[] {
  return step.run.length === 0 ? [] : [continued(runText(step))];
}

function runText(step: Pick<Step, 'run' | 'shell'> & { secrets?: string[] }): string {
  const items = step.run;
  // Secrets are mounted for this one instruction only (BuildKit), at /run/secrets/ID.
  const run = `RUN ${(step.secrets ?? []).map((id) => `--mount=type=secret,id=${id},required=true `).join('')}`;
  const simple = items.every(joinable);
  const shell = step.shell;
  if (!shell) {
    // Shell form reads best; on a RUN line the text must not start like a flag or a JSON array.
    if (simple && !NOT_SHELL_FORM.test(items[0]!)) return `${run}${items.join(' \\\n && ')}`;
    return `${run}${json(['/bin/sh', '-ec', simple ? items.join(' && ') : evalEach(items)])}`;
  }
  if (posixShell(shell)) return `${run}${json([...shell, simple ? items.join(' && ') : `set -e\n${evalEach(items)}`])}`;
  if (items.length === 1) return `${run}${json([...shell, items[0]])}`;
  return `${run}${json(['/bin/sh', '-c', items.map((c) => [...shell, c].map(shellQuote).join(' ')).join(' && ')])}`;
}

export function fromLine(p: Parent, resolveBase: (ref: string) => string, as?: string): string {
  const ref = p.kind === 'image' ? resolveBase(p.ref) : p.name;
  return `FROM ${ref}${as ? ` AS ${as}` : ''}`;
}

/**
 * COPY lines putting a step's inputs at their relative paths under `workdir`, from the full context;
 * `wholeOk` says which folders may be copied whole (planCopies).
 */
export function inputCopies(
  workdir: string,
  inputPaths: readonly string[],
  contextPaths: readonly string[] | ReadonlyMap<string, number>,
  wholeOk?: (dir: string) => boolean,
): string[] {
  return planCopies(inputPaths, contextPaths, wholeOk).flatMap((c) => copyLines(c.sources, joinPath(workdir, c.dest)));
}

const workdirLine = (dir: string) => `WORKDIR ${word(dir)}`;

/**
 * The epoch every RUN of a stage sees as SOURCE_DATE_EPOCH (tools that honour
 * it write the same bytes on every run): an ARG, so it never enters the
 * image's environment, declared after each FROM since an ARG lasts one stage.
 */
export function epochLines(recipe: Recipe): string[] {
  return recipe.reproducible ? [`ARG SOURCE_DATE_EPOCH=${recipe.reproducible.epoch}`] : [];
}

/** The instructions a stage starting from an image begins with. */
export function stagePreamble(recipe: Recipe): string[] {
  return [workdirLine(recipe.workdir), ...envLines(recipe.env)];
}

/**
 * Instructions of one step after its stage's FROM (and preamble).
 * `copies` puts the inputs in place; `ref` names the image or stage a producer's outputs come from.
 */
export function stepInstructions(
  dag: Dag,
  node: DagNode,
  inheritedWorkdir: string,
  workdir: string,
  copies: readonly string[],
  ref: (step: string) => string,
): string[] {
  const s = node.step;
  const lines: string[] = [];
  if (workdir !== inheritedWorkdir) lines.push(workdirLine(workdir));
  lines.push(...envLines(s.env));
  for (const p of node.imports) {
    for (const out of dag.nodes.get(p)!.step.outputs.map(trimSlash)) lines.push(copyLine([out], out, ref(p)));
  }
  lines.push(...copies);
  if (s.user !== undefined) lines.push(`USER ${word(s.user)}`);
  lines.push(...runLine(s));
  return lines;
}

export function imageInstructions(image: ImageSpec): string[] {
  const lines: string[] = [];
  const labels = Object.keys(image.labels);
  if (labels.length) lines.push(`LABEL ${labels.map((k) => `${quoted(k)}=${quoted(image.labels[k]!)}`).join(' \\\n      ')}`);
  for (const p of image.expose) lines.push(`EXPOSE ${p}`);
  if (image.volumes.length) lines.push(`VOLUME ${json(image.volumes.map(unexpanded))}`);
  if (image.user !== undefined) lines.push(`USER ${word(image.user)}`);
  // Shell form is `/bin/sh -c TEXT`; written as such when TEXT would continue the line, read as JSON or start like a flag.
  const form = (v: string | string[]) => (typeof v !== 'string' ? json(v) : NOT_SHELL_FORM.test(v) || /\\\s*$/.test(v) ? json(['/bin/sh', '-c', v]) : v);
  if (image.entrypoint !== undefined) lines.push(`ENTRYPOINT ${form(image.entrypoint)}`);
  if (image.cmd !== undefined) lines.push(`CMD ${form(image.cmd)}`);
  return lines;
}

export interface EmitOptions {
  /** Every file in the build context after .dockerignore (for whole-directory COPYs). */
  context: readonly ContextFile[];
  /** The context's .dockerignore rules (what Docker sends of a folder copied whole). */
  ignore: DockerIgnore;
  resolveBase?: (ref: string) => string;
  /** The context paths each step's inputs name. */
  inputsOf: (step: string) => readonly string[];
  /** Where the Dockerfile is written, as `docker build -f` in the context takes it: relative to the context, or absolute outside it. */
  dockerfile: string;
  /**
   * Which folders, every listed file of which is an input, are copied whole (default: those COPY would
   * copy exactly in the context on disk: context/folders.ts). rep verify, which has context.tar and not
   * the publisher's disk, gives the bundle's choice.
   */
  whole?: (dir: string) => boolean;
  /** The rep and the Repfile (its path from the context) the first line names (default: this rep, the recipe's). rep verify gives the statement's. */
  generatedBy?: { rep: string; repfile: string };
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
/** A path as one shell word in a comment: bare when plain, else quoted (JSON when quoting would let a newline end the comment). */
const shellWord = (p: string) => (/^[A-Za-z0-9_.,:@+\/=-]+$/.test(p) ? p : CONTROL.test(p) ? json(p) : shellQuote(p));

/**
 * One line of a step's description as a comment. BuildKit reads a `# NAME=VALUE`
 * comment before an instruction as lint settings (`check=skip=all` silences the
 * checks), and at the top of a file as a parser directive: after the `#` comes a
 * fixed "|", so no description line reads as either.
 */
const descriptionLine = (l: string) => `#   |${l === '' ? '' : ` ${l}`}`;

const secretsUsed = (recipe: Recipe) => [...new Set(recipe.steps.flatMap((s) => s.secrets))].sort();

export function emitDockerfile(dag: Dag, opts: EmitOptions): string {
  const recipe: Recipe = dag.recipe;
  const resolveBase = opts.resolveBase ?? ((r: string) => r);
  const stageName = (step: string) => stageOf(dag, step).name;
  const { counts, wholeOk } = copiesFor(recipe.contextDir, opts.ignore, opts.context);

  const out: string[] = [
    `# Generated by rep ${opts.generatedBy?.rep ?? VERSION} from ${headerPath(opts.generatedBy?.repfile ?? path.relative(recipe.contextDir, recipe.path).split(path.sep).join('/'))} (sha256:${recipe.sha256}).`,
    `# Builds the image without rep:  ${secretsUsed(recipe).length ? `DOCKER_BUILDKIT=1 docker build ${secretsUsed(recipe).map((id) => `--secret id=${id},src=FILE `).join('')}` : 'docker build '}-t ${recipe.image.tag} -f ${shellWord(opts.dockerfile)} .`,
    '# Edit the Repfile and run `rep build` instead of editing this file.',
  ];
  for (const stage of dag.stages) {
    out.push('', `# ---- stage ${stage.name}: ${stage.steps.join(' -> ')}`);
    out.push(fromLine(stage.from, resolveBase, stage.name), ...epochLines(recipe));
    let inherited: string;
    if (stage.from.kind === 'image') {
      out.push(...stagePreamble(recipe));
      inherited = recipe.workdir;
    } else inherited = workdirOf(dag, stage.from.name);
    for (const name of stage.steps) {
      const node = dag.nodes.get(name)!;
      const deps = dependenciesOf(node).map((d) => (d === parentStepOf(node) ? `builds on ${d}` : `imports ${d}`));
      out.push('', `# step ${name}${deps.length ? ` (${deps.join(', ')})` : ''}${node.step.phony ? ' [phony]' : ''}`);
      if (node.step.description) out.push(...node.step.description.split('\n').map(descriptionLine));
      const workdir = workdirOf(dag, name);
      const copies = inputCopies(workdir, opts.inputsOf(name), counts, opts.whole ?? wholeOk);
      out.push(...stepInstructions(dag, node, inherited, workdir, copies, stageName));
      inherited = workdir;
    }
  }
  out.push('', `# ---- image ${recipe.image.tag}`, `FROM ${stageName(dag.target)}`, ...imageInstructions(recipe.image));
  return `${out.join('\n')}\n`;
}
