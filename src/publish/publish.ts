// `rep publish`: build, then write the bundle that goes with the paper.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { prettyJson } from '../canonical.js';
import { build, type BuildOptions } from '../commands/build.js';
import { contextFiles } from '../commands/context.js';
import { sha256File, sha256Hex } from '../context/hash.js';
import { asEntries, writeTarFile } from '../context/tar.js';
import { fail, ok, type Result } from '../diag.js';
import { buildProvenance } from '../emit/record.js';
import { lockPath } from '../lock/lockfile.js';
import { parseImageRef } from '../lock/reference.js';
import type { Project } from '../project.js';
import { bundleFiles, bundleKind, packBundle } from './bundle.js';
import { citationCff, citeLatex, citeMarkdown } from './citation.js';
import { loadPrivateKey, signEnvelope } from './dsse.js';
import { imageFilesystem } from './filesystem.js';
import { reproduceMd } from './reproduce.js';
import { roCrate, type CrateFile } from './rocrate.js';

export interface PublishOptions extends Omit<BuildOptions, 'dryRun' | 'dockerfile'> {
  /** A folder, or FILE.tar.gz / FILE.zip. */
  out: string;
  /** PEM file of an ed25519 private key: adds provenance.dsse.json. */
  sign?: string;
  /** Adds image.tar (docker save). */
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

/** Files SHA256SUMS does not cover: itself, and the snippets that cite its hash. */
export const UNSUMMED = new Set(['SHA256SUMS', 'CITE.md', 'CITE.tex']);

const FORMATS: Record<string, [string, string]> = {
  Repfile: ['application/yaml', 'The Repfile: how the image is built'],
  'Repfile.lock': ['application/json', 'Base images pinned to registry digests'],
  Dockerfile: ['text/x-dockerfile', 'Standalone multi-stage Dockerfile (builds the image without rep)'],
  'context.tar': ['application/x-tar', 'The exact build context, as a deterministic archive'],
  'provenance.json': ['application/vnd.in-toto+json', 'in-toto Statement v1 with SLSA Provenance v1'],
  'provenance.dsse.json': ['application/vnd.dsse.envelope.v1+json', 'The provenance statement, signed (DSSE, ed25519)'],
  'filesystem.json': ['application/json', "The image's files: path, type, mode, owner, sha256"],
  'image.tar': ['application/x-tar', 'The image (docker save)'],
  'CITATION.cff': ['application/x-yaml', 'Citation metadata (CFF 1.2.0)'],
  'REPRODUCE.md': ['text/markdown', 'How to check and rebuild this bundle'],
};

export async function publish(project: Project, opts: PublishOptions): Promise<Result<PublishResult>> {
  const { recipe } = project;
  const kind = bundleKind(opts.out);
  if (kind === 'dir' && existsSync(opts.out) && (!statSync(opts.out).isDirectory() || readdirSync(opts.out).length > 0)) {
    return fail({ file: opts.out, message: 'exists and is not an empty folder; name a new folder, FILE.tar.gz or FILE.zip' });
  }
  let key;
  if (opts.sign) {
    try {
      key = loadPrivateKey(readFileSync(opts.sign));
    } catch (e) {
      return fail({ file: opts.sign, message: `cannot use as a signing key: ${(e as Error).message}` });
    }
  }
  const built = await build(project, { ...opts, dockerfile: path.join(mkdtempSync(path.join(tmpdir(), 'rep-df-')), 'Dockerfile') });
  if (!built.ok) return built;
  const rec = built.value;
  if (!rec.ok || !rec.provenance) return fail({ file: recipe.file, message: 'the build failed; nothing was published' });
  const engine = opts.engine;
  if ((opts.image || opts.push) && engine.name === 'none') {
    return fail({ file: recipe.file, message: '--image and --push need an engine (docker or podman)' });
  }

  const stage = kind === 'dir' ? path.resolve(opts.out) : mkdtempSync(path.join(tmpdir(), 'rep-publish-'));
  mkdirSync(stage, { recursive: true });
  const put = (name: string, data: string | Buffer) => writeFileSync(path.join(stage, name), data);
  try {
    copyFileSync(recipe.path, path.join(stage, 'Repfile'));
    const lock = lockPath(recipe.path);
    if (existsSync(lock)) copyFileSync(lock, path.join(stage, 'Repfile.lock'));
    put('Dockerfile', rec.dockerfile.text);
    await writeTarFile(asEntries(contextFiles(project.ctx)), path.join(stage, 'context.tar'));

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
        steps: rec.built!,
        outputsDigests: rec.outputsDigests!,
        dockerfileText: rec.dockerfile.text,
        image: { configDigest: imageDigest, repoDigest },
        engine,
        network: opts.network,
        startedOn: new Date(times.startedOn),
        finishedOn: new Date(times.finishedOn),
      });
    }
    const statementText = prettyJson(statement);
    put('provenance.json', statementText);
    if (key) put('provenance.dsse.json', prettyJson(signEnvelope(Buffer.from(statementText), key)));
    if (engine.name !== 'none') put('filesystem.json', prettyJson(await imageFilesystem(engine, recipe.image.tag)));
    if (opts.image) await engine.save(recipe.image.tag, path.join(stage, 'image.tar'));
    if (recipe.publish) put('CITATION.cff', citationCff(recipe.publish, { tag: recipe.image.tag, digest: imageDigest }));
    const title = recipe.publish?.title ?? recipe.name;
    put(
      'REPRODUCE.md',
      reproduceMd({ title, tag: recipe.image.tag, imageDigest, hasLock: existsSync(lock), hasImage: Boolean(opts.image), signed: Boolean(key), network: opts.network }),
    );

    const describe = (name: string): CrateFile => {
      const [encodingFormat, description] = FORMATS[name] ?? ['application/octet-stream', name];
      return { path: name, sha256: sha256File(path.join(stage, name)), size: statSync(path.join(stage, name)).size, encodingFormat, description };
    };
    const times = statement.predicate.runDetails.metadata;
    const crate = roCrate({
      name: recipe.name,
      title: recipe.publish?.title,
      publish: recipe.publish,
      files: bundleFiles(stage).map(describe),
      inputs: statement.predicate.buildDefinition.resolvedDependencies.filter((d) => d.annotations?.kind === 'input').map((d) => ({ path: d.name!, sha256: d.digest!.sha256! })),
      image: { tag: recipe.image.tag, configDigest: imageDigest, file: opts.image ? 'image.tar' : undefined },
      startTime: times.startedOn,
      endTime: times.finishedOn,
      engine: engine.name,
    });
    put('ro-crate-metadata.json', prettyJson(crate));

    const sums = bundleFiles(stage)
      .filter((f) => !UNSUMMED.has(f))
      .map((f) => `${sha256File(path.join(stage, f))}  ${f}\n`)
      .join('');
    put('SHA256SUMS', sums);
    const bundleSha256 = sha256Hex(sums);
    const cite = { title, tag: recipe.image.tag, imageDigest, bundleSha256, publish: recipe.publish };
    put('CITE.md', citeMarkdown(cite));
    put('CITE.tex', citeLatex(cite));

    const files = bundleFiles(stage);
    if (kind !== 'dir') await packBundle(stage, path.resolve(opts.out));
    return ok({ out: path.resolve(opts.out), files, bundleSha256, imageDigest, repoDigest });
  } finally {
    if (kind !== 'dir') rmSync(stage, { recursive: true, force: true });
  }
}
