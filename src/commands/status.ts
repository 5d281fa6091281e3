// `rep status`: each step fresh or stale, with typed reasons.
import { ok, type Result } from '../diag.js';
import type { Engine } from '../engine/engine.js';
import { planWithEngine } from '../plan/freshness.js';
import { hashInputs, type Plan } from '../plan/plan.js';
import { formatReason, type Reason } from '../plan/reasons.js';
import type { Project } from '../project.js';
import { readState } from '../state/state.js';
import { checkLock, resolverFor } from '../lock/lockfile.js';

export interface StepReport {
  name: string;
  key: string;
  state: 'fresh' | 'stale';
  reasons: Reason[];
}

/** Freshness by the engine's images, or (engine none) by the keys the last build recorded. */
export async function status(project: Project, engine?: Engine): Promise<Result<Plan>> {
  const state = readState(project.ctx.dir);
  const resolveBase = resolverFor(project.lock?.value);
  const inputs = hashInputs(project.dag, project.ctx);
  if (!inputs.ok) return inputs;
  return ok((await planWithEngine(engine, project.dag, inputs.value, { state, resolveBase })).plan);
}

/** Problems of Repfile.lock against the Repfile, one line each (none when there is no lock or it matches). */
export function lockProblems(project: Project): string[] {
  const c = checkLock(project.dag, project.lock?.value);
  if (!c) return [];
  return [
    ...c.missing.map((r) => `Repfile.lock: "${r}" is not pinned (run rep lock)`),
    ...c.extra.map((r) => `Repfile.lock: pins "${r}", which the Repfile no longer uses (run rep lock)`),
  ];
}

export function statusReport(plan: Plan, lock: string[] = []): { steps: StepReport[]; lock: string[] } {
  return { steps: plan.steps.map(({ name, key, state, reasons }) => ({ name, key, state, reasons })), lock };
}

export function formatStatus(plan: Plan): string {
  const width = Math.max(...plan.steps.map((s) => s.name.length));
  return plan.steps
    .map((s) => {
      const why = s.state === 'fresh' ? s.key.slice(0, 19) : s.reasons.map(formatReason).join('; ');
      return `${s.name.padEnd(width)}  ${s.state}  ${why}`;
    })
    .join('\n');
}
