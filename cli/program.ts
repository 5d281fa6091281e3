// The rep command line: parses arguments, calls the functions in src/, prints.
// Loaded by main.ts unless the build was answered there.
// Exit codes: 0 ok, 1 build failed (or stale, with status -q), 2 bad usage or bad Repfile.
// Each action loads what it needs when it runs (`await import` in the action):
// `rep --help` or `rep context --list` does not load the builder, the engines
// or the publisher.
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, createWriteStream, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { BuildRecord } from '../src/build.js';
import type { EngineChoice } from '../src/engine/choice.js';
import type { Engine } from '../src/engine/engine.js';
import type { CacheSpec } from '../src/scheduler/cache.js';
import type { SecretGrant } from '../src/scheduler/secrets.js';
import { progressMode, renderer } from './progress.js';
import { diagnosticJson, exitCode, printable, quotedName, tailLines, terminalJson, type Diagnostic, type Result } from '../src/diag.js';
import { GRAPH_FORMATS, type GraphFormat } from '../src/emit/graphformats.js';
import { formatReasons } from '../src/plan/reasons.js';
import type { Project } from '../src/project.js';
import { DEFAULT_LIMITS, formatLimit, parseSize } from '../src/publish/limits.js';
import { VERSION } from '../src/version.js';
import { ENGINE_OPTION, NETWORK_EXPECTED, networkMode, PROJECT_OPTIONS, WHOLE, WHOLE_MAX, wholeNumber, type BuildFlags, type ProjectFlags } from '../src/options.js';
import { addBuildOptions, commanderOption } from './options.js';
import { EngineError } from '../src/engine/engine.js';
import { nothingToBuild, out, printDiagnostics } from './print.js';
import { cannotWrite, openOutput } from './outfile.js';

class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** Set by the command's --json: its errors are JSON on stdout too, where a script reading the report or the events looks. */
let jsonErrors = false;

/** Prints the problems and exits with the code their kinds give. */
function failWith(errors: readonly Diagnostic[]): never {
  printDiagnostics(errors);
  const code = exitCode(errors);
  // One line: in build --json's stream of events it is the last, of type "error".
  if (jsonErrors) out(terminalJson(JSON.stringify({ type: 'error', ok: false, exitCode: code, errors: errors.map(diagnosticJson) })));
  throw new Exit(code);
}

function unwrap<T>(r: Result<T>): T {
  if (!r.ok) failWith(r.errors);
  return r.value;
}

/** A mistake on the command line that commander cannot see (exit 2). */
const badFlag = (flag: string, message: string): never => failWith([{ kind: 'flag', flag, message }]);

/** Does `write`, or says (exit 2) that the file `flag` names cannot be written. */
function writing<T>(flag: string, write: () => T, what = 'it'): T {
  try {
    return write();
  } catch (e) {
    return badFlag(flag, `cannot write ${what} (${cannotWrite(e)})`);
  }
}

/** The file `flag` names opened for writing, or (exit 2) why not: a named pipe, say, which hung rep. */
function opened(flag: string, file: string): number {
  const o = openOutput(file);
  return 'fd' in o ? o.fd : badFlag(flag, `cannot write it (${o.problem})`);
}

/** A flag's value that must be a whole number from 1 (to WHOLE_MAX), read as -j reads one. */
const whole = (flag: string, v: string): number => wholeNumber(v) ?? badFlag(`${flag} ${v}`, WHOLE.test(v) ? `expected a whole number from 1 to ${WHOLE_MAX}` : 'expected a whole number from 1');

/**
 * Commander's error as rep says it: `rep: ` for `error: `, and what it quotes of the command line (an unknown
 * command or option, a value it refuses) escaped onto one line, its suggestion, rep's own names, on the next.
 * Subcommands inherit it: commander copies the output settings to each command made after.
 */
function commanderError(s: string): string {
  const text = s.replace(/^error: /, 'rep: ').replace(/\n$/, '');
  const hint = /\n\(Did you mean [^\n]*\?\)$/.exec(text);
  return `${printable(hint ? text.slice(0, hint.index) : text)}${hint?.[0] ?? ''}\n`;
}

const program = new Command('rep')
  .description('Build container images the way make builds files.')
  .version(VERSION, '-V, --version')
  .showSuggestionAfterError(true)
  .exitOverride()
  .configureOutput({ outputError: (s, write) => write(commanderError(s)) });
