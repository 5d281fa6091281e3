// `rep status`: each step fresh or stale, with typed reasons.
import type { Result } from '../diag.js';
import type { Engine } from '../engine/engine.js';
import { engineFreshness } from './build.js';
import { planBuild, type Plan } from '../plan/plan.js';
import { formatReason, type Reason } from '../plan/reasons.js';
import type { Project } from '../project.js';
import { readState } from '../state/state.js';

export interface StepStatus {
  name: string;
  key: string;
  state: 'fresh' | 'stale';
  reasons: Reason[];
}

/** Freshness by the engine's images, or (engine none) by the keys the last build recorded. */
export async function status(project: Project, engine?: Engine): Promise<Result<Plan>> {
  const state = readState(project.ctx.dir);
  const byEngine = engine && engine.name !== 'none' ? await engineFreshness(engine, state) : {};
  return planBuild(project.dag, project.ctx, { state, ...byEngine });
}

export function statusReport(plan: Plan): { steps: StepStatus[] } {
  return { steps: plan.steps.map(({ name, key, state, reasons }) => ({ name, key, state, reasons })) };
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
