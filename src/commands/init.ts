// `rep init`: a commented Repfile from the configuration files a repository
// has, read as repo2docker reads them (src/init/), and the .dockerignore that
// keeps what repo2docker's build context keeps.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fail, ok, type Result } from '../diag.js';
import { detect, type Detected } from '../init/detect.js';
import { planIgnore } from '../init/ignore.js';
import { planInit } from '../init/plan.js';
import { projectName, renderRepfile } from '../init/render.js';
import { writeFileAtomic } from '../state/files.js';

export interface InitResult {
  file: string;
  detected: Detected;
  text: string;
  /** Every file of the repository the Repfile (and .dockerignore) were made from. */
  used: string[];
  /** Where the Repfile differs from what repo2docker would build, one sentence each (also in the Repfile). */
  notes: string[];
  /** The .dockerignore written (none when the one there was kept). */
  dockerignore?: string;
}

export function init(dir: string, opts: { file?: string; force?: boolean; now?: Date } = {}): Result<InitResult> {
  const file = path.resolve(dir, opts.file ?? 'Repfile');
  const display = path.relative(process.cwd(), file) || file;
  if (existsSync(file) && !opts.force) return fail({ file: display, message: 'exists; rep init does not overwrite it without --force' });
  const detected = detect(dir);
  const plan = planInit(detected, opts.now ?? new Date());
  const ignore = planIgnore(detected, plan.steps.flatMap((s) => s.inputs));
  plan.notes.push(...ignore.notes);
  plan.used.push(...ignore.used);
  const text = renderRepfile(plan, projectName(path.basename(path.resolve(dir))));
  writeFileAtomic(file, text);
  const result: InitResult = { file, detected, text, used: plan.used, notes: plan.notes };
  if (ignore.text === undefined) return ok(result);
  writeFileAtomic(path.join(dir, '.dockerignore'), ignore.text);
  return ok({ ...result, dockerignore: path.join(dir, '.dockerignore') });
}