for (const o of PROJECT_OPTIONS) program.addOption(commanderOption(o));
program.hook('preAction', (_program, command) => {
  jsonErrors = command.opts().json === true;
});

async function project(cmd: Command, lockToRewrite = false): Promise<Project> {
  const g = cmd.optsWithGlobals<ProjectFlags>();
  const { openProject } = await import('../src/project.js');
  const p = openProject({ file: g.file, context: g.context, lockToRewrite });
  if (!p.ok) failWith(p.errors);
  return p.value;
}

async function engineFor(choice: EngineChoice, buildkit?: boolean) {
  return (await engineSoon(choice, buildkit))();
}

/**
 * The engine for a command that cannot do without one: with --engine auto and none answering, the engine's
 * problem, exit 1, rather than auto's fallback to none, which such a command then refused as if --engine none
 * had been asked (a review: "rep gc: --engine none: rep gc needs an engine").
 */
async function engineAnswering(choice: EngineChoice, why: string): Promise<Engine> {
  const { selectEngine } = await import('../src/engine/select.js');
  const { engine, notice, unanswered } = unwrap(await selectEngine(choice, {}));
  if (unanswered) failWith([{ kind: 'engine', engine: '--engine auto', message: `${unanswered}: ${why}` }]);
  if (notice) process.stderr.write(`rep: ${printable(notice)}\n`);
  return engine;
}

/**
 * Starts asking for the engine and hands back the wait for its answer: the
 * client (`docker version`, `docker buildx inspect`) runs in processes of its
 * own while rep reads the Repfile, instead of after. Its problems are said when
 * awaited, so that a Repfile's come first as before.
 */
async function engineSoon(choice: EngineChoice, buildkit?: boolean): Promise<() => Promise<Engine>> {
  const { selectEngine } = await import('../src/engine/select.js');
  const asked = selectEngine(choice, { buildkit });
  asked.catch(() => undefined);
  return async () => {
    const sel = unwrap(await asked);
    if (sel.notice) process.stderr.write(`rep: ${printable(sel.notice)}\n`);
    return sel.engine;
  };
}

async function cacheSpec(text: string, flag: '--cache-from' | '--cache-to'): Promise<CacheSpec> {
  const { parseCacheSpec } = await import('../src/scheduler/cache.js');
  return unwrap(parseCacheSpec(text, flag));
}

/**
 * A handler for SIGINT and SIGTERM: the first stops the work through `abort`
 * (saying `stopping`), a second exits at once with 130, as a shell's Ctrl-C
 * does: a build or watch that takes long to stop is not left unkillable.
 */
function stopOnSignal(abort: AbortController, stopping: string): () => void {
  return () => {
    if (abort.signal.aborted) {
      process.stderr.write('\nrep: interrupted again; exiting\n');
      process.exit(130);
    }
    process.stderr.write(`\n${stopping}\n`);
    abort.abort();
  };
}

/** --secret values as grants (ID, or id=ID,src=FILE / id=ID,env=NAME). */
async function secretGrants(texts: readonly string[] = []): Promise<SecretGrant[]> {
  const { parseSecretGrant } = await import('../src/scheduler/secrets.js');
  return texts.map((t) => unwrap(parseSecretGrant(t, process.cwd(), true)));
}

const engineOption = () => commanderOption(ENGINE_OPTION);

addBuildOptions(program.command('build'), 'build')
  .description('build the stale steps, record their keys and write the standalone Dockerfile')
  .action(async (o: BuildFlags, cmd: Command) => {
    const answer = await engineSoon(o.engine, o.buildkit);
    const p = await project(cmd);
    const cacheFrom = await Promise.all((o.cacheFrom ?? []).map((t) => cacheSpec(t, '--cache-from')));
    const cacheTo = o.cacheTo === undefined ? undefined : await cacheSpec(o.cacheTo, '--cache-to');
    const engine = await answer();
    const mode = progressMode(Boolean(o.json));
    const abort = new AbortController();
    const onSigint = stopOnSignal(abort, 'rep: interrupted; stopping the engine build (Ctrl-C again to quit at once)');
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    const { build } = await import('../src/build.js');
    const r = await build(p, {
      engine,
      dockerfile: o.dockerfile,
      dryRun: o.dryRun,
      jobs: o.jobs,
      network: o.network,
      secrets: await secretGrants(o.secret),
      signal: abort.signal,
      onEvent: renderer(mode),
      cacheFrom,
      cacheTo,
      reproducible: o.reproducible,
      noopShortcut: true,
    }).finally(() => {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
    });
    if (!r.ok) failWith(r.errors);
    const rec = r.value;
    if (o.json) {
      out(terminalJson(JSON.stringify({ type: 'record', ok: rec.ok, engine: rec.engine, target: rec.target, tag: rec.tag, image: rec.image, dockerfile: { path: rec.dockerfile.path, written: rec.dockerfile.written }, steps: rec.steps })));
    } else printRecord(rec, Boolean(o.dryRun));
    if (rec.cancelled) throw new Exit(130);
    if (!rec.ok) throw new Exit(1);
  });

