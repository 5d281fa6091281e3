import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, linkSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { listContext, sumContext, tarContext, type ContextView } from '../../src/commands/context.js';
import { loadContext } from '../../src/context/context.js';
import { firstRehashedOther, StatCache, UnreadableInput } from '../../src/context/hash.js';
import { resolveInputs } from '../../src/context/inputs.js';
import { ContextIndex, handOverWalk, stampInode, stampMtimeMs, statLine, walkContext, type ContextFile } from '../../src/context/files.js';
import { DockerIgnore } from '../../src/context/dockerignore.js';
import { formatDiagnostic } from '../../src/diag.js';
import { resolveAllInputs } from '../../src/plan/plan.js';
import { CLI, makeProject, open, rep } from '../helpers.js';

const REPFILE = (inputs: string) => `rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  s:\n    inputs: ${inputs}\n`;

async function tarSha(dir: string, env: Record<string, string> = {}): Promise<string> {
  const saved = process.env.SOURCE_DATE_EPOCH;
  if (env.SOURCE_DATE_EPOCH) process.env.SOURCE_DATE_EPOCH = env.SOURCE_DATE_EPOCH;
  else delete process.env.SOURCE_DATE_EPOCH;
  try {
    const h = createHash('sha256');
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => h.update(c));
    await tarContext(view(dir), sink);
    return h.digest('hex');
  } finally {
    if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
    else process.env.SOURCE_DATE_EPOCH = saved;
  }
}

/** The files of the context in `dir`, walked (the test fails when the walk does). */
function walked(dir: string, ignore: DockerIgnore): ContextFile[] {
  const r = walkContext(dir, ignore);
  if (!r.ok) throw new Error(r.errors.map(formatDiagnostic).join('\n'));
  return r.value;
}

/** The context in `dir` as `rep context` sees it. */
function view(dir: string): ContextView {
  const ctx = loadContext(dir);
  if (!ctx.ok) throw new Error('context');
  return { ctx: ctx.value, files: walked(dir, ctx.value.ignore) };
}

function inputsOf(dir: string) {
  const p = open(dir);
  const r = resolveInputs(p.recipe, p.recipe.steps[0]!, p.ctx, new ContextIndex(walked(p.ctx.dir, p.ctx.ignore)));
  return r.ok ? r.value.map((f) => f.path) : r.errors.map(formatDiagnostic);
}

const TREE = {
  Repfile: REPFILE('[src]'),
  'src/a.py': 'a',
  'src/sub/b.py': 'b',
  'src/x.pyc': 'compiled',
  'docs/README.md': 'readme',
  'docs/other.md': 'other',
  'node_modules/m/index.js': 'm',
  '.git/HEAD': 'ref',
  '.dockerignore': '**/*.pyc\ndocs\n!docs/README.md\nnode_modules\n.git\n',
};

