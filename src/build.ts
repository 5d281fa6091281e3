// `rep build`: plan, build the stale steps through an engine, record keys,
// and write the standalone Dockerfile. Each stage is its own module; this is
// the order they run in.
import path from 'node:path';
import { fail, ok, type Result } from './diag.js';
import type { BuildEvent } from './scheduler/events.js';
import { runBuild, type RunResult, type StepResult } from './scheduler/run.js';
import { CacheFrom, type CacheSpec } from './scheduler/cache.js';
import { noopStamper, noopStillHolds, racyFiles, writeNoop, type NoopRecord } from './scheduler/noop.js';
import { prepareSecrets, secretFilesInContext, type SecretGrant } from './scheduler/secrets.js';
import { dropOldPhonyImages, exportSettled, noopRecordAfter, outputsDigests, settledRecords } from './scheduler/settle.js';
import { ownIgnoreProblem, placeDockerfile, withPlaceholder, writeStandalone, type DockerfilePlace } from './emit/standalone.js';
import type { Engine } from './engine/engine.js';
import { planWithEngine } from './plan/freshness.js';
import type { EngineFacts } from './plan/key.js';
import { hashResolved, resolveAllInputs, type Plan, type PlannedStep } from './plan/plan.js';
import { ContextIndex, forgetHandedWalk, type ContextFile } from './context/files.js';
import { StatCache } from './context/hash.js';
import { writeProvenance, type RecordedBuild } from './record/provenance.js';
import type { Statement } from './emit/provenance.js';
import type { Reason } from './plan/reasons.js';
import type { Project } from './project.js';
import { dockerfileProblem, resolveDockerfile } from './projectpaths.js';
import { lockPath, lockProblems, resolverFor } from './lock/lockfile.js';
import { canonicalImage } from './repro/canonical.js';
import { imageStep } from './scheduler/stepimage.js';
import { Pins } from './scheduler/pins.js';
import { letGoOfGarbage } from './heap.js';
import { acquireMutex, alive, tryMutex } from './state/mutex.js';
import { removeDeadTempsOf } from './state/files.js';
import { linkOnTheWayIn } from './safefs.js';
import { registerProject } from './gc/register.js';
import { materialOf, nextState, readState, writeState } from './state/state.js';
import { pendingRecorder } from './state/history.js';

export interface BuildOptions {
  engine: Engine;
  /** Secrets the command line hands the build (--secret): see prepareSecrets. */
  secrets?: readonly SecretGrant[];
  /** Where the standalone Dockerfile goes (default: Dockerfile in the context). */
  dockerfile?: string;
  /** The path its header tells `docker build -f` (default: where it goes, from the context; absolute outside it). */
  dockerfileShownAs?: string;
  /** Plan only: build nothing, write nothing. */
  dryRun?: boolean;
  jobs?: number;
  network?: string;
  signal?: AbortSignal;
  onEvent?: (e: BuildEvent) => void;
  cacheFrom?: CacheSpec[];
  cacheTo?: CacheSpec;
  /** false: keep the engine's image, without the canonical rewrite (--no-reproducible; the Repfile's `reproducible: false` turns it off too). */
  reproducible?: boolean;
  /**
   * The sha256 (hex) of the context's deterministic archive, which `rep
   * publish` wrote for the bundle (context.tar) from its walk (`walked`): the
   * provenance cites it, rather than the listing of the context's files with
   * their hashes (from the stat cache).
   */
  contextArchive?: string;
  /** The context as the caller walked it (publish, which archived these very files): not walked again. */
  walked?: readonly ContextFile[];
  /**
   * Answer at once when nothing changed since the last successful build (no
   * hashing, no writes, no new provenance). For `rep build`; publishing needs the full record.
   */
  noopShortcut?: boolean;
}

export interface StepOutcome {
  name: string;
  key: string;
  /**
   * fresh: nothing to do; stale: would be built (--dry-run); recorded: key
   * recorded without building (engine none); built / cached / failed /
   * skipped / cancelled: what the engine run did.
   */
  action: 'fresh' | 'stale' | 'recorded' | StepResult['status'];
  reasons: Reason[];
  imageId?: string;
  seconds?: number;
}

export interface BuildRecord {
  ok: boolean;
  cancelled: boolean;
  engine: string;
  target: string;
  tag: string;
  image?: { tag: string; imageId: string };
  steps: StepOutcome[];
  dockerfile: { path: string; written: boolean; text: string };
  /**
   * The build's one plan: each step as planned, then as the scheduler settled
   * it (keys measured on the way). Absent when the no-op record answered.
   */
  plan?: Plan;
  /** The provenance statement (also written to .rep/provenance.json), when the build succeeded. */
  provenance?: Statement;
  /** What the engine said the keys depend on (a statement made again, by publish, records the same). */
  facts?: EngineFacts;
  outputsDigests?: Map<string, string>;
}

