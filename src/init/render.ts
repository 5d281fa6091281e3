// The text of the Repfile rep init writes for an InitPlan: a header naming
// every file it read and every place it differs from repo2docker, then the
// steps in order, each with a comment saying what it is for.
import { printable } from '../diag.js';
import type { InitPlan } from './draft.js';
import { WORKDIR } from './draft.js';
import { flow, yamlString } from './yaml.js';
import { imageRefProblem, namesRepImage, sameNameTag } from '../lock/reference.js';
import { defaultImageTag } from '../repfile/schema.js';


/** Text cut into lines of at most ~92 characters at spaces, its control characters escaped so none ends a comment early. */
function wrap(text: string): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of printable(text).split(' ')) {
    if (line && line.length + word.length + 1 > 92) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...out, line];
}
const comment = (indent: string, text: string) => wrap(text).map((l) => `${indent}# ${l}`.trimEnd());

export function projectName(dir: string): string {
  const n = dir
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .replace(/[._-]{2,}/g, '-');
  return n || 'analysis';
}

/**
 * `name`, unless the image tag it gives (NAME:latest) is one a Repfile may not
 * use: one of rep's own names (a folder called rep-cache), or an image it builds
 * on (a folder called python with base python:latest). Then `NAME-analysis`.
 */
export function imageSafeName(name: string, starts: readonly string[]): string {
  const tag = defaultImageTag(name);
  const clash = namesRepImage(tag) || starts.some((b) => imageRefProblem(b, { digest: true }) === undefined && sameNameTag(b, tag));
  return clash ? `${name}-analysis` : name;
}

export function renderRepfile(plan: InitPlan, name: string): string {
  const lines: string[] = comment(
    '',
    `Repfile written by \`rep init\` from ${plan.used.length ? plan.used.join(', ') : 'no environment files'}, following repo2docker's rules for them. ` +
      'Steps run from what changes least to what changes most, so that editing code rebuilds only the last steps. ' +
      'Check the base image and the commands, then run `rep build` (`--network host` where containers reach the network only so).',
  );
  if (plan.notes.length) {
    lines.push('#', '# Where this differs from what repo2docker would build, or what it leaves out:');
    for (const n of plan.notes) lines.push(...wrap(n).map((l, i) => `#   ${i === 0 ? '- ' : '  '}${l}`.trimEnd()));
  }
  lines.push('rep: 1', `name: ${yamlString(imageSafeName(name, [plan.base]))}`, ...comment('', plan.baseWhy), `base: ${yamlString(plan.base)}`, `workdir: ${WORKDIR}`, 'env:');
  for (const [k, v] of plan.env) lines.push(`  ${k}: ${yamlString(v)}`);
  lines.push('steps:');
  plan.steps.forEach((s, i) => {
    lines.push(`  ${s.name}:`, ...comment('    ', s.comment));
    if (i > 0) lines.push(`    needs: [${plan.steps[i - 1]!.name}]`);
    if (s.user) lines.push(`    user: ${yamlString(s.user)}`);
    if (s.inputs.length) lines.push(`    inputs: ${flow(s.inputs)}`);
    if (s.run.length === 1) lines.push(`    run: ${yamlString(s.run[0]!)}`);
    else if (s.run.length > 1) lines.push('    run:', ...s.run.map((r) => `      - ${yamlString(r)}`));
  });
  lines.push('image:', `  from: ${plan.steps[plan.steps.length - 1]!.name}`);
  if (plan.image.user) lines.push(`  user: ${yamlString(plan.image.user)}`);
  if (plan.image.entrypoint) lines.push('  # start wraps every command (it ends with exec "$@"), as repo2docker runs it', `  entrypoint: ${flow(plan.image.entrypoint)}`);
  lines.push(`  cmd: ${flow(plan.image.cmd)}`);
  return `${lines.join('\n')}\n`;
}
