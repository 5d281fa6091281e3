// `rep verify BUNDLE`: every checksum, the statement's subjects and SBOM against
// the files (the image's config and layers recomputed from image.oci.tar's or image.tar's bytes), the
// signature over every file, and that the Repfile and inputs in the bundle give
// the recorded step keys and, byte for byte, the bundle's Dockerfile; with
// --rebuild, a real build compared file by file (and, where the Repfile does not
// promise the digest, filesystem.json with the image archive: see archivefiles.ts).
// The bundle is hostile input: it is read through safefs.ts and extract.ts
// only, into one temporary folder that is removed whatever happens.
import type { KeyObject } from 'node:crypto';
import { lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build } from '../build.js';
import { sha256Hex } from '../context/hash.js';
import type { Engine } from '../engine/engine.js';
import type { Statement } from '../emit/provenance.js';
import { openProject } from '../project.js';
import { formatDiagnostic } from '../diag.js';
import { withTempDir } from '../tempdir.js';
import { openBundle } from './bundle.js';
import { keyFromFile, verifyEnvelope } from './dsse.js';
import { ExtractError, extractTar } from './extract.js';
import { DEFAULT_LIMITS, type Limits } from './limits.js';
import { diffFilesystems, FsManifestError, imageFilesystem, parseFsManifest, type FsManifest } from './filesystem.js';
import { imageProblems, readImageArchive, type ImageFindings } from './imagearchive.js';
import { listingChecks } from './archivefiles.js';
import { UNSUMMED } from './publish.js';
import { digestAnswer, layerOwners } from '../repro/compare.js';
import { forVerification, RebuildImages, verifyTag, type SecretGrant } from './rebuild.js';
import { escaped, hashInside, listInside, pathProblem, readInside, shown, streamInside } from './bundlefs.js';
import { JSON_LIMIT, TEXT_LIMIT } from '../safefs.js';
import { inStateDir, STATE_DIR, statePath } from '../state/paths.js';
import { BUNDLE_SIGNATURE, bundleSignatureProblems, parseEnvelope } from './signature.js';
import { parseStatement, sbomProblems, stepKeyProblems, stepsOf } from './statement.js';
import { OCI_ARCHIVE } from './ociarchive.js';
import { CRATE_FILE, crateProblems, sbomImageProblems } from './claims.js';
import { SBOM_FILE } from '../sbom/sbomfile.js';
import { isJsonMap } from '../canonical.js';
import { ContextIndex } from '../context/files.js';
import { copyLine, MAX_LINE_BYTES } from '../emit/dockerfile.js';
import { standaloneText } from '../emit/standalone.js';
import { resolverFor } from '../lock/lockfile.js';
import { resolveAllInputs } from '../plan/plan.js';
import { VERSION } from '../version.js';

/** Lines of one kind a check prints at most: a hostile bundle can make any list as long as it likes. */
const SHOWN = 1000;
/** At most SHOWN of `lines`, then how many more there are. */
export const firstOf = (lines: readonly string[]): string[] => (lines.length > SHOWN ? [...lines.slice(0, SHOWN), `... and ${lines.length - SHOWN} more`] : [...lines]);

/** Bundle files that hold an image, each checked against its own bytes. */
const IMAGE_ARCHIVES = new Set(['image.tar', OCI_ARCHIVE]);

export interface Check {
  name: string;
  ok: boolean;
  /** What failed, or a note. */
  detail: string[];
}

export interface VerifyOptions {
  /**
   * The signer's ed25519 public key, or the PEM file that holds it. The CLI
   * reads the file first (keyFromFile), so that a key it cannot use is a
   * usage error rather than a failed check.
   */
  key?: string | KeyObject;
  /**
   * Rebuild with a real engine. The network is "none" unless named; no secret
   * of the verifier's is used unless granted here.
   */
  /** `signal` stops the rebuild's engine work (Ctrl-C): its images go all the same, and the check says it was stopped. */
  rebuild?: { engine: Engine; network?: string; secrets?: SecretGrant[]; signal?: AbortSignal };
  /** Bounds on what unpacking the bundle and its context.tar may write. */
  limits?: Partial<Limits>;
}

