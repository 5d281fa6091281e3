// `rep gc`: removes the step images (rep-cache:<key>) this project made or
// used that its recent states no longer refer to (gc/policy.ts decides). It
// holds the build mutex, so no build of this project runs meanwhile, and
// afterwards keeps in .rep/history.jsonl only the states whose images it kept,
// and the keys of the others whose images it did not remove (another engine's,
// or refused), so that a later gc can.
import { fail, formatDiagnostic, ok, type Result } from '../diag.js';
import { CACHE_REPO, cacheRef, imageStep } from '../scheduler/stepimage.js';
import type { Engine } from '../engine/engine.js';
import { planGc, type GcImage, type GcPolicy } from '../gc/policy.js';
import { openProject } from '../project.js';
import { projectPaths, type PathOptions } from '../projectpaths.js';
import { readHistoryFile, writeHistory } from '../state/history.js';
import { acquireMutex } from '../state/mutex.js';
import { shownEntry, stateDir } from '../state/paths.js';
import { formatSize, isRealDir } from '../safefs.js';
import { readState, stateDirProblem } from '../state/state.js';

export interface GcOptions extends GcPolicy {
  engine: Engine;
  /** Say what would be removed; remove nothing, write nothing. */
  dryRun?: boolean;
}

export interface GcReport {
  /** The engine gc ran against. */
  engine: string;
  /** Removed (or, on a dry run, to be removed), sorted by tag. */
  removed: GcImage[];
  kept: GcImage[];
  /** Those the engine would not remove (e.g. a container uses them). */
  failed: GcImage[];
  /** Keys of dropped states this engine does not list: kept in the history for a gc against the engine that has them (sorted). */
  unlisted: string[];
  /** What gc could not weigh, said before the rest (e.g. a Repfile that does not open). */
  notices: string[];
}

export async function gc(paths: PathOptions, opts: GcOptions): Promise<Result<GcReport>> {
  const { contextDir } = projectPaths(paths);
  const problem = stateDirProblem(contextDir);
  if (problem) return fail(problem);
  // Without an engine there are no images to weigh, and dropping states from the history would forget real ones.
  if (opts.engine.name === 'none') return fail({ kind: 'flag', flag: '--engine none', message: 'rep gc needs an engine (docker or podman): the none engine has no images' });
  // Nothing recorded (never built here): nothing to remove, and no .rep/ made for it.
  const held = opts.dryRun || !isRealDir(stateDir(contextDir)) ? undefined : await acquireMutex(contextDir, 0);
  if (held && !held.ok) return held;
  const mutex = held?.value;
  try {
    const { withImages, notices } = finalImages(paths);
    const { states: recorded, dropped } = readHistoryFile(contextDir);
    const records = Object.values(readState(contextDir)?.steps ?? {});
    // The state's keys rep sealed are its own; the others (a state that came with the project) are kept, never removed or recorded.
    const stateKeys = records.filter((s) => !s.unsealed).map((s) => s.key);
    const protect = new Set(withImages(records.filter((s) => s.unsealed).map((s) => s.key)));
    const history = recorded.map(withImages);
    // The newest history line is the current state's when it holds all of its steps: it also names the
    // images the build tagged besides them (the canonical and the final image), which belong to the current state too.
    const last = new Set(recorded.at(-1));
    const current = withImages(last.size && stateKeys.every((k) => last.has(k)) ? [...new Set([...stateKeys, ...last])] : stateKeys);
    const engine = opts.engine.name;
    if (history.length === 0 && current.length === 0 && dropped.length === 0) return ok({ engine, removed: [], kept: [], failed: [], unlisted: [], notices });
    const listed = await opts.engine.listImages(CACHE_REPO);
    const planned = planGc(history, current, listed, opts, dropped);
    const plan = { ...planned, remove: planned.remove.filter((i) => !protect.has(i.key)), keep: [...planned.keep, ...planned.remove.filter((i) => protect.has(i.key))].sort((a, b) => (a.tag < b.tag ? -1 : 1)) };
    // The keys of dropped states whose images were not removed stay in the history (the dropped line): this
    // engine did not list them (they may be another engine's: podman, another DOCKER_HOST) or refused. Only
    // keys rep recorded: a key of the state that rep did not seal is never written (a later gc would remove its image).
    const steps = new Set([...recorded.flat(), ...stateKeys, ...dropped]);
    const listedKeys = new Set(listed.flatMap((i) => i.tags.map((t) => `sha256:${t}`)));
    const unlisted = planned.dropped.filter((k) => steps.has(k) && !listedKeys.has(k));
    if (opts.dryRun) return ok({ engine, removed: plan.remove, kept: plan.keep, failed: [], unlisted, notices });
    for (const img of plan.remove) await opts.engine.removeImage(cacheRef(img.key));
    const left = new Set((await opts.engine.listImages(CACHE_REPO)).flatMap((i) => i.tags));
    const failed = plan.remove.filter((i) => left.has(i.tag));
    const gone = new Set(plan.remove.filter((i) => !left.has(i.tag)).map((i) => i.key));
    writeHistory(contextDir, { states: plan.keptStates.map((st) => st.filter((k) => steps.has(k))), dropped: planned.dropped.filter((k) => steps.has(k) && !gone.has(k)) });
    return ok({ engine, removed: plan.remove.filter((i) => !left.has(i.tag)), kept: plan.keep, failed, unlisted, notices });
  } finally {
    mutex?.release();
  }
}

/**
 * A state's keys with the final images they may have had. A build records its
 * final image's key (the target step's image with the Repfile's runtime
 * settings) with its state; a history written before it did names none, so
 * it is also computed here under the Repfile's image settings as they are
 * now, for each key as if it were the target (keys of images that were never
 * built name no image, so they change nothing). Without a Repfile that opens,
 * the keys alone, and a notice that says so.
 */
function finalImages(paths: PathOptions): { withImages: (keys: readonly string[]) => string[]; notices: string[] } {
  const project = openProject(paths);
  if (!project.ok) {
    const why = project.errors[0] ? formatDiagnostic(project.errors[0]).split('\n')[0] : 'the Repfile does not open';
    return { withImages: (keys) => [...keys], notices: [`${why}; gc works from ${shownEntry('history')} alone`] };
  }
  const { dag } = project.value;
  return { withImages: (keys) => [...keys, ...keys.map((k) => imageStep(dag, k).key)], notices: [] };
}

/** What gc prints: one line per image removed (or that would be), then a summary. */
export function formatGc(r: GcReport, dryRun: boolean): string {
  const total = (xs: GcImage[]) => formatSize(xs.reduce((n, i) => n + i.size, 0));
  const lines = [
    ...r.notices.map((n) => `rep gc: ${n}`),
    ...r.removed.map((i) => `${dryRun ? 'would remove' : 'removed'} ${cacheRef(i.key)} (${formatSize(i.size)})`),
    ...r.failed.map((i) => `not removed ${cacheRef(i.key)}: the engine refused (a container may use it)`),
  ];
  if (r.unlisted.length) lines.push(`rep gc: ${r.unlisted.length} step images of dropped states are not in this engine (${r.engine}): their keys stay in ${shownEntry('history')}, for a gc against the engine that has them`);
  lines.push(`rep gc: ${dryRun ? 'would remove' : 'removed'} ${r.removed.length} step images (${total(r.removed)}); kept ${r.kept.length} (${total(r.kept)})`);
  return lines.join('\n');
}
