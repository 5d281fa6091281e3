// A converted Dockerfile -> Repfile text: every step with the Dockerfile
// lines it came from and, as comments, what was not converted there. Every
// value is written by ../yaml.ts, so no Dockerfile text can add a line or a field.
import { dq, flow, yamlString } from '../yaml.js';
import type { Converted, DraftStep } from './model.js';
import { imageSafeName } from '../render.js';

function stepLines(s: DraftStep, file: string): string[] {
  const at = s.lines[0] === s.lines[1] ? `${s.lines[0]}` : `${s.lines[0]}-${s.lines[1]}`;
  // Through yamlString: a stage named `null` or `true` made a key YAML does not read as a name.
  const key = yamlString(s.name);
  const out = [`  ${key}:`, `    # ${file}:${at}`, ...s.comments.map((c) => `    # ${c}`)];
  if (s.from !== undefined) out.push(`    from: ${yamlString(s.from)}`);
  if (s.needs.length) out.push(`    needs: ${flow(s.needs)}`);
  if (s.workdir !== undefined) out.push(`    workdir: ${yamlString(s.workdir)}`);
  // Keys through yamlString too: `ENV False=4` wrote `False:`, which YAML reads as a boolean (the variable `false`).
  if (s.env.length) out.push('    env:', ...s.env.map(([k, v]) => `      ${yamlString(k)}: ${dq(v)}`));
  if (s.inputs.length) out.push(`    inputs: ${flow(s.inputs)}`);
  if (s.user !== undefined) out.push(`    user: ${yamlString(s.user)}`);
  if (s.shell) out.push(`    shell: ${flow(s.shell)}`);
  if (s.run.length === 1) out.push(`    run: ${yamlString(s.run[0]!)}`);
  else if (s.run.length > 1) out.push('    run:', ...s.run.map((r) => `      - ${yamlString(r)}`));
  if (s.outputs.length) out.push(`    outputs: ${flow(s.outputs)}`);
  // A step with nothing to do (a stage that only sets image settings) is an empty mapping, not null.
  if (out.length === 2 + s.comments.length) out[0] = `  ${key}: {}`;
  return out;
}

/**
 * The most characters of a converted Repfile: each step writes the stage's SHELL again, so a long one
 * and many RUNs made a Repfile of gigabytes from a Dockerfile of 256 KiB.
 */
export const CONVERTED_LIMIT = 8 << 20;

/** The Repfile for `c`, converted from the Dockerfile shown as `file`, for the project `name`; or the Dockerfile line of the step that took it past CONVERTED_LIMIT. */
export function renderConverted(c: Converted, file: string, name: string): { ok: true; text: string } | { ok: false; line: number; message: string } {
  const i = c.image;
  const out = [
    `# Repfile written by \`rep init\` from ${file}: each RUN is a step, COPY and ADD sources are inputs`,
    '# (copied to the step\'s workdir at their path in the context), FROM ... AS stages are steps with `from`.',
    `# Build it with \`rep build --dockerfile Dockerfile.rep\`: rep's standalone Dockerfile must not overwrite ${file}.`,
    '# A RUN that rep would run with `sh -e` (not one `a && b` list) starts with `set +e`, as Docker runs it.',
  ];
  if (c.notes.length) out.push(`# Not converted or changed: ${c.notes.length} place(s), each noted below as "${file}:LINE".`);
  const stepNames = new Set(c.steps.map((s) => s.name));
  const starts = [c.base, ...c.steps.flatMap((s) => (s.from !== undefined && !stepNames.has(s.from) ? [s.from] : []))];
  out.push(
    'rep: 1',
    `name: ${yamlString(imageSafeName(name, starts))}`,
    `base: ${yamlString(c.base)}`,
    // Docker starts a stage in its image's WorkingDir (not always /: Jupyter's images set /home/jovyan).
    "# A stage starts in its image's WORKDIR, which rep init cannot read: / is assumed (set it here if",
    "# the base image has another). The Dockerfile's WORKDIRs are on the steps.",
    'workdir: /',
    'steps:',
  );
  let size = 0;
  for (const s of c.steps) {
    const lines = stepLines(s, file);
    for (const l of lines) size += l.length + 1;
    if (size > CONVERTED_LIMIT) return { ok: false, line: s.lines[0], message: `the Repfile converted from this Dockerfile would be more than ${CONVERTED_LIMIT} characters by the step of this line: rep init does not convert it` };
    out.push(...lines);
  }
  out.push('image:', `  from: ${yamlString(i.from)}`);
  const cmdLike = (k: string, v: string | string[] | undefined) => (v === undefined ? [] : [`  ${k}: ${typeof v === 'string' ? yamlString(v) : flow(v)}`]);
  out.push(...cmdLike('entrypoint', i.entrypoint), ...cmdLike('cmd', i.cmd));
  if (i.expose.length) out.push(`  expose: ${flow(i.expose)}`);
  if (i.volumes.length) out.push(`  volumes: ${flow(i.volumes)}`);
  if (i.labels.length) out.push('  labels:', ...i.labels.map(([k, v]) => `    ${dq(k)}: ${dq(v)}`));
  return { ok: true, text: `${out.join('\n')}\n` };
}
