// `rep gc`: removes the step images (rep-cache:<key>) this project made or
// used that its recent states no longer refer to (gc/policy.ts decides). It
// holds the build mutex, so no build of this project runs meanwhile, and
// afterwards keeps in .rep/history.jsonl only the states whose images it kept,
// and the keys of the others whose images it did not remove (another engine's,
// or refused), each with the image store gc ran against (Engine.store: docker's
// daemon ID, podman's graph root), so that a later gc can: one
// against another engine removes those it has, one against this engine
// forgets those it still does not list. It also removes the images builds
// recorded as pending (about to be tagged) and no state names: a killed build's.
import { fail, formatDiagnostic, ok, type Result } from '../diag.js';
import { CACHE_REPO, cacheRef, DISCARD_REPO, imageStep, LOAD_REPO } from '../scheduler/stepimage.js';
import { deadLoadName } from '../scheduler/cache.js';
import { deadPin, PIN_REPO } from '../scheduler/pins.js';
import type { Engine, ImageSummary } from '../engine/engine.js';
import { bytesOf, planGc, type GcImage, type GcPolicy } from '../gc/policy.js';
import { keysOtherProjectsUse, OTHER_STATE_LIMIT, REGISTER_BUDGET, registerProject } from '../gc/register.js';
import { openProject, type Project } from '../project.js';
import { projectPaths, type PathOptions } from '../projectpaths.js';
import { readHistoryFile, writeHistory } from '../state/history.js';
import { acquireMutex, mutexHolder } from '../state/mutex.js';
import { shownEntry, stateDir } from '../state/paths.js';
import { formatSize, isRealDir, lexists } from '../safefs.js';
import { parseImageRef } from '../lock/reference.js';
import { readState, stateDirProblem } from '../state/state.js';

/** How long gc waits for the build mutex: long enough to take over what a killed build left, not for a build. */
const GC_WAIT_MS = 1_000;

export interface GcOptions extends GcPolicy {
  engine: Engine;
  /** Say what would be removed; remove nothing, write nothing. */
  dryRun?: boolean;
}

export interface GcReport {
  /** The engine gc ran against: its name, and its identity (Engine.identity: name and server version), as said to the user. */
  engine: string;
  identity: string;
  /** Removed, image and all (or, on a dry run, to be removed: an image a user's tag names is then only untagged), sorted by tag. */
  removed: GcImage[];
  /** Tags removed (or to be) whose image stays, since another tag names it: no byte freed. Sorted by tag. */
  untagged: GcImage[];
  kept: GcImage[];
  /** Those the engine would not remove (e.g. a container uses them). */
  failed: GcImage[];
  /** Keys of states dropped now whose images this engine does not list: kept in the history for a gc against another engine, until one against this engine forgets them (sorted). */
  unlisted: string[];
  /** Keys of states an earlier gc against this engine dropped whose images it still does not list: forgotten (sorted). */
  forgotten: string[];
  /** What gc could not weigh, said before the rest (e.g. a Repfile that does not open). */
  notices: string[];
}

