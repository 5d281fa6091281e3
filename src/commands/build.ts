// `rep build`: plan, build the stale steps through an engine, record keys,
// and write the standalone Dockerfile.
import path from 'node:path';
import { fail, ok, type Result } from '../diag.js';
import { emitDockerfile } from '../emit/dockerfile.js';
import { writeDockerfile } from '../emit/write.js';
import { planBuild, type Plan } from '../plan/plan.js';
import type { Reason } from '../plan/reasons.js';
import type { Project } from '../project.js';
import { acquireLock } from '../state/lock.js';
import { readState, STATE_VERSION, writeState, type State } from '../state/state.js';
import { contextFiles } from './context.js';

export interface BuildOptions {
  engine: 'none';
  /** Where the standalone Dockerfile goes (default: Dockerfile in the context). */
  dockerfile?: string;
  /** Plan only: build nothing, write nothing. */
  dryRun?: boolean;
}

export interface StepOutcome {
  name: string;
  key: string;
  /** fresh: nothing to do; stale: would be built (--dry-run); recorded: key recorded without building (engine none); built: built by the engine. */
  action: 'fresh' | 'stale' | 'recorded' | 'built';
  reasons: Reason[];
}

export interface BuildRecord {
  engine: string;
  target: string;
  tag: string;
  steps: StepOutcome[];
  dockerfile: { path: string; written: boolean };
  plan: Plan;
}

export async function build(project: Project, opts: BuildOptions): Promise<Result<BuildRecord>> {
  const { recipe, ctx, dag } = project;
  const lock = opts.dryRun ? undefined : await acquireLock(ctx.dir);
  if (lock && !('release' in lock)) {
    return fail({ file: recipe.file, message: `another rep build (pid ${lock.heldBy}) holds .rep/lock` });
  }
  try {
    const state = readState(ctx.dir);
    const planned = planBuild(dag, ctx, { state });
    if (!planned.ok) return planned;
    const plan = planned.value;
    const dockerfilePath = path.resolve(ctx.dir, opts.dockerfile ?? 'Dockerfile');
    const steps: StepOutcome[] = plan.steps.map((s) => ({
      name: s.name,
      key: s.key,
      action: s.state === 'fresh' ? 'fresh' : opts.dryRun ? 'stale' : 'recorded',
      reasons: s.reasons,
    }));
    if (opts.dryRun) {
      return ok({ engine: opts.engine, target: dag.target, tag: recipe.image.tag, steps, dockerfile: { path: dockerfilePath, written: false }, plan });
    }
    const text = emitDockerfile(plan, { contextPaths: contextFiles(ctx).map((f) => f.path) });
    const written = writeDockerfile(dockerfilePath, text, path.relative(process.cwd(), dockerfilePath) || dockerfilePath);
    if (!written.ok) return written;
    const next: State = {
      version: STATE_VERSION,
      repfileSha256: recipe.sha256,
      engine: opts.engine,
      target: dag.target,
      steps: Object.fromEntries(plan.steps.map((s) => [s.name, { key: s.key, material: s.material }])),
    };
    writeState(ctx.dir, next);
    return ok({
      engine: opts.engine,
      target: dag.target,
      tag: recipe.image.tag,
      steps,
      dockerfile: { path: dockerfilePath, written: written.value },
      plan,
    });
  } finally {
    if (lock && 'release' in lock) lock.release();
  }
}
