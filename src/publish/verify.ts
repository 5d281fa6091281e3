// `rep verify BUNDLE`: every checksum, the statement's subjects against the
// files, the signature, and that the Repfile and inputs in the bundle give the
// recorded step keys; with --rebuild, a real build compared file by file.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tar from 'tar-stream';
import { build } from '../commands/build.js';
import { StatCache, sha256File, sha256Hex } from '../context/hash.js';
import type { Engine } from '../engine/engine.js';
import { PREDICATE_TYPE, STATEMENT_TYPE, type Statement } from '../emit/provenance.js';
import { readLock, resolverFor } from '../lock/lockfile.js';
import { hashInputs, Planner } from '../plan/plan.js';
import { openProject } from '../project.js';
import { formatDiagnostic } from '../diag.js';
import { bundleFiles, extractTar, openBundle } from './bundle.js';
import { loadPublicKey, verifyEnvelope, type Envelope } from './dsse.js';
import { diffFilesystems, imageFilesystem, type FsManifest } from './filesystem.js';
import { UNSUMMED } from './publish.js';

export interface Check {
  name: string;
  ok: boolean;
  /** What failed, or a note. */
  detail: string[];
}

export interface VerifyOptions {
  /** PEM file of the signer's ed25519 public key. */
  key?: string;
  rebuild?: { engine: Engine; network?: string };
}

export interface VerifyReport {
  ok: boolean;
  checks: Check[];
  /** Image differences found by --rebuild, one line per path. */
  differences?: string[];
}

const subjectSha = (s: Statement, name: string) => s.subject.find((x) => x.name === name)?.digest?.sha256;

async function imageConfigDigest(imageTar: string): Promise<string | undefined> {
  const extract = tar.extract();
  let manifest: string | undefined;
  await new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, body, next) => {
      if (h.name === 'manifest.json') {
        const chunks: Buffer[] = [];
        body.on('data', (c: unknown) => chunks.push(c as Buffer));
        body.on('end', () => {
          manifest = Buffer.concat(chunks).toString('utf8');
          next();
        });
      } else {
        body.resume();
        body.on('end', next);
      }
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
    createReadStream(imageTar).pipe(extract);
  });
  if (!manifest) return undefined;
  const config = (JSON.parse(manifest) as { Config: string }[])[0]?.Config ?? '';
  return /([0-9a-f]{64})/.exec(config)?.[1];
}

