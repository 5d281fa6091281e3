// What `rep status` prints, from the steps as planned: light on purpose, since
// the quick path (commands/quick.ts) prints it from the no-op record before
// the rest of rep loads.
import { formatReasons, type Reason } from '../plan/reasons.js';

export interface StepReport {
  name: string;
  key: string;
  state: 'fresh' | 'stale';
  reasons: Reason[];
}

/** What `rep status --json` prints: each step, and the lock's problems. */
export function statusReport(plan: { steps: readonly StepReport[] }, lock: string[] = []): { steps: StepReport[]; lock: string[] } {
  return { steps: plan.steps.map(({ name, key, state, reasons }) => ({ name, key, state, reasons })), lock };
}

/** One line per step: its name, fresh and the start of its key, or stale and why. */
export function formatStatus(plan: { steps: readonly StepReport[] }): string {
  const width = Math.max(...plan.steps.map((s) => s.name.length));
  return plan.steps
    .map((s) => {
      const why = s.state === 'fresh' ? s.key.slice(0, 19) : formatReasons(s.reasons);
      return `${s.name.padEnd(width)}  ${s.state}  ${why}`;
    })
    .join('\n');
}
