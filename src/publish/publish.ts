// `rep publish`: build, then write the bundle that goes with the paper.
import { closeSync, lstatSync, mkdirSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import { prettyJson } from '../canonical.js';
import { build, type BuildOptions } from '../build.js';
import { contextFiles, type BuildContext } from '../context/context.js';
import { directoryCounts, parentOf } from '../emit/copies.js';
import { statEntry, statLine, symlinkEscape, type ContextFile } from '../context/files.js';
import { sha256Listed, sha256Hex } from '../context/hash.js';
import { ArchiveReadError, asEntries, sourceDateEpoch, writeTarFile } from '../context/tar.js';
import { errnoWords, fail, ok, printable, type Result } from '../diag.js';
import { EngineError } from '../engine/engine.js';
import { buildProvenance } from '../record/provenance.js';
import { lockPath } from '../lock/lockfile.js';
import { imageRefProblem, namesRepImage, parseImageRef, sameNameTag } from '../lock/reference.js';
import type { Project } from '../project.js';
import { makeTempDir, type TempDir } from '../tempdir.js';
import { bundleFiles, bundleKind, otherArchive, packBundle, type BundleKind } from './bundle.js';
import { citationCff, citeLatex, citeMarkdown } from './citation.js';
import { keyFromFile, signEnvelope } from './dsse.js';
import { describeImage, withSbom, type ImageFiles } from './imagefiles.js';
import { FsManifestError } from './filesystem.js';
import { OCI_ARCHIVE, saveOciArchive } from './ociarchive.js';
import { SBOM_FILE, SBOM_MEDIA_TYPE } from '../sbom/sbomfile.js';
import { reproduceMd } from './reproduce.js';
import { roCrate, type CrateFile } from './rocrate.js';
import { pathProblem, readInside } from './bundlefs.js';
import { linkTargetProblem } from './unpacker.js';
import { createExclusive, lexists, tempBeside, tempNameProblem, TEXT_LIMIT } from '../safefs.js';
import { BUNDLE_SIGNATURE, signBundle } from './signature.js';

export interface PublishOptions extends Omit<BuildOptions, 'dryRun' | 'dockerfile'> {
  /** A folder, or FILE.tar.gz / FILE.zip. */
  out: string;
  /** PEM file of an ed25519 private key: adds provenance.dsse.json. */
  sign?: string;
  /** Adds image.oci.tar (the image as an OCI image layout, which docker load also reads). */
  image?: boolean;
  /** Pushes the image to this reference and records its repo digest. */
  push?: string;
}

export interface PublishResult {
  out: string;
  files: string[];
  bundleSha256: string;
  imageDigest?: string;
  repoDigest?: string;
}

/** Files SHA256SUMS does not cover: itself, the snippets that cite its hash, and the signature over all of them. */
export const UNSUMMED = new Set(['SHA256SUMS', 'CITE.md', 'CITE.tex', BUNDLE_SIGNATURE]);

const FORMATS: Record<string, [string, string]> = {
  Repfile: ['application/yaml', 'The Repfile: how the image is built'],
  'Repfile.lock': ['application/json', 'Base images pinned to registry digests'],
  Dockerfile: ['text/x-dockerfile', 'Standalone multi-stage Dockerfile (builds the image without rep)'],
  'context.tar': ['application/x-tar', 'The exact build context, as a deterministic archive'],
  'provenance.json': ['application/vnd.in-toto+json', 'in-toto Statement v1 with SLSA Provenance v1'],
  'provenance.dsse.json': ['application/vnd.dsse.envelope.v1+json', 'The provenance statement, signed (DSSE, ed25519)'],
  'bundle.dsse.json': ['application/vnd.dsse.envelope.v1+json', 'Every file of the bundle with its sha256, signed (DSSE, ed25519)'],
  'filesystem.json': ['application/json', "The image's files: path, type, mode, owner, sha256"],
  [OCI_ARCHIVE]: ['application/x-tar', 'The image as an OCI image layout archive (also loads with docker load)'],
  [SBOM_FILE]: [SBOM_MEDIA_TYPE, 'The software in the image, read from its package databases (CycloneDX 1.6)'],
  'CITATION.cff': ['application/x-yaml', 'Citation metadata (CFF 1.2.0)'],
  'REPRODUCE.md': ['text/markdown', 'How to check and rebuild this bundle'],
};

/**
 * Why the bundle cannot go to `out`, checked before anything is built: a
 * link at its name or on its way inside the project (a cloned repository can
 * commit `paper.tar.gz -> ~/.bashrc`, and a write would go through it), a
 * folder bundle into anything but a new or empty folder, an archive in place
 * of a folder or into a folder that is not there.
 */
function outProblem(out: string, kind: BundleKind, project: Project): string | undefined {
  const abs = path.resolve(out);
  const st = lstatSync(abs, { throwIfNoEntry: false });
  if (st?.isSymbolicLink()) return 'is a link; rep writes no bundle through one: remove it or name another path';
  // Each link on the way, wherever it leads, is refused when it lies in the project: where it is is its
  // folder's real path (the way may be spelled through other links, -f or -C too).
  const roots = projectRoots(project);
  const inside = (p: string) => roots.some((r) => p.startsWith(r + path.sep));
  for (let d = path.dirname(abs); path.dirname(d) !== d; d = path.dirname(d)) {
    if (!lstatSync(d, { throwIfNoEntry: false })?.isSymbolicLink()) continue;
    if (inside(path.join(realpathSync(path.dirname(d)), path.basename(d)))) return `goes through ${path.relative(process.cwd(), d) || d}, a link in the project; rep writes no bundle through one`;
  }
  if (kind === 'dir') {
    const other = otherArchive(out);
    if (other && !st?.isDirectory()) return `rep writes no ${other} archive: name FILE.tar.gz, FILE.zip or a folder`;
    if (st && (!st.isDirectory() || readdirSync(abs).length > 0)) return 'exists and is not an empty folder; name a new folder, FILE.tar.gz or FILE.zip';
    // A new folder is made with its missing parents, in the nearest folder there is.
    let there = abs;
    while (!lstatSync(there, { throwIfNoEntry: false })) there = path.dirname(there);
    return writeProblem(there);
  }
  if (st && !st.isFile()) return 'exists and is not a file';
  // The archive is written through a temporary file beside it (bundle.ts), whose name is longer.
  const long = tempNameProblem(abs);
  if (long) return long;
  if (!lstatSync(path.dirname(abs), { throwIfNoEntry: false })?.isDirectory()) return `its folder ${path.dirname(out)} is not there`;
  return writeProblem(path.dirname(abs));
}

/**
 * Why no file can be made in `folder`, found by making one and removing it: a
 * folder rep may not write (or /proc, /sys) was found only when the bundle was
 * packed, after the build, as an errno naming rep's temp file.
 */
function writeProblem(folder: string): string | undefined {
  const probe = tempBeside(path.join(folder, '.rep-publish'));
  try {
    closeSync(createExclusive(probe));
  } catch (e) {
    return `cannot write there (${cannotWrite(e)})`;
  }
  rmSync(probe, { force: true });
  return undefined;
}

/** An errno of a write, in words (an errno said alone is not a message). */
function cannotWrite(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'the folder takes no new files' : errnoWords(code, (e as Error).message);
}

/** Why outProblem could not look at the path, in words: it said `cannot be checked (ENOTDIR)`. */
function outUncheckable(e: unknown): string {
  switch ((e as NodeJS.ErrnoException).code) {
    case 'ENOTDIR':
      return 'a part of the path is a file, not a folder; name a path in a folder';
    case 'ENAMETOOLONG':
      return 'the path, or a name in it, is too long; name a shorter one';
    case 'ELOOP':
      return 'goes through too many links (or a loop of them); name another path';
    default:
      return `cannot be checked (${cannotWrite(e)})`;
  }
}

/**
 * The folders a stranger's repository may have put links in: the context, the
 * Repfile's folder, and the git repository either lies in (found by its
 * .git; a project without one is its context and Repfile folder).
 */
function projectRoots(project: Project): string[] {
  // Every repository the project lies in: a submodule's or a worktree's .git is a file, and the repository
  // around it is a stranger's too.
  const gitRoots = (dir: string) => {
    const found: string[] = [];
    for (let d = dir; ; d = path.dirname(d)) {
      if (lstatSync(path.join(d, '.git'), { throwIfNoEntry: false })) found.push(d);
      if (path.dirname(d) === d) return found;
    }
  };
  // As they really are: -f or -C through a link names the project by another path than the output's.
  const dirs = [project.ctx.dir, path.dirname(project.recipe.path)].map((d) => realpathSync(path.resolve(d)));
  return [...new Set([...dirs, ...dirs.flatMap(gitRoots)])];
}

/**
 * Why `ref` is no reference to push the image to, before anything is built: it went to `ENGINE tag` and
 * `ENGINE push` as given (`--privileged`, or `debian:bookworm-slim`, which the Repfile builds on and every other
 * project would then get: a review). The checks image.tag has (repfile/schema.ts imageNameProblems).
 */
function pushProblem(recipe: Project['recipe'], ref: string): string | undefined {
  if (ref.includes('@')) return 'has a digest: --push takes [REGISTRY[:PORT]/]NAME[:TAG], e.g. registry.example.org/paper/analysis:1.0';
  const bad = imageRefProblem(ref, { digest: false });
  if (bad) return bad;
  if (namesRepImage(ref)) return "is one of rep's own image names (rep-cache, rep-pin, rep-verify/): an image pushed so could pass for a cached step; choose another reference";
  const steps = new Set(recipe.steps.map((s) => s.name));
  const starts = [recipe.base, ...recipe.steps.flatMap((s) => (s.from !== undefined && !steps.has(s.from) ? [s.from] : []))];
  const same = starts.find((b) => imageRefProblem(b, { digest: true }) === undefined && sameNameTag(b, ref));
  return same === undefined ? undefined : `names ${same}, which this Repfile builds on: tagging and pushing the image so would replace it for every project that uses it; choose another reference`;
}

export async function publish(project: Project, opts: PublishOptions): Promise<Result<PublishResult>> {
  const kind = bundleKind(opts.out);
  let badOut: string | undefined;
  try {
    badOut = outProblem(opts.out, kind, project);
  } catch (e) {
    badOut = outUncheckable(e);
  }
  if (badOut) return fail({ kind: 'flag', flag: `--out ${opts.out}`, message: badOut });
  const badPush = opts.push === undefined ? undefined : pushProblem(project.recipe, opts.push);
  if (badPush) return fail({ kind: 'flag', flag: `--push ${opts.push}`, message: badPush });
  const epoch = sourceDateEpoch();
  if (epoch.problem) return fail({ kind: 'flag', flag: `SOURCE_DATE_EPOCH=${process.env.SOURCE_DATE_EPOCH}`, message: epoch.problem });
  let key;
  if (opts.sign) {
    const k = keyFromFile(opts.sign, 'private', '--sign');
    if (!k.ok) return k;
    key = k.value;
  }
  const temps: TempDir[] = [];
  try {
    return await publishWith(project, opts, kind, key, (prefix) => {
      temps.push(makeTempDir(prefix));
      return temps.at(-1)!.path;
    });
  } catch (e) {
    // What the engine refused after the build (save, tag, push, export) is its problem, not the Repfile's.
    if (e instanceof EngineError) return fail({ kind: 'engine', engine: opts.engine.name, message: e.message, detail: e.detail });
    throw e;
  } finally {
    for (const t of temps) t.remove();
  }
}

async function publishWith(project: Project, opts: PublishOptions, kind: BundleKind, key: KeyObject | undefined, temp: (prefix: string) => string): Promise<Result<PublishResult>> {
  const walked = contextFiles(project.ctx);
  if (!walked.ok) return walked;
  const context = walked.value;
  const refused = context.flatMap((f) => {
    const why = unbundlable(project.ctx.dir, f);
    return why === undefined ? [] : [{ file: f.path, message: why }];
  });
  if (refused.length) return fail(...refused);
  const stage = kind === 'dir' ? path.resolve(opts.out) : temp('rep-publish');
  const madeStage = !lexists(stage);
  mkdirSync(path.dirname(stage), { recursive: true });
  // The folder itself is made here, not found (outProblem): a link put at its name since is an error, not followed.
  if (madeStage) mkdirSync(stage);
  let complete = false;
  try {
    const r = await stageBundle(project, opts, kind, stage, context, key, temp);
    complete = r.ok;
    return r;
  } finally {
    // A folder bundle that failed half way is not left looking like one (it was new, or empty).
    if (!complete && kind === 'dir') {
      if (madeStage) rmSync(stage, { recursive: true, force: true });
      else for (const name of readdirSync(stage)) rmSync(path.join(stage, name), { recursive: true, force: true });
    }
  }
}

/**
 * Why context.tar cannot hold `f`, said before anything is written: a bundle goes to strangers, who
 * refuse a link leaving the context (and the link would tell them a path of this machine), and
 * rep verify unpacks context.tar refusing a name or a link target that is not plain (a backslash, a
 * control character: pathProblem, linkTargetProblem). rep published such a bundle, exit 0, that its
 * own verify then failed. Undefined when it can go in.
 */
function unbundlable(contextDir: string, f: ContextFile): string | undefined {
  const name = pathProblem(f.path);
  if (name) return `rep verify refuses this name in context.tar (${name}): rename it, or leave it out with .dockerignore`;
  if (f.type !== 'symlink' || f.target === undefined) return undefined;
  if (symlinkEscape(contextDir, f) !== undefined) return `a link that leaves the build context (-> ${printable(f.target)}); a bundle holds only links that stay inside it: add "${printable(f.path)}" to .dockerignore`;
  const target = linkTargetProblem(f.path, f.target);
  if (target) return `a link whose target rep verify refuses in context.tar (-> ${printable(f.target)}: ${target}): point it elsewhere, or leave it out with .dockerignore`;
  return undefined;
}

/**
 * The first path at which the context now differs from the walk `before` in a way that could
 * make the archive, the inputs' hashes and the image disagree: an input (`inputs`, paths) changed
 * (kind, mode, link text, stat stamp) or gone, or a file added in a folder that held inputs only
 * (a build may copy such a folder whole). Other files were read once, into the archive alone:
 * an editor's backup or a refreshed .git/index changes nothing the bundle says. The bundle
 * itself (`out`), when written inside the context, is publish's own. Undefined when none.
 */
export function changedSince(ctx: BuildContext, before: readonly ContextFile[], inputs: ReadonlySet<string>, out?: string): string | undefined {
  let after: ContextFile[];
  try {
    const now = contextFiles(ctx);
    if (!now.ok) {
      const first = now.errors[0];
      return first && 'file' in first && first.file ? first.file : '.';
    }
    after = now.value;
  } catch (e) {
    // A file removed while the walk went by it.
    const p = (e as NodeJS.ErrnoException).path;
    return p ? path.relative(ctx.dir, p).split(path.sep).join('/') || '.' : '.';
  }
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return path.join(realpathSync(path.dirname(p)), path.basename(p));
    }
  };
  const rel = out === undefined ? undefined : path.relative(real(ctx.dir), real(path.resolve(out))).split(path.sep).join('/');
  const own = (f: ContextFile) => rel !== undefined && (f.path === rel || f.path.startsWith(`${rel}/`));
  const then = new Map(before.filter((f) => !own(f)).map((f) => [f.path, f] as const));
  const now = new Map(after.filter((f) => !own(f)).map((f) => [f.path, f] as const));
  for (const p of [...inputs].sort()) {
    const a = then.get(p);
    const b = now.get(p);
    if (!a || !b || statLine(a) !== statLine(b)) return p;
  }
  // Folders every file of which was an input.
  const files = directoryCounts([...then.keys()]);
  const held = directoryCounts([...then.keys()].filter((p) => inputs.has(p)));
  const inputsOnly = (d: string) => (files.get(d) ?? 0) > 0 && files.get(d) === held.get(d);
  const inInputsOnly = (p: string) => {
    for (let d = parentOf(p); ; d = parentOf(d)) {
      if (inputsOnly(d)) return true;
      if (d === '') return false;
    }
  };
  for (const p of [...now.keys()].sort()) if (!then.has(p) && inInputsOnly(p)) return p;
  return undefined;
}