export async function build(project: Project, opts: BuildOptions): Promise<Result<BuildRecord>> {
  const { recipe, ctx, dag } = project;
  const engine = opts.engine;
  const startedOn = new Date();
  // Before anything is made (.rep, the mutex): a --dockerfile through a file, or too long, is the flag's mistake.
  const badDockerfile = dockerfileProblem(ctx.dir, opts.dockerfile);
  if (badDockerfile) return fail(badDockerfile);
  const secretsInContext = secretFilesInContext(project);
  if (secretsInContext.length) return fail(...secretsInContext);
  // The quick path may have handed over its walk, made before this mutex: when another build held the
  // project meanwhile (up to acquireMutex's ten minutes), files may have changed since, so walk again.
  let held = opts.dryRun ? undefined : tryMutex(ctx.dir);
  if (held && !held.ok) {
    forgetHandedWalk();
    // Said once, so that a wait is not silent; the signal (Ctrl-C, SIGTERM) ends it with the busy problem.
    const holder = held.errors[0];
    if (holder?.kind === 'busy') opts.onEvent?.({ type: 'waiting', pid: holder.pid, file: holder.file });
    held = await acquireMutex(ctx.dir, undefined, opts.signal);
  }
  if (held && !held.ok) return held;
  const mutex = held?.value;
  let pins: Pins | undefined;
  try {
    // What a write killed halfway left beside the files rep writes in the context is no file of the project's.
    // Not in a folder reached through a link inside the context: a cloned repository's `gen -> elsewhere` had rep remove
    // files there (a review); the Dockerfile's write refuses such a path (emit/write.ts).
    const ownFiles = [resolveDockerfile(ctx.dir, opts.dockerfile), lockPath(recipe.path)].filter((f) => linkOnTheWayIn(ctx.dir, f) === undefined);
    const leftovers = mutex ? ownFiles.flatMap((f) => removeDeadTempsOf(f, alive)) : [];
    if (leftovers.length) forgetHandedWalk();
    // A walk made before (rep publish's, whose context.tar holds the file) is then not the context.
    if (leftovers.length && opts.walked) {
      return fail({ file: path.relative(process.cwd(), leftovers[0]!) || leftovers[0]!, message: 'was left half written by a rep that was killed, and is removed now: it was in the context rep had read; run the command again' });
    }
    const state = readState(ctx.dir);
    const resolveBase = resolverFor(project.lock?.value);
    const walked = opts.walked ? ok(new ContextIndex(opts.walked)) : ContextIndex.walk(ctx.dir, ctx.ignore, ctx.ignoreText);
    if (!walked.ok) return walked;
    const index = walked.value;
    const place = placeDockerfile(ctx, resolveDockerfile(ctx.dir, opts.dockerfile));
    // Before the no-op answer: the stamp does not see a Dockerfile's own ignore file that .dockerignore leaves out.
    const own = ownIgnoreProblem(place);
    if (own) return fail(own);
    const stamper = await noopStamper(project, engine, place.path, opts);
    const stamp = stamper?.(index.files);
    const noop = opts.noopShortcut && stamp && state ? await noopStillHolds(ctx.dir, stamp, place.path, engine) : undefined;
    const answered = noop && noopBuild(project, engine, noop, place.path);
    if (answered) return ok(answered);
    const inputs = inputsAndDockerfile(project, index, place, opts, resolveBase);
    if (!inputs.ok) return inputs;
    const { resolved, dockerfile, context } = inputs.value;
    const { cited, hashed } = hashContext(ctx.dir, resolved, context, opts);
    const { plan, present, images, facts } = await planWithEngine(engine, dag, hashed, { state, resolveBase, recordedMaterial: materialOf(ctx.dir), pullBases: !opts.dryRun });
    const base = { engine: engine.name, target: dag.target, tag: recipe.image.tag, plan };
    if (opts.dryRun) return ok({ ...base, ok: true, cancelled: false, steps: planOutcomes(plan, 'stale'), dockerfile });
    const record = (steps: PlannedStep[], digests: Map<string, string>, image?: { imageId: string }) =>
      writeProvenance(project, { context: cited, steps, outputsDigests: digests, dockerfileText: dockerfile.text, image: image ? { configDigest: image.imageId } : undefined, engine, platform: facts?.platform, baseIds: facts?.baseIds, network: opts.network, startedOn, finishedOn: new Date() });
    if (engine.name === 'none') {
      const provenance = await record(plan.steps, new Map());
      if (!provenance.ok) return provenance;
      writeState(ctx.dir, nextState(project, engine.name, state, plan.steps.map((s) => [s.name, { key: s.key, material: s.material }])), state);
      return ok({ ...base, ok: true, cancelled: false, steps: planOutcomes(plan, 'recorded'), dockerfile, provenance: provenance.value, outputsDigests: new Map() });
    }
    const secrets = prepareSecrets(project, engine, opts.secrets);
    if (!secrets.ok) return secrets;
    // Each key the build is about to tag rep-cache, recorded first (a killed build's images are gc's to remove).
    // Named by the image store, or the engine's identity when it does not say (a line naming none would be every engine's).
    const store = (async () => (await engine.store?.().catch(() => undefined)) ?? (await engine.identity().catch(() => engine.name)))();
    const beforeTag = pendingRecorder(ctx.dir, store);
    const cacheFrom = opts.cacheFrom?.length ? new CacheFrom(engine, opts.cacheFrom, opts.onEvent, beforeTag) : undefined;
    // Between phases (here, before the rewrite and before the provenance), each one's garbage is let go
    // before the next makes its own: at 100k files the sum of them was the peak (see heap.ts).
    letGoOfGarbage();
    // The step images the run uses, held until the canonical rewrite has read them (scheduler/pins.ts).
    pins = new Pins(engine);
    const run = await runBuild(project, engine, plan, {
      secrets: secrets.value, jobs: opts.jobs ?? 4, network: opts.network, signal: opts.signal,
      state, onEvent: opts.onEvent, resolveBase, present, images, cacheFrom, pins, beforeTag,
      context: context === index.files ? index : new ContextIndex(context),
      // With reproducible images the tag goes to the canonical image (repro/canonical.ts), not twice.
      tag: !(recipe.reproducible && opts.reproducible !== false),
    });
    const records = settledRecords(run);
    const next = nextState(project, engine.name, state, records);
    await dropOldPhonyImages(engine, dag, state, records);
    const steps = runOutcomes(plan, run);
    if (!run.ok) {
      writeState(ctx.dir, next, state, [], await store);
      // Registered with the state that names its step images, built or not: gc in another project kept none of
      // a project whose first build failed (a review).
      registerProject(ctx.dir);
      return ok({ ...base, ok: false, cancelled: run.cancelled, steps, dockerfile });
    }
    if (opts.cacheTo) await exportSettled(engine, opts.cacheTo, records, opts.onEvent);
    const digests = outputsDigests(run);
    // The image a paper cites: rewritten canonically (src/repro/), or the engine's when the Repfile says so.
    letGoOfGarbage();
    // Every step image the rewrite reads, by the id the run settled: a step no other step built on this time has no
    // pin, and its tag may name another image by now (a review). By id rather than pinned: a tag and a removal each.
    const settledIds = new Map([...run.steps.values()].flatMap((r) => (r.planned && r.imageId ? [[r.planned.key, r.imageId] as const] : [])));
    const canonical = await canonicalImage(project, engine, plan.steps, run.image!, { resolveBase, off: opts.reproducible === false, pins, ids: settledIds, beforeTag });
    if (!canonical.ok) return canonical;
    const { cacheKey, ...image } = canonical.value;
    letGoOfGarbage();
    const provenance = await record(plan.steps, digests, image);
    if (!provenance.ok) return provenance;
    // Success is recorded last, once everything the build promises (Dockerfile, cache, provenance) is written:
    // a build that failed on the way leaves no state or no-op record saying it is done.
    // With the images it tagged rep-cache besides the steps': the canonical one, and the final image (the
    // target's with the Repfile's runtime settings) when there is one, so that gc removes them with their state.
    const final = imageStep(dag, plan.step(dag.target).key);
    writeState(ctx.dir, next, state, [...(cacheKey ? [cacheKey] : []), ...(final.dockerfile !== undefined ? [final.key] : [])], await store);
    // So that rep gc in another project keeps the step images this one uses (they are shared by key).
    registerProject(ctx.dir);
    // The Dockerfile just written is part of the context the next build sees: it is stamped as it is
    // now (a step that takes it as an input hashed these very bytes, see emit/standalone.ts).
    const after = stamper && stamp ? noopRecordAfter(dag, next, image, context !== index.files ? stamper(context) : stamp, lockProblems(dag, project.lock?.value), facts?.baseIds) : undefined;
    // Files modified just before this build read them keep their hashes in the record (racy stat: see NoopRecord.racy).
    const racy = after && racyFiles(context, startedOn.getTime(), knownHashes(cited, plan.steps));
    const secretFiles = Object.values(recipe.secrets).some((src) => 'file' in src);
    if (after && racy) writeNoop(ctx.dir, { ...after, ...(racy.length ? { racy } : {}), ...(secretFiles ? { secretFiles: true as const } : {}) });
    return ok({ ...base, ok: true, cancelled: false, image, steps, dockerfile, provenance: provenance.value, outputsDigests: digests, facts });
  } finally {
    await pins?.release();
    mutex?.release();
  }
}