describe('rep context', () => {
  it('lists what COPY . would see: .dockerignore applied, sorted, .rep left out', () => {
    const dir = makeProject({ ...TREE, '.rep/state.json': '{}' });
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    expect(listContext(view(dir))).toEqual(['.dockerignore', 'Repfile', 'docs/README.md', 'src/a.py', 'src/sub/b.py']);
  });

  it('takes one byte order mark off the front of .dockerignore, as Docker does: a second is part of the first pattern', () => {
    const list = (ignore: string) => {
      const dir = makeProject({ 'secret': 's', 'a.txt': 'a', '.dockerignore': ignore });
      const ctx = loadContext(dir);
      return ctx.ok ? listContext(view(dir)) : ctx.errors.map((e) => e.message);
    };
    expect(list('\uFEFFsecret\n')).toEqual(['.dockerignore', 'a.txt']);
    // Docker's pattern is "\uFEFFsecret", which leaves "secret" in: rep took both marks off and left it out.
    expect(list('\uFEFF\uFEFFsecret\n')).toEqual(['.dockerignore', 'a.txt', 'secret']);
  });

  it('follows a .dockerignore that is a link inside the context, as BuildKit does, never to a file of the host', () => {
    const host = makeProject({ ignore: 'big.bin\n' });
    const list = (tree: Record<string, unknown>) => {
      const dir = makeProject({ 'big.bin': 'x', 'a.txt': 'a', ...tree } as Parameters<typeof makeProject>[0]);
      const ctx = loadContext(dir);
      return ctx.ok ? listContext(view(dir)) : ctx.errors.map((e) => e.message);
    };
    // An absolute link reads <context>/srv/ignore; a link up the tree stops at the context's root.
    expect(list({ '.dockerignore': { link: '/srv/ignore' }, 'srv/ignore': 'big.bin\n' })).toEqual(['.dockerignore', 'a.txt', 'srv/ignore']);
    expect(list({ '.dockerignore': { link: `../../../../../../..${path.join(host, 'ignore')}` } })).toEqual(['.dockerignore', 'a.txt', 'big.bin']);
    expect(list({ '.dockerignore': { link: path.join(host, 'ignore') } })).toEqual(['.dockerignore', 'a.txt', 'big.bin']);
    expect(list({ '.dockerignore': { link: 'conf/ignore' }, conf: { link: '/etc' }, 'etc/ignore': 'a.txt\n' })).toEqual(['.dockerignore', 'big.bin', 'conf', 'etc/ignore']);
    expect(list({ '.dockerignore': { link: '.dockerignore' } })).toEqual(['is a loop of links']);
    // Through a file (ENOTDIR): nothing there, as for a name that does not exist.
    expect(list({ '.dockerignore': { link: 'a.txt/x' } })).toEqual(['.dockerignore', 'a.txt', 'big.bin']);
    // A link's text is cleaned as Go cleans it before anything in it is followed: "x/../ignore" is "ignore",
    // whether x does not exist or is itself a link elsewhere (rep stopped at the one, followed the other).
    expect(list({ '.dockerignore': { link: 'nothing/../ign' }, ign: 'big.bin\n' })).toEqual(['.dockerignore', 'a.txt', 'ign']);
    // BuildKit reads it as continuity's RootPath does, where a ".." after a link goes up from where the link
    // leads: when that is not where FollowPaths went, rep cannot read what BuildKit reads, and refuses.
    expect(list({ '.dockerignore': { link: 'd/../ign' }, d: { link: 'a/b' }, 'a/b/c': 'c', 'a/ign': 'a.txt\n', ign: 'big.bin\n' })).toEqual([
      'is a link that BuildKit follows two ways (to "ign" when it sends the context, to "a/ign" when it reads it): point it at the file itself',
    ]);
    expect(list({ '.dockerignore': { link: 'd/../d/ign' }, d: { link: 'x/y' }, 'x/y/ign': 'a.txt\n' })).toEqual([
      'is a link that BuildKit follows two ways (to "x/y/ign" when it sends the context, to "x/d/ign" when it reads it): point it at the file itself',
    ]);
    // Where both ways meet, it is read: up from a file, up from a link to the root.
    expect(list({ '.dockerignore': { link: 'conf/../ign' }, conf: 'not a link', ign: 'big.bin\n' })).toEqual(['.dockerignore', 'a.txt', 'conf', 'ign']);
    expect(list({ '.dockerignore': { link: 'here/../ign' }, here: { link: '.' }, ign: 'big.bin\n' })).toEqual(['.dockerignore', 'a.txt', 'here', 'ign']);
  });

  it('refuses a .dockerignore that is not UTF-8: Docker compares its bytes, rep would compare other characters', () => {
    const dir = makeProject({ 'a.txt': 'a' });
    writeFileSync(path.join(dir, '.dockerignore'), Buffer.from([0x61, 0xff, 0x0a]));
    const ctx = loadContext(dir);
    expect(ctx.ok ? [] : ctx.errors.map(formatDiagnostic)).toEqual(['.dockerignore: is not UTF-8 text']);
  });

  it('says the first 20 bad .dockerignore lines and counts the rest: the file was split once per error (40,000 bad lines took 59 s)', () => {
    const dir = makeProject({ 'a.txt': 'a', '.dockerignore': '[\n'.repeat(40_000) });
    const ctx = loadContext(dir);
    // The file is named from the working folder: only its last part is compared.
    const said = ctx.ok ? [] : ctx.errors.map((e) => formatDiagnostic(e).replace(/^.*(?=\.dockerignore:)/, ''));
    expect(said).toHaveLength(21);
    expect(said[0]).toBe('.dockerignore:1:1: bad pattern "[": malformed character class');
    expect(said[19]).toBe('.dockerignore:20:1: bad pattern "[": malformed character class');
    // 10,000 patterns are read at most: the last of the errors counted is the line past them.
    expect(said[20]).toBe('.dockerignore:21:1: and 9981 more errors from here on, not each said (Docker stops at the first)');
  });

  it('writes a tar whose sha256 depends on content and mode only', async () => {
    const a = makeProject(TREE);
    const b = makeProject(TREE);
    utimesSync(path.join(b, 'src/a.py'), 1000, 1000);
    const sa = await tarSha(a);
    expect(await tarSha(a)).toBe(sa);
    expect(await tarSha(b)).toBe(sa);
    expect(await tarSha(a, { SOURCE_DATE_EPOCH: '1700000000' })).not.toBe(sa);
    chmodSync(path.join(b, 'src/a.py'), 0o755);
    expect(await tarSha(b)).not.toBe(sa);
    writeFileSync(path.join(a, 'src/a.py'), 'changed');
    expect(await tarSha(a)).not.toBe(sa);
  });

  it('writes entries with uid/gid 0, fixed mtime and explicit parent directories', async () => {
    const dir = makeProject({ Repfile: REPFILE('[a]'), 'a/b/c.txt': 'c', 'l': { link: 'a/b/c.txt' } });
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    const file = path.join(tmpdir(), `rep-ctx-${process.pid}.tar`);
    const { createWriteStream } = await import('node:fs');
    await tarContext(view(dir), createWriteStream(file));
    const { spawnSync } = await import('node:child_process');
    const listing = spawnSync('tar', ['--numeric-owner', '-tvf', file], { encoding: 'utf8' }).stdout.trim().split('\n');
    expect(listing.map((l) => l.replace(/\s+/g, ' '))).toEqual([
      `-rw-r--r-- 0/0 ${REPFILE('[a]').length} 1970-01-01 00:00 Repfile`,
      'drwxr-xr-x 0/0 0 1970-01-01 00:00 a/',
      'drwxr-xr-x 0/0 0 1970-01-01 00:00 a/b/',
      '-rw-r--r-- 0/0 1 1970-01-01 00:00 a/b/c.txt',
      'lrwxrwxrwx 0/0 0 1970-01-01 00:00 l -> a/b/c.txt',
    ]);
  });

  it('--sums lists each file with its hash; a build\'s provenance cites the sha256 of that listing, a bundle the archive', () => {
    const dir = makeProject({ Repfile: REPFILE('[a]'), 'a/b/c.txt': 'c', 'l': { link: 'a/b/c.txt' }, 'x y.sh': 'echo\n' });
    chmodSync(path.join(dir, 'x y.sh'), 0o755);
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    const built = rep(dir, ['build', '--engine', 'none']);
    expect(built.code, built.stderr).toBe(0);
    const sums = rep(dir, ['context', '--sums']);
    expect(sums.code).toBe(0);
    const dockerfile = readFileSync(path.join(dir, 'Dockerfile'));
    expect(sums.stdout).toBe(
      [
        `${sha(dockerfile.toString())} file 644 ${dockerfile.length} "Dockerfile"`,
        `${sha(REPFILE('[a]'))} file 644 ${REPFILE('[a]').length} "Repfile"`,
        `${sha('c')} file 644 1 "a/b/c.txt"`,
        `${sha('a/b/c.txt')} symlink 777 9 "l"`,
        `${sha('echo\n')} file 755 5 "x y.sh"`,
      ].join('\n') + '\n',
    );
    const subjects = JSON.parse(readFileSync(path.join(dir, '.rep/provenance.json'), 'utf8')).subject;
    expect(subjects.find((s: { name: string }) => s.name === 'context')).toEqual({ name: 'context', digest: { sha256: sha(sums.stdout) }, annotations: { kind: 'context-files' } });
    expect(subjects.some((s: { name: string }) => s.name === 'context.tar')).toBe(false);
    // A changed file changes the listing, and the next build's subject with it.
    writeFileSync(path.join(dir, 'x y.sh'), 'echo changed\n');
    expect(rep(dir, ['build', '--engine', 'none']).code).toBe(0);
    const again = rep(dir, ['context', '--sums']).stdout;
    expect(again).not.toBe(sums.stdout);
    expect(JSON.parse(readFileSync(path.join(dir, '.rep/provenance.json'), 'utf8')).subject.find((s: { name: string }) => s.name === 'context').digest.sha256).toBe(sha(again));
    // A bundle holds the archive, and its statement cites that.
    const out = path.join(makeProject({}), 'bundle');
    expect(rep(dir, ['publish', '--engine', 'none', '-o', out]).code).toBe(0);
    const bundled = JSON.parse(readFileSync(path.join(out, 'provenance.json'), 'utf8')).subject;
    expect(bundled.find((s: { name: string }) => s.name === 'context.tar').digest.sha256).toBe(createHash('sha256').update(readFileSync(path.join(out, 'context.tar'))).digest('hex'));
    expect(bundled.some((s: { name: string }) => s.name === 'context')).toBe(false);
    // A folder bundle on another file system than the temp folder (tmpfs): the archive is copied there, not renamed.
    expect(statSync('/dev/shm').dev).not.toBe(statSync(tmpdir()).dev);
    const shm = mkdtempSync('/dev/shm/rep-test-');
    try {
      expect(rep(dir, ['publish', '--engine', 'none', '-o', path.join(shm, 'b')]).code).toBe(0);
      const st = JSON.parse(readFileSync(path.join(shm, 'b', 'provenance.json'), 'utf8')).subject;
      expect(st.find((s: { name: string }) => s.name === 'context.tar').digest.sha256).toBe(createHash('sha256').update(readFileSync(path.join(shm, 'b', 'context.tar'))).digest('hex'));
      expect(readFileSync(path.join(shm, 'b', 'context.tar')).equals(readFileSync(path.join(out, 'context.tar')))).toBe(true);
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });
});

describe('folders rep may not read', () => {
  it('are passed over where .dockerignore leaves them out, and an error naming them (exit 2) where Docker would send them', () => {
    // As root every folder is readable: the CLI runs as nobody then, in a folder nobody may enter (under
    // /tmp itself: the tests' own temporary folder is private).
    const root = mkdtempSync('/tmp/rep-perm-');
    try {
      chmodSync(root, 0o755);
      const dir = path.join(root, 'p');
      mkdirSync(path.join(dir, 'src'), { recursive: true });
      mkdirSync(path.join(dir, 'secret'));
      writeFileSync(path.join(dir, 'Repfile'), REPFILE('[src]'));
      writeFileSync(path.join(dir, 'src/a'), 'a');
      writeFileSync(path.join(dir, 'secret/x'), 's');
      chmodSync(dir, 0o755);
      chmodSync(path.join(dir, 'src'), 0o755);
      for (const f of ['Repfile', 'src/a']) chmodSync(path.join(dir, f), 0o644);
      chmodSync(path.join(dir, 'secret'), 0o000);
      const list = () => {
        const args = [CLI, 'context', '--list'];
        const r = process.getuid?.() === 0 ? spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, ...args], { cwd: dir, encoding: 'utf8' }) : spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8' });
        return [r.status, r.stdout || r.stderr];
      };
      expect(list()).toEqual([2, 'secret: cannot read this folder (EACCES), so Docker could not send it either; make it readable, or exclude it in .dockerignore\n']);
      // Left out, with an exception that makes rep look inside it: passed over, as BuildKit's walk does.
      writeFileSync(path.join(dir, '.dockerignore'), 'secret\n!secret/x\n');
      chmodSync(path.join(dir, '.dockerignore'), 0o644);
      expect(list()).toEqual([0, '.dockerignore\nRepfile\nsrc/a\n']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('file names that are not UTF-8', () => {
  it('and symlink targets that are not: an error naming the link, as they would hash alike; a real U+FFFD target is a target like any other', () => {
    const dir = makeProject({ Repfile: REPFILE('[.]'), ok: { link: 't\uFFFD' } });
    symlinkSync(Buffer.from([0x74, 0xff]) as unknown as string, path.join(dir, 'l1'));
    symlinkSync(Buffer.from([0x74, 0xfe]) as unknown as string, path.join(dir, 'l2'));
    const w = walkContext(dir, open(dir).ctx.ignore);
    expect(w.ok ? [] : w.errors.map(formatDiagnostic)).toEqual(['l1', 'l2'].map((l) => `${l}: a symlink whose target is not UTF-8, which rep cannot key, copy or record; point it elsewhere, or exclude it in .dockerignore`));
    writeFileSync(path.join(dir, '.dockerignore'), 'l?\n');
    expect(walked(dir, open(dir).ctx.ignore).map((f) => [f.path, f.target])).toEqual([['.dockerignore', undefined], ['Repfile', undefined], ['ok', 't\uFFFD']]);
  });

  it('are an error naming the file (exit 2), unless .dockerignore leaves them out; a real U+FFFD is a name like any other', () => {
    const dir = makeProject({ Repfile: REPFILE('[.]'), 'ok\uFFFDname': 'fine\n' });
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/bad`), Buffer.from([0xe9]), Buffer.from('name')]), 'x\n');
    const message = 'bad\uFFFDname: a name in the build context that is not UTF-8, which rep cannot key, copy or record; rename it, or exclude it in .dockerignore';
    const w = walkContext(dir, open(dir).ctx.ignore);
    expect(w.ok ? [] : w.errors.map(formatDiagnostic)).toEqual([message]);
    // The same problem, as a value, from every command that walks the context: exit 2, no stack trace.
    for (const args of [['context', '--list'], ['build', '--engine', 'none'], ['status', '--engine', 'none'], ['graph']]) {
      const r = rep(dir, args);
      expect([args[0], r.code, r.stderr]).toEqual([args[0], 2, `${message}\n`]);
    }
    mkdirSync(path.join(dir, 'sub'));
    renameSync(Buffer.concat([Buffer.from(`${dir}/bad`), Buffer.from([0xe9]), Buffer.from('name')]) as unknown as string, Buffer.concat([Buffer.from(`${dir}/sub/bad`), Buffer.from([0xe9])]) as unknown as string);
    const inSub = 'sub/bad\uFFFD: a name in the build context that is not UTF-8, which rep cannot key, copy or record; rename it, or exclude it in .dockerignore';
    const w2 = walkContext(dir, open(dir).ctx.ignore);
    expect(w2.ok ? [] : w2.errors.map(formatDiagnostic)).toEqual([inSub]);
    writeFileSync(path.join(dir, '.dockerignore'), 'sub\n');
    expect(walked(dir, open(dir).ctx.ignore).map((f) => f.path)).toEqual(['.dockerignore', 'Repfile', 'ok\uFFFDname']);
  });

  it('are asked of .dockerignore as Docker\'s Go reads them, one U+FFFD a byte (review: Node\'s reading had "x?" leave out x\\xf0\\x9f\\x98, which Docker sends)', () => {
    const dir = makeProject({ Repfile: REPFILE('[.]'), '.dockerignore': 'x?\n' });
    // A cut four-byte sequence: Node reads one U+FFFD of it, Go's regexp three, which "x?" does not match.
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x78, 0xf0, 0x9f, 0x98])]), 'x\n');
    const message = 'x\uFFFD: a name in the build context that is not UTF-8, which rep cannot key, copy or record; rename it, or exclude it in .dockerignore';
    const w = walkContext(dir, open(dir).ctx.ignore);
    expect(w.ok ? [] : w.errors.map(formatDiagnostic)).toEqual([message]);
    // A folder so named alike: not passed over because "x?" would match its name as Node reads it.
    rmSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x78, 0xf0, 0x9f, 0x98])]) as unknown as string);
    mkdirSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x78, 0xf0, 0x9f, 0x98])]) as unknown as string);
    const d = walkContext(dir, open(dir).ctx.ignore);
    expect(d.ok ? [] : d.errors.map(formatDiagnostic)).toEqual([message]);
    // Left out as Docker leaves them out: "x???" (three bytes of a cut sequence), and an allow-list (a review: it refused
    // projects Docker builds); a folder of such a name too.
    writeFileSync(path.join(dir, 'caf\u00e9'), '');
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/bad`), Buffer.from([0xe9])]), 'x\n');
    for (const rules of ['x???\nbad?\n', '*\n!Repfile\n!caf\u00e9\n']) {
      writeFileSync(path.join(dir, '.dockerignore'), rules);
      const files = walked(dir, open(dir).ctx.ignore).map((f) => f.path);
      expect(files, rules).toContain('caf\u00e9');
      expect(files.some((f) => f.includes('\uFFFD')), rules).toBe(false);
    }
  });
});

describe('file names holding U+FFFD (review: 10,000 of them took 96 s to walk)', () => {
  it('reads each folder once (one holding a name with U+FFFD once more, as bytes), keeps names with a real U+FFFD, and still names those that are not UTF-8', () => {
    const dir = makeProject({ 'a.txt': 'a' });
    mkdirSync(path.join(dir, 'many'));
    for (let i = 0; i < 3_000; i++) writeFileSync(path.join(dir, 'many', `\uFFFD${i}`), '');
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/many/bad`), Buffer.from([0xe9])]), '');
    // Every readdirSync of the walk counted, through node:fs's own object (its named exports follow it).
    const real = fs.readdirSync;
    let reads = 0;
    fs.readdirSync = ((...args: Parameters<typeof real>) => (reads++, real(...args))) as typeof real;
    syncBuiltinESMExports();
    let w;
    try {
      w = walkContext(dir, new DockerIgnore([]));
    } finally {
      fs.readdirSync = real;
      syncBuiltinESMExports();
    }
    // The top folder once; "many" as text, then as bytes: not once per name (3,003 reads).
    expect(reads).toBe(3);
    expect(w.ok ? [] : w.errors.map(formatDiagnostic)).toEqual(['many/bad\uFFFD: a name in the build context that is not UTF-8, which rep cannot key, copy or record; rename it, or exclude it in .dockerignore']);
    rmSync(Buffer.concat([Buffer.from(`${dir}/many/bad`), Buffer.from([0xe9])]) as unknown as string);
    const files = walked(dir, new DockerIgnore([])).map((f) => f.path);
    expect(files).toHaveLength(3_001);
    expect(files.slice(0, 3)).toEqual(['a.txt', 'many/\uFFFD0', 'many/\uFFFD1']);
  });
});

describe('step inputs', () => {
  it('takes a directory as everything under it that .dockerignore keeps', () => {
    expect(inputsOf(makeProject(TREE))).toEqual(['src/a.py', 'src/sub/b.py']);
  });

  it('globs with fast-glob, then filters by .dockerignore', () => {
    const dir = makeProject({ ...TREE, Repfile: REPFILE('["src/**/*.py*", "docs/*.md"]') });
    expect(inputsOf(dir)).toEqual(['docs/README.md', 'src/a.py', 'src/sub/b.py']);
  });

  it('says which .dockerignore line excludes a named input', () => {
    const dir = makeProject({ ...TREE, Repfile: REPFILE('[docs/other.md]') });
    expect(inputsOf(dir)).toEqual([
      'Repfile:6:14: steps.s.inputs[0]: "docs/other.md" is excluded by .dockerignore (.dockerignore line 2: "docs"); remove it from inputs or add "!docs/other.md" to .dockerignore',
    ]);
    const glob = makeProject({ ...TREE, Repfile: REPFILE('["**/*.pyc"]') });
    expect(inputsOf(glob)[0]).toMatch(/^Repfile:6:14: steps\.s\.inputs\[0\]: "\*\*\/\*\.pyc" matches only files excluded by \.dockerignore/);
  });

  it('rejects globs that match nothing and paths that do not exist', () => {
    expect(inputsOf(makeProject({ ...TREE, Repfile: REPFILE('["*.csv"]') }))).toEqual([
      'Repfile:6:14: steps.s.inputs[0]: "*.csv" matches no file in the build context',
    ]);
    expect(inputsOf(makeProject({ ...TREE, Repfile: REPFILE('[src, nope.txt]') }))).toEqual([
      'Repfile:6:19: steps.s.inputs[1]: "nope.txt" does not exist in the build context',
    ]);
  });

  it('rejects paths and symlinks that leave the context', () => {
    const outside = makeProject({ 'secret.txt': 'secret' });
    const dir = makeProject({
      ...TREE,
      Repfile: REPFILE('["../x", /etc/passwd, link, "links/*", linkdir/secret.txt]'),
      link: { link: path.join(outside, 'secret.txt') },
      'links/up': { link: '../../x' },
      'links/ok': { link: '../src/a.py' },
      linkdir: { link: outside },
    });
    expect(inputsOf(dir)).toEqual([
      `Repfile:6:14: steps.s.inputs[0]: "../x" leaves the build context; inputs are paths inside ${dir}`,
      `Repfile:6:22: steps.s.inputs[1]: "/etc/passwd" leaves the build context; inputs are paths inside ${dir}`,
      `Repfile:6:35: steps.s.inputs[2]: symlink "link" -> "${path.join(outside, 'secret.txt')}" leaves the build context`,
      'Repfile:6:41: steps.s.inputs[3]: symlink "links/up" -> "../../x" leaves the build context',
      `Repfile:6:52: steps.s.inputs[4]: "linkdir/secret.txt" is reached through a symlinked folder, which Docker sends as the link alone: name the path the link points to, if it is in the build context`,
    ]);
  });

  it('judges a link by where the kernel resolves it: sub/../zero with sub -> a folder outside is outside, though its text stays in', () => {
    const outside = makeProject({ 'in/.keep': '', 'zero': 'secret' });
    const dir = makeProject({ ...TREE, Repfile: REPFILE('[x]'), sub: { link: path.join(outside, 'in') }, x: { link: 'sub/../zero' } });
    expect(inputsOf(dir)).toEqual(['Repfile:6:14: steps.s.inputs[0]: symlink "x" -> "sub/../zero" leaves the build context']);
  });

  it('refuses an input whose braces expand too far, before fast-glob expands it (a RangeError it threw; 16 million patterns)', () => {
    const many = '{a,b}'.repeat(24);
    const dir = makeProject({ ...TREE, Repfile: REPFILE(`["{1..100000}", "${many}", "src/{a,b}.py", "src/{1e6..1}.py"]`) });
    expect(inputsOf(dir)).toEqual([
      'Repfile:6:14: steps.s.inputs[0]: "{1..100000}" expands to more than 1000 patterns through its braces',
      `Repfile:6:29: steps.s.inputs[1]: "${many}" expands to more than 1000 patterns through its braces`,
      // A range braces does not limit (fill-range reads "1e6" as a million): a million patterns, 1.7 GiB.
      expect.stringMatching(/^Repfile:6:\d+: steps\.s\.inputs\[3\]: "src\/\{1e6\.\.1\}\.py" expands to more than 1000 patterns through its braces$/),
    ]);
  });

  it('takes a plain path only through folders, never through a symlinked folder, even one that points inside the context', () => {
    // "state/state.json" through "state -> .rep" read rep's own state as an input; "alias/a.py" through
    // "alias -> src" named a file Docker never sends (it sends the link).
    const dir = makeProject({ ...TREE, Repfile: REPFILE('[state/state.json, alias/a.py, alias/sub, src/a.py]'), '.rep/state.json': '{}', state: { link: '.rep' }, alias: { link: 'src' } });
    expect(inputsOf(dir)).toEqual([
      `Repfile:6:14: steps.s.inputs[0]: "state/state.json" is reached through a symlinked folder, which Docker sends as the link alone: name the path the link points to, if it is in the build context`,
      `Repfile:6:32: steps.s.inputs[1]: "alias/a.py" is reached through a symlinked folder, which Docker sends as the link alone: name the path the link points to, if it is in the build context`,
      `Repfile:6:44: steps.s.inputs[2]: "alias/sub" is reached through a symlinked folder, which Docker sends as the link alone: name the path the link points to, if it is in the build context`,
    ]);
  });

  it('takes a glob that starts with "./" as the same glob without it, as a plain path already was', () => {
    const dir = makeProject({ ...TREE, Repfile: REPFILE('["./src/*.py", ".//./src/a.py", "./src/**"]') });
    expect(inputsOf(dir)).toEqual(['src/a.py', 'src/sub/b.py']);
  });

  it('matches a glob against names and paths a cloned repository chose, without backtracking', () => {
    // picomatch's expressions, run by V8, take 43 s for `*a*a*a*a*b` on a 250-character name and years for
    // eight stars; `**/a/**/a/**/a/b` 0.7 s on a path 1,000 folders deep. A Repfile could hang `rep status`.
    const deep = Array.from({ length: 300 }, () => 'a').join('/');
    const dir = makeProject({ ...TREE, [`${'a'.repeat(250)}`]: 'x', [`${deep}/c`]: 'x', [`${deep}/b`]: 'y', Repfile: REPFILE('["*a*a*a*a*a*a*a*a*b", "**/a/**/a/**/a/**/a/**/a/c", "**/a/**/a/**/a/**/a/**/a/x"]') });
    expect(inputsOf(dir)).toEqual([
      'Repfile:6:14: steps.s.inputs[0]: "*a*a*a*a*a*a*a*a*b" matches no file in the build context',
      'Repfile:6:66: steps.s.inputs[2]: "**/a/**/a/**/a/**/a/**/a/x" matches no file in the build context',
    ]);
    const found = makeProject({ ...TREE, [`${deep}/c`]: 'x', Repfile: REPFILE('["**/a/**/a/**/a/**/a/**/a/c"]') });
    expect(inputsOf(found)).toEqual([`${deep}/c`]);
  }, 30_000);

  it('takes a glob\'s matches only as paths of the context as walked: no file through a symlinked folder, no "..", no absolute path from braces', () => {
    const outside = makeProject({ 'secret.txt': 'TOPSECRET', 'sub/deep.txt': 'x' });
    const up = path.relative(makeProject({}), '/').split('/').map(() => '..{,}').join('/');
    const dir = makeProject({ ...TREE, 'a.txt': 'a', linkdir: { link: outside }, Repfile: REPFILE(`["linkdir/*", "linkdir/**", "{linkdir,src}/secret.tx?", "${up}/etc/passwd", "{/etc/hostname,a.txt}", "a.txt/../.rep/stat?.json", "linkdir/*/"]`) });
    const errors = inputsOf(dir);
    expect(errors).toEqual([
      // Refused before anything is read: fast-glob read what the link leads to.
      'Repfile:6:14: steps.s.inputs[0]: "linkdir/*" goes through "linkdir", a symlinked folder, which Docker sends as the link alone: name the path the link points to, if it is in the build context',
      'Repfile:6:27: steps.s.inputs[1]: "linkdir/**" goes through "linkdir", a symlinked folder, which Docker sends as the link alone: name the path the link points to, if it is in the build context',
      expect.stringMatching(/^Repfile:6:41: steps\.s\.inputs\[2\]: "\{linkdir,src\}\/secret\.tx\?" goes through "linkdir", a symlinked folder/),
      // Refused before anything is read: fast-glob read "/" and "..", and through "a.txt/..".
      expect.stringMatching(/^Repfile:6:\d+: steps\.s\.inputs\[3\]: ".*\/etc\/passwd" expands to "(\.\.\/)+etc\/passwd", a path with "\.\.": a glob matches paths of the build context as it is walked, which have none$/),
      expect.stringMatching(/^Repfile:6:\d+: steps\.s\.inputs\[4\]: "\{\/etc\/hostname,a\.txt\}" expands to "\/etc\/hostname", an absolute path: a glob matches paths inside the build context$/),
      expect.stringMatching(/^Repfile:6:\d+: steps\.s\.inputs\[5\]: "a\.txt\/\.\.\/\.rep\/stat\?\.json" is a path with "\.\.": a glob matches paths of the build context as it is walked, which have none$/),
      expect.stringMatching(/^Repfile:6:\d+: steps\.s\.inputs\[6\]: "linkdir\/\*\/" goes through "linkdir", a symlinked folder, which Docker sends as the link alone: name the path the link points to, if it is in the build context$/),
    ]);
    expect(errors.join('\n')).not.toContain('TOPSECRET');
  });
});

describe('a walk over entries it may not read', () => {
  it('says each with its place rather than throw: /proc/1, whose links (cwd, exe, fd/*) deny readlink here (`rep -C /` printed errno text)', () => {
    let readable = true;
    try {
      readlinkSync('/proc/1/cwd');
    } catch {
      readable = false;
    }
    const r = walkContext('/proc/1', new DockerIgnore([]));
    if (readable) expect(r.ok || r.errors.every((e) => /^cannot read/.test(e.message))).toBe(true);
    else expect(r.ok ? [] : r.errors.map((e) => ('file' in e ? e.file : ''))).toContain('cwd');
  });
});

describe('stat cache', () => {
  // Files are aged here with utimes, which sets their ctime to the moment it is called: the cache's clock runs a
  // minute ahead, so that they look as old as their mtime says. A test of what is too recent sets it back.
  const clockAhead = () => vi.setSystemTime(vi.getRealSystemTime() + 60_000);
  const clockNow = () => vi.setSystemTime(vi.getRealSystemTime());
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    clockAhead();
  });
  afterEach(() => vi.useRealTimers());

  it('names a file it cannot read while hashing, as the walk names a folder it cannot read (it threw errno text, exit 1)', () => {
    const dir = makeProject({ 'a.txt': 'a', 'b.txt': 'b' });
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    const files = walked(dir, ctx.value.ignore);
    // Replaced by a folder after the walk stat'ed it (as root, mode 000 reads; EISDIR stands in for EACCES here).
    rmSync(path.join(dir, 'b.txt'));
    mkdirSync(path.join(dir, 'b.txt'));
    let thrown: unknown;
    try {
      StatCache.forContext(dir).hashAll(files);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(UnreadableInput);
    expect((thrown as UnreadableInput).diagnostic).toEqual({ file: 'b.txt', message: 'cannot read it (EISDIR), so Docker could not send it either; make it readable, or exclude it in .dockerignore' });
    expect(new UnreadableInput('c', 'EACCES').diagnostic.message).toMatch(/^cannot read it \(permission denied\)/);
  });

  it('hashes no link or pipe put at a listed file\'s name after the walk: each an error with its place (it hashed a file outside through the link, and hung on the pipe)', () => {
    clockNow();
    const outside = makeProject({ 'secret.txt': 'not the context\'s' });
    const dir = makeProject({ 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c' });
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    const files = walked(dir, ctx.value.ignore);
    // Hashed while they are still racy (just written): firstRehashedOther reads them again.
    const hashed = new StatCache().hashAll(files);
    rmSync(path.join(dir, 'a.txt'));
    symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'a.txt'));
    rmSync(path.join(dir, 'b.txt'));
    expect(spawnSync('mkfifo', [path.join(dir, 'b.txt')]).status).toBe(0);
    const said = (f: ContextFile) => {
      try {
        new StatCache().hash(f);
        return 'hashed';
      } catch (e) {
        return e instanceof UnreadableInput ? e.diagnostic : e;
      }
    };
    const message = (what: string) => `became ${what} after the context was listed, so rep does not read it; build again once nothing is changing it`;
    // The tree changing under the build, not a mistake in it: an io problem (exit 1).
    expect(said(files[0]!)).toEqual({ kind: 'io', file: 'a.txt', message: message('a link') });
    // No writer: a blocking open would wait for one for ever.
    expect(said(files[1]!)).toEqual({ kind: 'io', file: 'b.txt', message: message('no longer a regular file') });
    expect(said(files[2]!)).toBe('hashed');
    expect(firstRehashedOther(hashed)).toBe('a.txt');
    expect(firstRehashedOther(hashed.slice(1))).toBe('b.txt');
    expect(firstRehashedOther(hashed.slice(2))).toBeUndefined();
  });

  it('keeps no row of a file changed too recently by its ctime, whatever its mtime says (touch -d, rsync -t, tar -x set an old one)', () => {
    const dir = makeProject({ 'a.txt': 'a' });
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    clockNow();
    const old = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, 'a.txt'), old, old);
    const first = StatCache.forContext(dir);
    first.hashAll(walked(dir, ctx.value.ignore));
    first.save();
    // Written again within the same tick, the same size, its mtime set back the same: a kept row would give 'a'.
    expect(existsSync(path.join(dir, '.rep/statcache.json'))).toBe(false);
    const second = StatCache.forContext(dir);
    second.hashAll(walked(dir, ctx.value.ignore));
    expect([second.hits, second.misses]).toEqual([0, 1]);
    // A minute on, the same stamp is old by both times: kept.
    clockAhead();
    const third = StatCache.forContext(dir);
    third.hashAll(walked(dir, ctx.value.ignore));
    third.save();
    const fourth = StatCache.forContext(dir);
    fourth.hashAll(walked(dir, ctx.value.ignore));
    expect(fourth.hits).toBe(1);
  });

  it('hashes unchanged files from the cache and re-reads changed ones', () => {
    const dir = makeProject({ 'a.txt': 'a', 'b.txt': 'b' });
    const old = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, 'a.txt'), old, old);
    utimesSync(path.join(dir, 'b.txt'), old, old);
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    const first = StatCache.forContext(dir);
    const h1 = first.hashAll(walked(dir, ctx.value.ignore));
    first.save();
    expect(first.misses).toBe(2);
    const second = StatCache.forContext(dir);
    const h2 = second.hashAll(walked(dir, ctx.value.ignore));
    expect(second.hits).toBe(2);
    expect(h2.map((f) => f.sha256)).toEqual(h1.map((f) => f.sha256));
    expect(h1[0]!.sha256).toBe(createHash('sha256').update('a').digest('hex'));
    writeFileSync(path.join(dir, 'a.txt'), 'A');
    const third = StatCache.forContext(dir);
    const h3 = third.hashAll(walked(dir, ctx.value.ignore));
    expect(third.misses).toBe(1);
    expect(h3[0]!.sha256).toBe(createHash('sha256').update('A').digest('hex'));
    expect(JSON.parse(readFileSync(path.join(dir, '.rep/statcache.json'), 'utf8')).rows).toHaveProperty(['a.txt']);
  });

  it('is not written again for rows too recent to keep (the Dockerfile a build just wrote), but is for an older change', () => {
    const dir = makeProject({ 'a.txt': 'a', 'b.txt': 'b' });
    const old = new Date(Date.now() - 60_000);
    for (const f of ['a.txt', 'b.txt', 'Repfile']) if (existsSync(path.join(dir, f))) utimesSync(path.join(dir, f), old, old);
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    const first = StatCache.forContext(dir);
    first.hashAll(walked(dir, ctx.value.ignore));
    first.save();
    const file = path.join(dir, '.rep/statcache.json');
    const written = statSync(file).mtimeMs;
    const before = readFileSync(file, 'utf8');
    utimesSync(file, old, old);
    writeFileSync(path.join(dir, 'b.txt'), 'B');
    clockNow();
    const second = StatCache.forContext(dir);
    second.hashAll(walked(dir, ctx.value.ignore));
    expect(second.misses).toBe(1);
    second.save();
    clockAhead();
    // Not written: the time it was given stays (within the file system's rounding).
    expect(Math.abs(statSync(file).mtimeMs - old.getTime())).toBeLessThan(1);
    expect(readFileSync(file, 'utf8')).toBe(before);
    // The same change, older than the racy window: its row is kept, appended to the log (the file stays as it is).
    utimesSync(path.join(dir, 'b.txt'), old, old);
    const third = StatCache.forContext(dir);
    third.hashAll(walked(dir, ctx.value.ignore));
    third.save();
    expect(readFileSync(file, 'utf8')).toBe(before);
    const log = readFileSync(path.join(dir, '.rep/statcache.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]);
    expect(log.map((l) => [l[0], l[2]])).toEqual([['b.txt', createHash('sha256').update('B').digest('hex')]]);
    const fourth = StatCache.forContext(dir);
    fourth.hashAll(walked(dir, ctx.value.ignore));
    expect(fourth.misses).toBe(0);
    expect(written).toBeGreaterThan(0);
  });

  it('never keeps the hash of a file hashed while too recent, even when it is saved later (a long build)', () => {
    const dir = makeProject({ 'a.txt': 'a' });
    const old = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, 'a.txt'), old, old);
    writeFileSync(path.join(dir, 'fresh.txt'), 'fresh');
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    // Written as the cache's clock reads it (its ctime is the real clock's, a minute behind).
    utimesSync(path.join(dir, 'fresh.txt'), new Date(), new Date());
    const cache = StatCache.forContext(dir);
    cache.hashAll(walked(dir, ctx.value.ignore));
    // The build goes on for a minute: fresh.txt no longer looks recent when the cache is saved.
    vi.setSystemTime(Date.now() + 60_000);
    cache.save();
    const rows = JSON.parse(readFileSync(path.join(dir, '.rep/statcache.json'), 'utf8')).rows;
    expect(Object.keys(rows)).toEqual(['a.txt']);
  });

  it('uses a row of its file or its log only when rep could have written it, and writes back none of another shape', () => {
    const dir = makeProject({ 'a.txt': 'a', toString: 't', ['__proto__']: 'p' });
    const old = new Date(Date.now() - 60_000);
    const age = () => {
      for (const f of ['a.txt', 'toString', '__proto__', 'Repfile']) if (existsSync(path.join(dir, f))) utimesSync(path.join(dir, f), old, old);
    };
    age();
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    const files = () => walked(dir, ctx.value.ignore);
    const first = StatCache.forContext(dir);
    first.hashAll(files());
    first.save();
    const file = path.join(dir, '.rep/statcache.json');
    const logFile = path.join(dir, '.rep/statcache.jsonl');
    const rows = JSON.parse(readFileSync(file, 'utf8')).rows as Record<string, [string, string]>;
    expect(Object.keys(rows).sort()).toEqual(['Repfile', '__proto__', 'a.txt', 'toString'].filter((f) => existsSync(path.join(dir, f))).sort());
    // a.txt's row with its stamp but a hash that is not one; others of no shape rep writes; the log no better.
    const planted = { ...rows, 'a.txt': [rows['a.txt']![0], 'not-a-hash'], 'b.txt': null, 'c.txt': [1, 2], 'd.txt': [rows['a.txt']![0], 'f'.repeat(64), 'extra'], 'e.txt': ['x', 'f'.repeat(64)] };
    writeFileSync(file, JSON.stringify({ version: 2, rows: planted }));
    writeFileSync(logFile, ['["a.txt",', '{"a.txt":1}', JSON.stringify(['a.txt', rows['a.txt']![0], 'g'.repeat(64)]), JSON.stringify(['e.txt', 1, 'f'.repeat(64)]), ''].join('\n'));
    const second = StatCache.forContext(dir);
    const again = second.hashAll(files());
    // a.txt is hashed again (no row of it is trusted); the others, named as Object's own members are, come from the file.
    expect(second.misses).toBe(1);
    expect(again.find((f) => f.path === 'a.txt')!.sha256).toBe(createHash('sha256').update('a').digest('hex'));
    expect(again.find((f) => f.path === '__proto__')!.sha256).toBe(createHash('sha256').update('p').digest('hex'));
    second.save();
    // Its row went to the log; the next cache takes it from there.
    const third = StatCache.forContext(dir);
    third.hashAll(files());
    expect(third.misses).toBe(0);
    // A log past its bound (256 KiB for a small cache): the next save writes the whole cache, without the rows of another shape, and removes the log.
    const many = Array.from({ length: 3000 }, (_, i) => JSON.stringify([`gone/${i}`, `file:1:${old.getTime()}:1:${i}:1`, 'e'.repeat(64)]));
    writeFileSync(logFile, `${readFileSync(logFile, 'utf8')}${many.join('\n')}\n`);
    writeFileSync(path.join(dir, 'a.txt'), 'A');
    utimesSync(path.join(dir, 'a.txt'), old, old);
    const fourth = StatCache.forContext(dir);
    fourth.hashAll(files());
    expect(fourth.misses).toBe(1);
    fourth.save();
    expect(existsSync(logFile)).toBe(false);
    const back = JSON.parse(readFileSync(file, 'utf8')).rows as Record<string, [string, string]>;
    expect(Object.keys(back).filter((p) => !p.startsWith('gone/')).sort()).toEqual(Object.keys(rows).sort());
    expect(Object.keys(back).filter((p) => p.startsWith('gone/'))).toHaveLength(3000);
    expect(back['a.txt']![1]).toBe(createHash('sha256').update('A').digest('hex'));
    expect(back['__proto__']).toEqual(rows['__proto__']);
    // Rows that are not an object at all: an empty cache, its log unread.
    writeFileSync(file, JSON.stringify({ version: 2, rows: [['a.txt', back['a.txt']]] }));
    writeFileSync(logFile, `${JSON.stringify(['a.txt', ...back['a.txt']!])}\n`);
    const fifth = StatCache.forContext(dir);
    fifth.hashAll(files());
    expect(fifth.hits).toBe(0);
  });

  it('writes the whole cache rather than add to a log that repeats itself, is too large to read, or is no log of its own', () => {
    const dir = makeProject({ 'a.txt': 'a' });
    const old = new Date(Date.now() - 60_000);
    const file = path.join(dir, 'a.txt');
    const logFile = path.join(dir, '.rep/statcache.jsonl');
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    const edit = (n: number) => {
      writeFileSync(file, `a${n}`);
      utimesSync(file, old, old);
      const c = StatCache.forContext(dir);
      c.hashAll(walked(dir, ctx.value.ignore));
      c.save();
      return c;
    };
    edit(0);
    // The same file edited build after build: a line each time, until the log reaches its bound, then none.
    const sizes: number[] = [];
    for (let n = 1; n < 3000; n++) {
      edit(n);
      sizes.push(existsSync(logFile) ? statSync(logFile).size : 0);
      if (sizes.length > 2 && sizes[sizes.length - 1] === 0) break;
    }
    expect(sizes[0]).toBeGreaterThan(0);
    expect(sizes[sizes.length - 1]).toBe(0);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(256 << 10);
    // Too large to be rep's (a flood of blank lines): not read, and replaced by the next save.
    writeFileSync(logFile, '\n'.repeat(600 << 10));
    const flooded = edit(9000);
    expect(flooded.misses).toBe(1);
    expect(existsSync(logFile)).toBe(false);
    // A hard link to a file elsewhere: nothing is appended to it; the name is replaced.
    const victim = path.join(mkdtempSync(path.join(tmpdir(), 'rep-victim-')), 'precious');
    writeFileSync(victim, 'precious\n');
    linkSync(victim, logFile);
    edit(9001);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(existsSync(logFile)).toBe(false);
    expect(StatCache.forContext(dir).hashAll(walked(dir, ctx.value.ignore))[0]!.sha256).toBe(createHash('sha256').update('a9001').digest('hex'));
  });

  it('appends nothing through a link at its log, and replaces the link with the whole cache', () => {
    const dir = makeProject({ 'a.txt': 'a' });
    const old = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, 'a.txt'), old, old);
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    const first = StatCache.forContext(dir);
    first.hashAll(walked(dir, ctx.value.ignore));
    first.save();
    const victim = path.join(mkdtempSync(path.join(tmpdir(), 'rep-victim-')), 'precious');
    writeFileSync(victim, 'precious\n');
    const logFile = path.join(dir, '.rep/statcache.jsonl');
    symlinkSync(victim, logFile);
    writeFileSync(path.join(dir, 'a.txt'), 'A');
    utimesSync(path.join(dir, 'a.txt'), old, old);
    const second = StatCache.forContext(dir);
    second.hashAll(walked(dir, ctx.value.ignore));
    second.save();
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(logFile, { throwIfNoEntry: false })).toBeUndefined();
    expect(JSON.parse(readFileSync(path.join(dir, '.rep/statcache.json'), 'utf8')).rows['a.txt'][1]).toBe(createHash('sha256').update('A').digest('hex'));
  });

  it('leaves out rows of paths the context no longer holds when it hashed the whole context and is written whole', () => {
    const dir = makeProject({ 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c' });
    const old = new Date(Date.now() - 60_000);
    for (const f of ['a.txt', 'b.txt', 'c.txt']) utimesSync(path.join(dir, f), old, old);
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    const first = StatCache.forContext(dir);
    first.hashContext(walked(dir, ctx.value.ignore));
    first.save();
    const rows = () => Object.keys(JSON.parse(readFileSync(path.join(dir, '.rep/statcache.json'), 'utf8')).rows).sort();
    expect(rows()).toEqual(['a.txt', 'b.txt', 'c.txt']);
    rmSync(path.join(dir, 'b.txt'));
    writeFileSync(path.join(dir, 'a.txt'), 'A');
    utimesSync(path.join(dir, 'a.txt'), old, old);
    // A log past its bound (lines that are no rows count too): the next save writes the whole cache.
    writeFileSync(path.join(dir, '.rep/statcache.jsonl'), 'x'.repeat(300 << 10));
    // Only the inputs hashed (`rep status`): every row is kept.
    const inputsOnly = StatCache.forContext(dir);
    inputsOnly.hashAll(walked(dir, ctx.value.ignore).filter((f) => f.path === 'a.txt'));
    inputsOnly.save();
    expect(rows()).toEqual(['a.txt', 'b.txt', 'c.txt']);
    writeFileSync(path.join(dir, 'c.txt'), 'C');
    utimesSync(path.join(dir, 'c.txt'), old, old);
    writeFileSync(path.join(dir, '.rep/statcache.jsonl'), 'x'.repeat(300 << 10));
    const whole = StatCache.forContext(dir);
    const hashed = whole.hashContext(walked(dir, ctx.value.ignore));
    expect(hashed.map((f) => f.path)).toEqual(['a.txt', 'c.txt']);
    whole.save();
    expect(rows()).toEqual(['a.txt', 'c.txt']);
    expect(existsSync(path.join(dir, '.rep/statcache.jsonl'))).toBe(false);
    const next = StatCache.forContext(dir);
    next.hashContext(walked(dir, ctx.value.ignore));
    expect([next.hits, next.misses]).toEqual([2, 0]);
  });

  it('reads no row through a .rep that is a link, and writes nothing there (`rep context --sums` in a cloned repository)', () => {
    const dir = makeProject({ 'a.txt': 'a' });
    const old = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, 'a.txt'), old, old);
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    // The repository's .rep leads to a folder whose stat cache claims another hash for the file as it is stamped.
    const elsewhere = mkdtempSync(path.join(tmpdir(), 'rep-elsewhere-'));
    const [file] = walked(dir, ctx.value.ignore);
    const planted = JSON.stringify({ version: 2, rows: { 'a.txt': [`file:${file!.stamp}`, 'f'.repeat(64)] } });
    writeFileSync(path.join(elsewhere, 'statcache.json'), planted);
    symlinkSync(elsewhere, path.join(dir, '.rep'));
    const cache = StatCache.forContext(dir);
    expect(cache.hashAll(walked(dir, ctx.value.ignore))[0]!.sha256).toBe(createHash('sha256').update('a').digest('hex'));
    expect(cache.misses).toBe(1);
    cache.save();
    expect(readFileSync(path.join(elsewhere, 'statcache.json'), 'utf8')).toBe(planted);
    expect(readdirSync(elsewhere)).toEqual(['statcache.json']);
    expect(sumContext(view(dir))).toContain(`${createHash('sha256').update('a').digest('hex')} file 644 1 "a.txt"`);
    // The same folder, as a folder of its own, is read (the planted row is taken: the test above is no accident of the stamp).
    rmSync(path.join(dir, '.rep'));
    mkdirSync(path.join(dir, '.rep'));
    writeFileSync(path.join(dir, '.rep/statcache.json'), planted);
    expect(StatCache.forContext(dir).hashAll(walked(dir, ctx.value.ignore))[0]!.sha256).toBe('f'.repeat(64));
  });

  it('gives each file as the walk found it with its hash, a link with its text, from a read and from the cache', () => {
    const dir = makeProject({ 'a.txt': 'a' });
    symlinkSync('a.txt', path.join(dir, 'l'));
    const old = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, 'a.txt'), old, old);
    lutimesSync(path.join(dir, 'l'), old, old);
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    const files = walked(dir, ctx.value.ignore);
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    const want = [{ ...files[0]!, sha256: sha('a') }, { ...files[1]!, sha256: sha('a.txt') }];
    expect(want[1]!.target).toBe('a.txt');
    const first = StatCache.forContext(dir);
    expect(first.hashAll(files)).toStrictEqual(want);
    first.save();
    const second = StatCache.forContext(dir);
    expect(second.hashAll(walked(dir, ctx.value.ignore))).toStrictEqual(want);
    expect(second.hits).toBe(2);
  });

  it('names each file where path.join puts it, however the folder is written', () => {
    const dir = makeProject({ 'a.txt': 'a', 'd/e/b.txt': 'b' });
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    for (const given of [dir, `${dir}/`, `${dir}//`, `${dir}/./d/..`, path.relative(process.cwd(), dir)]) {
      const files = walkContext(given, ctx.value.ignore);
      if (!files.ok) throw new Error();
      expect(files.value.map((f) => f.path)).toContain('d/e/b.txt');
      for (const f of files.value) expect(f.abs).toBe(path.join(given, f.path));
    }
  });

  it("stamps each file with its size, times, inode and device as lstat gives them", () => {
    const dir = makeProject({ 'a.txt': 'abc', 'b.txt': 'b' });
    linkSync(path.join(dir, 'a.txt'), path.join(dir, 'h.txt'));
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    const files = walked(dir, ctx.value.ignore);
    const [a, b, h] = ['a.txt', 'b.txt', 'h.txt'].map((p) => files.find((f) => f.path === p)!);
    const st = lstatSync(path.join(dir, 'a.txt'));
    expect(a!.stamp).toBe(`${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}:${st.dev}`);
    expect(stampMtimeMs(a!.stamp)).toBe(st.mtimeMs);
    expect(stampInode(a!.stamp)).toBe(`${st.ino}:${st.dev}`);
    expect(stampInode(h!.stamp)).toBe(stampInode(a!.stamp));
    expect(stampInode(b!.stamp)).not.toBe(stampInode(a!.stamp));
    // The no-op stamp's line leaves the device out, and names everything else.
    expect(statLine(a!)).toBe(`a.txt\0file\0${st.mode & 0o7777}\0${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}\0\n`);
  });

  it('hashes large files in chunks', () => {
    const dir = makeProject({});
    mkdirSync(path.join(dir, 'd'));
    const big = Buffer.alloc(5 * 1024 * 1024 + 17, 7);
    writeFileSync(path.join(dir, 'd/big.bin'), big);
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    const [f] = new StatCache().hashAll(walked(dir, ctx.value.ignore));
    expect(f!.sha256).toBe(createHash('sha256').update(big).digest('hex'));
  });
});