export interface VerifyReport {
  ok: boolean;
  checks: Check[];
  /** Image differences found by --rebuild, one line per path. */
  differences?: string[];
}

const subjectSha = (s: Statement, name: string) => s.subject.find((x) => x.name === name)?.digest?.sha256;

export async function verifyBundle(where: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const limits: Limits = { ...DEFAULT_LIMITS, ...opts.limits };
  return withTempDir('rep-verify', async (tmp) => {
    let dir: string;
    try {
      dir = await openBundle(where, path.join(tmp, 'bundle'), limits);
    } catch (e) {
      if (!(e instanceof ExtractError)) throw e;
      return { ok: false, checks: [{ name: 'bundle', ok: false, detail: [e.message] }] };
    }
    return verifyFolder(dir, tmp, opts, limits);
  });
}

async function verifyFolder(dir: string, tmp: string, opts: VerifyOptions, limits: Limits): Promise<VerifyReport> {
  const checks: Check[] = [];
  const check = (name: string, detail: string[], note: string[] = []) => {
    checks.push({ name, ok: detail.length === 0, detail: detail.length ? detail : note });
    return detail.length === 0;
  };

  // Every regular file hashed once (an image archive also read for its image); nothing else read.
  const listing = listInside(dir, limits);
  if ('refused' in listing) return { ok: false, checks: [{ name: 'bundle', ok: false, detail: [listing.refused] }] };
  const present = new Set([...listing.files, ...listing.others]);
  const hashes = new Map<string, string>();
  const unreadable = [...listing.problems];
  const images: ImageFindings[] = [];
  for (const f of listing.files) {
    const h = await hashInside(dir, f, IMAGE_ARCHIVES.has(f) ? (s) => readImageArchive(s, { label: f }) : undefined);
    if ('problem' in h) unreadable.push(h.problem);
    else {
      hashes.set(f, h.sha256);
      if (h.tapped) images.push(h.tapped);
    }
  }
  const has = (f: string) => hashes.has(f);
  /** A small file's bytes; undefined (its problem said once, by the listing or here) when it cannot be read. */
  const said = new Set<string>();
  const read = (f: string, limit: number, problems: string[]): Buffer | undefined => {
    if (!has(f)) return undefined;
    const r = readInside(dir, f, limit);
    if ('data' in r) return r.data;
    if (!said.has(f)) problems.push(r.problem);
    said.add(f);
    return undefined;
  };

  // 1. checksums
  const problems: string[] = [...unreadable];
  const sumsText = read('SHA256SUMS', TEXT_LIMIT, problems);
  const sums = sumsText?.toString('utf8') ?? '';
  if (!present.has('SHA256SUMS')) problems.push('SHA256SUMS is missing');
  else if (sumsText) {
    const listed = new Set<string>();
    for (const line of sums.split('\n').filter(Boolean)) {
      const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
      if (!m) {
        problems.push(`SHA256SUMS: unreadable line "${shown(line)}"`);
        continue;
      }
      const name = m[2]!;
      const bad = pathProblem(name);
      if (bad) problems.push(`SHA256SUMS: "${shown(name)}" is not a plain relative path inside the bundle: ${bad}`);
      else if (listed.has(name)) problems.push(`SHA256SUMS: ${shown(name)} is listed twice`);
      else if (!present.has(name)) problems.push(`missing: ${shown(name)}`);
      else if (has(name) && hashes.get(name) !== m[1]) problems.push(`checksum mismatch: ${shown(name)}`);
      listed.add(name);
    }
    for (const f of hashes.keys()) if (!UNSUMMED.has(f) && !listed.has(f)) problems.push(`not in SHA256SUMS: ${shown(f)}`);
    const bundleSha = sha256Hex(sumsText);
    for (const f of ['CITE.md', 'CITE.tex']) {
      const text = read(f, TEXT_LIMIT, problems);
      if (text && !text.includes(bundleSha)) problems.push(`${f} does not cite this bundle (sha256:${bundleSha})`);
    }
  }
  check('checksums', problems, [`sha256:${sha256Hex(sums)}`]);

  // 2. the statement and its subjects
  const subj: string[] = [];
  const provenance = read('provenance.json', JSON_LIMIT, subj);
  const statement = provenance && parseStatement(provenance);
  if (!present.has('provenance.json')) subj.push('provenance.json is missing');
  else if (!provenance) subj.push('provenance.json cannot be read');
  else if (!statement) subj.push('provenance.json is not an in-toto Statement v1 with SLSA Provenance v1');
  if (statement) {
    for (const f of ['Dockerfile', 'context.tar']) {
      if (!present.has(f)) subj.push(`missing: ${f}`);
      else if (has(f) && subjectSha(statement, f) !== hashes.get(f)) subj.push(`${f} does not match the statement's subject`);
    }
    const named = statement.subject.find((s) => s.annotations?.kind === 'image-config')?.digest?.sha256;
    const tag = statement.predicate.buildDefinition.externalParameters.tag;
    for (const image of images) subj.push(...imageProblems(image, named, typeof tag === 'string' ? tag : undefined));
    subj.push(...sbomProblems(statement, present, hashes));
    // What the crate and the SBOM claim of the files and the image (their own bytes are in SHA256SUMS).
    const crate = read(CRATE_FILE, JSON_LIMIT, subj);
    if (crate) for (const line of firstOf(crateProblems(crate, hashes, (f) => lstatSync(path.join(dir, f), { throwIfNoEntry: false })?.size, named, SHOWN + 1))) subj.push(line);
    const bom = named === undefined ? undefined : read(SBOM_FILE, JSON_LIMIT, subj);
    if (bom) subj.push(...sbomImageProblems(bom, SBOM_FILE, named!));
    const rf = statement.predicate.buildDefinition.externalParameters.repfile as { sha256?: unknown } | undefined;
    if (has('Repfile') && rf && rf.sha256 !== hashes.get('Repfile')) subj.push("Repfile does not match the statement's externalParameters");
  }
  check('subjects', subj);

  // 3. the signature: over the statement (provenance.dsse.json) and over every file (bundle.dsse.json)
  const sig: string[] = [];
  let sigNote: string[] = [];
  if (opts.key) {
    const k = typeof opts.key === 'string' ? keyFromFile(opts.key, 'public', '--key') : { ok: true as const, value: opts.key };
    const key: KeyObject | undefined = k.ok ? k.value : undefined;
    if (!k.ok) sig.push(...k.errors.map((d) => ('flag' in d ? `${d.flag}: ${d.message}` : d.message)));
    if (key && !present.has('provenance.dsse.json')) sig.push('provenance.dsse.json is missing: the bundle is not signed');
    else if (key) {
      const text = read('provenance.dsse.json', JSON_LIMIT, sig);
      const env = text && parseEnvelope(text, 'provenance.dsse.json');
      if (typeof env === 'string') sig.push(env);
      else if (env && !verifyEnvelope(env, key)) sig.push('the signature is not by this key, or the signed statement was changed');
      else if (env && provenance && !Buffer.from(env.payload, 'base64').equals(provenance)) sig.push('provenance.json is not the statement that was signed');
      if (!present.has(BUNDLE_SIGNATURE)) sig.push(`${BUNDLE_SIGNATURE} is missing: no signature covers the files of this bundle`);
      else {
        const all = read(BUNDLE_SIGNATURE, JSON_LIMIT, sig);
        if (all) sig.push(...bundleSignatureProblems(all, key, hashes));
      }
    }
  } else sigNote = [present.has('provenance.dsse.json') || present.has(BUNDLE_SIGNATURE) ? 'signed, but not checked: give --key' : 'not signed'];
  check('signature', sig, sigNote);

  // 4. the step keys, recomputed from the Repfile and the inputs in the bundle
  const keys: string[] = [];
  let ctxDir: string | undefined;
  let repfile: Buffer | undefined;
  const recipeDir = path.join(tmp, 'recipe');
  if (statement && has('context.tar') && has('Repfile')) {
    repfile = read('Repfile', TEXT_LIMIT, keys);
    const lock = read('Repfile.lock', TEXT_LIMIT, keys);
    const ctx = streamInside(dir, 'context.tar');
    if ('problem' in ctx) keys.push(ctx.problem);
    else {
      try {
        ctxDir = path.join(tmp, 'context');
        mkdirSync(ctxDir);
        await extractTar(ctx.stream, ctxDir, {
          label: 'context.tar',
          limits,
          links: true,
          archiveSize: ctx.size,
          refuse: (n) => (inStateDir(n) ? `rep never archives its own ${STATE_DIR}/ folder` : undefined),
        });
      } catch (e) {
        ctx.stream.destroy();
        if (!(e instanceof ExtractError)) throw e;
        keys.push(e.message);
        ctxDir = undefined;
      }
    }
    if (ctxDir && repfile) {
      mkdirSync(recipeDir);
      writeFileSync(path.join(recipeDir, 'Repfile'), repfile);
      if (lock) writeFileSync(path.join(recipeDir, 'Repfile.lock'), lock);
      keys.push(...firstOf(stepKeyProblems(statement, recipeDir, ctxDir)));
    }
  } else keys.push('cannot recompute keys: Repfile, context.tar or provenance.json is missing');
  check('keys', keys, statement ? [`${stepsOf(statement).length} steps`] : []);

  // 5. the Dockerfile, emitted again from what gave the keys: REPRODUCE.md has readers build it, and a
  // signed bundle could ship a harmless Repfile beside a Dockerfile that runs something else.
  if (statement && ctxDir && repfile) {
    const bundled = () => read('Dockerfile', JSON_LIMIT, []);
    const problems = !present.has('Dockerfile') ? ['missing: Dockerfile'] : !has('Dockerfile') ? ['Dockerfile cannot be read (see checksums)'] : dockerfileProblems(statement, recipeDir, ctxDir, hashes.get('Dockerfile')!, bundled);
    check('dockerfile', problems, ['as the Repfile, its lock and context.tar give it']);
  } else check('dockerfile', ['cannot emit the Dockerfile again: the bundle gives no Repfile, context and statement to emit it from (see above)']);

  // 6. a real rebuild, compared file by file
  let differences: string[] | undefined;
  if (opts.rebuild && ctxDir && statement) {
    const reb: string[] = [];
    let note: string[] | undefined;
    const opened = openProject({ file: path.join(recipeDir, 'Repfile'), context: ctxDir, cwd: recipeDir });
    const tag = verifyTag(opened.ok ? opened.value.recipe.name : 'bundle', sha256Hex(sumsText ?? ''));
    const project = opened.ok ? forVerification(opened.value, opts.rebuild.secrets ?? [], tag) : opened;
    const network = opts.rebuild.network ?? 'none';
    if (!project.ok) reb.push(...firstOf(project.errors.map((d) => escaped(formatDiagnostic(d)))));
    // Stopped while the bundle was read: nothing is built, pulled or tagged.
    else if (opts.rebuild.signal?.aborted) reb.push('the rebuild was stopped (interrupted) before it began');
    else {
      // The images it makes go whatever comes of the build, a throw included: only the temporary .rep/ named them.
      const made = await RebuildImages.start(opts.rebuild.engine, project.value.dag, tag);
      let imageId: string | undefined;
      try {
        const r = await build(project.value, { engine: opts.rebuild.engine, network, secrets: opts.rebuild.secrets, dockerfile: statePath(ctxDir, 'rebuildDockerfile'), onEvent: made.onEvent, signal: opts.rebuild.signal });
        if (r.ok) imageId = r.value.image?.imageId;
        if (!r.ok) reb.push(...firstOf(r.errors.map((d) => escaped(formatDiagnostic(d)))));
        else if (r.value.cancelled || opts.rebuild.signal?.aborted) reb.push('the rebuild was stopped (interrupted) before it was done');
        else if (!r.value.ok) {
          const failed = r.value.steps.filter((s) => s.action === 'failed').map((s) => s.name);
          reb.push(`the rebuild failed${failed.length ? ` at step ${failed.map((n) => shown(n)).join(', ')}` : ''} (network ${network})`);
          const recorded = statement.predicate.buildDefinition.internalParameters.network;
          const wanted = typeof recorded === 'string' ? recorded : 'host';
          if (wanted !== network) reb.push(`the bundle was built with ${typeof recorded === 'string' ? `--network ${shown(recorded)}` : "the engine's default network"}; if it needs the network and you trust it, rebuild with --network ${shown(wanted)}`);
        } else {
          const text = read('filesystem.json', JSON_LIMIT, reb);
          const recorded = text && parseFsManifest(text);
          if (!present.has('filesystem.json')) reb.push('filesystem.json is missing: nothing to compare the rebuilt image with');
          else if (text && !recorded) reb.push('filesystem.json is not a list of files');
          const want = statement.subject.find((x) => x.annotations?.kind === 'image-config')?.digest?.sha256;
          const rebuilt = r.value.image?.imageId ?? '';
          const answer = (lines: string[], owners = new Map<string, string>()) => digestAnswer(want, rebuilt, lines, owners);
          // The digest first; then the files, which filesystem.json must list even for an identical image.
          let now: FsManifest | undefined;
          try {
            now = recorded ? await imageFilesystem(opts.rebuild.engine, tag) : undefined;
          } catch (e) {
            if (!(e instanceof FsManifestError)) throw e;
            reb.push(`the rebuilt image cannot be compared file by file: ${e.message}`);
          }
          differences = recorded && now ? diffFilesystems(recorded, now) : [];
          // Shown up to a bound (a hostile filesystem.json, or a large image rebuilt unlike, can differ in millions of paths).
          const found = firstOf(differences).map((d) => shown(d, 1000));
          if (answer([]).same) {
            if (found.length) reb.push(`${answer([]).text[0]}, but filesystem.json does not list its files:`, ...found);
            else note = answer([]).text;
          }
          // A bundle built reproducibly promises its digest; an older one (or `reproducible: false`) only its files.
          else if (project.value.recipe.reproducible) reb.push(...answer(found, found.length ? await layerOwners(opts.rebuild.engine, tag) : undefined).text);
          // Its files alone, then: filesystem.json must be those of the image cited, or a clean list could stand beside a backdoored image.
          else {
            reb.push(...found);
            const checks = recorded ? await listingChecks(dir, [...IMAGE_ARCHIVES].filter(has), want, recorded) : [];
            for (const c of checks) reb.push(...('said' in c ? [c.said] : [c.differs, ...firstOf(c.lines).map((d) => shown(d, 1000))]));
          }
        }
      } finally {
        await made.remove(imageId);
      }
    }
    check('rebuild', reb, note ?? [`the rebuilt image ${tag} has the recorded files (paths, modes, owners, content)`]);
  } else if (opts.rebuild) check('rebuild', ['cannot rebuild: the bundle gives no Repfile, context and statement to build from (see above)']);
  return { ok: checks.every((c) => c.ok), checks, differences };
}

