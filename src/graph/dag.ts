// Recipe -> Dag: who builds on whom, who imports whose outputs, in which
// order, and how steps group into the stages of a multi-stage Dockerfile.
import { clip, fail, ok, type Diagnostic, type Result } from '../diag.js';
import type { Recipe, Step } from '../repfile/recipe.js';
import { didYouMean, Suggester } from '../repfile/suggest.js';
import { imageRefProblem } from '../lock/reference.js';
import { stableOrder } from './order.js';

/** What a step is built on: an image, or another step's result. */
export type Parent = { kind: 'image'; ref: string } | { kind: 'step'; name: string };

export interface DagNode {
  step: Step;
  parent: Parent;
  /** Steps whose `outputs` this step copies in. */
  imports: string[];
  /** Steps built directly on this one. */
  children: string[];
}

export interface Stage {
  /** Named after its last step, so `FROM x` and `COPY --from=x` name exactly that step's result. */
  name: string;
  /** Steps in build order; each builds on the one before. */
  steps: string[];
  from: Parent;
}

export interface Dag {
  recipe: Recipe;
  nodes: Map<string, DagNode>;
  /** Topological order; ties keep Repfile order. */
  order: string[];
  stages: Stage[];
  /** The stage each step is in (ask with `stageOf`). */
  stageByStep: ReadonlyMap<string, Stage>;
  /** The step whose result is the image. */
  target: string;
}

/** The stage `step` is in. */
export function stageOf(dag: Dag, step: string): Stage {
  return dag.stageByStep.get(step)!;
}

/** The step `node` builds on, if it builds on a step rather than an image. */
export function parentStepOf(node: DagNode): string | undefined {
  return node.parent.kind === 'step' ? node.parent.name : undefined;
}

/** The steps `node` needs built first: the step it builds on, if any, then the steps it imports from. */
export function dependenciesOf(node: DagNode): string[] {
  const parent = parentStepOf(node);
  return parent === undefined ? node.imports : [parent, ...node.imports];
}

// Workdirs found, per Dag, so that asking every step of a chain costs the chain once, not its square.
const workdirs = new WeakMap<Dag, Map<string, string>>();

/** The working directory of a step: its own, else the one of the step it builds on, else the Repfile's. */
export function workdirOf(dag: Dag, name: string): string {
  let known = workdirs.get(dag);
  if (!known) workdirs.set(dag, (known = new Map()));
  // A loop down the chain, not a call per step: a chain of 15,000 steps overflowed the call stack.
  const below: string[] = [];
  let found: string | undefined;
  for (let at = name; found === undefined; ) {
    const node = dag.nodes.get(at)!;
    found = known.get(at) ?? node.step.workdir;
    if (found !== undefined) break;
    below.push(at);
    if (node.parent.kind === 'step') at = node.parent.name;
    else found = dag.recipe.workdir;
  }
  for (const n of below) known.set(n, found);
  return found;
}

const IMAGE_LIKE = /[:/@]/;