export async function verifyBundle(where: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const dir = await openBundle(where);
  const checks: Check[] = [];
  const check = (name: string, detail: string[], note: string[] = []) => {
    checks.push({ name, ok: detail.length === 0, detail: detail.length ? detail : note });
    return detail.length === 0;
  };
  const has = (f: string) => existsSync(path.join(dir, f));

  // 1. checksums
  const problems: string[] = [];
  let sums = '';
  if (!has('SHA256SUMS')) problems.push('SHA256SUMS is missing');
  else {
    sums = readFileSync(path.join(dir, 'SHA256SUMS'), 'utf8');
    const listed = new Set<string>();
    for (const line of sums.split('\n').filter(Boolean)) {
      const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
      if (!m) {
        problems.push(`SHA256SUMS: unreadable line "${line}"`);
        continue;
      }
      listed.add(m[2]!);
      if (!has(m[2]!)) problems.push(`missing: ${m[2]}`);
      else if (sha256File(path.join(dir, m[2]!)) !== m[1]) problems.push(`checksum mismatch: ${m[2]}`);
    }
    for (const f of bundleFiles(dir)) if (!UNSUMMED.has(f) && !listed.has(f)) problems.push(`not in SHA256SUMS: ${f}`);
    const bundleSha = sha256Hex(sums);
    for (const f of ['CITE.md', 'CITE.tex']) {
      if (has(f) && !readFileSync(path.join(dir, f), 'utf8').includes(bundleSha)) problems.push(`${f} does not cite this bundle (sha256:${bundleSha})`);
    }
  }
  check('checksums', problems, [`sha256:${sha256Hex(sums)}`]);

  // 2. the statement and its subjects
  let statement: Statement | undefined;
  const subj: string[] = [];
  try {
    statement = JSON.parse(readFileSync(path.join(dir, 'provenance.json'), 'utf8')) as Statement;
    if (statement._type !== STATEMENT_TYPE || statement.predicateType !== PREDICATE_TYPE) subj.push('provenance.json is not an in-toto Statement v1 with SLSA Provenance v1');
  } catch {
    subj.push('provenance.json is missing or not JSON');
  }
  if (statement) {
    for (const f of ['Dockerfile', 'context.tar']) {
      const want = subjectSha(statement, f);
      if (!has(f)) subj.push(`missing: ${f}`);
      else if (want !== sha256File(path.join(dir, f))) subj.push(`${f} does not match the statement's subject`);
    }
    const image = statement.subject.find((s) => s.annotations?.kind === 'image-config');
    if (image && has('image.tar')) {
      const got = await imageConfigDigest(path.join(dir, 'image.tar'));
      if (got !== image.digest?.sha256) subj.push(`image.tar holds image ${got ?? '(none)'}, the statement names ${image.digest?.sha256}`);
    }
    if (has('Repfile') && statement.predicate.buildDefinition.externalParameters.repfile) {
      const rf = statement.predicate.buildDefinition.externalParameters.repfile as { sha256: string };
      if (rf.sha256 !== sha256File(path.join(dir, 'Repfile'))) subj.push("Repfile does not match the statement's externalParameters");
    }
  }
  check('subjects', subj);

  // 3. the signature
  const sig: string[] = [];
  let sigNote: string[] = [];
  if (opts.key) {
    if (!has('provenance.dsse.json')) sig.push('provenance.dsse.json is missing: the bundle is not signed');
    else {
      try {
        const env = JSON.parse(readFileSync(path.join(dir, 'provenance.dsse.json'), 'utf8')) as Envelope;
        const key = loadPublicKey(readFileSync(opts.key));
        if (!verifyEnvelope(env, key)) sig.push('the signature is not by this key, or the signed statement was changed');
        else if (has('provenance.json') && !Buffer.from(env.payload, 'base64').equals(readFileSync(path.join(dir, 'provenance.json')))) {
          sig.push('provenance.json is not the statement that was signed');
        }
      } catch (e) {
        sig.push(`cannot check the signature: ${(e as Error).message}`);
      }
    }
  } else sigNote = [has('provenance.dsse.json') ? 'signed, but not checked: give --key' : 'not signed'];
  check('signature', sig, sigNote);

  // 4. the step keys, recomputed from the Repfile and the inputs in the bundle
  const keys: string[] = [];
  let ctxDir: string | undefined;
  if (statement && has('context.tar') && has('Repfile')) {
    ctxDir = mkdtempSync(path.join(tmpdir(), 'rep-verify-ctx-'));
    await extractTar(createReadStream(path.join(dir, 'context.tar')), ctxDir);
    const project = openProject({ file: path.join(dir, 'Repfile'), context: ctxDir });
    if (!project.ok) keys.push(...project.errors.map(formatDiagnostic));
    else {
      const p = project.value;
      const hashed = hashInputs(p.dag, p.ctx, new StatCache());
      if (!hashed.ok) keys.push(...hashed.errors.map(formatDiagnostic));
      else {
        const recorded = new Map(statement.predicate.runDetails.byproducts.map((b) => [b.name!.replace(/^step:/, ''), b]));
        const nonces: Record<string, string> = {};
        for (const [n, b] of recorded) if (b.annotations?.nonce) nonces[n] = b.annotations.nonce;
        const planner = new Planner(p.dag, hashed.value, { resolveBase: resolverFor(readLock(path.join(dir, 'Repfile'))), nonces });
        const digestOf = (producer: string, producerKey: string) => recorded.get(producer)?.annotations?.outputsDigest ?? `key:${producerKey}`;
        for (const name of p.dag.order) {
          const { material, key } = planner.key(name, digestOf);
          planner.settle(name, material, key, true);
          const want = recorded.get(name)?.digest?.sha256;
          if (!want) keys.push(`step ${name} is not in the statement`);
          else if (`sha256:${want}` !== key) keys.push(`step ${name}: the bundle gives key ${key}, the statement records sha256:${want}`);
        }
        for (const n of recorded.keys()) if (!p.dag.nodes.has(n)) keys.push(`the statement records step ${n}, which the Repfile does not have`);
      }
    }
  } else keys.push('cannot recompute keys: Repfile, context.tar or provenance.json is missing');
  check('keys', keys, statement ? [`${statement.predicate.runDetails.byproducts.length} steps`] : []);

  // 5. a real rebuild, compared file by file
  let differences: string[] | undefined;
  if (opts.rebuild && ctxDir) {
    const reb: string[] = [];
    const project = openProject({ file: path.join(dir, 'Repfile'), context: ctxDir });
    if (!project.ok) reb.push(...project.errors.map(formatDiagnostic));
    else {
      const r = await build(project.value, { engine: opts.rebuild.engine, network: opts.rebuild.network, dockerfile: path.join(ctxDir, '.rep', 'Dockerfile') });
      if (!r.ok) reb.push(...r.errors.map(formatDiagnostic));
      else if (!r.value.ok) reb.push('the rebuild failed');
      else if (!has('filesystem.json')) reb.push('filesystem.json is missing: nothing to compare the rebuilt image with');
      else {
        const recorded = JSON.parse(readFileSync(path.join(dir, 'filesystem.json'), 'utf8')) as FsManifest;
        differences = diffFilesystems(recorded, await imageFilesystem(opts.rebuild.engine, project.value.recipe.image.tag));
        reb.push(...differences);
      }
    }
    check('rebuild', reb, ['the rebuilt image has the recorded files (paths, modes, owners, content)']);
  }
  return { ok: checks.every((c) => c.ok), checks, differences };
}