/** The first line of a bundle's Dockerfile names these: the statement's word on them, each on one line (a line break would write lines of the Dockerfile). */
function statedOrigin(statement: Statement): { rep: string; repfile: string } | undefined {
  const builder: unknown = statement.predicate.runDetails.builder;
  const rep = isJsonMap(builder) && isJsonMap(builder.version) ? builder.version.rep : undefined;
  const rf = statement.predicate.buildDefinition.externalParameters.repfile;
  const repfile = isJsonMap(rf) ? rf.path : undefined;
  const oneLine = (v: unknown): v is string => typeof v === 'string' && !/[\u0000-\u001f\u007f]/.test(v);
  // The Repfile's path is any text: the emitter quotes one that a comment line cannot show (emit/dockerfile.ts headerPath).
  return oneLine(rep) && typeof repfile === 'string' ? { rep, repfile } : undefined;
}

/** The sources of the bundle's COPY lines that copy one source (a folder copied whole, or a lone file). */
function loneSources(text: Buffer): Set<string> {
  const out = new Set<string>();
  for (const line of text.toString('utf8').split('\n')) {
    if (!line.startsWith('COPY [') || line.length > MAX_LINE_BYTES) continue;
    const source = loneSource(line);
    if (source !== undefined) out.add(source);
  }
  return out;
}