export function buildDag(recipe: Recipe): Result<Dag> {
  const names = new Set(recipe.steps.map((s) => s.name));
  // One budget for every "did you mean" of a step name (suggest.ts): a Repfile of many unknown names is not quadratic.
  const nearStep = new Suggester([...names]);
  const nearSecret = new Suggester(Object.keys(recipe.secrets));
  const src = recipe.source;
  const errors: Diagnostic[] = [];
  const nodes = new Map<string, DagNode>();

  for (const step of recipe.steps) {
    step.secrets.forEach((id, i) => {
      if (!Object.hasOwn(recipe.secrets, id)) {
        errors.push(
          src.at(['steps', step.name, 'secrets', i], `unknown secret "${id}"${nearSecret.didYouMean(id)}; declare it under the top-level secrets`, {
            shownPath: ['steps', step.name, 'secrets'],
          }),
        );
      }
    });
    step.needs.forEach((n, i) => {
      if (!names.has(n)) {
        errors.push(
          src.at(['steps', step.name, 'needs', i], `unknown step "${n}"${nearStep.didYouMean(n)}`, {
            shownPath: ['steps', step.name, 'needs'],
          }),
        );
      }
    });
    let parent: Parent;
    const needs = [...new Set(step.needs)];
    let imports = needs;
    if (step.from !== undefined) {
      if (names.has(step.from)) parent = { kind: 'step', name: step.from };
      else {
        // Asked once a name: a converted Dockerfile names one image in thousands of steps.
        const near = IMAGE_LIKE.test(step.from) ? undefined : nearStep.closest(step.from);
        if (near === null) {
          // Too many names to check this one against: not taken for an image to pull (a misspelt step would be).
          errors.push(src.at(['steps', step.name, 'from'], `"${clip(step.from)}" is not a step, and this Repfile names too many unknown ones for rep to check it against every step; to start from an image of that name, write it with a tag, e.g. "${clip(step.from)}:latest"`));
        } else if (near !== undefined) {
          errors.push(
            src.at(
              ['steps', step.name, 'from'],
              `"${clip(step.from)}" is not a step (did you mean "${near}"?); to start from an image of that name, write it with a tag, e.g. "${clip(step.from)}:latest"`,
            ),
          );
        } else {
          const problem = imageRefProblem(step.from);
          if (problem) errors.push(src.at(['steps', step.name, 'from'], problem));
        }
        parent = { kind: 'image', ref: step.from };
      }
    } else if (needs.length > 0) {
      parent = { kind: 'step', name: needs[0]! };
      imports = needs.slice(1);
    } else {
      parent = { kind: 'image', ref: recipe.base };
    }
    nodes.set(step.name, { step, parent, imports: imports.filter((n) => n !== (parent.kind === 'step' ? parent.name : '')), children: [] });
  }
  // In the emitted Dockerfile "FROM busybox" names a stage called busybox before the image (stage names
  // match without regard to case): a step named like the base the others start from would be built on.
  const images = new Set([...nodes.values()].flatMap((n) => (n.parent.kind === 'image' ? [n.parent.ref.toLowerCase()] : [])));
  for (const step of recipe.steps) {
    if (images.has(step.name.toLowerCase())) {
      errors.push(src.at(['steps', step.name], `step name "${step.name}" is also the image other steps start from: in the emitted Dockerfile, FROM ${step.name} would name this step; rename the step, or write the image with a tag (e.g. "${step.name}:latest")`, { key: true }));
    }
  }
  if (errors.length) return fail(...errors);

  const successors = (name: string) => [...new Set(dependenciesOf(nodes.get(name)!))];
  const cycles = findCycles([...names], successors);
  if (cycles.length) return fail(...cycles.map((c) => cycleDiagnostic(recipe, successors, c)));

  // A step's other needs are imports of their outputs, or merely ancestors of its parent.
  const ancestors = (name: string): Set<string> => {
    const out = new Set<string>();
    for (let p = nodes.get(name)!.parent; p.kind === 'step'; p = nodes.get(p.name)!.parent) out.add(p.name);
    return out;
  };
  for (const [name, node] of nodes) {
    // Walked only for a need that has no outputs (a chain of n steps would otherwise cost n^2).
    let below: Set<string> | undefined;
    node.imports = node.imports.filter((i) => {
      if (nodes.get(i)!.step.outputs.length > 0) return true;
      below ??= node.parent.kind === 'step' ? new Set([node.parent.name, ...ancestors(node.parent.name)]) : new Set<string>();
      if (below.has(i)) return false;
      const idx = node.step.needs.indexOf(i);
      const builtOn = node.parent.kind === 'step' ? `"${node.parent.name}"` : `the image "${node.parent.ref}"`;
      errors.push(
        src.at(
          ['steps', name, 'needs', idx],
          `step "${i}" declares no outputs to copy in, and "${name}" builds on ${builtOn}; list the step to build on first in needs, or give "${i}" outputs`,
          { shownPath: ['steps', name, 'needs'] },
        ),
      );
      return false;
    });
  }
  for (const [name, node] of nodes) if (node.parent.kind === 'step') nodes.get(node.parent.name)!.children.push(name);
  if (errors.length) return fail(...errors);

  const order = stableTopo(recipe, nodes);
  const target = pickTarget(recipe, nodes);
  if (!target.ok) return target;
  const { stages, stageByStep } = groupStages(order, nodes, target.value);
  return ok({ recipe, nodes, order, stages, stageByStep, target: target.value });
}

/**
 * The strongly connected components of more than one step, or of one step that names itself: Tarjan's
 * algorithm, as graphlib's findCycles, with its own stack instead of a call per step (graphlib's recursion
 * overflowed the call stack on a chain of 15,000 steps written top step first).
 */
function findCycles(names: readonly string[], successors: (n: string) => string[]): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  for (const root of names) {
    if (index.has(root)) continue;
    const frames: { name: string; next: string[]; i: number }[] = [];
    const enter = (n: string) => {
      index.set(n, index.size);
      low.set(n, index.get(n)!);
      stack.push(n);
      onStack.add(n);
      frames.push({ name: n, next: successors(n), i: 0 });
    };
    enter(root);
    while (frames.length) {
      const f = frames[frames.length - 1]!;
      if (f.i < f.next.length) {
        const w = f.next[f.i++]!;
        if (!index.has(w)) enter(w);
        else if (onStack.has(w)) low.set(f.name, Math.min(low.get(f.name)!, index.get(w)!));
        continue;
      }
      frames.pop();
      const up = frames[frames.length - 1];
      if (up) low.set(up.name, Math.min(low.get(up.name)!, low.get(f.name)!));
      if (low.get(f.name) !== index.get(f.name)) continue;
      const component: string[] = [];
      for (let w = ''; w !== f.name; ) {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      }
      if (component.length > 1 || f.next.includes(f.name)) cycles.push(component);
    }
  }
  return cycles;
}

