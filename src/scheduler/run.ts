// The scheduler: runs every step as soon as the steps it depends on are done,
// up to `jobs` engine builds at once. A step whose key already names an image
// is not built; a producer's outputs are measured so that consumers are keyed
// by content (early cutoff).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pLimit from 'p-limit';
import { formatDiagnostic, tailLines } from '../diag.js';
import { dependenciesOf } from '../graph/dag.js';
import { EngineError, PathMissingError, type Engine, type SecretValue } from '../engine/engine.js';
import type { Plan, PlannedStep } from '../plan/plan.js';
import type { Project } from '../project.js';
import { appendNoFollow, writeReplacing } from '../safefs.js';
import { stepLogName } from '../state/paths.js';
import { stateFolder, type State } from '../state/state.js';
import { cacheRef, DISCARD_REPO, folderCopies, keyHex, stepArchive, stepContext, stepDockerfile, wholeFolders } from './stepimage.js';
import { firstAdded, firstChanged, type ContextIndex } from '../context/files.js';
import { firstNotCopiedExactly } from '../context/folders.js';
import { firstRehashedOther } from '../context/hash.js';
import { loadContext, type BuildContext } from '../context/context.js';
import { tagImage } from './finalimage.js';
import { PinError, Pins } from './pins.js';
import type { BuildEvent, StepStatus } from './events.js';
import { measureOutputs } from './outputs.js';
import type { CacheFrom } from './cache.js';

export interface RunOptions {
  jobs: number;
  network?: string;
  signal?: AbortSignal;
  state?: State;
  onEvent?: (e: BuildEvent) => void;
  resolveBase?: (ref: string) => string;
  /** Caches asked for a step before it is built. */
  cacheFrom?: CacheFrom;
  /** Where each secret's value is (a file, or the value), for the steps that mount them. */
  secrets?: Record<string, SecretValue>;
  /** Keys (hex) the engine is known to have; others are looked up one by one. */
  present?: Set<string>;
  /**
   * Where the images the run goes on to use are held (scheduler/pins.ts): the caller's, to keep them past the
   * run (the canonical rewrite reads them) and release them; else the run's own, released when it ends.
   */
  pins?: Pins;
  /** The image id each of those keys names (by key hex), where the engine said it. */
  images?: ReadonlyMap<string, string>;
  /** Whether the run tags the final image as the Repfile says (default); not when the canonical rewrite will. */
  tag?: boolean;
  /**
   * Called with a key before the run tags an image rep-cache:<key> (or has the engine build one under it): the
   * build records it in the history first (state/history.ts pendingRecorder), so that gc finds the images of a
   * build killed before it wrote its state.
   */
  beforeTag?: (key: string) => Promise<void>;
  /**
   * The context as the build walked it: an engine that syncs folders
   * (BuildKit) reads the context folder and copies the inputs from it,
   * as the standalone Dockerfile does; others get each step's inputs as a tar.
   */
  context?: ContextIndex;
}

export interface StepResult {
  name: string;
  status: StepStatus;
  planned?: PlannedStep;
  imageId?: string;
  outputsDigest?: string;
  seconds?: number;
}

export interface RunResult {
  ok: boolean;
  cancelled: boolean;
  steps: Map<string, StepResult>;
  image?: { tag: string; imageId: string };
}