function printRecord(rec: BuildRecord, dryRun: boolean): void {
  const n = rec.steps.length;
  if (rec.engine === 'none' || dryRun) {
    const stale = rec.steps.filter((s) => s.action !== 'fresh');
    const width = Math.max(0, ...stale.map((s) => s.name.length));
    for (const s of stale) out(`${s.action.padEnd(8)} ${s.name.padEnd(width)}  ${formatReasons(s.reasons)}`);
    if (dryRun) out(stale.length ? `rep: ${stale.length} of ${n} steps would be built` : `rep: all ${n} steps fresh; nothing to build`);
    else if (stale.length === 0) out(`rep: all ${n} steps fresh${rec.dockerfile.written ? `; wrote ${quotedName(rec.dockerfile.path)}` : ''}`);
    else {
      out(`rep: engine none: ${stale.length} of ${n} steps recorded, nothing built`);
      out(`rep: ${rec.dockerfile.written ? 'wrote' : 'unchanged'} ${quotedName(rec.dockerfile.path)}`);
    }
    return;
  }
  const built = rec.steps.filter((s) => s.action === 'built').length;
  if (!rec.ok) {
    out(`rep: build ${rec.cancelled ? 'interrupted' : 'failed'}: ${built} built, ${rec.steps.filter((s) => s.action === 'cached').length} cached, ${rec.steps.filter((s) => s.action === 'failed').map((s) => s.name).join(', ') || 'none'} failed`);
    return;
  }
  if (built === 0) out(nothingToBuild(n, rec.engine, rec.tag));
  else out(`rep: built ${built} of ${n} steps (${rec.engine}); image ${rec.tag}`);
  if (rec.dockerfile.written) out(`rep: wrote ${quotedName(rec.dockerfile.path)}`);
}

program
  .command('init')
  .description('write a commented Repfile from the environment files found (Binder/repo2docker style), or converted from a Dockerfile')
  .option('--force', 'overwrite an existing Repfile')
  .action(async (o: { force?: boolean }, cmd: Command) => {
    const g = cmd.optsWithGlobals<{ file?: string; context?: string }>();
    const { init } = await import('../src/commands/init.js');
    const r = init(path.resolve(g.context ?? '.'), { file: g.file, force: o.force });
    if (!r.ok) failWith(r.errors);
    const { used, notes, dockerfile: df } = r.value;
    // The names are the user's (-f, -C) and the repository's, and the notes quote its files: escaped, one line each.
    const from = df ? `${quotedName(df.rel)} (converted; build with rep build --dockerfile Dockerfile.rep)` : used.length ? used.map(quotedName).join(', ') : 'no environment files';
    out(`rep: wrote ${quotedName(path.relative(process.cwd(), r.value.file) || r.value.file)} from ${from}`);
    for (const n of df?.notes ?? []) out(`${quotedName(df!.rel)}:${n.line}: warning: ${printable(n.message)}`);
    if (r.value.dockerignore) out(`rep: wrote ${quotedName(path.relative(process.cwd(), r.value.dockerignore))} (the build context leaves out ${df ? '' : '.git and '}rep's own files)`);
    for (const n of notes) out(`rep: note: ${printable(n)}`);
  });

