// Dag -> Plan: each step's key, and whether it is fresh or stale and why.
import { canonicalJson } from '../canonical.js';
import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import type { BuildContext } from '../context/context.js';
import { StatCache, type HashedFile } from '../context/hash.js';
import { resolveInputs } from '../context/inputs.js';
import type { ContextFile, ContextIndex } from '../context/files.js';
import { workdirOf, type Dag, type Parent } from '../graph/dag.js';
import type { State } from '../state/state.js';
import { inputRecords, KEY_FORMAT, newNonce, stepKey, type ImportRecord, type StepMaterial } from './key.js';
import type { Reason } from './reasons.js';

export type Freshness = 'fresh' | 'stale';

export interface PlannedStep {
  name: string;
  key: string;
  state: Freshness;
  reasons: Reason[];
  material: StepMaterial;
  inputs: HashedFile[];
}

export interface Plan {
  dag: Dag;
  /** In build (topological) order. */
  steps: PlannedStep[];
  step(name: string): PlannedStep;
}

export interface PlanOptions {
  /** Last build's record; reasons are explained against it. */
  state?: State;
  /** Whether a step with this key needs no build. Default: the key is the one recorded in `state`. */
  isFresh?: (name: string, key: string) => boolean;
  /** Content digest of a producer's outputs, when known. Default: none known (keys use the producer's key). */
  outputsDigest?: (producer: string, producerKey: string) => string | undefined;
  /** Base image as it goes into keys (e.g. pinned to a digest by Repfile.lock). */
  resolveBase?: (ref: string) => string;
  statCache?: StatCache;
  /** The context walked once already (saves walking it again per step). */
  index?: ContextIndex;
  /** Inputs hashed already (by hashInputs). */
  inputs?: Map<string, HashedFile[]>;
}

/** Every step's input files (not yet hashed), resolved in the context `index` (walked anew when absent). */
export function resolveAllInputs(dag: Dag, ctx: BuildContext, index?: ContextIndex): Result<Map<string, ContextFile[]>> {
  const errors: Diagnostic[] = [];
  const inputs = new Map<string, ContextFile[]>();
  for (const name of dag.order) {
    const r = resolveInputs(dag.recipe, dag.nodes.get(name)!.step, ctx, index);
    if (!r.ok) errors.push(...r.errors);
    else inputs.set(name, r.value);
  }
  return errors.length ? fail(...errors) : ok(inputs);
}

