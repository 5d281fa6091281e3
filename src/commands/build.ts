// `rep build`: plan, build the stale steps through an engine, record keys,
// and write the standalone Dockerfile.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fail, ok, type Result } from '../diag.js';
import type { BuildEvent } from '../build/events.js';
import { runBuild, type StepResult } from '../build/run.js';
import { CacheFrom, exportCache, type CacheSpec } from '../build/cache.js';
import { noopImagesHold, noopStamp, readNoop, writeNoop, type NoopRecord } from '../build/noop.js';
import { cacheRef, keyHex } from '../build/stepimage.js';
import { prepareSecrets, secretFilesInContext, type SecretGrant } from '../build/secrets.js';
import { emitDockerfile } from '../emit/dockerfile.js';
import { writeDockerfile } from '../emit/write.js';
import type { Engine } from '../engine/engine.js';
import { hashResolved, planBuild, resolveAllInputs, type Plan, type PlannedStep } from '../plan/plan.js';
import { byPath, ContextIndex, statEntry, type ContextFile } from '../context/files.js';
import { StatCache, type HashedFile } from '../context/hash.js';
import { prettyJson } from '../canonical.js';
import { buildProvenance } from '../emit/record.js';
import type { Statement } from '../emit/provenance.js';
import { writeFileAtomic } from '../state/files.js';
import type { Reason } from '../plan/reasons.js';
import type { Project } from '../project.js';
import { resolveDockerfile } from '../projectpaths.js';
import { resolverFor } from '../lock/lockfile.js';
import { acquireMutex } from '../state/mutex.js';
import { shownEntry, statePath } from '../state/paths.js';
import { readState, stateFileToWrite, STATE_VERSION, writeState, type State, type StepRecord } from '../state/state.js';

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
  plan: Plan;
  /** The provenance statement (also written to .rep/provenance.json), when the build succeeded. */
  provenance?: Statement;
  /** The steps as built (keys as settled by the build). */
  built?: PlannedStep[];
  outputsDigests?: Map<string, string>;
}

/**
 * Freshness as the engine sees it: an image tagged with the key exists. The
 * keys every step would have if all were fresh are looked up in one call;
 * the build asks again for any other key it comes to.
 */
export async function engineFreshness(
  engine: Engine,
  project: Project,
  state: State | undefined,
  inputs: Map<string, HashedFile[]>,
  resolveBase: (ref: string) => string,
) {
  const digests = new Map(Object.values(state?.steps ?? {}).flatMap((r) => (r.outputsDigest ? [[r.key, r.outputsDigest] as const] : [])));
  const outputsDigest = (_p: string, key: string) => digests.get(key);
  const likely = planBuild(project.dag, project.ctx, { state, resolveBase, inputs, isFresh: () => true, outputsDigest });
  const tags = new Set<string>();
  if (likely.ok) {
    const ids = await engine.imageIds(likely.value.steps.map((s) => cacheRef(s.key)));
    for (const s of likely.value.steps) if (ids.get(cacheRef(s.key)) !== undefined) tags.add(keyHex(s.key));
  }
  return { tags, isFresh: (_name: string, key: string) => tags.has(keyHex(key)), outputsDigest };
}

