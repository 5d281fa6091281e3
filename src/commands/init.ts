// `rep init`: a commented Repfile from the configuration files a repository
// has, read as repo2docker reads them (src/init/), and the .dockerignore that
// keeps what repo2docker's build context keeps; or converted from its
// Dockerfile (binder/ shadowing the root, as in repo2docker). A default.nix
// is refused with a clear line (exit 2).
import { lstatSync, statSync } from 'node:fs';
import path from 'node:path';
import { clip, errnoWords, fail, ok, printable, type IoProblem, type Result } from '../diag.js';
import { detect, type Detected } from '../init/detect.js';
import { findBuildFile, repfileFromDockerfile } from '../init/dockerfile/fromrepo.js';
import type { Note } from '../init/dockerfile/model.js';
import { LEAVING_COMMENT, leavingRules, planIgnore } from '../init/ignore.js';
import { planInit } from '../init/plan.js';
import { projectName, renderRepfile } from '../init/render.js';
import { linkProblem } from '../emit/write.js';
import { contextProblem } from '../projectpaths.js';
import { lexists, readBounded, tempNameProblem } from '../safefs.js';
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
  /** The Dockerfile converted (relative to the repository), and what of it was not. */
  dockerfile?: { rel: string; notes: Note[] };
}

/**
 * Beside a converted Dockerfile: rep's files, so that `docker build` of the
 * original sees what it saw before; links out of the repository are added
 * below it (docker build would send them as links; rep builds with none).
 */
const DOCKERIGNORE_CONVERTED = `# Written by rep init: rep's own files, left out of the build context
# (of rep build and of docker build of the original Dockerfile alike).
.rep
Repfile
Repfile.lock
Dockerfile.rep
`;

export function init(dir: string, opts: { file?: string; force?: boolean; now?: Date } = {}): Result<InitResult> {
  // The folder the user named (a link to one is theirs to make): never created here.
  const shownDir = path.relative(process.cwd(), dir) || dir;
  let folder;
  try {
    folder = statSync(dir, { throwIfNoEntry: false });
  } catch {
    // A part of its path a file, a path too long, a folder rep may not enter: said as -C is everywhere (it was an errno, exit 1).
    return fail(contextProblem(dir, shownDir) ?? { file: shownDir, message: 'cannot be read' });
  }
  if (!folder?.isDirectory()) return fail({ file: shownDir, message: 'not a folder: rep init writes a Repfile for the folder of a repository' });
  const file = path.resolve(dir, opts.file ?? 'Repfile');
  const display = path.relative(process.cwd(), file) || file;
  // Written through no link a cloned repository holds (docs -> /elsewhere), and into a folder that is there.
  const link = linkProblem(dir, file, display, 'choose another path with -f');
  if (link) return fail(link);
  if (!isFolder(path.dirname(file))) return fail({ file: display, message: `its folder ${path.relative(process.cwd(), path.dirname(file)) || '.'} is not there (or not a folder): rep init creates no folder; make it, or choose another path with -f` });
  const long = tempNameProblem(file);
  if (long) return fail({ file: display, message: `${long}: choose another path with -f` });
  let there;
  try {
    there = lstatSync(file, { throwIfNoEntry: false });
  } catch (e) {
    // A folder rep may not enter: the errno was all it said. Refused permission is the io problem the write's would be
    // (exit 1, as for a folder rep may read and not write: a review); anything else, the path's (exit 2).
    const code = (e as NodeJS.ErrnoException).code;
    const message = `cannot be written (${errnoWords(code, (e as Error).message)}): choose another path with -f`;
    return fail(code === 'EACCES' || code === 'EPERM' ? { kind: 'io', file: display, message } : { file: display, message });
  }
  if (there?.isDirectory()) return fail({ file: display, message: 'a folder: rep init writes the Repfile only over a file or a link' });
  if (there && !opts.force) return fail({ file: display, message: 'exists; rep init does not overwrite it without --force' });
  const detected = detect(dir);
  const name = projectName(path.basename(path.resolve(dir)));
  const build = findBuildFile(dir, detected.envDir);
  // repo2docker tries its Julia build packs before the Nix one (app.py): a Julia project leaves default.nix unused.
  const nixUnused = build?.rel.endsWith('default.nix') && (detected.files['Project.toml'] ?? detected.files['JuliaProject.toml']) !== undefined;
  if (build?.kind === 'refused' && !nixUnused) return fail({ file: shown(dir, build.rel), message: build.message });
  if (build?.kind === 'nix' && !nixUnused) return fail({ file: shown(dir, build.rel), message: 'a Nix environment (repo2docker\'s Nix buildpack) is not supported by rep init; write the Repfile by hand (e.g. base: nixos/nix, run: nix-shell ...)' });
  if (build?.kind === 'dockerfile') return fromDockerfile(dir, file, detected, build.rel, name);
  const plan = planInit(detected, opts.now ?? new Date());
  if (nixUnused) plan.notes.push(`${build!.rel}: not used, as repo2docker builds the Julia project before it would look at Nix`);
  const ignore = planIgnore(detected, plan.steps.flatMap((s) => s.inputs));
  plan.notes.push(...ignore.notes);
  plan.used.push(...ignore.used);
  plan.notes = bounded(plan.notes);
  const text = renderRepfile(plan, name);
  const wrote = written(file, text);
  if (wrote) return fail(wrote);
  const result: InitResult = { file, detected, text, used: plan.used, notes: plan.notes };
  if (ignore.text === undefined) return ok(result);
  const wroteIgnore = written(path.join(dir, '.dockerignore'), ignore.text);
  if (wroteIgnore) return fail(wroteIgnore);
  return ok({ ...result, dockerignore: path.join(dir, '.dockerignore') });
}