/**
 * Each step's inputs, resolved against the context with the standalone
 * Dockerfile in it, and the Dockerfile written (not on a dry run). It is
 * written before the steps are hashed: see emit/standalone.ts.
 */
function inputsAndDockerfile(project: Project, index: ContextIndex, place: DockerfilePlace, opts: BuildOptions, resolveBase: (ref: string) => string) {
  const { dag, ctx } = project;
  const described = opts.dryRun ? index : withPlaceholder(index, ctx.dir, place);
  const resolved = resolveAllInputs(dag, ctx, described);
  if (!resolved.ok) return resolved;
  if (opts.dryRun) return ok({ resolved: resolved.value, dockerfile: { path: place.path, written: false, text: '' }, context: index.files });
  // From here on the build changes what the no-op record describes: until it succeeds there is none.
  writeNoop(ctx.dir, undefined);
  const written = writeStandalone(dag, ctx, index, described, resolved.value, place, { resolveBase, shownAs: opts.dockerfileShownAs });
  return written.ok ? ok({ resolved: resolved.value, ...written.value }) : written;
}

/** The sha256 this build hashed each file by: the context as cited (when listed), and every step's inputs. */
function knownHashes(cited: RecordedBuild['context'], steps: readonly PlannedStep[]): Map<string, string> {
  const known = new Map<string, string>();
  for (const f of 'listed' in cited ? cited.listed : []) known.set(f.path, f.sha256);
  for (const s of steps) for (const f of s.inputs) known.set(f.path, f.sha256);
  return known;
}

