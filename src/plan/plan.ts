// Dag -> Plan: each step's key, and whether it is fresh or stale and why.
import { canonicalJson } from '../canonical.js';
import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import type { BuildContext } from '../context/context.js';
import { StatCache, type HashedFile } from '../context/hash.js';
import { resolveInputs } from '../context/inputs.js';
import type { Dag, Parent } from '../graph/dag.js';
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
}

export function planBuild(dag: Dag, ctx: BuildContext, opts: PlanOptions = {}): Result<Plan> {
  const { recipe } = dag;
  const cache = opts.statCache ?? StatCache.forContext(ctx.dir);
  const recorded = opts.state?.steps ?? {};
  const isFresh = opts.isFresh ?? ((name, key) => recorded[name]?.key === key);
  const resolveBase = opts.resolveBase ?? ((ref) => ref);

  const errors: Diagnostic[] = [];
  const inputs = new Map<string, HashedFile[]>();
  for (const name of dag.order) {
    const step = dag.nodes.get(name)!.step;
    const r = resolveInputs(recipe, step, ctx);
    if (!r.ok) errors.push(...r.errors);
    else inputs.set(name, cache.hashAll(r.value));
  }
  cache.save();
  if (errors.length) return fail(...errors);

  const planned = new Map<string, PlannedStep>();
  const workdirs = new Map<string, string>();
  for (const name of dag.order) {
    const node = dag.nodes.get(name)!;
    const step = node.step;
    const parent = node.parent.kind === 'step' ? planned.get(node.parent.name)! : undefined;
    const workdir = step.workdir ?? (parent ? workdirs.get(parent.name)! : recipe.workdir);
    workdirs.set(name, workdir);

    const imports: Record<string, ImportRecord> = {};
    let pendingImport = false;
    for (const p of node.imports) {
      const producer = planned.get(p)!;
      const digest = producer.state === 'fresh' ? opts.outputsDigest?.(p, producer.key) : undefined;
      if (digest === undefined && producer.state === 'stale' && opts.outputsDigest) pendingImport = true;
      imports[p] = { paths: dag.nodes.get(p)!.step.outputs, digest: digest ?? `key:${producer.key}` };
    }
    const material: StepMaterial = {
      format: KEY_FORMAT,
      ...(node.parent.kind === 'image'
        ? { base: resolveBase(node.parent.ref), stage: { workdir: recipe.workdir, env: recipe.env } }
        : { parent: parent!.key }),
      def: {
        run: step.run,
        env: step.env,
        workdir,
        ...(step.user !== undefined ? { user: step.user } : {}),
        ...(step.shell !== undefined ? { shell: step.shell } : {}),
        phony: step.phony,
      },
      inputs: inputRecords(inputs.get(name)!),
      imports,
      ...(step.phony ? { nonce: newNonce() } : {}),
    };
    const key = stepKey(material);
    const fresh = !step.phony && !pendingImport && isFresh(name, key);
    const reasons = fresh ? [] : explain(recorded[name]?.key, recorded[name]?.material, material, key, node.parent, step.workdir !== undefined, name);
    planned.set(name, { name, key, state: fresh ? 'fresh' : 'stale', reasons, material, inputs: inputs.get(name)! });
  }
  const steps = dag.order.map((n) => planned.get(n)!);
  return ok({ dag, steps, step: (n: string) => planned.get(n)! });
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
  for (const f of ['run', 'env', 'workdir', 'user', 'shell', 'phony'] as const) {
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
    if (!same(prev.imports[p], cur.imports[p])) out.push({ kind: 'import', step: p });
  }
  return out.length ? out : [{ kind: 'field', field: `steps.${name}` }];
}