export async function build(project: Project, opts: BuildOptions): Promise<Result<BuildRecord>> {
  const { recipe, ctx, dag } = project;
  const engine = opts.engine;
  const startedOn = new Date();
  const secretsInContext = secretFilesInContext(project);
  if (secretsInContext.length) return fail(...secretsInContext);
  const mutex = opts.dryRun ? undefined : await acquireMutex(ctx.dir);
  if (mutex && !('release' in mutex)) {
    return fail({ file: recipe.file, message: `another rep build (pid ${mutex.heldBy}) holds ${shownEntry('buildMutex')}` });
  }
  try {
    const state = readState(ctx.dir);
    const none = engine.name === 'none';
    const resolveBase = resolverFor(project.lock?.value);
    const index = ContextIndex.walk(ctx.dir, ctx.ignore);
    const dockerfilePath = resolveDockerfile(ctx.dir, opts.dockerfile);
    const shortcut = !none && !opts.dryRun && !opts.cacheTo && !dag.recipe.steps.some((s) => s.phony);
    const engineDescription = shortcut ? await engine.describe() : '';
    const stamp = shortcut ? stampNow(project, engineDescription, dockerfilePath, index.files) : undefined;
    const noop = opts.noopShortcut && stamp ? readNoop(ctx.dir) : undefined;
    if (state && noop && noop.stamp === stamp && existsSync(dockerfilePath)) {
      if (noopImagesHold(noop, await engine.imageIds([noop.tag, ...noop.refs]))) {
        const steps = dag.order.map((name): StepOutcome => ({ name, key: state.steps[name]!.key, action: 'cached', reasons: [] }));
        const plan: Plan = { dag, steps: [], step: () => { throw new Error('no plan for a no-op build'); } };
        return ok({
          engine: engine.name,
          target: dag.target,
          tag: recipe.image.tag,
          plan,
          ok: true,
          cancelled: false,
          image: { tag: recipe.image.tag, imageId: noop.imageId },
          steps,
          dockerfile: { path: dockerfilePath, written: false, text: '' },
        });
      }
    }
    // The standalone Dockerfile is written first: when it lies in the context, a step whose
    // inputs take it copies the very bytes this build wrote, and the text names it.
    const rel = path.relative(ctx.dir, dockerfilePath).split(path.sep).join('/');
    const inContext = !rel.startsWith('../') && !path.isAbsolute(rel) && !ctx.ignore.excludes(rel);
    const resolved = resolveAllInputs(dag, ctx, opts.dryRun ? index : withPlaceholder(index, ctx.dir, inContext ? rel : undefined));
    if (!resolved.ok) return resolved;
    let dockerfile: BuildRecord['dockerfile'] = { path: dockerfilePath, written: false, text: '' };
    let context = index.files;
    if (!opts.dryRun) {
      // From here on the build changes what the no-op record describes: until it succeeds there is none.
      writeNoop(ctx.dir, undefined);
      const inputsOf = (name: string) => resolved.value.get(name)!.map((f) => f.path);
      const text = emitDockerfile(dag, { context: inContext ? withPlaceholder(index, ctx.dir, rel).files : context, ignore: ctx.ignore, inputsOf, resolveBase, dockerfile: opts.dockerfileShownAs ?? (rel.startsWith('../') || path.isAbsolute(rel) ? dockerfilePath : rel) });
      const written = writeDockerfile(dockerfilePath, text, path.relative(process.cwd(), dockerfilePath) || dockerfilePath);
      if (!written.ok) return written;
      dockerfile = { path: dockerfilePath, written: written.value, text };
      if (written.value && inContext) {
        const now = statEntry(ctx.dir, rel)!;
        context = [...context.filter((f) => f.path !== rel), now].sort(byPath);
        for (const [name, files] of resolved.value) resolved.value.set(name, files.map((f) => (f.path === rel ? now : f)));
      }
    }
    const hashed = hashResolved(resolved.value, StatCache.forContext(ctx.dir));
    const byEngine = none ? undefined : await engineFreshness(engine, project, state, hashed, resolveBase);
    const planned = planBuild(dag, ctx, { state, resolveBase, inputs: hashed, ...byEngine });
    if (!planned.ok) return planned;
    const plan = planned.value;
    const base = { engine: engine.name, target: dag.target, tag: recipe.image.tag, plan };
    const outcome = (s: Plan['steps'][number], action: StepOutcome['action']): StepOutcome => ({ name: s.name, key: s.key, action, reasons: s.reasons });

    if (opts.dryRun) {
      const steps = plan.steps.map((s) => outcome(s, s.state === 'fresh' ? 'fresh' : 'stale'));
      return ok({ ...base, ok: true, cancelled: false, steps, dockerfile });
    }
    const record = async (steps: PlannedStep[], outputsDigests: Map<string, string>, image?: { imageId: string }) => {
      const provenance = await buildProvenance(project, {
        context,
        steps,
        outputsDigests,
        dockerfileText: dockerfile.text,
        image: image ? { configDigest: image.imageId } : undefined,
        engine,
        network: opts.network,
        startedOn,
        finishedOn: new Date(),
      });
      const file = statePath(ctx.dir, 'provenance');
      try {
        writeFileAtomic(stateFileToWrite(ctx.dir, 'provenance'), prettyJson(provenance));
      } catch (e) {
        // Not a mistake in the Repfile: the build failed (exit 1), and says where and why.
        const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        throw new Error(`cannot write ${path.relative(process.cwd(), file) || file} (${code}); the build is not recorded as done`);
      }
      return provenance;
    };

    if (none) {
      const steps = plan.steps.map((s) => outcome(s, s.state === 'fresh' ? 'fresh' : 'recorded'));
      const provenance = await record(plan.steps, new Map());
      writeState(ctx.dir, nextState(project, engine.name, state, plan.steps.map((s) => [s.name, { key: s.key, material: s.material }])));
      return ok({ ...base, ok: true, cancelled: false, steps, dockerfile, provenance, built: plan.steps, outputsDigests: new Map() });
    }

    const secrets = prepareSecrets(project, engine, opts.secrets);
    if (!secrets.ok) return secrets;
    const inputs = new Map(plan.steps.map((s) => [s.name, s.inputs]));
    const run = await runBuild(project, engine, inputs, {
      secrets: secrets.value,
      jobs: opts.jobs ?? 4,
      network: opts.network,
      signal: opts.signal,
      state,
      onEvent: opts.onEvent,
      resolveBase,
      present: byEngine?.tags,
      cacheFrom: opts.cacheFrom?.length ? new CacheFrom(engine, opts.cacheFrom) : undefined,
    });
    const records: [string, StepRecord][] = [];
    for (const r of run.steps.values()) {
      if (r.planned && (r.status === 'built' || r.status === 'cached')) {
        records.push([r.name, { key: r.planned.key, material: r.planned.material, outputsDigest: r.outputsDigest, image: r.imageId }]);
      }
    }
    const next = nextState(project, engine.name, state, records);
    let noopAfter: NoopRecord | undefined;
    const settled = dag.order.map((n) => next.steps[n]);
    if (run.ok && stamp && run.image && settled.every((r) => r !== undefined)) {
      const refs = settled.map((r) => cacheRef(r!.key));
      // The Dockerfile just written is part of the context the next build sees; unless a step
      // takes it as an input (then the next build must key that step again), stamp it as it is now.
      const after = context !== index.files ? stampNow(project, engineDescription, dockerfilePath, context) : stamp;
      noopAfter = { stamp: after, imageId: run.image.imageId, tag: recipe.image.tag, refs, steps: dag.order.length };
    }
    // A phony step gets a new key every build: drop the image of its previous key.
    for (const [name, rec] of records) {
      const prev = state?.steps[name];
      if (dag.nodes.get(name)!.step.phony && prev && prev.key !== rec.key) await engine.removeImage(cacheRef(prev.key));
    }
    const steps = dag.order.map((name): StepOutcome => {
      const r = run.steps.get(name)!;
      const p = r.planned ?? plan.step(name);
      return { name, key: p.key, action: r.status, reasons: p.reasons, imageId: r.imageId, seconds: r.seconds };
    });
    if (!run.ok) {
      writeState(ctx.dir, next);
      return ok({ ...base, ok: false, cancelled: run.cancelled, steps, dockerfile });
    }
    if (opts.cacheTo) {
      const keys = records.map(([, r]) => r.key);
      await exportCache(engine, opts.cacheTo, keys);
      opts.onEvent?.({ type: 'cache-exported', to: opts.cacheTo.text, steps: keys.length });
    }
    const built = dag.order.map((n) => run.steps.get(n)!.planned!);
    const outputsDigests = new Map([...run.steps.values()].flatMap((r) => (r.outputsDigest ? [[r.name, r.outputsDigest] as const] : [])));
    const provenance = await record(built, outputsDigests, run.image);
    // Success is recorded last, once everything the build promises (Dockerfile, cache, provenance) is written:
    // a build that failed on the way leaves no state or no-op record saying it is done.
    writeState(ctx.dir, next);
    if (noopAfter) writeNoop(ctx.dir, noopAfter);
    return ok({ ...base, ok: true, cancelled: false, image: run.image, steps, dockerfile, provenance, built, outputsDigests });
  } finally {
    if (mutex && 'release' in mutex) mutex.release();
  }
}

