// Which file is the Repfile when none is named (kept apart from the loader, which is heavy).
import { existsSync } from 'node:fs';
import path from 'node:path';

export const REPFILE_NAMES = ['Repfile', 'Repfile.yaml', 'Repfile.yml'] as const;

/** ./Repfile, else ./Repfile.yaml or ./Repfile.yml; ./Repfile when there is none (to say it is missing). */
export function findRepfile(cwd: string): string {
  for (const name of REPFILE_NAMES) {
    if (existsSync(path.join(cwd, name))) return path.join(cwd, name);
  }
  return path.join(cwd, 'Repfile');
}
