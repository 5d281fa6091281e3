// `rep init`: a commented Repfile from the environment files a repository
// has, or converted from its Dockerfile (binder/ shadowing the root, as in
// repo2docker); a default.nix is refused with a clear line (exit 2).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fail, ok, type Result } from '../diag.js';
import { detect, type Detected } from '../init/detect.js';
import { findBuildFile, repfileFromDockerfile } from '../init/dockerfile/fromrepo.js';
import type { Note } from '../init/dockerfile/model.js';
import { projectName, renderRepfile } from '../init/render.js';
import { writeFileAtomic } from '../state/files.js';

export interface InitResult {
  file: string;
  detected: Detected;
  text: string;
  /** The .dockerignore written when there was none. */
  dockerignore?: string;
  /** The Dockerfile converted (relative to the repository), and what of it was not. */
  dockerfile?: { rel: string; notes: Note[] };
}

/** Kept out of the context: rep's own files, so editing them does not change the code step. */
const DOCKERIGNORE = `# Written by rep init: what the build context leaves out.
.git
.rep
Repfile
Repfile.lock
Dockerfile
`;

/** Beside a converted Dockerfile: rep's files only, so `docker build` of the original sees what it saw before. */
const DOCKERIGNORE_CONVERTED = `# Written by rep init: rep's own files, left out of the build context
# (of rep build and of docker build of the original Dockerfile alike).
.rep
Repfile
Repfile.lock
Dockerfile.rep
`;

export function init(dir: string, opts: { file?: string; force?: boolean } = {}): Result<InitResult> {
  const file = path.resolve(dir, opts.file ?? 'Repfile');
  const display = path.relative(process.cwd(), file) || file;
  if (existsSync(file) && !opts.force) return fail({ file: display, message: 'exists; rep init does not overwrite it without --force' });
  const detected = detect(dir);
  const name = projectName(path.basename(path.resolve(dir)));
  const build = findBuildFile(dir, detected.envDir);
  if (build?.kind === 'nix') return fail({ file: build.rel, message: 'a Nix environment (repo2docker\'s Nix buildpack) is not supported by rep init; write the Repfile by hand (e.g. base: nixos/nix, run: nix-shell ...)' });
  let text: string;
  let dockerfile: InitResult['dockerfile'];
  if (build) {
    const converted = repfileFromDockerfile(dir, build.rel, name);
    if (!converted.ok) return converted;
    text = converted.value.text;
    dockerfile = { rel: build.rel, notes: converted.value.notes };
  } else text = renderRepfile(detected, name);
  writeFileAtomic(file, text);
  const ignore = path.join(dir, '.dockerignore');
  const result = { file, detected, text, ...(dockerfile ? { dockerfile } : {}) };
  if (existsSync(ignore)) return ok(result);
  writeFileAtomic(ignore, dockerfile ? DOCKERIGNORE_CONVERTED : DOCKERIGNORE);
  return ok({ ...result, dockerignore: ignore });
}