/** Runs the plan's steps, settling each on `plan` as it comes to it (so the plan ends as built). */
export async function runBuild(project: Project, engine: Engine, plan: Plan, opts: RunOptions): Promise<RunResult> {
  const { dag, ctx } = project;
  const emit = opts.onEvent ?? (() => {});
  // .rep/logs and each log are rep's own: a link planted there is replaced, never written through.
  const logDir = stateFolder(ctx.dir, 'logs');
  const { planner } = plan;
  const present = new Set(opts.present);
  // Outputs digests of this run's steps, by key: what downstream keys are made of.
  const digests = new Map<string, string>();
  // .rep/state.json may have come with a clone: its digest of a step's outputs is taken only for that step,
  // cached under the key it was recorded with. A step built now is measured (a planted digest made a
  // downstream key, and so a shared rep-cache tag, stand for outputs the step never made). So is one whose
  // key names another image than the one measured: a step built again under its key (its image removed, a
  // command that writes other bytes each time) by a build killed before it wrote the state, or by another
  // project, made other outputs than those the digest says.
  const recorded = (name: string, key: string, image: string | undefined): string | undefined => {
    const rec = opts.state && Object.hasOwn(opts.state.steps, name) ? opts.state.steps[name] : undefined;
    return rec?.key === key && image !== undefined && rec.image === image ? rec.outputsDigest : undefined;
  };
  const imported = new Set([...dag.nodes.values()].flatMap((n) => n.imports));
  const fromFolder = engine.syncsFolders && opts.context ? folderCopies(project, opts.context) : undefined;
  const reproducible = project.recipe.reproducible;
  const epoch = reproducible ? new Date(reproducible.epoch * 1000) : undefined;
  const limit = pLimit(Math.max(1, opts.jobs));
  const pins = opts.pins ?? new Pins(engine);
  /** The pin of a settled step's image: the one its result names (measured, recorded), else the one its key names now. */
  const pinned = async (r: StepResult): Promise<string> => {
    try {
      return await pins.pin(r.planned!.key, r.imageId);
    } catch (e) {
      throw e instanceof PinError ? new StepFailure(`step "${r.name}": ${e.message}`) : e;
    }
  };
  const results = new Map<string, Promise<StepResult>>();
  // The first step to come to each key (not phony). Another step with the same key (the same commands on the
  // same inputs, in another stage) waits for it and takes its image rather than build the key a second time at
  // once: the second build moved the tag to its own image, and took the outputs digest measured on the first.
  const firstOfKey = new Map<string, Promise<StepResult>>();
  let failed = false;
  const started = Date.now();

  /** A step, failures included: whatever goes wrong (the engine, its outputs) fails that step, never the whole build. */
  const buildStep = async (name: string): Promise<StepResult> => {
    const at: { key?: string } = {};
    try {
      return await stepBody(name, at);
    } catch (e) {
      failed = true;
      const failure = e instanceof StepFailure ? e : new StepFailure((e as Error).message, e instanceof EngineError ? e.detail : '');
      emit({ type: 'step-failed', step: name, key: at.key ?? '', exitCode: 1, tail: failure.tail, log: '', error: failure.message });
      return { name, status: 'failed' };
    }
  };

  const stepBody = async (name: string, at: { key?: string }): Promise<StepResult> => {
    const node = dag.nodes.get(name)!;
    const depResults = await Promise.all(dependenciesOf(node).map(run));
    const broken = depResults.find((r) => r.status !== 'cached' && r.status !== 'built');
    if (broken) {
      emit({ type: 'step-skipped', step: name, because: `"${broken.name}" ${broken.status}` });
      return { name, status: 'skipped' };
    }
    const keyed = planner.key(name, (_p, k) => digests.get(k));
    const { key } = keyed;
    at.key = key;
    const first = node.step.phony ? undefined : firstOfKey.get(key);
    if (!node.step.phony && !first) firstOfKey.set(key, results.get(name)!);
    const same = first && (await first);
    if (same && same.status !== 'cached' && same.status !== 'built') {
      emit({ type: 'step-skipped', step: name, because: `"${same.name}" ${same.status}` });
      return { name, status: 'skipped' };
    }
    let fresh = !node.step.phony && (same !== undefined || present.has(keyHex(key)) || (await engine.hasImage(cacheRef(key))));
    if (!fresh && !node.step.phony && opts.cacheFrom && !failed && !opts.signal?.aborted) {
      const from = await opts.cacheFrom.fetch(key);
      if (from) {
        fresh = true;
        present.add(keyHex(key));
        emit({ type: 'step-pulled', step: name, key, from });
      }
    }
    const planned = planner.settle(name, keyed, fresh);
    let status: StepStatus = 'cached';
    let imageId: string | undefined;
    let seconds: number | undefined;
    if (fresh) {
      // The image the key names, as the engine said before the run (or the step of the same key built): recorded
      // in the state with its outputs digest.
      imageId = same ? same.imageId : opts.images?.get(keyHex(key));
      emit({ type: 'step-cached', step: name, key });
    } else {
      const outcome = await limit(async () => {
        if (failed || opts.signal?.aborted) return undefined;
        emit({ type: 'step-building', step: name, key, reasons: planned.reasons });
        const log = path.join(logDir, stepLogName(name));
        // A step with few inputs goes as a tar in memory where the engine takes that faster (Engine.smallArchive),
        // when it builds on images the engine has: such a build carries no registry credentials to pull one.
        const few = engine.smallArchive && planned.inputs.length <= engine.smallArchive.files && planned.inputs.reduce((n, f) => n + f.size, 0) <= engine.smallArchive.bytes;
        const small = few && (node.parent.kind === 'step' || (await engine.hasImage((opts.resolveBase ?? ((r: string) => r))(node.parent.ref))));
        // The steps it builds on and copies from, by the images this run settled for them, held under pins: their
        // rep-cache tags may name other images by now (another project's build of the same key), or none (rep gc).
        const held = new Map(await Promise.all(depResults.map(async (r) => [r.name, await pinned(r)] as const)));
        // From the context folder, unless the step starts from a base with ONBUILD triggers: a build runs them first,
        // with the context it was given, and an `ONBUILD COPY . /x` copied the whole project (.rep/ and files no
        // input names) into an image keyed by the inputs alone (a review). Such a step gets its inputs as a tar, and so
        // does one on a base the engine does not have yet (pinned by the lock or a digest, pulled by the build): its
        // triggers are not known.
        // A step parent is asked too: rep builds none with triggers (docker drops ONBUILD from a child), but one a
        // cache gave (--cache-from, or a tag an earlier run took from one) is whatever its writer made (a review).
        const parentRef = node.parent.kind === 'image' ? (opts.resolveBase ?? ((r: string) => r))(node.parent.ref) : held.get(node.parent.name);
        const baseImage = !small && fromFolder !== undefined && parentRef !== undefined ? await engine.inspect(parentRef) : null;
        const triggered = baseImage !== null && (baseImage === undefined || baseImage.onBuild === true);
        const folder = small || triggered ? undefined : fromFolder;
        const dockerfile = stepDockerfile(dag, name, (s) => planner.get(s)!, opts.resolveBase, folder, (s) => held.get(s)!);
        const whole = folder ? wholeFolders(project, opts.context!, planned.inputs.map((f) => f.path)) : [];
        writeReplacing(log, `# ${cacheRef(key)}\n${dockerfile}\n`);
        const t0 = Date.now();
        // Built untagged, and keyed below once the inputs are checked: an engine that tagged rep-cache:<key> itself
        // would key an image of bytes read after the hash whenever rep did not get to the check (killed, cancelled
        // as the engine tagged, or a client left running by a killed rep), and a later build of those bytes would
        // find the image fresh.
        const r = await engine.build({
          context: small ? { archive: await stepArchive(dockerfile, planned.inputs, epoch) } : folder ? { folder: ctx.dir, dockerfile } : stepContext(dockerfile, planned.inputs, epoch),
          network: opts.network,
          noCache: node.step.phony,
          secrets: node.step.secrets.map((id) => ({ id, ...opts.secrets![id]! })),
          signal: opts.signal,
          onLine: (line) => {
            appendNoFollow(log, `${line}\n`);
            emit({ type: 'step-line', step: name, line });
          },
        });
        const seconds = (Date.now() - t0) / 1000;
        if (!r.ok) {
          // Failed or cancelled after the engine made its image: that image is no step's.
          if (r.imageId !== undefined) await discard(engine, r.imageId);
          return { r, log, seconds };
        }
        // The engine read the inputs after they were hashed (from the folder, or through rep's tar): one written
        // in between is in the image, which keyed by its old bytes an undo would find fresh: it is not keyed. A
        // folder copied whole is read as it is then: a file added to it is in the image too. Checked before the
        // slot is let go, so that with one job a step is said built before the next is said building. A file hashed
        // within a tick of its last write may have been written again with a stamp that cannot tell (a one-second
        // clock, the same size): those few are read again. Read again rather than hashed as rep's tar streamed them:
        // a builder that syncs the folder reads the files itself, and one check serves both ways.
        const changed = firstChanged(planned.inputs) ?? firstRehashedOther(planned.inputs);
        // A builder that reads the folder applies .dockerignore as it is then, and the checks here the rules the project
        // was opened with: a line taken out meanwhile put a file they exclude into a folder copied whole (one put in
        // left out a file the key names), which they cannot see.
        const unruled = changed === undefined && folder !== undefined && ignoreChanged(ctx);
        const added = changed === undefined && !unruled && whole.length ? firstAdded(ctx.dir, ctx.ignore, whole, new Set(planned.inputs.map((f) => f.path))) : undefined;
        const reshaped = changed === undefined && !unruled && added === undefined && whole.length ? firstNotCopiedExactly(ctx.dir, ctx.ignore, opts.context!.files, whole) : undefined;
        if (changed !== undefined || unruled || added !== undefined || reshaped !== undefined) {
          await discard(engine, r.imageId);
          const what =
            changed !== undefined ? `input ${changed} changed`
            : unruled ? '.dockerignore changed'
            : added !== undefined ? `${added} was added to a folder the step copies whole`
            : `${reshaped}, which the step copies whole, changed (a folder or a special file in it, or a folder's mode)`;
          return { r, log, seconds, moved: `${what} while the step was built: its image is not kept under a key hashed from what it was before; build again` };
        }
        // Keyed now, before the step is said built and before a later step builds FROM it (it waits for this one);
        // a tag the key had (a build of the same inputs meanwhile) is moved to this image.
        // Recorded only when the tag is not there: one another build made (the same key, meanwhile) is its own.
        try {
          if (opts.beforeTag && !(await engine.hasImage(cacheRef(key)))) await opts.beforeTag(key);
        } catch (e) {
          await discard(engine, r.imageId);
          throw new StepFailure(`cannot record the step's key before tagging its image (.rep/history.jsonl): ${(e as Error).message}`, '');
        }
        try {
          await engine.tag(r.imageId, cacheRef(key));
        } catch (e) {
          await discard(engine, r.imageId);
          throw new StepFailure(`cannot tag the step's image ${cacheRef(key)}: ${(e as Error).message}`, e instanceof EngineError ? e.detail : '');
        }
        emit({ type: 'step-built', step: name, key, imageId: r.imageId, seconds });
        return { r, log, seconds };
      });
      if (!outcome) return { name, status: 'skipped', planned };
      if (!outcome.r.ok) {
        if (outcome.r.cancelled) return { name, status: 'cancelled', planned };
        failed = true;
        // A build that failed because the engine went away says so, rather than blame the step.
        const engineDown = (await engine.answers()) ? undefined : `the ${engine.name} engine stopped answering during the build: is its daemon running?`;
        emit({ type: 'step-failed', step: name, key, exitCode: outcome.r.exitCode, tail: outcome.r.tail, log: outcome.log, engineDown });
        return { name, status: 'failed', planned };
      }
      if ('moved' in outcome && outcome.moved) throw new StepFailure(outcome.moved);
      status = 'built';
      imageId = outcome.r.imageId;
      seconds = outcome.seconds;
      present.add(keyHex(key));
    }
    let outputsDigest: string | undefined;
    if (imported.has(name)) {
      // Measured on the image pinned for its consumers: the one they copy from is the one measured.
      const measure = async () => measureOutputs(engine, await pinned({ name, status, planned, imageId }), node.step.outputs).catch((e: unknown) => (e instanceof StepFailure ? Promise.reject(e) : outputsFailed(name, key, imageId, e)));
      outputsDigest = (status === 'cached' ? recorded(name, key, imageId) : undefined) ?? digests.get(key) ?? (await measure());
      digests.set(key, outputsDigest);
      emit({ type: 'outputs-measured', step: name, digest: outputsDigest });
    }
    return { name, status, planned, imageId, outputsDigest, seconds };
  };

  function run(name: string): Promise<StepResult> {
    let p = results.get(name);
    if (!p) {
      p = buildStep(name);
      results.set(name, p);
    }
    return p;
  }

  /**
   * The step's image lacks its declared outputs (or they cannot be read): a
   * failure located on steps.NAME.outputs. The image is no cache entry for
   * its key, so the next build runs the step again.
   */
  const outputsFailed = async (name: string, key: string, measured: string | undefined, e: unknown): Promise<never> => {
    present.delete(keyHex(key));
    // The image measured was the run's pin of it: its key's tag is removed only while it names that image (another
    // project's build may have moved it to its own meanwhile, which may well hold the outputs).
    const named = measured === undefined ? undefined : (await engine.imageIds([cacheRef(key)]).catch(() => new Map<string, string | undefined>())).get(cacheRef(key));
    if (measured === undefined || (named !== undefined && keyHex(named) === keyHex(measured))) await engine.removeImage(cacheRef(key));
    const message = e instanceof PathMissingError ? `the step did not create ${e.path}` : `cannot read the outputs from the step's image: ${(e as Error).message}`;
    const detail = e instanceof PathMissingError ? '' : e instanceof EngineError ? e.detail : '';
    throw new StepFailure(formatDiagnostic(project.recipe.source.at(['steps', name, 'outputs'], message)), detail);
  };

  // Start every step at once; each waits for its own dependencies.
  const all = await Promise.all(dag.order.map(run));
  // Every step's key is settled now: a cache folder's step images that none of them asked for go again (see CacheFrom.release).
  await opts.cacheFrom?.release();
  const settled = new Map(all.map((r) => [r.name, r] as const));
  const cancelled = [...settled.values()].some((r) => r.status === 'cancelled') || Boolean(opts.signal?.aborted);
  const ok = [...settled.values()].every((r) => r.status === 'cached' || r.status === 'built');
  let image: RunResult['image'];
  if (ok) {
    const target = settled.get(dag.target)!;
    image = await pinned(target)
      .then((on) => tagImage(project, engine, target.planned!.key, on, pins, opts))
      .catch((e: Error) => {
        emit({ type: 'step-failed', step: 'image', key: '', exitCode: 1, tail: e instanceof EngineError ? tailLines(e.detail) : [], log: '', error: e.message });
        return undefined;
      });
  }
  if (!opts.pins) await pins.release();
  const counts = [...settled.values()];
  emit({
    type: 'finish',
    ok: ok && image !== undefined,
    built: counts.filter((r) => r.status === 'built').length,
    cached: counts.filter((r) => r.status === 'cached').length,
    seconds: (Date.now() - started) / 1000,
  });
  return { ok: ok && image !== undefined, cancelled, steps: settled, image };
}

