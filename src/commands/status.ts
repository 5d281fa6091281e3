// `rep status`: each step fresh or stale, with typed reasons.
import { ok, type Result } from '../diag.js';
import type { Engine } from '../engine/engine.js';
import { planWithEngine } from '../plan/freshness.js';
import { hashInputs, type Plan } from '../plan/plan.js';
import type { Project } from '../project.js';
import { materialOf, readState } from '../state/state.js';
import { lockProblems as lockLines, resolverFor } from '../lock/lockfile.js';

export { formatStatus, statusReport, type StepReport } from './statusreport.js';

/** Freshness by the engine's images, or (engine none) by the keys the last build recorded. */
export async function status(project: Project, engine?: Engine): Promise<Result<Plan>> {
  const state = readState(project.ctx.dir);
  const resolveBase = resolverFor(project.lock?.value);
  const inputs = hashInputs(project.dag, project.ctx);
  if (!inputs.ok) return inputs;
  return ok((await planWithEngine(engine, project.dag, inputs.value, { state, resolveBase, recordedMaterial: materialOf(project.ctx.dir) })).plan);
}

/** Problems of Repfile.lock against the Repfile, one line each (none when there is no lock or it matches). */
export function lockProblems(project: Project): string[] {
  return lockLines(project.dag, project.lock?.value);
}