describe('a walk handed over by the quick no-op path', () => {
  it('is taken once, by a walk of the same folder with the same .dockerignore text, and never again', () => {
    const dir = makeProject({ Repfile: 'rep: 1\n', 'a.txt': 'a\n', '.dockerignore': 'b.txt\n' });
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error('context');
    const handed = walkContext(dir, ctx.value.ignore);
    if (!handed.ok) throw new Error('walk');
    writeFileSync(path.join(dir, 'c.txt'), 'c\n');
    const paths = (r: ReturnType<typeof ContextIndex.walk>) => (r.ok ? r.value.files.map((f) => f.path) : []);
    // Another .dockerignore text (or none given): its own walk, and the one handed over is gone.
    handOverWalk(dir, ctx.value.ignoreText, handed.value);
    expect(paths(ContextIndex.walk(dir, ctx.value.ignore, 'other\n'))).toContain('c.txt');
    expect(paths(ContextIndex.walk(dir, ctx.value.ignore, ctx.value.ignoreText))).toContain('c.txt');
    // The same folder (however spelled) and text: the walk as it was handed over, once.
    handOverWalk(dir, ctx.value.ignoreText, handed.value);
    expect(paths(ContextIndex.walk(`${dir}/.`, ctx.value.ignore, ctx.value.ignoreText))).not.toContain('c.txt');
    expect(paths(ContextIndex.walk(dir, ctx.value.ignore, ctx.value.ignoreText))).toContain('c.txt');
  });

  it('is taken by the inputs resolved for `rep status` as for a build, once', () => {
    const dir = makeProject({ Repfile: 'rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  a:\n    inputs: [in/]\n    run: cat in/*\n', 'in/a.txt': 'a\n' });
    const p = open(dir);
    const handed = walkContext(dir, p.ctx.ignore);
    if (!handed.ok) throw new Error('walk');
    writeFileSync(path.join(dir, 'in', 'b.txt'), 'b\n');
    handOverWalk(dir, p.ctx.ignoreText, handed.value);
    const inputs = () => {
      const r = resolveAllInputs(p.dag, p.ctx);
      return r.ok ? r.value.get('a')!.map((f) => f.path) : r.errors.map(formatDiagnostic);
    };
    expect(inputs()).toEqual(['in/a.txt']);
    expect(inputs()).toEqual(['in/a.txt', 'in/b.txt']);
  });
});