function loneSource(line: string): string | undefined {
  try {
    const a: unknown = JSON.parse(line.slice('COPY '.length));
    return Array.isArray(a) && a.length === 2 && typeof a[0] === 'string' ? a[0] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where the bundle's Dockerfile (of sha256 `sha`; `bundled` reads it) differs from the one the
 * Repfile, its lock and the unpacked context give, as `rep publish` emits it: named Dockerfile in
 * its header, the statement's rep and Repfile path in its first line.
 */
function dockerfileProblems(statement: Statement, recipeDir: string, ctxDir: string, sha: string, bundled: () => Buffer | undefined): string[] {
  const origin = statedOrigin(statement);
  if (!origin) return ["the statement does not say which rep published the bundle (on one line) and where its Repfile lay: the Dockerfile's first line names them"];
  const project = openProject({ file: path.join(recipeDir, 'Repfile'), context: ctxDir, cwd: recipeDir, keysOnly: true });
  if (!project.ok) return ['the Repfile does not load, so the Dockerfile cannot be emitted again:', ...firstOf(project.errors.map((d) => escaped(formatDiagnostic(d))))];
  const { dag, ctx, lock } = project.value;
  const walked = ContextIndex.walk(ctx.dir, ctx.ignore);
  const resolved = walked.ok ? resolveAllInputs(dag, ctx, walked.value) : walked;
  if (!walked.ok || !resolved.ok) return ['the inputs cannot be found in context.tar, so the Dockerfile cannot be emitted again (see keys)'];
  const text = bundled();
  // Which folders a COPY takes whole hangs on the publisher's disk (folder modes, empty folders, hard
  // links: context/folders.ts), which context.tar does not carry: the bundle's choice is taken. Either
  // way the same files come out of the unpacked context.tar, which holds no others.
  const lone = text ? loneSources(text) : new Set<string>();
  const whole = (d: string) => {
    const source = loneSource(copyLine([d], ''));
    return source !== undefined && lone.has(source);
  };
  const emitted = Buffer.from(standaloneText(dag, ctx, walked.value, resolved.value, { resolveBase: resolverFor(lock?.value), dockerfile: 'Dockerfile', whole, generatedBy: origin }));
  if (sha256Hex(emitted) === sha) return [];
  if (!text) return ['the Dockerfile is not the one the Repfile, its lock and context.tar give (too large to say where)'];
  const out = [firstDifference(text, emitted)];
  if (origin.rep !== VERSION) out.push(`the bundle was published by rep ${shown(origin.rep)}, and this is rep ${VERSION}, which may emit another Dockerfile: check it with the rep that published the bundle`);
  return out;
}

/** The first line where the bundle's Dockerfile and the one emitted again differ, byte for byte, each shown escaped. */
function firstDifference(bundled: Buffer, emitted: Buffer): string {
  let i = 0;
  while (i < bundled.length && i < emitted.length && bundled[i] === emitted[i]) i++;
  // The start of the line that holds the first byte that differs (the same in both: all before it is); lastIndexOf reads -1 from the end.
  const start = i === 0 ? 0 : emitted.lastIndexOf(0x0a, i - 1) + 1;
  let line = 1;
  for (let j = emitted.indexOf(0x0a); j !== -1 && j < start; j = emitted.indexOf(0x0a, j + 1)) line++;
  const lineOf = (b: Buffer) => {
    if (start >= b.length) return 'nothing (the file ends)';
    const end = b.indexOf(0x0a, start);
    return `"${shown(b.subarray(start, end === -1 ? b.length : end).toString('utf8'))}"`;
  };
  return `Dockerfile line ${line} is not what the Repfile, its lock and context.tar give: the bundle has ${lineOf(bundled)}, rep emits ${lineOf(emitted)}`;
}
