// Keys step by step: a step's material (its definition, inputs, parent and
// producers' outputs) and the key that hashes it, settled fresh or stale.
import { canonicalJson } from '../canonical.js';
import type { HashedFile } from '../context/hash.js';
import { workdirOf, type Dag } from '../graph/dag.js';
import { explain } from './explain.js';
import { inputRecords, KEY_FORMAT, newNonce, pinned, stepKey, type EngineFacts, type ImportRecord, type StepMaterial } from './key.js';
import type { PlannedStep, PlanOptions } from './plan.js';

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
  private readonly materials = new Map<string, StepMaterial | undefined>();

  constructor(
    readonly dag: Dag,
    private readonly inputs: Map<string, HashedFile[]>,
    private readonly opts: Pick<PlanOptions, 'state' | 'recordedMaterial' | 'resolveBase'> & {
      /** Phony steps' nonces, to recompute recorded keys (rep verify); one new nonce per step otherwise. */
      nonces?: Record<string, string>;
      /** What the engine said the keys depend on (none without an engine). */
      facts?: EngineFacts;
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
        ? { base: resolveBase(node.parent.ref), stage: this.stage(node.parent.ref, resolveBase(node.parent.ref)) }
        : { parent: parentKey! }),
      def: {
        run: step.run,
        env: step.env,
        workdir: workdirOf(this.dag, name),
        ...(step.user !== undefined ? { user: step.user } : {}),
        ...(step.shell !== undefined ? { shell: step.shell } : {}),
        phony: step.phony,
        ...(step.secrets.length ? { secrets: [...step.secrets].sort() } : {}),
        // `imports` below is a map (sorted in the key's JSON): the order the outputs are copied in is kept here.
        ...(node.imports.length > 1 ? { imports: [...node.imports] } : {}),
        ...(step.outputs.length ? { outputs: [...step.outputs] } : {}),
      },
      inputs: inputRecords(this.inputs.get(name)!),
      imports,
      ...(step.phony ? { nonce: this.nonceOf(name) } : {}),
    };
    const keyed = { material, key: stepKey(material), pending, signature };
    this.keyed.set(name, keyed);
    return keyed;
  }

  /** The Repfile-wide settings of a stage that starts from the image `ref` (`resolved` by the lock). */
  private stage(ref: string, resolved: string): NonNullable<StepMaterial['stage']> {
    const { recipe } = this.dag;
    const facts = this.opts.facts;
    const baseId = pinned(resolved) ? undefined : facts?.baseIds.get(ref);
    return {
      workdir: recipe.workdir,
      env: recipe.env,
      ...(recipe.reproducible ? { epoch: recipe.reproducible.epoch } : {}),
      ...(facts?.platform ? { platform: facts.platform } : {}),
      ...(baseId ? { baseId } : {}),
    };
  }

  /** Records the verdict on a keyed step, with reasons when it is stale. */
  settle(name: string, { material, key }: Keyed, fresh: boolean): PlannedStep {
    const node = this.dag.nodes.get(name)!;
    const rec = this.opts.state?.steps[name];
    const prev = rec && rec.key !== key && !node.step.phony ? this.recorded(name) : undefined;
    const reasons = fresh ? [] : explain(rec?.key, prev, material, key, node.parent, node.step.workdir !== undefined, name, {
      recorded: this.opts.state?.steps ?? {},
      fresh: (step) => this.planned.get(step)?.state === 'fresh',
    });
    const p: PlannedStep = { name, key, state: fresh ? 'fresh' : 'stale', reasons, material, inputs: this.inputs.get(name)! };
    this.planned.set(name, p);
    return p;
  }

  /** What the last build keyed `name` from: read once (only a stale step whose key changed asks). */
  private recorded(name: string): StepMaterial | undefined {
    if (!this.materials.has(name)) {
      const rec = this.opts.state?.steps[name];
      this.materials.set(name, rec && (rec.material ?? this.opts.recordedMaterial?.(rec)));
    }
    return this.materials.get(name);
  }

  private nonceOf(name: string): string {
    let n = this.nonces.get(name) ?? this.opts.nonces?.[name];
    if (n === undefined) n = newNonce();
    this.nonces.set(name, n);
    return n;
  }
}