addBuildOptions(program.command('watch'), 'watch')
  .description('build, then rebuild whenever an input, the Repfile or .dockerignore changes')
  .action(async (o: Pick<BuildFlags, 'engine' | 'buildkit' | 'dockerfile' | 'jobs' | 'network' | 'secret'>, cmd: Command) => {
    const g = cmd.optsWithGlobals<ProjectFlags>();
    // Folders that are not there are a mistake of the command line, as for build (exit 2), not a Repfile to wait
    // for: watch waited for good on a missing -C, and exited 13 on a Repfile in a missing folder (a review).
    const { contextProblem, projectPaths } = await import('../src/projectpaths.js');
    const where = projectPaths({ file: g.file, context: g.context });
    const missing = contextProblem(where.contextDir, g.context ?? (path.relative(process.cwd(), where.contextDir) || '.')) ?? contextProblem(path.dirname(where.repfile), path.dirname(g.file ?? 'Repfile'));
    if (missing) failWith([missing]);
    const engine = await engineFor(o.engine, o.buildkit);
    const stop = new AbortController();
    const onSignal = stopOnSignal(stop, 'rep: stopping (Ctrl-C again to quit at once)');
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const render = renderer(progressMode(false));
    const { watch } = await import('../src/commands/watch.js');
    await watch({
      project: { file: g.file, context: g.context },
      build: { engine, dockerfile: o.dockerfile, jobs: o.jobs, network: o.network, secrets: await secretGrants(o.secret), onEvent: render },
      signal: stop.signal,
      onEvent: (e) => {
        switch (e.type) {
          case 'watching':
            out(`rep: watching ${quotedName(e.dir)} (Ctrl-C to stop)`);
            return;
          case 'changed':
            out(`rep: changed: ${e.paths.slice(0, 5).map(printable).join(', ')}${e.paths.length > 5 ? `, and ${e.paths.length - 5} more` : ''}`);
            return;
          case 'invalid':
            printDiagnostics(e.errors);
            out('rep: waiting for a fix');
            return;
          case 'unwatched':
            printDiagnostics(e.errors);
            return;
          case 'built':
            printRecord(e.record, false);
            return;
          default: {
            const never: never = e;
            return never;
          }
        }
      },
    }).finally(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
  });

program
  .command('status')
  .description('show which steps are fresh and why the others are stale')
  .option('--json', 'print {steps:[{name,key,state,reasons}]}')
  .option('-q, --question', 'print nothing; exit 0 when every step is fresh, 1 otherwise (like make -q)')
  .addOption(engineOption())
  .action(async (o: { json?: boolean; question?: boolean; engine: EngineChoice }, cmd: Command) => {
    const answer = await engineSoon(o.engine);
    const p = await project(cmd);
    const { formatStatus, lockProblems, status, statusReport } = await import('../src/commands/status.js');
    const r = await status(p, await answer());
    if (!r.ok) failWith(r.errors);
    const plan = r.value;
    const lockLines = lockProblems(p);
    const allFresh = plan.steps.every((s) => s.state === 'fresh') && lockLines.length === 0;
    if (o.question) throw new Exit(allFresh ? 0 : 1);
    const { prettyJson } = await import('../src/canonical.js');
    out(o.json ? terminalJson(prettyJson(statusReport(plan, lockLines))) : [formatStatus(plan), ...lockLines].join('\n'));
  });

program
  .command('lock')
  .description('pin every base image to its registry digest in Repfile.lock')
  .action(async (_o: unknown, cmd: Command) => {
    const { lock } = await import('../src/commands/lock.js');
    // A lock that is not valid is written again, not refused (its message says to run rep lock).
    const r = await lock(await project(cmd, true));
    if (!r.ok) failWith(r.errors);
    for (const [ref, digest] of Object.entries(r.value.lock.images)) out(`${r.value.changed.includes(ref) ? 'pinned ' : 'kept   '} ${printable(ref)} -> ${printable(digest)}`);
    out(`rep: wrote Repfile.lock (${Object.keys(r.value.lock.images).length} images)`);
  });

addBuildOptions(program.command('publish'), 'publish')
  .description('build, then write the bundle for a paper: Dockerfile, context, provenance, citation, checksums')
  .requiredOption('-o, --out <path>', 'a new folder, or FILE.tar.gz, or FILE.zip (an existing file is replaced)')
  .option('--sign <key>', 'sign the provenance statement (DSSE) with this ed25519 private key (PEM)')
  .option('--image', 'add the image itself (image.oci.tar: an OCI image layout that docker load, podman load, skopeo and apptainer read)')
  .option('--push <ref>', 'push the image to this reference and record its repo digest')
  .action(async (o: Pick<BuildFlags, 'engine' | 'network' | 'buildkit' | 'secret'> & { out: string; sign?: string; image?: boolean; push?: string }, cmd: Command) => {
    const { selectEngine } = await import('../src/engine/select.js');
    const asked = selectEngine(o.engine, { buildkit: o.buildkit });
    asked.catch(() => undefined);
    const p = await project(cmd);
    const { engine, notice, unanswered } = unwrap(await asked);
    // Publishing is building, then bundling the image built: auto finding no engine fell back to none and
    // published, exit 0, a bundle with no image and a citation of a tag with no digest (a review). Only an
    // explicit --engine none asks for a bundle without an image.
    if (unanswered) failWith([{ kind: 'engine', engine: '--engine auto', message: `${unanswered}: rep publish builds the image it bundles; --engine none writes a bundle without one` }]);
    if (notice) process.stderr.write(`rep: ${printable(notice)}\n`);
    const { publish } = await import('../src/publish/publish.js');
    const r = await publish(p, { out: o.out, engine, sign: o.sign, image: o.image, push: o.push, network: o.network, secrets: await secretGrants(o.secret), onEvent: renderer(progressMode(false)) });
    if (!r.ok) failWith(r.errors);
    out(r.value.files.map((f) => `  ${quotedName(f)}`).join('\n'));
    if (r.value.repoDigest) out(`rep: pushed ${printable(r.value.repoDigest)}`);
    out(`rep: published ${quotedName(r.value.out)} (bundle sha256:${r.value.bundleSha256})`);
  });

program
  .command('verify')
  .description('check a published bundle: checksums, provenance subjects, image digests, signature, step keys')
  .argument('<bundle>', 'a bundle folder, .tar.gz or .zip')
  .option('--key <pub>', "the signer's ed25519 public key (PEM)")
  .option('--rebuild', 'rebuild from the bundle with a real engine (image tagged rep-verify/NAME:BUNDLESHA12) and compare the image file by file')
  .addOption(engineOption())
  .option('--network <mode>', 'network for RUN steps when rebuilding: none unless named (e.g. host)', (text: string) => {
    if (networkMode(text) === undefined) throw new InvalidArgumentError(NETWORK_EXPECTED);
    return text;
  })
  .option('--secret <id=ID,src=FILE>', 'give a rebuild this secret (or id=ID,env=NAME); it gets no other (repeat for more)', (v: string, all: string[] = []) => [...all, v])
  .option('--max-size <size>', 'refuse a bundle or context.tar that unpacks to more than this (e.g. 64G)', formatLimit(DEFAULT_LIMITS.maxBytes))
  .option('--max-files <n>', 'refuse a bundle or context.tar of more entries than this', String(DEFAULT_LIMITS.maxEntries))
  .option('--max-ratio <n>', 'refuse an archive that expands to more than N times its size (plus 64 MiB)', String(DEFAULT_LIMITS.maxRatio))
  .option('--json', 'print the report as JSON')
  .action(async (bundle: string, o: { key?: string; rebuild?: boolean; engine: EngineChoice; network?: string; secret?: string[]; maxSize: string; maxFiles: string; maxRatio: string; json?: boolean }) => {
    const { verifyBundle } = await import('../src/publish/verify.js');
    const { parseSecretGrant } = await import('../src/scheduler/secrets.js');
    const { prettyJson } = await import('../src/canonical.js');
    const limits = {
      maxBytes: parseSize(o.maxSize) ?? badFlag(`--max-size ${o.maxSize}`, 'expected a size such as 500M, 64G or 1T'),
      maxEntries: whole('--max-files', o.maxFiles),
      maxRatio: whole('--max-ratio', o.maxRatio),
    };
    const secrets = (o.secret ?? []).map((s) => unwrap(parseSecretGrant(s)));
    if (secrets.length && !o.rebuild) badFlag('--secret', 'only --rebuild takes it');
    // A path that names no bundle is a mistake on the command line (exit 2), as cmp and diff say of a missing file; a bundle that fails its checks is 1.
    const { notABundle } = await import('../src/publish/bundle.js');
    const notOne = notABundle(bundle);
    if (notOne) badFlag(`verify ${bundle}`, notOne);
    // The key is read here, before the engine and the bundle: a key rep cannot use is a mistake on the command line (exit 2), not a failed check.
    const { keyFromFile } = await import('../src/publish/dsse.js');
    const key = o.key === undefined ? undefined : unwrap(keyFromFile(o.key, 'public', '--key'));
    const rebuild = o.rebuild ? { engine: await engineFor(o.engine === 'auto' ? 'auto' : o.engine), network: o.network, secrets } : undefined;
    if (rebuild && rebuild.engine.name === 'none') badFlag('--rebuild', 'needs an engine (docker or podman)');
    // A rebuild stops its engine work on Ctrl-C or SIGTERM and removes its images before rep exits 130; without a
    // handler of its own the signal was lost while the engine ran (tempdir.ts and execa's exit hook each leave it to
    // another listener), so `timeout` could not stop a step that never ends (a review).
    const abort = new AbortController();
    const onSignal = stopOnSignal(abort, 'rep: interrupted; stopping the rebuild and removing its images (Ctrl-C again to quit at once)');
    if (rebuild) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    const report = await verifyBundle(bundle, { key, rebuild: rebuild && { ...rebuild, signal: abort.signal }, limits }).finally(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
    if (abort.signal.aborted) {
      process.stderr.write('rep: verify interrupted\n');
      process.exit(130);
    }
    if (o.json) out(terminalJson(prettyJson(report)));
    else {
      for (const c of report.checks) {
        out(`${c.ok ? 'ok    ' : 'FAILED'}  ${c.name}${c.detail.length === 1 && c.ok ? `: ${c.detail[0]}` : ''}`);
        if (!c.ok) for (const d of c.detail) out(`        ${d}`);
      }
      const failed = report.checks.filter((c) => !c.ok).map((c) => c.name);
      out(failed.length ? `rep: verify failed: ${failed.join(', ')}` : 'rep: bundle verified');
    }
    if (!report.ok) throw new Exit(1);
  });

program
  .command('keygen')
  .description('make an ed25519 key pair for signing bundles: PREFIX.key (private) and PREFIX.pub')
  .argument('<prefix>', 'path prefix of the two files')
  .action((prefix: string) => {
    const flag = `keygen ${prefix || '""'}`;
    // An empty prefix (or a folder's) would write the hidden files .key and .pub.
    if (prefix === '' || /[/\\]$/.test(prefix)) badFlag(flag, 'expected a path prefix: the key pair goes to PREFIX.key and PREFIX.pub');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const [key, pub] = [`${prefix}.key`, `${prefix}.pub`];
    writing(flag, () => writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' }), key);
    try {
      writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }), { flag: 'wx' });
    } catch (e) {
      // Not half a pair: the private key just written goes too.
      rmSync(key, { force: true });
      badFlag(flag, `cannot write ${pub} (${cannotWrite(e)})`);
    }
    out(`rep: wrote ${quotedName(key)} (keep it private) and ${quotedName(pub)}`);
  });