function cycleDiagnostic(recipe: Recipe, successors: (n: string) => string[], component: string[]): Diagnostic {
  const inCycle = new Set(component);
  const order = new Map(recipe.steps.map((s, i) => [s.name, i] as const));
  const index = (n: string) => order.get(n)!;
  const start = [...component].sort((a, b) => index(a) - index(b))[0]!;
  // Follow dependency edges inside the component back to the start, depth first with a stack of
  // the choices left at each step (a call per step overflowed the call stack on a long cycle).
  const path = [start];
  const seen = new Set([start]);
  const choices = (n: string) => successors(n).filter((s) => inCycle.has(s)).sort((a, b) => index(a) - index(b));
  const frames = [{ next: choices(start), i: 0 }];
  while (frames.length) {
    const f = frames[frames.length - 1]!;
    if (f.i >= f.next.length) {
      frames.pop();
      path.pop();
      continue;
    }
    const next = f.next[f.i++]!;
    if (next === start) break;
    if (seen.has(next)) continue;
    seen.add(next);
    path.push(next);
    frames.push({ next: choices(next), i: 0 });
  }
  const step = recipe.steps[index(start)]!;
  // The step the cycle goes to from its start: the start itself when a step names itself (from: a in a).
  const next = path[1] ?? start;
  const field = step.from === next ? 'from' : 'needs';
  const i = field === 'needs' ? Math.max(0, step.needs.indexOf(next)) : undefined;
  const at = i === undefined ? ['steps', start, field] : ['steps', start, field, i];
  return recipe.source.at(at, `dependency cycle: ${[...path, start].join(' -> ')}`, { shownPath: ['steps', start, field] });
}

function stableTopo(recipe: Recipe, nodes: Map<string, DagNode>): string[] {
  const index = new Map(recipe.steps.map((s, i) => [s.name, i] as const));
  return stableOrder(recipe.steps.length, (i) => dependenciesOf(nodes.get(recipe.steps[i]!.name)!).map((d) => index.get(d)!)).map((i) => recipe.steps[i]!.name);
}

function pickTarget(recipe: Recipe, nodes: Map<string, DagNode>): Result<string> {
  const names = recipe.steps.map((s) => s.name);
  const wanted = recipe.image.from;
  if (wanted !== undefined) {
    if (nodes.has(wanted)) return ok(wanted);
    return fail(recipe.source.at(['image', 'from'], `unknown step "${wanted}"${didYouMean(wanted, names)}`));
  }
  const used = new Set<string>();
  for (const node of nodes.values()) for (const d of dependenciesOf(node)) used.add(d);
  const sinks = names.filter((n) => !used.has(n));
  if (sinks.length === 1) return ok(sinks[0]!);
  return fail(
    recipe.source.at(['steps'], `several steps could be the image (${sinks.join(', ')}); say which with image.from`, { key: true }),
  );
}

function groupStages(order: string[], nodes: Map<string, DagNode>, target: string): { stages: Stage[]; stageByStep: Map<string, Stage> } {
  const imported = new Set<string>();
  for (const n of nodes.values()) for (const i of n.imports) imported.add(i);
  // A step ends its stage unless exactly one step continues on it and nothing else refers to it.
  const continues = (name: string): string | undefined => {
    const node = nodes.get(name)!;
    if (node.children.length !== 1 || imported.has(name) || name === target) return undefined;
    const child = nodes.get(node.children[0]!)!;
    return child.step.from === undefined ? child.step.name : undefined;
  };
  const stages: Stage[] = [];
  const placed = new Set<string>();
  for (const name of order) {
    if (placed.has(name)) continue;
    const steps = [name];
    for (let next = continues(name); next !== undefined; next = continues(next)) steps.push(next);
    steps.forEach((s) => placed.add(s));
    stages.push({ name: steps[steps.length - 1]!, steps, from: nodes.get(name)!.parent });
  }
  // Every stage after the stages it refers to (COPY --from and FROM name earlier stages).
  const stageByStep = new Map(stages.flatMap((st) => st.steps.map((s) => [s, st] as const)));
  const stageIndex = new Map(stages.map((st, i) => [st, i] as const));
  const refs = (st: Stage) => st.steps.flatMap((s) => dependenciesOf(nodes.get(s)!).map((d) => stageIndex.get(stageByStep.get(d)!)!));
  const sorted = stableOrder(stages.length, (i) => refs(stages[i]!)).map((i) => stages[i]!);
  return { stages: sorted, stageByStep };
}
