// The state of one Dockerfile stage while it is converted (workdir, env,
// args, user, shell, image settings) and the steps it has made so far; a
// step takes the state that changed since the step below it, as rep writes
// it: WORKDIR, ENV, imports, inputs, USER, RUN.
import type { DraftStep, ImageSettings } from './model.js';

export type Parent = { kind: 'image'; ref: string } | { kind: 'step'; name: string };

/** The image settings the stage has so far (a label set again replaces the old one). */
export interface Meta extends ImageSettings {
  labels: Map<string, string>;
}

export interface Stage {
  index: number;
  /** The `AS` name, lower case. */
  alias?: string;
  /** What its steps are named after. */
  name: string;
  parent: Parent;
  steps: DraftStep[];
  /** What the Dockerfile has set so far. */
  workdir: string;
  /**
   * Whether `workdir` is known: a stage on an image starts in that image's
   * WorkingDir, which rep init (no engine) cannot read and takes as /, until
   * an absolute WORKDIR; 'noted' once a relative path was said to depend on it.
   */
  workdirFrom: 'dockerfile' | 'image' | 'noted';
  /**
   * Folders the stage is known to have (WORKDIRs, the folders above a copy's
   * destination, a destination copied into): a COPY to one puts the file in it.
   */
  dirs: Set<string>;
  user?: string;
  shell?: string[];
  env: Map<string, string>;
  args: Map<string, string | undefined>;
  meta: Meta;
  /** This stage set a CMD (then an ENTRYPOINT after it keeps it; else it clears the inherited one). */
  cmdSet: boolean;
  /** What the last step's image has (workdir and user are inherited by the steps built on it). */
  applied: { workdir: string; user?: string };
  pendingEnv: [string, string][];
  comments: string[];
  /** The last step, when a RUN may still join it (a COPY in the current workdir). */
  open?: DraftStep;
  firstLine: number;
}

export function newStage(index: number, parent: Parent, from: Stage | undefined, name: string, alias: string | undefined, line: number): Stage {
  const inherit = from && parent.kind === 'step';
  return {
    index,
    alias,
    name,
    parent,
    steps: [],
    workdir: inherit ? from.workdir : '/',
    workdirFrom: inherit ? from.workdirFrom : 'image',
    dirs: new Set(inherit ? from.dirs : ['/']),
    user: inherit ? from.user : undefined,
    shell: inherit ? from.shell : undefined,
    env: new Map(inherit ? from.env : []),
    args: new Map(),
    meta: inherit ? { ...from.meta, expose: [...from.meta.expose], volumes: [...from.meta.volumes], labels: new Map(from.meta.labels) } : { expose: [], volumes: [], labels: new Map() },
    cmdSet: false,
    applied: inherit ? { ...from.applied } : { workdir: '/' },
    pendingEnv: [],
    comments: [],
    firstLine: line,
  };
}

/** Variables for expanding words: the stage's args with a value, overridden by its env. */
export function varsOf(stage: Stage): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of stage.args) if (v !== undefined) out.set(k, v);
  for (const [k, v] of stage.env) out.set(k, v);
  return out;
}

/** Puts the state that changed on `s` (the stage's last step), with `workdir` for this step. */
function apply(stage: Stage, s: DraftStep, workdir: string): void {
  for (const [k, v] of stage.pendingEnv) {
    s.env = s.env.filter(([n]) => n !== k);
    s.env.push([k, v]);
  }
  stage.pendingEnv = [];
  s.comments.push(...stage.comments);
  stage.comments = [];
  if (workdir !== stage.applied.workdir) s.workdir = workdir;
  stage.applied.workdir = workdir;
  if (stage.user !== stage.applied.user) s.user = stage.user;
  stage.applied.user = stage.user;
  if (stage.shell) s.shell = stage.shell;
}

/** A new step on top of the stage's last one (or its FROM), in `workdir`. */
export function newStep(stage: Stage, all: DraftStep[], base: string, lines: [number, number], workdir = stage.workdir): DraftStep {
  const s: DraftStep = { name: `${stage.name}-${stage.steps.length + 1}`, lines, needs: [], inputs: [], env: [], run: [], outputs: [], comments: [] };
  const last = stage.steps[stage.steps.length - 1];
  if (last) s.needs.push(last.name);
  else if (stage.parent.kind === 'step') s.from = stage.parent.name;
  else if (stage.parent.ref !== base) s.from = stage.parent.ref;
  apply(stage, s, workdir);
  stage.steps.push(s);
  all.push(s);
  stage.open = undefined;
  return s;
}

/** The step a RUN goes in: the open one when it is in the current workdir, else a new one. */
export function stepForRun(stage: Stage, all: DraftStep[], base: string, lines: [number, number]): DraftStep {
  const open = stage.open;
  if (open && stage.applied.workdir === stage.workdir) {
    apply(stage, open, stage.workdir);
    open.lines = [open.lines[0], lines[1]];
    stage.open = undefined;
    return open;
  }
  return newStep(stage, all, base, lines);
}

/** Makes `s` (a step of `stage`) import `producer`'s outputs: a first step then names its FROM, since `needs` alone would build on the producer. */
export function addImport(stage: Stage, s: DraftStep, producer: string): void {
  if (stage.steps[0] === s && s.from === undefined && s.needs.length === 0) s.from = stage.parent.kind === 'image' ? stage.parent.ref : stage.parent.name;
  if (!s.needs.includes(producer)) s.needs.push(producer);
}

/** Ends a stage: a last step holds the state set after its last RUN or COPY (or is its only step). */
export function finishStage(stage: Stage, all: DraftStep[], base: string, lines: [number, number]): void {
  const changed = stage.pendingEnv.length > 0 || stage.workdir !== stage.applied.workdir || stage.user !== stage.applied.user;
  // ENV and USER after a COPY join its step (rep sets them around the copy, which they do not change).
  if (changed && stage.open && stage.workdir === stage.applied.workdir) apply(stage, stage.open, stage.workdir);
  else if (changed || stage.steps.length === 0) newStep(stage, all, base, lines);
  else if (stage.comments.length) {
    stage.steps[stage.steps.length - 1]!.comments.push(...stage.comments);
    stage.comments = [];
  }
}