program
  .command('context')
  .description('show the build context as Docker sees it (after .dockerignore)')
  .option('--list', 'print every file a `COPY . /x` would see, one per line, sorted (default)')
  .option('--sums', 'print every file with its sha256, type, mode and size: the listing whose sha256 a build\'s provenance cites as "context"')
  .option('--tar <file>', 'write a deterministic tar of the context ("-" for stdout)')
  .action(async (o: { list?: boolean; sums?: boolean; tar?: string }, cmd: Command) => {
    const g = cmd.optsWithGlobals<ProjectFlags>();
    const { listContext, openContext, sumContext, tarContext } = await import('../src/commands/context.js');
    const ctx = openContext({ file: g.file, context: g.context });
    if (!ctx.ok) failWith(ctx.errors);
    if (o.tar !== undefined) {
      const { sourceDateEpoch } = await import('../src/context/tar.js');
      const epoch = sourceDateEpoch();
      if (epoch.problem) badFlag(`SOURCE_DATE_EPOCH=${process.env.SOURCE_DATE_EPOCH}`, epoch.problem);
      // Opened here, so that a path that cannot be written is said as the flag's mistake, not thrown from a stream.
      const file = o.tar;
      const fd = file === '-' ? undefined : opened(`--tar ${file}`, file);
      await tarContext(ctx.value, fd === undefined ? process.stdout : createWriteStream('', { fd }));
      if (!o.list && !o.sums) return;
    }
    if (o.sums) {
      process.stdout.write(sumContext(ctx.value));
      if (!o.list) return;
    }
    // A name with a control character, a quote or a backslash is printed quoted, as git does: one name a line, nothing for the terminal.
    const files = listContext(ctx.value);
    if (files.length) out(files.map(quotedName).join('\n'));
  });