export async function gc(paths: PathOptions, opts: GcOptions): Promise<Result<GcReport>> {
  const { contextDir, repfile, problem: notAContext } = projectPaths(paths);
  if (notAContext) return fail(notAContext);
  const project = openProject(paths);
  // A Repfile named with -f that is not there is a mistake on the command line, not a project to weigh from its history alone.
  if (!project.ok && paths.file !== undefined && !lexists(repfile)) return project;
  const problem = stateDirProblem(contextDir);
  if (problem) return fail(problem);
  // Without an engine there are no images to weigh, and dropping states from the history would forget real ones.
  if (opts.engine.name === 'none') return fail({ kind: 'flag', flag: '--engine none', message: 'rep gc needs an engine (docker or podman): the none engine has no images' });
  // Nothing recorded (never built here): nothing to remove, and no .rep/ made for it.
  // A moment, not a build's time: a claim a killed build left is removed at the first try, and taken at the next.
  const held = opts.dryRun || !isRealDir(stateDir(contextDir)) ? undefined : await acquireMutex(contextDir, GC_WAIT_MS);
  if (held && !held.ok) return held;
  const mutex = held?.value;
  try {
    const { withImages, notices, bases } = fromRepfile(project);
    const { states: recorded, dropped: droppedBy, pending: pendingBy } = readHistoryFile(contextDir);
    const dropped = [...new Set(droppedBy.flatMap((d) => d.keys))];
    const records = Object.values(readState(contextDir)?.steps ?? {});
    // The state's keys rep sealed are its own; the others (a state that came with the project) are kept, never removed or recorded.
    const stateKeys = records.filter((s) => !s.unsealed).map((s) => s.key);
    const unsealed = new Set(withImages(records.filter((s) => s.unsealed).map((s) => s.key)));
    // Keys are content-only: another project of this user's (a second clone) may use the same step image.
    // What its current state names is kept; its .rep/ can only add to what is kept (gc/register.ts).
    const others = keysOtherProjectsUse(contextDir);
    const shared = others.keys;
    if (others.problem) notices.push(`the register of your projects cannot be read (${others.problem}): no step image is kept for another project's use; the next build or gc writes it afresh`);
    if (others.passedOver) notices.push(`passed over ${others.passedOver} other projects of yours (a .rep/ larger than gc reads of another project, ${formatSize(OTHER_STATE_LIMIT)}, or past ${formatSize(REGISTER_BUDGET)} read for all of them): a step image only they still use may be removed`);
    const protect = new Set([...unsealed, ...shared]);
    const history = recorded.map(withImages);
    // The newest history line is the current state's when it holds all of its steps: it also names the
    // images the build tagged besides them (the canonical and the final image), which belong to the current state too.
    const last = new Set(recorded.at(-1));
    const current = withImages(last.size && stateKeys.every((k) => last.has(k)) ? [...new Set([...stateKeys, ...last])] : stateKeys);
    const engine = opts.engine.name;
    const identity = await opts.engine.identity();
    // Dropped lines name the image store (the daemon's ID): lines an older rep wrote name the identity (the version).
    const store = (await opts.engine.store?.()) ?? identity;
    const ours = (named: string | undefined) => named === undefined || named === store || named === identity;
    // A pending key is a build's that wrote no state naming it: killed, or failed after tagging. Only its own engine's
    // are weighed (another engine's may have been built there alone), and none while a build runs (a dry run holds no
    // mutex): that build's images are not leftovers.
    const building = opts.dryRun && mutexHolder(contextDir) !== undefined;
    // A pending line names its store always (one that names none is no build's to weigh, and is forgotten).
    const here = (d: { engine?: string }) => d.engine !== undefined && ours(d.engine);
    const pendingHere = building ? [] : [...new Set(pendingBy.filter(here).flatMap((d) => d.keys))];
    const pendingAll = new Set(pendingBy.flatMap((d) => d.keys));
    if (history.length === 0 && current.length === 0 && dropped.length === 0 && pendingHere.length === 0) {
      // Nothing of this project's to remove; what killed reps left is anyone's to sweep (a review: it stayed until a gc
      // ran in a project with a history).
      if (!opts.dryRun) await sweepLeftNames(opts.engine);
      return ok({ engine, identity, removed: [], untagged: [], kept: [], failed: [], unlisted: [], forgotten: [], notices });
    }
    const listed = await opts.engine.listImages(CACHE_REPO);
    const planned = planGc(history, current, listed, opts, { dropped: [...dropped, ...pendingHere], bases: await baseImages(opts.engine, bases) });
    const plan = { ...planned, remove: planned.remove.filter((i) => !protect.has(i.key)), keep: [...planned.keep, ...planned.remove.filter((i) => protect.has(i.key))].sort((a, b) => (a.tag < b.tag ? -1 : 1)) };
    // The keys of dropped states whose images were not removed stay in the history (the dropped lines): this
    // engine did not list them (they may be another engine's: podman, another DOCKER_HOST) or refused. Only
    // keys rep recorded: a key of the state that rep did not seal is never written (a later gc would remove its image).
    const steps = new Set([...recorded.flat(), ...stateKeys, ...dropped, ...pendingAll]);
    const listedKeys = new Set(listed.flatMap((i) => i.tags.map((t) => `sha256:${t}`)));
    const othersUse = planned.remove.filter((i) => shared.has(i.key) && !unsealed.has(i.key)).length;
    if (othersUse) notices.push(`kept ${othersUse} step images another project of yours still uses (its current state names them): a gc here removes them once none does`);
    const still = new Set(planned.dropped.filter((k) => steps.has(k)));
    // The dropped keys to carry once `gone` are removed (a key whose image this gc removed, for every engine): those an
    // earlier gc against another engine dropped; this engine's, only while it lists them (a line that names no engine is
    // taken for this engine's); and those dropped now. So a key no engine holds goes with the next gc against the engine that dropped it.
    // A pending key this engine does not list is forgotten without a word (the build may have been killed before it
    // tagged it); one it lists and did not remove is dropped like a state's. Another engine's pending keys stay pending
    // for a gc against it, even those a state of this store names.
    const carried = (gone: ReadonlySet<string>) => {
      const known = new Set(dropped);
      const elsewhere = droppedBy.filter((d) => !ours(d.engine)).map((d) => ({ ...d, keys: d.keys.filter((k) => still.has(k) && !gone.has(k)) }));
      const mine = [...still].filter((k) => !gone.has(k) && (listedKeys.has(k) || (!known.has(k) && !pendingAll.has(k))));
      const next = [...elsewhere, { engine: store, keys: mine }].filter((d) => d.keys.length);
      const kept = new Set(next.flatMap((d) => d.keys));
      const pending = pendingBy.filter((d) => d.engine !== undefined && !ours(d.engine));
      return { next, pending, unlisted: mine.filter((k) => !known.has(k) && !listedKeys.has(k)), forgotten: dropped.filter((k) => still.has(k) && !gone.has(k) && !kept.has(k)).sort() };
    };
    if (opts.dryRun) {
      const { unlisted, forgotten } = carried(new Set(plan.remove.map((i) => i.key)));
      return ok({ engine, identity, removed: plan.remove.filter((i) => !i.untagOnly), untagged: plan.remove.filter((i) => i.untagOnly), kept: plan.keep, failed: [], unlisted, forgotten, notices });
    }
    registerProject(contextDir);
    for (const img of plan.remove) await opts.engine.removeImage(cacheRef(img.key));
    await sweepLeftNames(opts.engine);
    const left = new Set((await opts.engine.listImages(CACHE_REPO)).flatMap((i) => i.tags));
    const failed = plan.remove.filter((i) => left.has(i.tag));
    const untied = plan.remove.filter((i) => !left.has(i.tag));
    // A tag gone is an image gone only when no other tag named it: a user's tag (docker tag rep-cache:K mine) keeps it.
    const ids = await opts.engine.imageIds([...new Set(untied.map((i) => i.id))]);
    const { next, pending, unlisted, forgotten } = carried(new Set(untied.map((i) => i.key)));
    writeHistory(contextDir, { states: plan.keptStates.map((st) => st.filter((k) => steps.has(k))), dropped: next, pending });
    return ok({ engine, identity, removed: untied.filter((i) => ids.get(i.id) === undefined), untagged: untied.filter((i) => ids.get(i.id) !== undefined), kept: plan.keep, failed, unlisted, forgotten, notices });
  } finally {
    mutex?.release();
  }
}