/**
 * The context with the file at `rel` in it as it will be once written (when
 * `rel` is given and not there yet): what the standalone Dockerfile describes.
 */
function withPlaceholder(index: ContextIndex, dir: string, rel: string | undefined): ContextIndex {
  if (rel === undefined || index.get(rel)) return index;
  const stat = { size: 0, mtimeMs: 0, ctimeMs: 0, ino: 0, dev: 0 };
  return new ContextIndex([...index.files, { path: rel, abs: path.join(dir, rel), type: 'file' as const, mode: 0o644, size: 0, stat }].sort(byPath));
}

/** The no-op stamp of the project with the context `files` (see build/noop.ts). */
function stampNow(project: Project, engine: string, dockerfile: string, files: readonly ContextFile[]): string {
  return noopStamp({
    engine,
    dockerfile,
    repfile: project.recipe.path,
    repfileSha256: project.recipe.sha256,
    lockBytes: project.lock?.bytes,
    ignoreText: project.ctx.ignoreText,
    files,
  });
}

/** The new state: what this build settled, and the previous record for the rest. */
function nextState(project: Project, engine: string, prev: State | undefined, settled: [string, StepRecord][]): State {
  const steps: Record<string, StepRecord> = {};
  const names = new Set(project.dag.order);
  for (const [name, rec] of Object.entries(prev?.steps ?? {})) if (names.has(name)) steps[name] = rec;
  for (const [name, rec] of settled) steps[name] = { ...rec, ...(rec.outputsDigest === undefined && prev?.steps[name]?.key === rec.key ? { outputsDigest: prev.steps[name]!.outputsDigest } : {}) };
  return { version: STATE_VERSION, repfileSha256: project.recipe.sha256, engine, target: project.dag.target, steps };
}
