// Publishing and verifying bundles without an engine: provenance, signature,
// checksums, citation metadata, and every kind of tampering.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { build } from '../../src/build.js';
import { sha256Hex } from '../../src/context/hash.js';
import { NoneEngine } from '../../src/engine/none.js';
import { BUILD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, type Statement } from '../../src/emit/provenance.js';
import { pae, signEnvelope, verifyEnvelope } from '../../src/publish/dsse.js';
import { changedSince, publish } from '../../src/publish/publish.js';
import { contextFiles } from '../../src/context/context.js';
import { citeLatex } from '../../src/publish/citation.js';
import { formatDiagnostic } from '../../src/diag.js';
import { forVerification, verifyTag } from '../../src/publish/rebuild.js';
import { parseSecretGrant } from '../../src/scheduler/secrets.js';
import { verifyBundle } from '../../src/publish/verify.js';
import { packBundle } from '../../src/publish/bundle.js';
import { openProject } from '../../src/project.js';
import { makeProject, open, REPO, rep } from '../helpers.js';

const REPFILE = `rep: 1
name: paper
base: debian:bookworm-slim
steps:
  system:
    run: apt-get install -y r-base
  data:
    from: busybox:latest
    inputs: [data/]
    run: mkdir -p /out && cp data/*.csv /out/
    outputs: [/out]
    phony: true
  analysis:
    needs: [system, data]
    inputs: [src/]
    run: Rscript src/run.R
publish:
  title: Rainfall and river levels, 1950-2020
  authors:
    - {given: Ada, family: Lovelace, orcid: 0000-0002-1825-0097, affiliation: Analytical Engine Society}
    - {name: The River Institute}
  license: CC-BY-4.0
  doi: 10.5281/zenodo.1234567
  version: "1.0"
  date-released: "2026-11-25"
  keywords: [hydrology, reproducibility]
`;

const TREE = { Repfile: REPFILE, 'data/rain.csv': 'year,mm\n1950,800\n', 'src/run.R': 'print(1)\n', 'notes.md': 'notes\n' };