/** Resolved input files, hashed through the stat cache (which is saved). */
export function hashResolved(resolved: Map<string, readonly ContextFile[]>, cache: StatCache): Map<string, HashedFile[]> {
  const inputs = new Map([...resolved].map(([name, files]) => [name, cache.hashAll(files)] as const));
  cache.save();
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

/**
 * Works out keys step by step, each once the steps it depends on are
 * settled: the build settles producers (and measures their outputs) before
 * it keys their consumers.
 */
export class Planner {
  private readonly planned = new Map<string, PlannedStep>();

  constructor(
    readonly dag: Dag,
    private readonly inputs: Map<string, HashedFile[]>,
    private readonly opts: Pick<PlanOptions, 'state' | 'resolveBase'> & {
      /** Phony steps' nonces, to recompute recorded keys (rep verify); new ones otherwise. */
      nonces?: Record<string, string>;
    } = {},
  ) {}

  get(name: string): PlannedStep | undefined {
    return this.planned.get(name);
  }

  /**
   * The material and key of `name`, whose parent and imports are planned.
   * `digestOf` gives a producer's outputs digest when known; unknown ones are
   * stood in for by the producer's key (and `pending` says so).
   */
  key(name: string, digestOf: (producer: string, producerKey: string) => string | undefined): { material: StepMaterial; key: string; pending: boolean } {
    const { recipe } = this.dag;
    const node = this.dag.nodes.get(name)!;
    const step = node.step;
    const parent = node.parent.kind === 'step' ? this.planned.get(node.parent.name)! : undefined;
    const workdir = workdirOf(this.dag, name);
    const imports: Record<string, ImportRecord> = {};
    let pending = false;
    for (const p of node.imports) {
      const producer = this.planned.get(p)!;
      const digest = digestOf(p, producer.key);
      if (digest === undefined) pending = true;
      imports[p] = { paths: this.dag.nodes.get(p)!.step.outputs, digest: digest ?? `key:${producer.key}` };
    }
    const resolveBase = this.opts.resolveBase ?? ((ref: string) => ref);
    const material: StepMaterial = {
      format: KEY_FORMAT,
      ...(node.parent.kind === 'image'
        ? { base: resolveBase(node.parent.ref), stage: { workdir: recipe.workdir, env: recipe.env, ...(recipe.reproducible ? { epoch: recipe.reproducible.epoch } : {}) } }
        : { parent: parent!.key }),
      def: {
        run: step.run,
        env: step.env,
        workdir,
        ...(step.user !== undefined ? { user: step.user } : {}),
        ...(step.shell !== undefined ? { shell: step.shell } : {}),
        phony: step.phony,
        ...(step.secrets.length ? { secrets: [...step.secrets].sort() } : {}),
      },
      inputs: inputRecords(this.inputs.get(name)!),
      imports,
      ...(step.phony ? { nonce: this.opts.nonces?.[name] ?? newNonce() } : {}),
    };
    return { material, key: stepKey(material), pending };
  }

  /** Records the verdict on a keyed step, with reasons when it is stale. */
  settle(name: string, material: StepMaterial, key: string, fresh: boolean): PlannedStep {
    const node = this.dag.nodes.get(name)!;
    const rec = this.opts.state?.steps[name];
    const reasons = fresh ? [] : explain(rec?.key, rec?.material, material, key, node.parent, node.step.workdir !== undefined, name);
    const p: PlannedStep = { name, key, state: fresh ? 'fresh' : 'stale', reasons, material, inputs: this.inputs.get(name)! };
    this.planned.set(name, p);
    return p;
  }
}

export function planBuild(dag: Dag, ctx: BuildContext, opts: PlanOptions = {}): Result<Plan> {
  const hashed = opts.inputs ? ok(opts.inputs) : hashInputs(dag, ctx, opts.statCache, opts.index);
  if (!hashed.ok) return hashed;
  const recorded = opts.state?.steps ?? {};
  const isFresh = opts.isFresh ?? ((name, key) => recorded[name]?.key === key);
  // Without an engine's measurements, outputs are known by their producer's key;
  // with them, only a fresh producer's recorded measurement counts.
  const planner = new Planner(dag, hashed.value, opts);
  const digestOf = (p: string, k: string) =>
    opts.outputsDigest ? (planner.get(p)!.state === 'fresh' ? opts.outputsDigest(p, k) : undefined) : `key:${k}`;
  for (const name of dag.order) {
    const { material, key, pending } = planner.key(name, digestOf);
    const fresh = !dag.nodes.get(name)!.step.phony && !pending && isFresh(name, key);
    planner.settle(name, material, key, fresh);
  }
  const steps = dag.order.map((n) => planner.get(n)!);
  return ok({ dag, steps, step: (n: string) => planner.get(n)! });
}

const same = (a: unknown, b: unknown) => a === b || (a !== undefined && b !== undefined && canonicalJson(a) === canonicalJson(b));

/** Typed reasons why `cur` differs from what was recorded. */
export function explain(
  prevKey: string | undefined,
  prev: StepMaterial | undefined,
  cur: StepMaterial,
  key: string,
  parent: Parent,
  ownWorkdir: boolean,
  name: string,
): Reason[] {
  if (cur.def.phony) return [{ kind: 'phony' }];
  if (!prev) return [{ kind: 'new' }];
  if (prevKey === key) return [{ kind: 'missing', key }];
  if (prev.format !== cur.format) return [{ kind: 'format', from: prev.format, to: cur.format }];
  const out: Reason[] = [];
  if (cur.base !== undefined && prev.base !== cur.base) out.push({ kind: 'base', from: prev.base, to: cur.base });
  if (parent.kind === 'step' && prev.parent !== cur.parent) out.push({ kind: 'upstream', step: parent.name });
  if (cur.stage && prev.stage) {
    if (prev.stage.workdir !== cur.stage.workdir) out.push({ kind: 'field', field: 'workdir' });
    if (!same(prev.stage.env, cur.stage.env)) out.push({ kind: 'field', field: 'env' });
    if (prev.stage.epoch !== cur.stage.epoch) out.push({ kind: 'field', field: 'reproducible.epoch' });
  }
  const inherited = out.length > 0;
  for (const f of ['run', 'env', 'workdir', 'user', 'shell', 'phony', 'secrets'] as const) {
    if (f === 'workdir' && !ownWorkdir && inherited) continue;
    if (!same(prev.def[f], cur.def[f])) out.push({ kind: 'field', field: `steps.${name}.${f}` });
  }
  for (const path of Object.keys({ ...prev.inputs, ...cur.inputs }).sort()) {
    const a = prev.inputs[path];
    const b = cur.inputs[path];
    if (!a) out.push({ kind: 'input-added', path });
    else if (!b) out.push({ kind: 'input-removed', path });
    else if (a.sha256 !== b.sha256 || a.type !== b.type) out.push({ kind: 'input-changed', path });
    else if (a.mode !== b.mode) out.push({ kind: 'input-mode', path, from: a.mode, to: b.mode });
  }
  for (const p of Object.keys({ ...prev.imports, ...cur.imports }).sort()) {
    if (same(prev.imports[p], cur.imports[p])) continue;
    const measured = (r?: ImportRecord) => r !== undefined && !r.digest.startsWith('key:');
    // A stale producer's outputs are not measured yet: the consumer may well turn out fresh.
    if (measured(prev.imports[p]) && !measured(cur.imports[p])) out.push({ kind: 'pending', step: p });
    else out.push({ kind: 'import', step: p });
  }
  return out.length ? out : [{ kind: 'field', field: `steps.${name}` }];
}
