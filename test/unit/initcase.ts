// One repository through `rep init`, for the tests that check the Repfile it
// writes: the Repfile must open and its inputs resolve; the result, and the
// step of a name (the test fails when there is none).
import { init } from '../../src/commands/init.js';
import { hashInputs } from '../../src/plan/plan.js';
import { makeProject, open, type Tree } from '../helpers.js';

/** The day the tests' rep init runs (dated snapshots are chosen against it). */
export const NOW = new Date('2026-11-27T12:00:00Z');

export function initIn(tree: Tree) {
  const dir = makeProject(tree, 'myrepo-');
  const r = init(dir, { now: NOW });
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  const p = open(dir);
  const hashed = hashInputs(p.dag, p.ctx);
  if (!hashed.ok) throw new Error(`inputs do not resolve: ${hashed.errors.map((e) => e.message).join('\n')}`);
  return { dir, text: r.value.text, notes: r.value.notes, used: r.value.used, project: p, recipe: p.recipe, order: p.dag.order };
}

export type Init = ReturnType<typeof initIn>;

export const stepOf = (x: Init, n: string) => {
  const s = x.recipe.steps.find((st) => st.name === n);
  if (!s) throw new Error(`no step ${n} in ${x.order.join(', ')}`);
  return s;
};