/**
 * Removes an image a step build made that rep does not key (best effort). Not by its id: a build whose layers were
 * all cached comes out as an image that may be named already (another key's step image, the Repfile's image), and
 * docker and podman remove an image's only tag along with it when asked by id. Untagging a name of its own removes
 * the image only when no other tag names it.
 */
async function discard(engine: Engine, imageId: string): Promise<void> {
  const name = `${DISCARD_REPO}:${randomBytes(16).toString('hex')}`;
  try {
    await engine.tag(imageId, name);
  } catch {
    return;
  }
  await engine.removeImage(name).catch(() => {});
}

/**
 * Whether the .dockerignore a build that read the context folder applied is not the text `ctx` was opened
 * with, read as loadContext reads it (a link followed inside the context only): a file that cannot be read
 * as one now is a change too. No Dockerfile's own ignore file applies: a step's Dockerfile goes on stdin
 * (`-f -`), into a folder of the client's that holds nothing beside it.
 */
function ignoreChanged(ctx: BuildContext): boolean {
  const now = loadContext(ctx.dir);
  return !now.ok || now.value.ignoreText !== ctx.ignoreText;
}

/** A step that failed outside its engine build: `message` says why in one line; `detail` is the engine's words, if any. */
class StepFailure extends Error {
  readonly tail: string[];
  constructor(message: string, detail = '') {
    super(message);
    this.tail = tailLines(detail);
  }
}