program
  .command('gc')
  .description("remove the step images (rep-cache) this project's recent states no longer refer to")
  .option('--keep-states <n>', 'keep the images of the N newest states, the current one included (default 3)')
  .option('--keep-bytes <size>', 'keep the newest states whose images fit in SIZE (e.g. 2G); the current state always')
  .option('--all', "remove every step image this project recorded, the current state's too")
  .option('-n, --dry-run', 'print what would be removed; remove nothing')
  .addOption(engineOption())
  .action(async (o: { keepStates?: string; keepBytes?: string; all?: boolean; dryRun?: boolean; engine: EngineChoice }, cmd: Command) => {
    const keepStates = o.keepStates === undefined ? undefined : whole('--keep-states', o.keepStates);
    const keepBytes = o.keepBytes === undefined ? undefined : parseSize(o.keepBytes) ?? badFlag(`--keep-bytes ${o.keepBytes}`, 'expected a size such as 500M or 2G');
    if (o.all && (keepStates !== undefined || keepBytes !== undefined)) badFlag('--all', 'keeps nothing: it takes no --keep-states or --keep-bytes');
    const { gc, formatGc } = await import('../src/commands/gc.js');
    const r = await gc(cmd.optsWithGlobals<ProjectFlags>(), { engine: await engineAnswering(o.engine, "rep gc removes the engine's images"), keepStates, keepBytes, all: o.all, dryRun: o.dryRun });
    if (!r.ok) failWith(r.errors);
    out(formatGc(r.value, Boolean(o.dryRun)));
    if (r.value.failed.length) throw new Exit(1);
  });

