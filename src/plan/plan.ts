// Dag -> Plan: each step's key, and whether it is fresh or stale and why
// (keys in planner.ts, reasons in explain.ts).

import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import type { BuildContext } from '../context/context.js';
import { StatCache, type HashedFile } from '../context/hash.js';
import { resolveInputs } from '../context/inputs.js';
import { ContextIndex, type ContextFile } from '../context/files.js';
import type { Dag } from '../graph/dag.js';
import { materialOf, type State, type StepRecord } from '../state/state.js';
import type { EngineFacts, StepMaterial } from './key.js';
import { Planner } from './planner.js';
import type { Reason } from './reasons.js';
import { WRITE_REFUSED } from '../safefs.js';

export type Freshness = 'fresh' | 'stale';

export interface PlannedStep {
  name: string;
  key: string;
  state: Freshness;
  reasons: Reason[];
  material: StepMaterial;
  inputs: HashedFile[];
}

/**
 * The steps of one build, keyed and judged fresh or stale. One Plan serves a
 * whole build: planning settles every step, the scheduler settles each again
 * as it reaches it (with its producers' outputs measured), and emit, record
 * and publish read the result. Each step is keyed once for each distinct set
 * of producer digests, never again for the same.
 */
export class Plan {
  constructor(
    readonly dag: Dag,
    readonly planner: Planner,
  ) {}

  /** In build (topological) order, as last settled. */
  get steps(): PlannedStep[] {
    return this.dag.order.map((n) => this.step(n));
  }

  step(name: string): PlannedStep {
    const p = this.planner.get(name);
    if (!p) throw new Error(`step ${name} is not planned`);
    return p;
  }
}

export interface PlanOptions {
  /** Last build's record; reasons are explained against it. */
  state?: State;
  /** What a recorded step's key was computed from, when the state does not hold it (see state/state.ts materialOf). */
  recordedMaterial?: (rec: StepRecord) => StepMaterial | undefined;
  /** Whether a step with this key needs no build. Default: the key is the one recorded in `state`. */
  isFresh?: (name: string, key: string) => boolean;
  /** Content digest of a producer's outputs, when known. Default: none known (keys use the producer's key). */
  outputsDigest?: (producer: string, producerKey: string) => string | undefined;
  /** Base image as it goes into keys (e.g. pinned to a digest by Repfile.lock). */
  resolveBase?: (ref: string) => string;
  /** What the engine says the keys depend on (freshness.ts engineFacts); none without an engine. */
  facts?: EngineFacts;
  statCache?: StatCache;
  /** The context walked once already (saves walking it again per step). */
  index?: ContextIndex;
  /** Inputs hashed already (by hashInputs). */
  inputs?: Map<string, HashedFile[]>;
}

/** Every step's input files (not yet hashed), resolved in the context `index` (walked here when absent). */
export function resolveAllInputs(dag: Dag, ctx: BuildContext, walked?: ContextIndex): Result<Map<string, ContextFile[]>> {
  // A walk the quick path made before it gave up is taken (rep status after an edit walks once).
  const found = walked ? ok(walked) : ContextIndex.walk(ctx.dir, ctx.ignore, ctx.ignoreText);
  if (!found.ok) return found;
  const index = found.value;
  const errors: Diagnostic[] = [];
  const inputs = new Map<string, ContextFile[]>();
  for (const name of dag.order) {
    const r = resolveInputs(dag.recipe, dag.nodes.get(name)!.step, ctx, index);
    if (!r.ok) errors.push(...r.errors);
    else inputs.set(name, r.value);
  }
  return errors.length ? fail(...errors) : ok(inputs);
}

/** Resolved input files, hashed through the stat cache (which is saved when it can be). */
export function hashResolved(resolved: Map<string, readonly ContextFile[]>, cache: StatCache): Map<string, HashedFile[]> {
  const inputs = new Map([...resolved].map(([name, files]) => [name, cache.hashAll(files)] as const));
  // Kept when it can be: `rep status` in a project rep may not write (a read-only checkout) still answers.
  try {
    cache.save();
  } catch (e) {
    if (!WRITE_REFUSED.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
  }
  return inputs;
}

/** Every step's input files, hashed (through the stat cache, which is saved). */
export function hashInputs(
  dag: Dag,
  ctx: BuildContext,
  cache = StatCache.forContext(ctx.dir),
  index?: ContextIndex,
): Result<Map<string, HashedFile[]>> {
  const resolved = resolveAllInputs(dag, ctx, index);
  return resolved.ok ? ok(hashResolved(resolved.value, cache)) : resolved;
}

export function planBuild(dag: Dag, ctx: BuildContext, opts: PlanOptions = {}): Result<Plan> {
  const hashed = opts.inputs ? ok(opts.inputs) : hashInputs(dag, ctx, opts.statCache, opts.index);
  if (!hashed.ok) return hashed;
  const recordedMaterial = opts.recordedMaterial ?? materialOf(ctx.dir);
  return ok(planSteps(new Planner(dag, hashed.value, { ...opts, recordedMaterial }), opts));
}

/** Keys every step in build order and judges it fresh or stale: the Plan before anything is built. */
export function planSteps(planner: Planner, opts: Pick<PlanOptions, 'state' | 'isFresh' | 'outputsDigest'> = {}): Plan {
  const { dag } = planner;
  const recorded = opts.state?.steps ?? {};
  const isFresh = opts.isFresh ?? ((name, key) => recorded[name]?.key === key);
  // Without an engine's measurements, outputs are known by their producer's key;
  // with them, only a fresh producer's recorded measurement counts.
  const digestOf = (p: string, k: string) =>
    opts.outputsDigest ? (planner.get(p)!.state === 'fresh' ? opts.outputsDigest(p, k) : undefined) : `key:${k}`;
  for (const name of dag.order) {
    const keyed = planner.key(name, digestOf);
    const fresh = !dag.nodes.get(name)!.step.phony && !keyed.pending && isFresh(name, keyed.key);
    planner.settle(name, keyed, fresh);
  }
  return new Plan(dag, planner);
}

export { Planner, type Keyed } from './planner.js';
export { explain } from './explain.js';