/**
 * Removes the names a killed rep left, which no running rep holds: on an image it was about to discard (DISCARD_REPO:
 * only names of that shape, 32 hex digits; `rep verify --rebuild` of a bundle called "discard" tags
 * rep-verify/discard:<12 hex>, an image that stays for the reviewer), on a cache folder's images it had loaded
 * (LOAD_REPO), and the pins of the images it was building on (scheduler/pins.ts), their process gone.
 */
async function sweepLeftNames(engine: Engine): Promise<void> {
  const dead: [string, (tag: string) => boolean][] = [[DISCARD_REPO, (t) => /^[0-9a-f]{32}$/.test(t)], [LOAD_REPO, deadLoadName], [PIN_REPO, deadPin]];
  for (const [repo, isDead] of dead) {
    for (const i of await engine.listImages(repo)) for (const t of i.tags) if (isDead(t)) await engine.removeImage(`${repo}:${t}`).catch(() => undefined);
  }
}

/**
 * What gc takes from the Repfile as it is now, when it opens: the base images
 * its steps build on (see baseImages), and a state's keys with the final
 * images they may have had. A build records its final image's key (the target
 * step's image with the Repfile's runtime settings) with its state; a history
 * written before it did names none, so it is also computed here under the
 * Repfile's image settings, for each key as if it were the target (keys of
 * images that were never built name no image, so they change nothing).
 * Without a Repfile that opens, the keys alone, and a notice that says so.
 */