const none = new NoneEngine();
const keys = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const dir = mkdtempSync(path.join(tmpdir(), 'rep-keys-'));
  writeFileSync(path.join(dir, 'k.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(path.join(dir, 'k.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  return { priv: path.join(dir, 'k.key'), pub: path.join(dir, 'k.pub') };
};

async function published(opts: { sign?: string; out?: string } = {}) {
  const dir = makeProject(TREE);
  const out = opts.out ?? path.join(mkdtempSync(path.join(tmpdir(), 'rep-bundle-')), 'bundle');
  const r = await publish(open(dir), { engine: none, out: opts.out ? path.join(dir, opts.out) : out, sign: opts.sign });
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  return { project: dir, bundle: r.value.out, result: r.value };
}

/**
 * rep run from its sources (through tsx) rather than dist/, which these tests may not rebuild:
 * [exit code, stdout, stderr]. The timeout turns a read that never ends (a named pipe, /dev/zero)
 * into a failed test rather than a hung or swapping one.
 */
function repSource(dir: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, ['--import', path.join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs'), path.join(REPO, 'cli', 'main.ts'), ...args], { cwd: dir, encoding: 'utf8', env, timeout: 20_000, killSignal: 'SIGKILL' });
  return [r.status, r.stdout, r.stderr] as const;
}

const failures = async (bundle: string, key?: string) =>
  (await verifyBundle(bundle, { key })).checks.filter((c) => !c.ok).map((c) => [c.name, ...c.detail]);

describe('provenance', () => {
  it('is an in-toto Statement v1 with a SLSA Provenance v1 predicate naming every input and key', async () => {
    const dir = makeProject(TREE);
    const r = await build(open(dir), { engine: none });
    if (!r.ok) throw new Error();
    const s = JSON.parse(readFileSync(path.join(dir, '.rep/provenance.json'), 'utf8')) as Statement;
    expect(s._type).toBe(STATEMENT_TYPE);
    expect(s.predicateType).toBe(PREDICATE_TYPE);
    expect(s.subject.map((x) => x.name)).toEqual(['Dockerfile', 'context']);
    expect(s.subject[0]!.digest!.sha256).toBe(sha256Hex(readFileSync(path.join(dir, 'Dockerfile'))));
    const bd = s.predicate.buildDefinition;
    expect(bd.buildType).toBe(BUILD_TYPE);
    expect(bd.externalParameters).toEqual({
      repfile: { path: 'Repfile', sha256: sha256Hex(REPFILE) },
      target: 'analysis',
      tag: 'paper:latest',
    });
    expect(bd.resolvedDependencies.map((d) => [d.name, d.annotations?.kind])).toEqual([
      ['busybox:latest', 'base-image'],
      ['debian:bookworm-slim', 'base-image'],
      ['data/rain.csv', 'input'],
      ['src/run.R', 'input'],
    ]);
    expect(bd.resolvedDependencies[2]!.digest).toEqual({ sha256: sha256Hex('year,mm\n1950,800\n') });
    expect(s.predicate.runDetails.byproducts.map((b) => [b.name, `sha256:${b.digest!.sha256}`])).toEqual(
      r.value.steps.map((x) => [`step:${x.name}`, x.key]),
    );
    expect(s.predicate.runDetails.builder.version.rep).toBe('0.1.0');
    expect(Date.parse(s.predicate.runDetails.metadata.finishedOn)).toBeGreaterThanOrEqual(Date.parse(s.predicate.runDetails.metadata.startedOn));
    // Keys are sorted, and two builds differ only in their times (and the phony step's nonce).
    const text = readFileSync(path.join(dir, '.rep/provenance.json'), 'utf8');
    expect(text.indexOf('"_type"')).toBeLessThan(text.indexOf('"predicate"'));
    await build(open(dir), { engine: none });
    const again = JSON.parse(readFileSync(path.join(dir, '.rep/provenance.json'), 'utf8')) as Statement;
    const strip = (x: Statement) => {
      const c = structuredClone(x);
      c.predicate.runDetails.metadata = { startedOn: '', finishedOn: '' };
      c.predicate.runDetails.byproducts = c.predicate.runDetails.byproducts.filter((b) => !b.annotations?.nonce && b.name !== 'step:analysis');
      return c;
    };
    expect(strip(again)).toEqual(strip(s));
  });
});

describe('DSSE', () => {
  it('encodes PAE as the spec says', () => {
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  });

  it('signs and verifies with ed25519; another key or a changed payload fails', () => {
    const a = generateKeyPairSync('ed25519');
    const b = generateKeyPairSync('ed25519');
    const env = signEnvelope(Buffer.from('{"x":1}'), a.privateKey);
    expect(verifyEnvelope(env, a.publicKey)).toBe(true);
    expect(verifyEnvelope(env, b.publicKey)).toBe(false);
    expect(verifyEnvelope({ ...env, payload: Buffer.from('{"x":2}').toString('base64') }, a.publicKey)).toBe(false);
    expect(verifyEnvelope({ ...env, payloadType: 'text/plain' }, a.publicKey)).toBe(false);
  });
});

describe('rep publish and rep verify', () => {
  it('writes every file of the bundle, and a signed round trip verifies', async () => {
    const k = keys();
    const { bundle, result } = await published({ sign: k.priv });
    expect(result.files).toEqual([
      'CITATION.cff', 'CITE.md', 'CITE.tex', 'Dockerfile', 'REPRODUCE.md', 'Repfile', 'SHA256SUMS', 'bundle.dsse.json', 'context.tar',
      'provenance.dsse.json', 'provenance.json', 'ro-crate-metadata.json',
    ]);
    const report = await verifyBundle(bundle, { key: k.pub });
    expect(report.checks.map((c) => [c.name, c.ok])).toEqual([
      ['checksums', true], ['subjects', true], ['signature', true], ['keys', true], ['dockerfile', true],
    ]);
    // The bundle's Dockerfile is built from a temp file; its header names it as the bundle does.
    expect(readFileSync(path.join(bundle, 'Dockerfile'), 'utf8').split('\n')[1]).toMatch(/^# Builds the image without rep: {2}docker build -t \S+ -f Dockerfile \.$/);
    expect(readFileSync(path.join(bundle, 'CITE.md'), 'utf8')).toContain(`sha256:${result.bundleSha256}`);
    expect(readFileSync(path.join(bundle, 'CITE.tex'), 'utf8')).toContain(`\\texttt{sha256:${result.bundleSha256}}`);
    expect(sha256Hex(readFileSync(path.join(bundle, 'SHA256SUMS')))).toBe(result.bundleSha256);
    const cli = rep(process.cwd(), ['verify', bundle, '--key', k.pub]);
    expect([cli.code, cli.stdout.split('\n').at(-2)]).toEqual([0, 'rep: bundle verified']);
  });

  it('writes a CITATION.cff that the official CFF 1.2.0 schema accepts', async () => {
    const { bundle } = await published();
    const cff = parseYaml(readFileSync(path.join(bundle, 'CITATION.cff'), 'utf8'));
    // The official CFF 1.2.0 JSON schema, as the cffjs package ships it (not among its exports).
    const { schema: cffSchema } = (await import(path.join(REPO, 'node_modules/cffjs/dist/schema.js'))) as { schema: { $id: string } };
    const ajv = new Ajv.default({ allErrors: true, strict: false });
    addFormats.default(ajv);
    const validate = ajv.compile(cffSchema);
    expect(validate(cff), JSON.stringify(validate.errors)).toBe(true);
    expect(cffSchema.$id).toBe('https://citation-file-format.github.io/1.2.0/schema.json');
    expect(cff.authors[0]).toEqual({ 'family-names': 'Lovelace', 'given-names': 'Ada', orcid: 'https://orcid.org/0000-0002-1825-0097', affiliation: 'Analytical Engine Society' });
    expect(cff.doi).toBe('10.5281/zenodo.1234567');
  });

  it('describes the bundle as an RO-Crate 1.2 with the build as a CreateAction', async () => {
    const { bundle } = await published();
    const crate = JSON.parse(readFileSync(path.join(bundle, 'ro-crate-metadata.json'), 'utf8'));
    expect(crate['@context']).toBe('https://w3id.org/ro/crate/1.2/context');
    const byId = new Map(crate['@graph'].map((e: { '@id': string }) => [e['@id'], e]));
    expect(byId.get('ro-crate-metadata.json')).toMatchObject({ conformsTo: { '@id': 'https://w3id.org/ro/crate/1.2' }, about: { '@id': './' } });
    expect(byId.get('./')).toMatchObject({ '@type': 'Dataset', name: 'Rainfall and river levels, 1950-2020', datePublished: '2026-11-25', mentions: { '@id': '#build' } });
    const action = byId.get('#build') as { '@type': string; instrument: unknown; object: { '@id': string }[]; result: { '@id': string }[] };
    expect(action['@type']).toBe('CreateAction');
    expect(action.instrument).toEqual({ '@id': '#rep' });
    expect(action.object.map((o) => o['@id'])).toEqual(['Repfile', 'context.tar', '#input/data/rain.csv', '#input/src/run.R']);
    expect(action.result.map((o) => o['@id'])).toEqual(['#image', 'Dockerfile', 'provenance.json']);
    expect(byId.get('https://orcid.org/0000-0002-1825-0097')).toMatchObject({ '@type': 'Person', name: 'Ada Lovelace' });
  });

  it('refuses a context holding a link that leaves it (the bundle would carry it, and verify refuse it); a link inside is fine', async () => {
    const dir = makeProject({ ...TREE, 'inside': { link: 'notes.md' }, 'other': { link: '/etc' } });
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'rep-bundle-')), 'bundle');
    const r = await publish(open(dir), { engine: none, out });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map(formatDiagnostic)).toEqual(['other: a link that leaves the build context (-> /etc); a bundle holds only links that stay inside it: add "other" to .dockerignore']);
    writeFileSync(path.join(dir, '.dockerignore'), 'other\n');
    const again = await publish(open(dir), { engine: none, out });
    expect(again.ok).toBe(true);
    expect((await verifyBundle(out)).ok).toBe(true);
  });

  describe('writes no bundle through a link a cloned repository planted', () => {
    const victims = () => {
      const v = mkdtempSync(path.join(tmpdir(), 'rep-victim-'));
      writeFileSync(path.join(v, 'important.txt'), 'keep me\n');
      mkdirSync(path.join(v, 'empty'));
      return v;
    };
    const refused = async (dir: string, out: string) => {
      const r = await publish(open(dir), { engine: none, out });
      expect(r.ok).toBe(false);
      if (r.ok) return [];
      // Refused before anything is built: no provenance, no Dockerfile.
      expect(existsSync(path.join(dir, '.rep', 'provenance.json'))).toBe(false);
      return r.errors.map((e) => [e.kind, formatDiagnostic(e).replace(dir, '<project>')]);
    };

    it('an archive named by a link (paper.tar.gz -> a file of the user) is refused, the file left as it was', async () => {
      for (const name of ['paper.tar.gz', 'paper.zip']) {
        const v = victims();
        const dir = makeProject({ ...TREE, [name]: { link: path.join(v, 'important.txt') }, '.dockerignore': `${name}\n` });
        expect(await refused(dir, path.join(dir, name))).toEqual([['flag', `rep: --out ${path.join('<project>', name)}: is a link; rep writes no bundle through one: remove it or name another path`]]);
        expect(readFileSync(path.join(v, 'important.txt'), 'utf8')).toBe('keep me\n');
        rmSync(v, { recursive: true, force: true });
      }
    });

    it('a folder bundle named by a link (bundle -> a folder of the user) is refused, the folder left empty', async () => {
      const v = victims();
      const dir = makeProject({ ...TREE, bundle: { link: path.join(v, 'empty') }, dangling: { link: path.join(v, 'nothing') }, '.dockerignore': 'bundle\ndangling\n' });
      expect(await refused(dir, path.join(dir, 'bundle'))).toEqual([['flag', `rep: --out ${path.join('<project>', 'bundle')}: is a link; rep writes no bundle through one: remove it or name another path`]]);
      expect(readdirSync(path.join(v, 'empty'))).toEqual([]);
      expect((await refused(dir, path.join(dir, 'dangling')))[0]![1]).toMatch(/: is a link; rep writes no bundle through one/);
      expect(existsSync(path.join(v, 'nothing'))).toBe(false);
      rmSync(v, { recursive: true, force: true });
    });

    it('a bundle whose way goes through a link in the project is refused (out -> a folder of the user)', async () => {
      const v = victims();
      const dir = makeProject({ ...TREE, out: { link: v }, '.dockerignore': 'out\n' });
      for (const name of ['out/paper.tar.gz', 'out/important.txt.zip', 'out/bundle', 'out/empty/x']) {
        expect(await refused(dir, path.join(dir, name))).toEqual([['flag', `rep: --out ${path.join('<project>', name)}: goes through ${path.relative(process.cwd(), path.join(dir, 'out'))}, a link in the project; rep writes no bundle through one`]]);
      }
      expect(readdirSync(v).sort()).toEqual(['empty', 'important.txt']);
      expect(readdirSync(path.join(v, 'empty'))).toEqual([]);
      rmSync(v, { recursive: true, force: true });
    });

    it('a link anywhere in the repository counts, not only in the context: env/Repfile with dist -> a folder of the user', async () => {
      const v = victims();
      const repo = makeProject({ '.git/HEAD': 'ref: refs/heads/main\n', 'env/Repfile': REPFILE, 'env/data/rain.csv': 'year,mm\n', 'env/src/run.R': 'print(1)\n', dist: { link: v } });
      const project = openProject({ cwd: repo, file: 'env/Repfile' });
      if (!project.ok) throw new Error(project.errors.map(formatDiagnostic).join('\n'));
      for (const name of ['dist/bundle', 'dist/paper.tar.gz']) {
        const r = await publish(project.value, { engine: none, out: path.join(repo, name) });
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.errors.map(formatDiagnostic)[0]).toMatch(/: goes through .*dist, a link in the project; rep writes no bundle through one$/);
      }
      expect(readdirSync(v).sort()).toEqual(['empty', 'important.txt']);
      rmSync(v, { recursive: true, force: true });
    });

    it('a link in the repository around a submodule counts, and so does one reached by -f through a link', async () => {
      const v = victims();
      const sup = makeProject({ '.git/HEAD': 'ref: refs/heads/main\n', out: { link: v }, 'sub/.git': 'gitdir: ../.git/modules/sub\n', 'sub/Repfile': REPFILE, 'sub/data/rain.csv': 'year,mm\n', 'sub/src/run.R': 'print(1)\n', 'sub/dist': { link: v }, 'sub/.dockerignore': 'dist\n' });
      const outside = mkdtempSync(path.join(tmpdir(), 'rep-via-'));
      symlinkSync(sup, path.join(outside, 'lnk'));
      const cases: [string, string][] = [
        [path.join(sup, 'sub'), path.join(sup, 'out', 'bundle')],
        [path.join(outside, 'lnk', 'sub'), path.join(sup, 'sub', 'dist', 'bundle')],
        [path.join(sup, 'sub'), path.join(outside, 'lnk', 'sub', 'dist', 'paper.tar.gz')],
      ];
      for (const [where, out] of cases) {
        const project = openProject({ cwd: where });
        if (!project.ok) throw new Error(project.errors.map(formatDiagnostic).join('\n'));
        const r = await publish(project.value, { engine: none, out });
        expect(r.ok, `${where} ${out}`).toBe(false);
        if (!r.ok) expect(r.errors.map(formatDiagnostic)[0]).toMatch(/: goes through .*(out|dist), a link in the project; rep writes no bundle through one$/);
      }
      expect(readdirSync(v).sort()).toEqual(['empty', 'important.txt']);
      rmSync(v, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    });

    it('an archive in place of a folder, or into a folder that is not there, is refused before the build; a file is replaced', async () => {
      const dir = makeProject({ ...TREE, 'old.tar.gz': 'old\n', '.dockerignore': '*.tar.gz\n*.zip\n' });
      mkdirSync(path.join(dir, 'taken.zip'));
      expect(await refused(dir, path.join(dir, 'taken.zip'))).toEqual([['flag', `rep: --out ${path.join('<project>', 'taken.zip')}: exists and is not a file`]]);
      expect(await refused(dir, path.join(dir, 'no', 'such', 'x.tar.gz'))).toEqual([['flag', `rep: --out ${path.join('<project>', 'no', 'such', 'x.tar.gz')}: its folder ${path.join(dir, 'no', 'such')} is not there`]]);
      const r = await publish(open(dir), { engine: none, out: path.join(dir, 'old.tar.gz') });
      expect(r.ok).toBe(true);
      expect(readFileSync(path.join(dir, 'old.tar.gz')).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
      expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      expect((await verifyBundle(path.join(dir, 'old.tar.gz'))).ok).toBe(true);
    });

    it('a SOURCE_DATE_EPOCH rep cannot use is refused before the build, not read as 1970', async () => {
      const dir = makeProject(TREE);
      const saved = process.env.SOURCE_DATE_EPOCH;
      process.env.SOURCE_DATE_EPOCH = '99999999999999';
      try {
        expect(await refused(dir, path.join(dir, 'b'))).toEqual([['flag', 'rep: SOURCE_DATE_EPOCH=99999999999999: expected whole seconds since 1970-01-01 up to 8589934591']]);
      } finally {
        if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
        else process.env.SOURCE_DATE_EPOCH = saved;
      }
    });

    it('an archive rep does not write (paper.tar, paper.tar.xz) is refused, not made a folder; PAPER.ZIP is a zip', async () => {
      const dir = makeProject({ ...TREE, '.dockerignore': '*.tar*\n*.ZIP\n' });
      for (const [name, what] of [['paper.tar', '.tar'], ['paper.tar.xz', '.tar.xz'], ['paper.TAR.BZ2', '.TAR.BZ2']]) {
        expect(await refused(dir, path.join(dir, name!))).toEqual([['flag', `rep: --out ${path.join('<project>', name!)}: rep writes no ${what} archive: name FILE.tar.gz, FILE.zip or a folder`]]);
        expect(existsSync(path.join(dir, name!))).toBe(false);
      }
      const r = await publish(open(dir), { engine: none, out: path.join(dir, 'PAPER.ZIP') });
      expect(r.ok).toBe(true);
      expect(readFileSync(path.join(dir, 'PAPER.ZIP')).subarray(0, 2).toString()).toBe('PK');
      expect((await verifyBundle(path.join(dir, 'PAPER.ZIP'))).ok).toBe(true);
    });
  });

  it('leaves no half-written folder bundle when it fails after it began writing (a new folder goes, an empty one is emptied)', async () => {
    const dir = makeProject(TREE);
    const parent = mkdtempSync(path.join(tmpdir(), 'rep-bundle-'));
    // --image needs an engine: refused once the build is done, with context.tar already written.
    const fresh = path.join(parent, 'new');
    const r = await publish(open(dir), { engine: none, out: fresh, image: true });
    expect(r.ok).toBe(false);
    expect(existsSync(fresh)).toBe(false);
    const empty = path.join(parent, 'empty');
    mkdirSync(empty);
    expect((await publish(open(dir), { engine: none, out: empty, image: true })).ok).toBe(false);
    expect(readdirSync(empty)).toEqual([]);
    expect((await publish(open(dir), { engine: none, out: empty })).ok).toBe(true);
    expect(readdirSync(empty)).toContain('context.tar');
    rmSync(parent, { recursive: true, force: true });
  });

  it('writes CITE.tex so that no title or DOI of the Repfile runs as TeX', () => {
    const text = citeLatex({
      title: 'Rain\r\\input{/etc/passwd}',
      tag: 'paper:latest',
      bundleSha256: '0'.repeat(64),
      publish: { title: 't', authors: [{ name: 'X' }], doi: '10.1234/x}\\input{/etc/passwd}\\iffalse{%' },
    });
    const lines = text.split('\n');
    expect(lines[0]).toBe('% Cite the computational environment of "Rain \\input{/etc/passwd}"');
    expect(lines[0]).not.toMatch(/\r/);
    expect(lines[1]).toBe('X. \\emph{Rain\r\\textbackslash{}input\\{/etc/passwd\\}}: computational environment.');
    expect(lines[3]).toBe(`bundle \\texttt{sha256:${'0'.repeat(64)}}, \\url{https://doi.org/10.1234/x%7D%5Cinput%7B/etc/passwd%7D%5Ciffalse%7B%25}.`);
  });

  it('packs deterministic .tar.gz and .zip bundles that verify', async () => {
    for (const out of ['paper.tar.gz', 'paper.zip']) {
      const { bundle } = await published({ out });
      expect((await verifyBundle(bundle)).ok).toBe(true);
    }
  });

  it('names what was tampered with, and exits 1', async () => {
    const k = keys();
    const { bundle } = await published({ sign: k.priv });
    const copy = () => {
      const d = path.join(mkdtempSync(path.join(tmpdir(), 'rep-tamper-')), 'b');
      cpSync(bundle, d, { recursive: true });
      return d;
    };
    const resum = (d: string) => {
      const files = readFileSync(path.join(d, 'SHA256SUMS'), 'utf8').split('\n').filter(Boolean).map((l) => l.slice(66));
      writeFileSync(path.join(d, 'SHA256SUMS'), files.map((f) => `${sha256Hex(readFileSync(path.join(d, f)))}  ${f}\n`).join(''));
    };

    // a changed byte
    const changed = copy();
    const ctx = readFileSync(path.join(changed, 'context.tar'));
    ctx[600] ^= 1;
    writeFileSync(path.join(changed, 'context.tar'), ctx);
    expect(await failures(changed, k.pub)).toEqual([
      ['checksums', 'checksum mismatch: context.tar'],
      ['subjects', "context.tar does not match the statement's subject", "ro-crate-metadata.json: the sha256 it gives context.tar is not the file's"],
      ['signature', 'context.tar was changed after signing'],
    ]);

    // a missing file
    const missing = copy();
    rmSync(path.join(missing, 'Dockerfile'));
    expect((await failures(missing, k.pub)).slice(0, 2)).toEqual([
      ['checksums', 'missing: Dockerfile'],
      ['subjects', 'missing: Dockerfile', 'ro-crate-metadata.json describes Dockerfile, which the bundle does not hold'],
    ]);

    // an input changed inside the context, with every checksum and subject redone: the keys say so
    const forged = copy();
    const { project: other } = await published();
    writeFileSync(path.join(other, 'src/run.R'), 'print(2)\n');
    const otherBundle = (await publish(open(other), { engine: none, out: path.join(other, 'b2') }));
    if (!otherBundle.ok) throw new Error();
    cpSync(path.join(otherBundle.value.out, 'context.tar'), path.join(forged, 'context.tar'));
    const st = JSON.parse(readFileSync(path.join(forged, 'provenance.json'), 'utf8')) as Statement;
    st.subject.find((s) => s.name === 'context.tar')!.digest!.sha256 = sha256Hex(readFileSync(path.join(forged, 'context.tar')));
    writeFileSync(path.join(forged, 'provenance.json'), JSON.stringify(st, null, 2));
    resum(forged);
    const f = await failures(forged, k.pub);
    // The crate still gives the old context.tar's and statement's sha256 (the forger did not redo it).
    expect(f.map((x) => x[0])).toEqual(['checksums', 'subjects', 'signature', 'keys']);
    expect(f[0]![1]).toMatch(/^CITE\.md does not cite this bundle \(sha256:[0-9a-f]{64}\)$/);
    expect(f[1]!.slice(1)).toEqual(["ro-crate-metadata.json: the sha256 it gives context.tar is not the file's", "ro-crate-metadata.json: the sha256 it gives provenance.json is not the file's"]);
    expect(f[3]![1]).toMatch(/^step analysis: the bundle gives key sha256:[0-9a-f]{64}, the statement records sha256:[0-9a-f]{64}$/);

    // a swapped statement (another build's), checksums redone: the signature catches it
    const swapped = copy();
    cpSync(path.join(otherBundle.value.out, 'provenance.json'), path.join(swapped, 'provenance.json'));
    resum(swapped);
    expect((await failures(swapped, k.pub)).map((x) => x.slice(0, 2))).toEqual([
      ['checksums', expect.stringMatching(/^CITE\.md does not cite this bundle/)],
      ['subjects', "context.tar does not match the statement's subject"],
      ['signature', 'provenance.json is not the statement that was signed'],
      ['keys', expect.stringMatching(/^step analysis: /)],
    ]);

    // the wrong key
    const wrong = keys();
    expect(await failures(bundle, wrong.pub)).toEqual([
      ['signature', 'the signature is not by this key, or the signed statement was changed', 'bundle.dsse.json: the signature is not by this key, or the signed list of files was changed'],
    ]);
    const cli = rep(process.cwd(), ['verify', bundle, '--key', wrong.pub]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('FAILED  signature\n        the signature is not by this key, or the signed statement was changed\n');
    expect(cli.stdout).toContain('rep: verify failed: signature\n');
  });
});

describe('rep verify --rebuild: what a stranger\'s Repfile may reach', () => {
  it('parses --secret as docker build does, and tags in rep-verify/ only', () => {
    const grant = (text: string, cwd?: string) => {
      const r = parseSecretGrant(text, cwd);
      return r.ok ? r.value : r.errors.map(formatDiagnostic).join('\n');
    };
    expect(grant('id=api,src=keys/api.txt', '/home/me')).toEqual({ id: 'api', file: '/home/me/keys/api.txt' });
    expect(grant('id=tok,env=MY_TOKEN')).toEqual({ id: 'tok', env: 'MY_TOKEN' });
    expect(grant('id=api')).toBe('rep: --secret id=api: expected id=ID,src=FILE or id=ID,env=NAME');
    expect(grant('id=api,src=a,env=B')).toBe('rep: --secret id=api,src=a,env=B: expected id=ID,src=FILE or id=ID,env=NAME');
    expect(grant('id=a b,src=f')).toBe('rep: --secret id=a b,src=f: id is letters, digits, ".", "_" or "-"');
    expect(verifyTag('My Paper!', 'abcdef0123456789')).toBe('rep-verify/my-paper:abcdef012345');
    expect(verifyTag('...', 'abcdef0123456789')).toBe('rep-verify/bundle:abcdef012345');
  });

  it('rewrites the recipe: the verifier\'s tag, and only the secrets the verifier grants', () => {
    const dir = makeProject({
      Repfile: `rep: 1
name: s
base: busybox:latest
secrets:
  key: {file: /root/.ssh/id_rsa}
  tok: {env: HOME}
steps:
  a:
    secrets: [key, tok]
    run: cat /run/secrets/key
image:
  tag: mine:latest
`,
    });
    const p = open(dir);
    const refused = forVerification(p, [], 'rep-verify/s:0123456789ab');
    expect(refused.ok ? [] : refused.errors.map((e) => e.message)).toEqual([
      'step a mounts the secret "key", which the Repfile takes from the file /root/.ssh/id_rsa; a rebuild for verification uses none of your secrets: give one with --secret id=key,src=FILE if you trust this bundle',
      'step a mounts the secret "tok", which the Repfile takes from the environment variable HOME; a rebuild for verification uses none of your secrets: give one with --secret id=tok,env=NAME if you trust this bundle',
    ]);
    const unknown = forVerification(p, [{ id: 'key', file: '/tmp/k' }, { id: 'tok', env: 'T' }, { id: 'other', env: 'O' }], 'rep-verify/s:0123456789ab');
    expect(unknown.ok ? [] : unknown.errors.map((e) => e.message)).toEqual(['--secret id=other: the Repfile has no secret of that name (it has: key, tok)']);
    const granted = forVerification(p, [{ id: 'key', file: '/tmp/k' }, { id: 'tok', env: 'T' }], 'rep-verify/s:0123456789ab');
    if (!granted.ok) throw new Error();
    expect(granted.value.recipe.image.tag).toBe('rep-verify/s:0123456789ab');
    expect(granted.value.dag.recipe.image.tag).toBe('rep-verify/s:0123456789ab');
    expect(granted.value.recipe.secrets).toEqual({ key: { file: '/tmp/k' }, tok: { env: 'T' } });
    expect(p.recipe.image.tag).toBe('mine:latest');
    const cli = rep(process.cwd(), ['verify', dir, '--secret', 'id=key,src=/tmp/k']);
    expect([cli.code, cli.stderr]).toEqual([2, 'rep: --secret: only --rebuild takes it\n']);
  });
});

describe('what publish counts as the context changing under it (changedSince)', () => {
  const setup = () => {
    const dir = makeProject({ Repfile: 'rep: 1\nname: x\nbase: busybox:latest\nsteps:\n  a:\n    inputs: [data/, top.txt]\n    run: "true"\n', 'data/in.csv': '1\n', 'top.txt': 't\n', 'notes.txt': 'n\n', 'docs/readme': 'r\n' });
    const p = open(dir);
    const walked = contextFiles(p.ctx);
    if (!walked.ok) throw new Error('walk');
    return { dir, ctx: p.ctx, before: walked.value, inputs: new Set(['data/in.csv', 'top.txt']) };
  };

  it('an input changed, removed or replaced, or a file added to a folder of inputs only: named', () => {
    for (const [what, act, named] of [
      ['changed', (d: string) => writeFileSync(path.join(d, 'top.txt'), 'edited\n'), 'top.txt'],
      ['removed', (d: string) => rmSync(path.join(d, 'data/in.csv')), 'data/in.csv'],
      ['added', (d: string) => writeFileSync(path.join(d, 'data/new.csv'), '2\n'), 'data/new.csv'],
    ] as const) {
      const { dir, ctx, before, inputs } = setup();
      expect(changedSince(ctx, before, inputs), what).toBeUndefined();
      act(dir);
      expect(changedSince(ctx, before, inputs), what).toBe(named);
    }
  });

  it('a file no step reads, changed or added where not only inputs lie, or the bundle itself inside the context: not counted', () => {
    const { dir, ctx, before, inputs } = setup();
    writeFileSync(path.join(dir, 'notes.txt'), 'edited\n');
    writeFileSync(path.join(dir, 'docs/new'), 'x\n');
    writeFileSync(path.join(dir, 'backup~'), 'x\n');
    mkdirSync(path.join(dir, 'bundle'));
    writeFileSync(path.join(dir, 'bundle/context.tar'), 'x');
    expect(changedSince(ctx, before, inputs, path.join(dir, 'bundle'))).toBeUndefined();
    expect(changedSince(ctx, before, inputs)).toBeUndefined();
    // Inside a folder of inputs only, the bundle is still publish's own.
    writeFileSync(path.join(dir, 'data/bundle.tar.gz'), 'x');
    expect(changedSince(ctx, before, inputs, path.join(dir, 'data/bundle.tar.gz'))).toBeUndefined();
    expect(changedSince(ctx, before, inputs)).toBe('data/bundle.tar.gz');
  });
});

describe('key files named with --key and --sign (a review)', () => {
  it('are read up to a bound and only when regular files: /dev/zero, a named pipe, a large or missing file are usage errors naming the flag, at once', async () => {
    const { bundle } = await published();
    const dir = makeProject(TREE);
    const fifo = path.join(dir, 'pipe');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    writeFileSync(path.join(dir, 'big.pem'), Buffer.alloc((64 << 10) + 1, 'A'));
    writeFileSync(path.join(dir, 'junk.pem'), 'not a key\n');
    // An unbounded read grew to gigabytes on /dev/zero and waited for ever on the pipe.
    const refused: [string, string][] = [
      ['/dev/zero', 'not a regular file (a character device): rep reads only regular files'],
      [fifo, 'not a regular file (a named pipe): rep reads only regular files'],
      [path.join(dir, 'big.pem'), 'larger than 64 KiB: not a key file'],
      [path.join(dir, 'missing.pem'), 'no such file'],
    ];
    for (const [key, why] of refused) {
      expect(repSource(dir, ['verify', bundle, '--key', key]), key).toEqual([2, '', `rep: --key ${key}: ${why}\n`]);
      expect(repSource(dir, ['publish', '--engine', 'none', '-o', 'b', '--sign', key]), key).toEqual([2, '', `rep: --sign ${key}: ${why}\n`]);
    }
    expect(repSource(dir, ['verify', bundle, '--key', 'junk.pem'])[0]).toBe(2);
    expect(repSource(dir, ['verify', bundle, '--key', 'junk.pem'])[2]).toMatch(/^rep: --key junk\.pem: cannot use as a public key: /);
    expect(existsSync(path.join(dir, 'b'))).toBe(false);
    // Through the library, a key file that cannot be read is a failed signature check, as before.
    expect(await failures(bundle, '/dev/zero')).toEqual([['signature', '--key /dev/zero: not a regular file (a character device): rep reads only regular files']]);
  });
});

describe('an output rep cannot write (a review)', () => {
  it('is a usage error naming --out, before anything is built: no errno naming a temp file, no stack trace from the zip', () => {
    const dir = makeProject(TREE);
    // /proc takes no new files, even from root (the tests run as root, whom a folder's mode does not stop).
    for (const out of ['/proc/x.zip', '/proc/x.tar.gz', '/proc/new/bundle']) {
      expect(repSource(dir, ['publish', '--engine', 'none', '-o', out]), out).toEqual([2, '', `rep: --out ${out}: cannot write there (the folder takes no new files)\n`]);
    }
    // Nothing was built: a build would have written the Dockerfile.
    expect(existsSync(path.join(dir, 'Dockerfile'))).toBe(false);
  });

  it('packing a bundle where no file can be made fails as a value, and the folder removed after it leaves no error without a listener', async () => {
    const { bundle } = await published();
    const stage = mkdtempSync(path.join(tmpdir(), 'rep-stage-'));
    cpSync(bundle, stage, { recursive: true });
    for (const out of ['/proc/x.zip', '/proc/x.tar.gz']) {
      await expect(packBundle(stage, out), out).rejects.toMatchObject({ code: 'ENOENT' });
    }
    rmSync(stage, { recursive: true, force: true });
    // yazl read the removed files after the failure: an 'error' on the ZipFile with no listener ended the process.
    await new Promise((done) => setTimeout(done, 200));
  });
});

describe('rep publish with --engine auto and no engine answering (a review)', () => {
  it("says the engine's problem and exits 1, writing nothing: it fell back to none and published a bundle with no image, exit 0", () => {
    const dir = makeProject(TREE);
    const env = { ...process.env, DOCKER_HOST: 'unix:///nonexistent.sock', REP_DOCKER: '/nonexistent/docker', REP_PODMAN: '/nonexistent/podman' };
    const [code, stdout, stderr] = repSource(dir, ['publish', '-o', 'b'], env);
    expect([code, stdout]).toEqual([1, '']);
    expect(stderr).toMatch(/^rep: --engine auto: no container engine answers \(docker.*podman\): rep publish builds the image it bundles; --engine none writes a bundle without one\n$/);
    expect(existsSync(path.join(dir, 'b'))).toBe(false);
    // Asked for, a bundle without an image is still written.
    expect(repSource(dir, ['publish', '--engine', 'none', '-o', 'b'], env)[0]).toBe(0);
    expect(existsSync(path.join(dir, 'b', 'provenance.json'))).toBe(true);
  });
});