/**
 * The steps' inputs hashed, and the context as the provenance cites it: the
 * archive publish wrote, or its files hashed with the inputs (one moment, one
 * save of the cache). The stat cache is let go on return: at 100k files it
 * holds about 30 MB the rest of the build has no use for.
 */
function hashContext(contextDir: string, resolved: Map<string, readonly ContextFile[]>, context: readonly ContextFile[], opts: BuildOptions) {
  const cache = StatCache.forContext(contextDir);
  const cited: RecordedBuild['context'] = opts.contextArchive !== undefined ? { archive: opts.contextArchive } : { listed: opts.dryRun ? [] : cache.hashContext(context) };
  return { cited, hashed: hashResolved(resolved, cache) };
}

/**
 * The record of a build the no-op record answered: every step cached, nothing written. Keys are
 * the sealed record's (state.json may have changed under it, by a `git pull`); undefined when it
 * does not name every step of the Repfile, and the build goes the long way.
 */
function noopBuild(project: Project, engine: Engine, noop: NoopRecord, dockerfile: string): BuildRecord | undefined {
  const { dag, recipe } = project;
  const keys = new Map(noop.steps.map((s) => [s.name, s.key]));
  if (!dag.order.every((name) => keys.has(name))) return undefined;
  const steps = dag.order.map((name): StepOutcome => ({ name, key: keys.get(name)!, action: 'cached', reasons: [] }));
  const image = { tag: recipe.image.tag, imageId: noop.imageId };
  return { engine: engine.name, target: dag.target, tag: recipe.image.tag, ok: true, cancelled: false, image, steps, dockerfile: { path: dockerfile, written: false, text: '' } };
}

/** Each step as planned: fresh, or `stale` (a dry run) / `recorded` (engine none). */
function planOutcomes(plan: Plan, otherwise: 'stale' | 'recorded'): StepOutcome[] {
  return plan.steps.map((s) => ({ name: s.name, key: s.key, action: s.state === 'fresh' ? 'fresh' : otherwise, reasons: s.reasons }));
}

/** Each step as the run left it, keyed as it settled (or as planned, when it never came to it). */
function runOutcomes(plan: Plan, run: RunResult): StepOutcome[] {
  return plan.dag.order.map((name) => {
    const r = run.steps.get(name)!;
    const p = plan.step(name);
    return { name, key: p.key, action: r.status, reasons: p.reasons, imageId: r.imageId, seconds: r.seconds };
  });
}