program
  .command('graph')
  .description('print the step graph')
  .addOption(new Option('--format <format>', 'output format').choices(GRAPH_FORMATS).default('dot'))
  .action(async (o: { format: GraphFormat }, cmd: Command) => {
    const { graph } = await import('../src/commands/graph.js');
    const r = graph(await project(cmd), o.format);
    if (!r.ok) failWith(r.errors);
    out(r.value);
  });

program
  .command('schema')
  .description('print the JSON Schema of the Repfile')
  .option('-o, --out <file>', 'write it to a file')
  .action(async (o: { out?: string }) => {
    const { prettyJson } = await import('../src/canonical.js');
    const { repfileJsonSchema } = await import('../src/repfile/schema.js');
    const text = prettyJson(repfileJsonSchema());
    const file = o.out;
    if (!file) {
      out(text);
      return;
    }
    const fd = opened(`--out ${file}`, file);
    try {
      writing(`--out ${file}`, () => writeFileSync(fd, text));
    } finally {
      closeSync(fd);
    }
  });

async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof Exit) return e.code;
    // A context file rep could not read while hashing (src/context/hash.ts), named by its class's name: importing it would load hashing for every command.
    if (e instanceof Error && e.name === 'UnreadableInput' && 'diagnostic' in e) {
      try {
        failWith([e.diagnostic as Diagnostic]);
      } catch (exit) {
        return (exit as Exit).code;
      }
    }
    if (e instanceof CommanderError) {
      // Help shown because the command line named no command or one there is not (`rep help bogus`, shown on stderr) is bad usage.
      if ((e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') && e.exitCode === 0) return 0;
      return 2;
    }
    // Every problem rep foresees comes back as a Result (see src/diag.ts); what reaches here is
    // the engine failing where no step was running, or a fault of rep's: say what failed, without
    // a stack trace (REP_DEBUG=1 shows it).
    const detail = e instanceof EngineError && e.detail ? tailLines(e.detail).map((l) => `\n  | ${printable(l)}`).join('') : '';
    process.stderr.write(`rep: ${printable(String((e as Error).message))}${detail}\n`);
    if (process.env.REP_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    if (jsonErrors) out(terminalJson(JSON.stringify({ type: 'error', ok: false, exitCode: 1, errors: [{ kind: e instanceof EngineError ? 'engine' : 'error', message: String((e as Error).message), text: `rep: ${String((e as Error).message)}` }] })));
    return 1;
  }
}

process.exitCode = await main(process.argv);
