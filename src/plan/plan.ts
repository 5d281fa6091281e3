// Dag -> Plan: each step's key, and whether it is fresh or stale and why.
import { canonicalJson } from '../canonical.js';
import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import type { BuildContext } from '../context/context.js';
import { StatCache, type HashedFile } from '../context/hash.js';
import { resolveInputs } from '../context/inputs.js';
import { ContextIndex, type ContextFile } from '../context/files.js';
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

/** Every step's input files (not yet hashed), resolved in the context `index` (walked here when absent). */
export function resolveAllInputs(dag: Dag, ctx: BuildContext, walked?: ContextIndex): Result<Map<string, ContextFile[]>> {
  const found = walked ? ok(walked) : ContextIndex.walk(ctx.dir, ctx.ignore);
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

/** A step's material and key, and whether a producer's outputs were stood in for by its key. */
export interface Keyed {
  material: StepMaterial;
  key: string;
  pending: boolean;
}

/**
 * Works out keys step by step, each once the steps it depends on are keyed:
 * the build settles producers (and measures their outputs) before it keys
 * their consumers. A step asked again with the same parent key and producer
 * digests gets the key it already has.
 */
export class Planner {
  private readonly planned = new Map<string, PlannedStep>();
  private readonly keyed = new Map<string, Keyed & { signature: string }>();
  private readonly nonces = new Map<string, string>();

  constructor(
    readonly dag: Dag,
    private readonly inputs: Map<string, HashedFile[]>,
    private readonly opts: Pick<PlanOptions, 'state' | 'resolveBase'> & {
      /** Phony steps' nonces, to recompute recorded keys (rep verify); one new nonce per step otherwise. */
      nonces?: Record<string, string>;
    } = {},
  ) {}

  /** The step as last settled. */
  get(name: string): PlannedStep | undefined {
    return this.planned.get(name);
  }

  /**
   * The material and key of `name`, whose parent and producers are keyed.
   * `digestOf` gives a producer's outputs digest when known; unknown ones are
   * stood in for by the producer's key (and `pending` says so).
   */
  key(name: string, digestOf: (producer: string, producerKey: string) => string | undefined): Keyed {
    const { recipe } = this.dag;
    const node = this.dag.nodes.get(name)!;
    const step = node.step;
    const parentKey = node.parent.kind === 'step' ? this.keyed.get(node.parent.name)!.key : undefined;
    const imports: Record<string, ImportRecord> = {};
    let pending = false;
    for (const p of node.imports) {
      const producerKey = this.keyed.get(p)!.key;
      const digest = digestOf(p, producerKey);
      if (digest === undefined) pending = true;
      imports[p] = { paths: this.dag.nodes.get(p)!.step.outputs, digest: digest ?? `key:${producerKey}` };
    }
    const signature = canonicalJson({ parentKey: parentKey ?? null, imports });
    const known = this.keyed.get(name);
    if (known?.signature === signature) return known;
    const resolveBase = this.opts.resolveBase ?? ((ref: string) => ref);
    const material: StepMaterial = {
      format: KEY_FORMAT,
      ...(node.parent.kind === 'image'
        ? { base: resolveBase(node.parent.ref), stage: { workdir: recipe.workdir, env: recipe.env } }
        : { parent: parentKey! }),
      def: {
        run: step.run,
        env: step.env,
        workdir: workdirOf(this.dag, name),
        ...(step.user !== undefined ? { user: step.user } : {}),
        ...(step.shell !== undefined ? { shell: step.shell } : {}),
        phony: step.phony,
        ...(step.secrets.length ? { secrets: [...step.secrets].sort() } : {}),
      },
      inputs: inputRecords(this.inputs.get(name)!),
      imports,
      ...(step.phony ? { nonce: this.nonceOf(name) } : {}),
    };
    const keyed = { material, key: stepKey(material), pending, signature };
    this.keyed.set(name, keyed);
    return keyed;
  }

  /** Records the verdict on a keyed step, with reasons when it is stale. */
  settle(name: string, { material, key }: Keyed, fresh: boolean): PlannedStep {
    const node = this.dag.nodes.get(name)!;
    const rec = this.opts.state?.steps[name];
    const reasons = fresh ? [] : explain(rec?.key, rec?.material, material, key, node.parent, node.step.workdir !== undefined, name);
    const p: PlannedStep = { name, key, state: fresh ? 'fresh' : 'stale', reasons, material, inputs: this.inputs.get(name)! };
    this.planned.set(name, p);
    return p;
  }

  private nonceOf(name: string): string {
    let n = this.nonces.get(name) ?? this.opts.nonces?.[name];
    if (n === undefined) n = newNonce();
    this.nonces.set(name, n);
    return n;
  }
}

export function planBuild(dag: Dag, ctx: BuildContext, opts: PlanOptions = {}): Result<Plan> {
  const hashed = opts.inputs ? ok(opts.inputs) : hashInputs(dag, ctx, opts.statCache, opts.index);
  if (!hashed.ok) return hashed;
  return ok(planSteps(new Planner(dag, hashed.value, opts), opts));
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
