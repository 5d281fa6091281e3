// Plan -> one standalone multi-stage Dockerfile that plain `docker build` on
// the context turns into the same filesystem as rep's step images.
import path from 'node:path';
import type { Dag, DagNode, Parent } from '../graph/dag.js';
import type { Plan } from '../plan/plan.js';
import type { ImageSpec, Recipe, Step } from '../repfile/recipe.js';
import { directoryCounts, planCopies } from './copies.js';
import { VERSION } from '../version.js';

const json = (v: unknown) => JSON.stringify(v);
/** COPY treats sources as patterns: escape the pattern characters of literal names. */
const literal = (p: string) => p.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
const envValue = (v: string) => `"${v.replace(/[\\"$]/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}"`;
const joinPath = (dir: string, rel: string) => (rel === '' ? (dir.endsWith('/') ? dir : `${dir}/`) : `${dir.replace(/\/$/, '')}/${rel}`);
const trimSlash = (p: string) => (p.length > 1 ? p.replace(/\/+$/, '') : p);

export function envLines(env: Record<string, string>): string[] {
  const keys = Object.keys(env).sort();
  return keys.length ? [`ENV ${keys.map((k) => `${k}=${envValue(env[k]!)}`).join(' \\\n    ')}`] : [];
}

/** The RUN instruction for a step's commands: all must succeed, in order. */
export function runLine(step: Pick<Step, 'run' | 'shell'> & { secrets?: string[] }): string[] {
  if (step.run.length === 0) return [];
  // Secrets are mounted for this one instruction only (BuildKit), at /run/secrets/ID.
  const run = `RUN ${(step.secrets ?? []).map((id) => `--mount=type=secret,id=${id},required=true `).join('')}`;
  const multi = step.run.some((c) => c.includes('\n'));
  if (step.shell) return [`${run}${json([...step.shell, step.run.join(multi ? '\n' : ' && ')])}`];
  if (multi) return [`${run}${json(['/bin/sh', '-ec', step.run.join('\n')])}`];
  return [`${run}${step.run.join(' \\\n && ')}`];
}

export function fromLine(p: Parent, resolveBase: (ref: string) => string, as?: string): string {
  const ref = p.kind === 'image' ? resolveBase(p.ref) : p.name;
  return `FROM ${ref}${as ? ` AS ${as}` : ''}`;
}

/** COPY lines putting a step's inputs at their relative paths under `workdir`, from the full context. */
export function inputCopies(workdir: string, inputPaths: readonly string[], contextPaths: readonly string[] | Map<string, number>): string[] {
  return planCopies(inputPaths, contextPaths).map((c) => `COPY ${json([...c.sources.map(literal), joinPath(workdir, c.dest)])}`);
}

/** The instructions a stage starting from an image begins with. */
export function stagePreamble(recipe: Recipe): string[] {
  return [`WORKDIR ${recipe.workdir}`, ...envLines(recipe.env)];
}

/**
 * Instructions of one step after its stage's FROM (and preamble).
 * `copies` puts the inputs in place; `ref` names the image or stage a producer's outputs come from.
 */
export function stepInstructions(
  dag: Dag,
  node: DagNode,
  inheritedWorkdir: string,
  workdir: string,
  copies: readonly string[],
  ref: (step: string) => string,
): string[] {
  const s = node.step;
  const lines: string[] = [];
  if (workdir !== inheritedWorkdir) lines.push(`WORKDIR ${workdir}`);
  lines.push(...envLines(s.env));
  for (const p of node.imports) {
    for (const out of dag.nodes.get(p)!.step.outputs.map(trimSlash)) {
      lines.push(`COPY --from=${ref(p)} ${json([literal(out), out])}`);
    }
  }
  lines.push(...copies);
  if (s.user !== undefined) lines.push(`USER ${s.user}`);
  lines.push(...runLine(s));
  return lines;
}

export function imageInstructions(image: ImageSpec): string[] {
  const lines: string[] = [];
  const labels = Object.keys(image.labels);
  if (labels.length) lines.push(`LABEL ${labels.map((k) => `${json(k)}=${json(image.labels[k])}`).join(' \\\n      ')}`);
  for (const p of image.expose) lines.push(`EXPOSE ${p}`);
  if (image.volumes.length) lines.push(`VOLUME ${json(image.volumes)}`);
  if (image.user !== undefined) lines.push(`USER ${image.user}`);
  const form = (v: string | string[]) => (typeof v === 'string' ? v : json(v));
  if (image.entrypoint !== undefined) lines.push(`ENTRYPOINT ${form(image.entrypoint)}`);
  if (image.cmd !== undefined) lines.push(`CMD ${form(image.cmd)}`);
  return lines;
}

export interface EmitOptions {
  /** Every path in the build context after .dockerignore (for whole-directory COPYs). */
  contextPaths: readonly string[];
  resolveBase?: (ref: string) => string;
}

const secretsUsed = (recipe: Recipe) => [...new Set(recipe.steps.flatMap((s) => s.secrets))].sort();

export function emitDockerfile(plan: Plan, opts: EmitOptions): string {
  const { dag } = plan;
  const recipe: Recipe = dag.recipe;
  const resolveBase = opts.resolveBase ?? ((r: string) => r);
  const stageOfStep = new Map(dag.stages.flatMap((st) => st.steps.map((s) => [s, st.name] as const)));
  const stageName = (step: string) => stageOfStep.get(step)!;
  const workdirs = new Map(plan.steps.map((p) => [p.name, p.material.def.workdir] as const));
  const counts = directoryCounts(opts.contextPaths);

  const out: string[] = [
    `# Generated by rep ${VERSION} from ${path.relative(recipe.contextDir, recipe.path).split(path.sep).join('/')} (sha256:${recipe.sha256}).`,
    `# Builds the image without rep:  ${secretsUsed(recipe).length ? `DOCKER_BUILDKIT=1 docker build ${secretsUsed(recipe).map((id) => `--secret id=${id},src=FILE `).join('')}` : 'docker build '}-t ${recipe.image.tag} -f Dockerfile .`,
    '# Edit the Repfile and run `rep build` instead of editing this file.',
  ];
  for (const stage of dag.stages) {
    out.push('', `# ---- stage ${stage.name}: ${stage.steps.join(' -> ')}`);
    out.push(fromLine(stage.from, resolveBase, stage.name));
    let inherited: string;
    if (stage.from.kind === 'image') {
      out.push(...stagePreamble(recipe));
      inherited = recipe.workdir;
    } else inherited = workdirs.get(stage.from.name)!;
    for (const name of stage.steps) {
      const node = dag.nodes.get(name)!;
      const p = plan.step(name);
      const deps = [...(node.parent.kind === 'step' ? [`builds on ${node.parent.name}`] : []), ...node.imports.map((i) => `imports ${i}`)];
      out.push('', `# step ${name}${deps.length ? ` (${deps.join(', ')})` : ''}${node.step.phony ? ' [phony]' : ''}`);
      if (node.step.description) out.push(...node.step.description.split('\n').map((l) => `#   ${l}`));
      const workdir = p.material.def.workdir;
      const copies = inputCopies(workdir, p.inputs.map((f) => f.path), counts);
      out.push(...stepInstructions(dag, node, inherited, workdir, copies, stageName));
      inherited = p.material.def.workdir;
    }
  }
  out.push('', `# ---- image ${recipe.image.tag}`, `FROM ${stageName(dag.target)}`, ...imageInstructions(recipe.image));
  return `${out.join('\n')}\n`;
}
