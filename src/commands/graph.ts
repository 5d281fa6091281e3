// `rep graph`: the step graph, drawn once every step's inputs resolve in the
// context (checked as `rep status` checks them, without hashing a file).
import { fail, ok, type Result } from '../diag.js';
import { renderGraph, type GraphFormat } from '../emit/graph.js';
import { resolveAllInputs } from '../plan/plan.js';
import type { Project } from '../project.js';

export function graph(project: Project, format: GraphFormat): Result<string> {
  const inputs = resolveAllInputs(project.dag, project.ctx);
  return inputs.ok ? ok(renderGraph(project.dag, format)) : fail(...inputs.errors);
}