function fromRepfile(project: Result<Project>): { withImages: (keys: readonly string[]) => string[]; notices: string[]; bases: string[] } {
  if (!project.ok) {
    const why = project.errors[0] ? formatDiagnostic(project.errors[0]).split('\n')[0] : 'the Repfile does not open';
    return { withImages: (keys) => [...keys], notices: [`${why}; gc works from ${shownEntry('history')} alone`], bases: [] };
  }
  const { dag } = project.value;
  const bases = [...dag.nodes.values()].flatMap((n) => (n.parent.kind === 'image' ? [n.parent.ref] : []));
  return { withImages: (keys) => [...keys, ...keys.map((k) => imageStep(dag, k).key)], notices: [], bases };
}

/**
 * The images of the base images' repositories (`busybox` for busybox:latest or busybox@sha256:...), as
 * the engine lists them: their sizes let the first step of a stage be charged what it adds to its base
 * (gc/policy.ts ownSizes). Asked under each name an engine may print for it (repositoryNames). Best
 * effort: a repository the engine does not list is left out, and its steps are charged whole.
 */
async function baseImages(engine: Engine, refs: readonly string[]): Promise<ImageSummary[]> {
  const names = new Set(refs.flatMap(repositoryNames));
  const out = new Map<string, ImageSummary>();
  for (const name of names) for (const img of await engine.listImages(name).catch(() => [])) out.set(img.id, img);
  return [...out.values()];
}

/**
 * The names engines print for the repository of `ref`: docker prints Docker Hub's as written short
 * (debian, user/app, for docker.io/library/debian too), podman in full (docker.io/library/debian);
 * another registry's as written (localhost/app; the engine's listing takes podman's localhost/ too).
 */
function repositoryNames(ref: string): string[] {
  const { registry, repository } = parseImageRef(ref);
  if (registry !== 'docker.io') return [`${registry}/${repository}`];
  return [repository.replace(/^library\//, ''), `docker.io/${repository}`];
}

/**
 * What gc prints: notices, one line per image removed (or that would be) and per tag removed whose image
 * stays, then a summary. A dry run sees rep-cache tags only: an image a user also tagged is only untagged
 * when it comes to it, so its bytes are "up to".
 */
export function formatGc(r: GcReport, dryRun: boolean): string {
  const total = (xs: GcImage[]) => formatSize(bytesOf(xs));
  const [remove, untag] = dryRun ? ['would remove', 'would untag'] : ['removed', 'untagged'];
  const lines = [
    ...r.notices.map((n) => `rep gc: ${n}`),
    ...r.removed.map((i) => `${remove} ${cacheRef(i.key)} (${formatSize(i.size)})`),
    // A dry run knows the rep-cache tags alone; after the removal, the image may also stay because an image is built on
    // it (a killed build's half-made step, which docker keeps untagged).
    ...r.untagged.map((i) => `${untag} ${cacheRef(i.key)}: ${dryRun ? 'another tag names its image' : 'its image stays (another tag names it, or an image is built on it)'}`),
    ...r.failed.map((i) => `not removed ${cacheRef(i.key)}: the engine refused (a container may use it)`),
  ];
  if (r.unlisted.length) lines.push(`rep gc: ${r.unlisted.length} step images of dropped states are not in this engine (${r.identity}): their keys stay in ${shownEntry('history')} for a gc against another engine that may hold them (podman, another DOCKER_HOST); the next gc against this one forgets them`);
  if (r.forgotten.length) lines.push(`rep gc: ${dryRun ? 'would forget' : 'forgot'} the keys of ${r.forgotten.length} step images of dropped states an earlier gc against this engine (${r.identity}) kept: it does not hold them`);
  const hedged = dryRun && r.removed.length ? `up to ${total(r.removed)}: an image a tag of another repository names is only untagged` : total(r.removed);
  const untagged = r.untagged.length ? `; ${untag} ${r.untagged.length}` : '';
  lines.push(`rep gc: ${remove} ${r.removed.length} step images (${hedged})${untagged}; kept ${r.kept.length} (${total(r.kept)})`);
  return lines.join('\n');
}