/**
 * Writes `file` whole (writeFileAtomic), or says why it could not be written (exit 1): a folder rep may not
 * write (a read-only checkout, `init --force`) was an errno line naming the temp file beside it.
 */
function written(file: string, text: string): IoProblem | undefined {
  try {
    writeFileAtomic(file, text);
    return undefined;
  } catch (e) {
    return { kind: 'io', file: path.relative(process.cwd(), file) || file, message: `cannot write it (${errnoWords((e as NodeJS.ErrnoException).code, (e as Error).message)})` };
  }
}

/** Whether `p` is a folder (or a link to one): false when it, or a folder on its way, is not there or is a file. */
function isFolder(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A file of the repository as a diagnostic names it: relative to where rep runs, as the Repfile is (the CLI shows its line from there). */
const shown = (dir: string, rel: string) => path.relative(process.cwd(), path.join(dir, rel)) || rel;

/** Most notes said (an apt.txt of a million bad words is a million problems, and one mistake). */
const NOTES_MAX = 20;

/**
 * Notes as said: at most NOTES_MAX, each cut short, with escapes for what a
 * terminal or a comment line would act on (they quote the repository's files).
 */
function bounded(notes: string[]): string[] {
  const said = notes.slice(0, NOTES_MAX).map((n) => printable(clip(n)));
  return notes.length > NOTES_MAX ? [...said, `${notes.length - NOTES_MAX} more notes, not listed`] : said;
}

/** The Repfile converted from the repository's Dockerfile (`rel`), and a .dockerignore of rep's files when there is none. */
function fromDockerfile(dir: string, file: string, detected: Detected, rel: string, name: string): Result<InitResult> {
  const converted = repfileFromDockerfile(dir, rel, name);
  if (!converted.ok) return fail(...converted.errors.map((e) => ('file' in e && e.file === rel ? { ...e, file: shown(dir, rel) } : e)));
  const { text, notes } = converted.value;
  const wrote = written(file, text);
  if (wrote) return fail(wrote);
  const result: InitResult = { file, detected, text, used: [rel], notes: [], dockerfile: { rel, notes } };
  const ignore = path.join(dir, '.dockerignore');
  if (lexists(ignore)) {
    // The user's file is left as it is; the links it lets through (most repositories with a Dockerfile have one) are named.
    const theirs = readBounded(ignore);
    if (theirs.ok) {
      const leaving = leavingRules(dir, theirs.bytes.toString('utf8'), false);
      if (leaving.rules.length) result.notes.push(...bounded([`.dockerignore is left as it is: add ${leaving.rules.slice(0, 5).join(', ')}${leaving.rules.length > 5 ? ` and ${leaving.rules.length - 5} more` : ''} to it, or a step that copies them does not build`, ...leaving.notes]));
    }
    return ok(result);
  }
  // A link out of the repository fails any step whose inputs hold it (COPY . . does): left out, and said.
  const leaving = leavingRules(dir, DOCKERIGNORE_CONVERTED);
  result.notes.push(...bounded(leaving.notes));
  const links = `# Added by rep init: ${LEAVING_COMMENT}\n# docker build of the original Dockerfile no longer sends them either (it sent them as links).\n${leaving.rules.join('\n')}\n`;
  const wroteIgnore = written(ignore, leaving.rules.length ? `${DOCKERIGNORE_CONVERTED}${links}` : DOCKERIGNORE_CONVERTED);
  if (wroteIgnore) return fail(wroteIgnore);
  return ok({ ...result, dockerignore: ignore });
}
