// `rep init`: a commented Repfile from the environment files a repository has.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fail, ok, type Result } from '../diag.js';
import { detect, type Detected } from '../init/detect.js';
import { projectName, renderRepfile } from '../init/render.js';
import { writeFileAtomic } from '../state/files.js';

export interface InitResult {
  file: string;
  detected: Detected;
  text: string;
  /** The .dockerignore written when there was none. */
  dockerignore?: string;
}

/** Kept out of the context: rep's own files, so editing them does not change the code step. */
const DOCKERIGNORE = `# Written by rep init: what the build context leaves out.
.git
.rep
Repfile
Repfile.lock
Dockerfile
`;

export function init(dir: string, opts: { file?: string; force?: boolean } = {}): Result<InitResult> {
  const file = path.resolve(dir, opts.file ?? 'Repfile');
  const display = path.relative(process.cwd(), file) || file;
  if (existsSync(file) && !opts.force) return fail({ file: display, message: 'exists; rep init does not overwrite it without --force' });
  const detected = detect(dir);
  const text = renderRepfile(detected, projectName(path.basename(path.resolve(dir))));
  writeFileAtomic(file, text);
  const ignore = path.join(dir, '.dockerignore');
  if (existsSync(ignore)) return ok({ file, detected, text });
  writeFileAtomic(ignore, DOCKERIGNORE);
  return ok({ file, detected, text, dockerignore: ignore });
}