/** Whether the file at `rel` is gone, or not what the walk `listed` found there (its kind, mode, stamp, link text). */
function changedSinceListed(contextDir: string, listed: readonly ContextFile[], rel: string): boolean {
  const then = listed.find((f) => f.path === rel);
  try {
    const now = statEntry(contextDir, rel);
    return then === undefined || now === undefined || statLine(now) !== statLine(then);
  } catch {
    return true;
  }
}

/** Builds and writes the bundle's files into `stage`; `context` is the walk whose files context.tar holds. */
async function stageBundle(project: Project, opts: PublishOptions, kind: BundleKind, stage: string, context: ContextFile[], key: KeyObject | undefined, temp: (prefix: string) => string): Promise<Result<PublishResult>> {
  const { recipe } = project;
  // context.tar is written first, reading every file once: the provenance cites the digest of these
  // bytes, and the build takes this walk, so that both name the same files.
  let contextArchive: string;
  try {
    contextArchive = await writeTarFile(asEntries(context), path.join(stage, 'context.tar'));
  } catch (e) {
    if (e instanceof ArchiveReadError) {
      const message = `${e.reason}; nothing was published: run rep publish again`;
      // Removed or changed since the walk listed it: the tree changing under rep publish, said as a build says
      // it (context/hash.ts UnreadableInput, exit 1), not as a mistake in the project.
      return fail(changedSinceListed(project.ctx.dir, context, e.path) ? { kind: 'io', file: e.path, message } : { file: e.path, message });
    }
    throw e;
  }
  const built = await build(project, { ...opts, contextArchive, walked: context, dockerfile: path.join(temp('rep-df'), 'Dockerfile'), dockerfileShownAs: 'Dockerfile' });
  if (!built.ok) return built;
  const rec = built.value;
  // The archive, the inputs' hashes and the engine's build each read the inputs: one edited meanwhile
  // would make them disagree, and the bundle would not verify. Said first: a step whose input changed
  // while the engine read it fails the build too, and this says which file and what to do.
  const inputs = new Set((rec.plan?.steps ?? []).flatMap((st) => st.inputs.map((f) => f.path)));
  const moved = changedSince(project.ctx, context, inputs, opts.out);
  if (moved) return fail({ file: moved, message: 'changed while rep publish read the context (context.tar, the provenance and the image could disagree); nothing was published: run rep publish again' });
  if (!rec.ok || !rec.provenance) return fail({ kind: 'build', message: 'the build failed; nothing was published' });
  const engine = opts.engine;
  if ((opts.image || opts.push) && engine.name === 'none') {
    return fail({ kind: 'flag', flag: opts.image ? '--image' : '--push', message: 'needs an engine (docker or podman)' });
  }
  // The Repfile and its lock as regular files, never through a link (a cloned project may hold one to a private file).
  const copies: [string, Buffer][] = [];
  const lock = lockPath(recipe.path);
  for (const [from, name] of [[recipe.path, 'Repfile'], ...(lstatSync(lock, { throwIfNoEntry: false }) ? [[lock, 'Repfile.lock']] : [])] as const) {
    const r = readInside(path.dirname(from), path.basename(from), TEXT_LIMIT);
    if ('problem' in r) return fail({ file: path.relative(process.cwd(), from) || from, message: `cannot publish it: ${r.problem}` });
    copies.push([name, r.data]);
  }

  const put = (name: string, data: string | Buffer) => writeFileSync(path.join(stage, name), data);
  for (const [name, data] of copies) put(name, data);
  put('Dockerfile', rec.dockerfile.text);

  let statement = rec.provenance;
  const imageDigest = rec.image?.imageId ? `sha256:${rec.image.imageId.replace(/^sha256:/, '')}` : undefined;
  let repoDigest: string | undefined;
  if (opts.push && imageDigest) {
    await engine.tag(recipe.image.tag, opts.push);
    await engine.push(opts.push);
    const repo = parseImageRef(opts.push);
    const info = await engine.inspect(opts.push);
    repoDigest = info?.repoDigests.find((d) => {
      const r = parseImageRef(d);
      return r.registry === repo.registry && r.repository === repo.repository;
    });
    const times = statement.predicate.runDetails.metadata;
    statement = await buildProvenance(project, {
      context: { archive: contextArchive },
      steps: rec.plan!.steps,
      outputsDigests: rec.outputsDigests!,
      dockerfileText: rec.dockerfile.text,
      image: { configDigest: imageDigest, repoDigest },
      engine,
      platform: rec.facts?.platform,
      baseIds: rec.facts?.baseIds,
      network: opts.network,
      startedOn: new Date(times.startedOn),
      finishedOn: new Date(times.finishedOn),
    });
  }
  let described: ImageFiles | undefined;
  try {
    described = engine.name === 'none' ? undefined : await describeImage(engine, recipe.image.tag, imageDigest);
  } catch (e) {
    // An image of millions of files: its bundle could not be verified, so none is written.
    if (e instanceof FsManifestError) return fail({ kind: 'build', message: `cannot write filesystem.json: ${e.message}` });
    throw e;
  }
  if (described) put('filesystem.json', described.filesystem);
  if (described?.sbom) {
    put(SBOM_FILE, described.sbom);
    statement = withSbom(statement, sha256Hex(described.sbom));
  }
  if (opts.image) {
    const saved = await saveOciArchive(engine, recipe.image.tag, temp('rep-oci'), path.join(stage, OCI_ARCHIVE));
    // What the engine saved is its doing, not the Repfile's (exit 1).
    const engineSays = (message: string) => ({ kind: 'engine' as const, engine: engine.name, message: `cannot write ${OCI_ARCHIVE}: ${message}` });
    if ('problems' in saved) return fail(...saved.problems.map(engineSays));
    if (`sha256:${saved.imageId}` !== imageDigest) return fail(engineSays(`it saved image sha256:${saved.imageId}, not the image built (${imageDigest}); was ${recipe.image.tag} retagged meanwhile?`));
  }
  const statementText = prettyJson(statement);
  put('provenance.json', statementText);
  if (key) put('provenance.dsse.json', prettyJson(signEnvelope(Buffer.from(statementText), key)));
  if (recipe.publish) put('CITATION.cff', citationCff(recipe.publish, { tag: recipe.image.tag, digest: imageDigest }));
  const title = recipe.publish?.title ?? recipe.name;
  put(
    'REPRODUCE.md',
    reproduceMd({
      title,
      tag: recipe.image.tag,
      imageDigest,
      hasLock: copies.length > 1,
      hasImage: Boolean(opts.image),
      signed: Boolean(key),
      software: described?.software,
      network: opts.network,
      secrets: [...new Set(recipe.steps.flatMap((s) => s.secrets))].sort(),
    }),
  );

  const describe = (name: string): CrateFile => {
    const [encodingFormat, description] = FORMATS[name] ?? ['application/octet-stream', name];
    return { path: name, sha256: sha256Listed(path.join(stage, name)), size: lstatSync(path.join(stage, name)).size, encodingFormat, description };
  };
  const times = statement.predicate.runDetails.metadata;
  const crate = roCrate({
    name: recipe.name,
    title: recipe.publish?.title,
    publish: recipe.publish,
    files: bundleFiles(stage).map(describe),
    inputs: statement.predicate.buildDefinition.resolvedDependencies.filter((d) => d.annotations?.kind === 'input').map((d) => ({ path: d.name!, sha256: d.digest!.sha256! })),
    image: { tag: recipe.image.tag, configDigest: imageDigest, file: opts.image ? OCI_ARCHIVE : undefined },
    sbom: described?.sbom ? SBOM_FILE : undefined,
    startTime: times.startedOn,
    endTime: times.finishedOn,
    engine: engine.name,
  });
  put('ro-crate-metadata.json', prettyJson(crate));

  const hashes = new Map(bundleFiles(stage).filter((f) => !UNSUMMED.has(f)).map((f) => [f, sha256Listed(path.join(stage, f))]));
  const sums = [...hashes].map(([f, sha]) => `${sha}  ${f}\n`).join('');
  const bundleSha256 = sha256Hex(sums);
  const cite = { title, tag: recipe.image.tag, imageDigest, bundleSha256, publish: recipe.publish };
  const last: [string, string][] = [['SHA256SUMS', sums], ['CITE.md', citeMarkdown(cite)], ['CITE.tex', citeLatex(cite)]];
  for (const [name, text] of last) {
    put(name, text);
    hashes.set(name, sha256Hex(text));
  }
  if (key) put(BUNDLE_SIGNATURE, prettyJson(signBundle(hashes, key)));

  const files = bundleFiles(stage);
  if (kind !== 'dir') {
    try {
      await packBundle(stage, path.resolve(opts.out));
    } catch (e) {
      // Checked before the build (outProblem), the folder can still fill up or change meanwhile: said of --out, not of rep's temp file.
      if (!(e as NodeJS.ErrnoException).code) throw e;
      return fail({ kind: 'io', file: `--out ${opts.out}`, message: `cannot write it (${cannotWrite(e)}); nothing was published` });
    }
  }
  return ok({ out: path.resolve(opts.out), files, bundleSha256, imageDigest, repoDigest });
}
