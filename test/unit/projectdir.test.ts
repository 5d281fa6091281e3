// A cloned repository may carry a crafted .rep/, Repfile, .dockerignore,
// Repfile.lock or Dockerfile. rep never follows a link in .rep/ (nor .rep
// itself), reads only regular files, bounded, and never writes through a link.
// Reads that could never end (/dev/zero, a FIFO) run in a child process that
// is killed after a few seconds, so a regression fails here instead of hanging.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readNoop, writeNoop } from '../../src/scheduler/noop.js';
import { runBuild } from '../../src/scheduler/run.js';
import type { BuildOutcome, BuildRequest, Engine } from '../../src/engine/engine.js';
import { NoneEngine } from '../../src/engine/none.js';
import { planBuild } from '../../src/plan/plan.js';
import { readJsonFile, writeFileAtomic } from '../../src/state/files.js';
import { writeReplacing } from '../../src/safefs.js';
import { acquireMutex, startedAt, takeOver, tryMutex } from '../../src/state/mutex.js';
import { readState, STATE_VERSION, writeState } from '../../src/state/state.js';
import { RACY_MS } from '../../src/context/files.js';
import { materialReader } from '../../src/state/materials.js';
import { FOREIGN_JSON_DEPTH, sha256Of } from '../../src/canonical.js';
import { CLI, makeProject, open, REPO } from '../helpers.js';

const REPFILE = `rep: 1
name: proj
base: busybox:latest
steps:
  app:
    inputs: [a.txt]
    run: cat a.txt
image:
  tag: rep-test/projectdir:latest
`;

const cleanups: string[] = [];
afterEach(() => {
  for (const d of cleanups.splice(0)) rmSync(d, { recursive: true, force: true });
});

function project(extra: Record<string, string | { link: string }> = {}): string {
  const dir = makeProject({ Repfile: REPFILE, 'a.txt': 'a\n', ...extra }, 'rep-projectdir-');
  cleanups.push(dir);
  return dir;
}

/** A folder outside the project holding `target`, a file an attacker would like rep to overwrite. */
function victim(): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'rep-victim-'));
  cleanups.push(dir);
  const file = path.join(dir, 'target');
  writeFileSync(file, 'precious\n');
  return { dir, file };
}

/** `rep ARGS` in `dir`, killed after `ms`: a read that never ends shows as signal SIGKILL. */
function repBounded(dir: string, args: string[], ms = 8000) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: ms, killSignal: 'SIGKILL', env: { ...process.env, CI: '1' } });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const kind = (p: string) => {
  const st = lstatSync(p, { throwIfNoEntry: false });
  return !st ? 'missing' : st.isSymbolicLink() ? 'link' : st.isFile() ? 'file' : st.isDirectory() ? 'folder' : 'other';
};

/** An engine that builds nothing but talks like one: a line of output per step, then an image id. */
function talkingEngine(): Engine {
  const engine: Engine = new NoneEngine();
  engine.build = async (req: BuildRequest): Promise<BuildOutcome> => {
    req.onLine?.('step output');
    return { ok: true, imageId: `sha256:${'1'.repeat(64)}` };
  };
  return engine;
}

async function buildWithLogs(dir: string) {
  const p = open(dir);
  const plan = planBuild(p.dag, p.ctx);
  if (!plan.ok) throw new Error('inputs');
  return runBuild(p, talkingEngine(), plan.value, { jobs: 1 });
}

describe('.rep: rep never follows a link there', () => {
  it('refuses a .rep that is a symbolic link, naming it (exit 2), and writes nothing where it leads', () => {
    const v = victim();
    const dir = project({ '.rep': { link: v.dir } });
    for (const args of [['build', '--engine', 'none'], ['status', '--engine', 'none'], ['build']]) {
      const r = repBounded(dir, args);
      expect(r.stderr).toBe('.rep: is a symbolic link; rep keeps its own state in this folder and follows no link there: remove it and run rep again\n');
      expect(r.code).toBe(2);
    }
    expect(readdirSync(v.dir)).toEqual(['target']);
  });

  it('refuses a folder where rep keeps a file of its own (exit 2, naming it), before anything is built', () => {
    // Writing state.json over a folder failed with EISDIR after the steps were built: exit 1, no place, half recorded.
    for (const name of ['state.json', 'history.jsonl', 'noop.json', 'build.pid', 'statcache.json', 'statcache.jsonl']) {
      const dir = project({ [`.rep/${name}/sub`]: 'x' });
      const r = repBounded(dir, ['build', '--engine', 'none']);
      expect(r.stderr, name).toBe(`.rep/${name}: is a folder; rep keeps a file of its own there: remove it and run rep again\n`);
      expect(r.code, name).toBe(2);
    }
  });

  it('writes a step log in place of a folder planted at its name (it failed that step on every build), never through a link', () => {
    const v = victim();
    const dir = project({ '.rep/logs/a.log/sub/x': 'x', '.rep/logs/b.log': { link: v.file } });
    writeReplacing(path.join(dir, '.rep/logs/a.log'), 'log a\n');
    writeReplacing(path.join(dir, '.rep/logs/b.log'), 'log b\n');
    expect([readFileSync(path.join(dir, '.rep/logs/a.log'), 'utf8'), readFileSync(path.join(dir, '.rep/logs/b.log'), 'utf8')]).toEqual(['log a\n', 'log b\n']);
    expect(lstatSync(path.join(dir, '.rep/logs/b.log')).isSymbolicLink()).toBe(false);
    expect(readFileSync(v.file, 'utf8')).toBe('precious\n');
  });

  it('refuses a .rep that is not a folder', () => {
    const dir = project({ '.rep': 'not a folder\n' });
    const r = repBounded(dir, ['build', '--engine', 'none']);
    expect(r.stderr).toBe('.rep: is not a folder (a regular file); rep keeps its own state in this folder: remove it and run rep again\n');
    expect(r.code).toBe(2);
  });

  it('writes a step log over a link planted at .rep/logs/STEP.log, never through it', async () => {
    const v = victim();
    const dir = project({ '.rep/logs/app.log': { link: v.file } });
    const r = await buildWithLogs(dir);
    expect(r.ok).toBe(true);
    expect(readFileSync(v.file, 'utf8')).toBe('precious\n');
    expect(kind(path.join(dir, '.rep/logs/app.log'))).toBe('file');
    const log = readFileSync(path.join(dir, '.rep/logs/app.log'), 'utf8');
    expect(log).toMatch(/^# rep-cache:[0-9a-f]{64}\n/);
    expect(log).toMatch(/\nstep output\n$/);
  });

  it('replaces a .rep/logs link with a folder of its own, leaving the folder it pointed at alone', async () => {
    const v = victim();
    const dir = project({ '.rep/logs': { link: v.dir } });
    expect((await buildWithLogs(dir)).ok).toBe(true);
    expect(readdirSync(v.dir)).toEqual(['target']);
    expect(kind(path.join(dir, '.rep/logs'))).toBe('folder');
    expect(kind(path.join(dir, '.rep/logs/app.log'))).toBe('file');
  });

  it('builds over state, memo and stamp files that are links to /dev/zero, replacing the links', () => {
    const names = ['state.json', 'history.jsonl', 'noop.json', 'statcache.json', 'statcache.jsonl', 'provenance.json', 'build.pid'];
    const dir = project({ '.dockerignore': 'Dockerfile\n', ...Object.fromEntries(names.map((n) => [`.rep/${n}`, { link: '/dev/zero' }])) });
    // Files older than a few seconds, so that the stat cache keeps their rows and is written: by their mtime, and by
    // their ctime, which the stat cache reads too and nothing can set back (utimes sets it to now): waited for.
    for (const f of ['Repfile', 'a.txt', '.dockerignore']) utimesSync(path.join(dir, f), 1e9, 1e9);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, RACY_MS + 100);
    const r = repBounded(dir, ['build', '--engine', 'none']);
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const bundle = path.join(mkdtempSync(path.join(tmpdir(), 'rep-bundle-')), 'b');
    const p = repBounded(dir, ['publish', '--engine', 'none', '-o', bundle]);
    rmSync(path.dirname(bundle), { recursive: true, force: true });
    expect(p.signal).toBeNull();
    expect(p.code, p.stderr).toBe(0);
    for (const n of names) expect(['file', 'missing'], n).toContain(kind(path.join(dir, '.rep', n)));
    expect(kind(path.join(dir, '.rep', 'statcache.json'))).toBe('file');
    expect(JSON.parse(readFileSync(path.join(dir, '.rep/state.json'), 'utf8')).version).toBe(STATE_VERSION);
  }, 30_000);

  it('removes the temp files a killed build left half written, never those of a running process or written lately, never through a link', () => {
    const v = victim();
    const dead = 2 ** 22 + 1; // above any pid_max: no such process
    const old = [`.rep/provenance.json.${dead}.0123456789ab.tmp`, `.rep/materials/${'a'.repeat(64)}.json.${dead}.0123456789ab.tmp`, `.rep/state.json.${process.pid}.0123456789ab.tmp`];
    const dir = project({
      [old[0]!]: 'half a provenance',
      [old[1]!]: 'half a material',
      [old[2]!]: 'being written',
      [`.rep/statcache.json.${dead}.abcdefabcdef.tmp`]: 'written a moment ago (another pid namespace?)',
      '.rep/other.tmp': 'not one of rep\'s names',
    });
    const hourAgo = Date.now() / 1000 - 3600;
    for (const f of old) utimesSync(path.join(dir, f), hourAgo, hourAgo);
    symlinkSync(v.file, path.join(dir, `.rep/noop.json.${dead}.abcdefabcdef.tmp`));
    spawnSync('touch', ['-h', '-d', '@' + Math.floor(hourAgo), path.join(dir, `.rep/noop.json.${dead}.abcdefabcdef.tmp`)]);
    // A folder at such a name is not removed, and does not stop the build.
    mkdirSync(path.join(dir, `.rep/history.jsonl.${dead}.0123456789ab.tmp`));
    expect(repBounded(dir, ['build', '--engine', 'none']).code).toBe(0);
    expect(readdirSync(path.join(dir, '.rep')).filter((n) => n.endsWith('.tmp')).sort()).toEqual(
      [`history.jsonl.${dead}.0123456789ab.tmp`, 'other.tmp', `state.json.${process.pid}.0123456789ab.tmp`, `statcache.json.${dead}.abcdefabcdef.tmp`].sort(),
    );
    expect(readdirSync(path.join(dir, '.rep/materials')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(readFileSync(v.file, 'utf8')).toBe('precious\n');
  });

  it('reads no JSON of its own through a link (.rep/noop.json -> /proc/self/environ or a crafted record)', () => {
    const v = victim();
    const record = { stamp: 'x', imageId: 'sha256:1', tag: 't', refs: [], steps: [{ name: 'a', key: 'k' }], lock: [], bases: [] as [string, string][] };
    // The same record, sealed, as a file of its own is read: the link alone is what is refused.
    const own = project({});
    writeNoop(own, record);
    const sealed = readNoop(own);
    expect(sealed).toEqual({ ...record, seal: expect.stringMatching(/^[0-9a-f]{64}$/) });
    writeFileSync(path.join(v.dir, 'noop.json'), JSON.stringify(sealed));
    writeFileSync(path.join(v.dir, 'state.json'), JSON.stringify({ version: 1, repfileSha256: '', engine: 'none', target: 'app', steps: {} }));
    const dir = project({ '.rep/noop.json': { link: path.join(v.dir, 'noop.json') }, '.rep/state.json': { link: path.join(v.dir, 'state.json') } });
    expect(readNoop(dir)).toBeUndefined();
    expect(readState(dir)).toBeUndefined();
    const environ = project({ '.rep/noop.json': { link: '/proc/self/environ' } });
    expect(readNoop(environ)).toBeUndefined();
    expect(readJsonFile(path.join(v.dir, 'noop.json'))).toEqual(sealed);
  });

  it('believes no .rep/noop.json it did not seal for this project: one that came with a repository would answer "nothing to build" (found by an adversarial review)', () => {
    const record = { stamp: 'x', imageId: 'sha256:1', tag: 't', refs: [], steps: [{ name: 'a', key: 'k' }], lock: ['\x1b]0;title\x07'], bases: [] as [string, string][] };
    expect(readNoop(project({ '.rep/noop.json': JSON.stringify(record) }))).toBeUndefined();
    const other = project({});
    writeNoop(other, record);
    const copied = readFileSync(path.join(other, '.rep', 'noop.json'), 'utf8');
    expect(readNoop(other)).toBeDefined();
    // Sealed for another project: copied into this one, it does not hold; nor with a field changed.
    expect(readNoop(project({ '.rep/noop.json': copied }))).toBeUndefined();
    writeFileSync(path.join(other, '.rep', 'noop.json'), copied.replace('"x"', '"y"'));
    expect(readNoop(other)).toBeUndefined();
    // A field more, nested 400k deep (under the 1 MiB read): refused before it is parsed, so no stack overflow;
    // nested no deeper than JSON from elsewhere may be, it is left out and the seal still holds.
    const sealed = JSON.parse(copied) as Record<string, unknown>;
    const withField = (depth: number) => JSON.stringify(sealed).replace(/}$/, `, "x": ${'['.repeat(depth)}${']'.repeat(depth)}}`);
    writeFileSync(path.join(other, '.rep', 'noop.json'), withField(400_000));
    expect(readNoop(other)).toBeUndefined();
    writeFileSync(path.join(other, '.rep', 'noop.json'), withField(FOREIGN_JSON_DEPTH - 1));
    expect(readNoop(other)).toEqual(sealed);
  });

  it('replaces a stale mutex in one rename, under a claim one build holds at a time, and only if it is still the one judged stale', () => {
    const dir = project({ '.rep/build.pid': '999999 1\n' });
    const file = path.join(dir, '.rep', 'build.pid');
    const mine = path.join(dir, '.rep', 'mine.tmp');
    const live = `${process.ppid} ${startedAt(process.ppid) ?? ''}\n`;
    // Another build is taking it over (its claim, a live process's): busy, nothing touched.
    writeFileSync(`${file}.claim`, live);
    writeFileSync(mine, 'me\n');
    expect(takeOver(file, '999999 1\n', mine)).toBe('busy');
    expect([readFileSync(file, 'utf8'), readFileSync(`${file}.claim`, 'utf8')]).toEqual(['999999 1\n', live]);
    // A claim left by a build killed while it held it: removed, and the next try goes on (made again in the same
    // call, two builds that found it dead at once could each remove the other's new claim: a review).
    writeFileSync(`${file}.claim`, '999999 1\n');
    expect(takeOver(file, '999999 1\n', mine)).toBe('busy');
    expect(existsSync(`${file}.claim`)).toBe(false);
    // Judged stale, then another build's since: left to it.
    writeFileSync(file, live);
    expect(takeOver(file, '999999 1\n', mine)).toBe('gone');
    expect(readFileSync(file, 'utf8')).toBe(live);
    // Still the stale one: replaced by ours, the claim gone.
    writeFileSync(file, '999999 1\n');
    expect(takeOver(file, '999999 1\n', mine)).toBe('taken');
    expect(readFileSync(file, 'utf8')).toBe('me\n');
    expect(readdirSync(path.join(dir, '.rep')).filter((n) => n.startsWith('build.pid') || n === 'mine.tmp')).toEqual(['build.pid']);
  });

  it('is held by one build at a time when many find a stale one at once (two did: one read the other\'s mutex while it was still empty, or removed it as stale)', async () => {
    const dir = project({ '.rep/build.pid': '999999 1\n' });
    const at = Date.now() + 5000;
    // Each waits for the same moment, takes the mutex if it can, holds it 1.5 s and prints when.
    const code = `import { tryMutex } from './src/state/mutex.ts';\nwhile (Date.now() < ${at}) {}\nconst m = tryMutex(${JSON.stringify(dir)});\nconst t0 = Date.now();\nif (m.ok) { while (Date.now() < t0 + 1500) {} const t1 = Date.now(); m.value.release(); console.log(t0, t1); }\n`;
    const held = await Promise.all(
      Array.from({ length: 10 }, () =>
        new Promise<string>((resolve) => {
          let out = '';
          const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO });
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.on('close', () => resolve(out.trim()));
        }),
      ),
    );
    // Held one after another (a child late to start may take it after the first let go), never together.
    const spans = held.filter(Boolean).map((l) => l.split(' ').map(Number) as [number, number]).sort((x, y) => x[0] - y[0]);
    expect(spans.length).toBeGreaterThanOrEqual(1);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0], JSON.stringify(spans)).toBeGreaterThanOrEqual(spans[i - 1]![1]);
  }, 40_000);

  it('keeps of a state.json only the fields rep writes (an extra one, carried over for a step that did not settle, was written again: nested two million lists deep, it overflowed the stack), and reads none nested deeper than rep writes', () => {
    const key = `sha256:${'a'.repeat(64)}`;
    const state = (version: number, extra: string) => {
      const material = version === 1 ? `, "material": {"format": 1, "def": {"run": [], "env": {}, "workdir": "/", "phony": false}, "inputs": {}, "imports": {}, "extra": ${extra}}` : '';
      return `{"version": ${version}, "repfileSha256": "", "engine": "none", "target": "a", "extra": ${extra}, "steps": {"a": {"key": "${key}", "extra": ${extra}${material}}}}`;
    };
    for (const version of [STATE_VERSION, 1]) {
      const dir = project({ '.rep/state.json': state(version, '[[["x"]]]') });
      const st = readState(dir)!;
      expect(st.steps.a).toEqual({ key, unsealed: true });
      expect(Object.keys(st).sort()).toEqual(['engine', 'repfileSha256', 'steps', 'target', 'version']);
      writeState(dir, st, st);
      expect(readFileSync(path.join(dir, '.rep', 'state.json'), 'utf8')).not.toContain('extra');
      // Deeper than rep nests (248 MiB of brackets ran V8 out of heap in JSON.parse): not rep's state, refused before it is parsed.
      const deep = project({ '.rep/state.json': state(version, `${'['.repeat(2_000_000)}${']'.repeat(2_000_000)}`) });
      expect(readState(deep)).toBeUndefined();
    }
  });

  it('takes over a .rep/build.pid (the build mutex) that is a link, whatever it points at, and removes the link, not its target', () => {
    const v = victim();
    writeFileSync(v.file, `${process.ppid}\n`);
    const dir = project({ '.rep/build.pid': { link: v.file } });
    const l = tryMutex(dir);
    expect(l.ok).toBe(true);
    if (l.ok) l.value.release();
    expect(readFileSync(v.file, 'utf8')).toBe(`${process.ppid}\n`);
    expect(kind(path.join(dir, '.rep/build.pid'))).toBe('missing');
  });

  it('leaves a build mutex a live process holds alone, and names that pid', async () => {
    const text = `${process.ppid} ${startedAt(process.ppid)}\n`;
    const dir = project({ '.rep/build.pid': text });
    const held = await acquireMutex(dir, 0);
    expect(held.ok ? undefined : held.errors[0]).toMatchObject({ kind: 'busy', pid: process.ppid });
    expect(readFileSync(path.join(dir, '.rep/build.pid'), 'utf8')).toBe(text);
  });

  it('is held once in one process too (two build() calls of the library), and only its holder releases it (found by a review)', () => {
    const dir = project();
    const first = tryMutex(dir);
    expect(first.ok).toBe(true);
    const second = tryMutex(dir);
    expect(second.ok ? undefined : second.errors[0]).toMatchObject({ kind: 'busy', pid: process.pid });
    if (first.ok) first.value.release();
    const third = tryMutex(dir);
    expect(third.ok).toBe(true);
    // The same project reached through a link is the same project.
    const link = `${dir}-link`;
    symlinkSync(dir, link);
    const linked = tryMutex(link);
    rmSync(link);
    expect(linked.ok ? undefined : linked.errors[0]).toMatchObject({ kind: 'busy', pid: process.pid });
    // A mutex another build took over meanwhile (it judged this one stale) is not removed by this one's release.
    const other = `${process.ppid} ${startedAt(process.ppid)}\n`;
    writeFileSync(path.join(dir, '.rep/build.pid'), other);
    if (third.ok) third.value.release();
    expect(readFileSync(path.join(dir, '.rep/build.pid'), 'utf8')).toBe(other);
  });

  it('creates temp files exclusively, never through a link planted at a name it might pick', () => {
    const v = victim();
    const dir = project();
    const file = path.join(dir, 'out.json');
    const now = Date.now();
    for (let t = now; t < now + 3000; t++) symlinkSync(v.file, `${file}.${process.pid}.${t}.tmp`);
    writeFileAtomic(file, '{}\n');
    expect(readFileSync(v.file, 'utf8')).toBe('precious\n');
    expect(readFileSync(file, 'utf8')).toBe('{}\n');
  });
});

describe('files rep reads from the project: regular files only, bounded', () => {
  it('reads a .dockerignore that links to /dev/zero as BuildKit does, inside the context: a FIFO there is refused, never read (it would block)', () => {
    const dir = project();
    rmSync(path.join(dir, '.dockerignore'), { force: true });
    symlinkSync('/dev/zero', path.join(dir, '.dockerignore'));
    mkdirSync(path.join(dir, 'dev'));
    expect(spawnSync('mkfifo', [path.join(dir, 'dev/zero')]).status).toBe(0);
    const r = repBounded(dir, ['build', '--engine', 'none']);
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('.dockerignore: not a regular file (a named pipe): rep reads only regular files\n');
    expect(r.code).toBe(2);
  }, 30_000);

  for (const name of ['Repfile', 'Repfile.lock']) {
    it(`refuses a ${name} that leads to /dev/zero (exit 2), without reading it`, () => {
      const dir = project();
      rmSync(path.join(dir, name), { force: true });
      symlinkSync('/dev/zero', path.join(dir, name));
      const r = repBounded(dir, ['build', '--engine', 'none']);
      expect(r.signal).toBeNull();
      expect(r.stderr).toBe(`${name}: not a regular file (a character device): rep reads only regular files\n`);
      expect(r.code).toBe(2);
    }, 30_000);
  }

  it('refuses a FIFO (which would block) and a folder', () => {
    for (const name of ['Repfile', '.dockerignore']) {
      const dir = project();
      rmSync(path.join(dir, name), { force: true });
      expect(spawnSync('mkfifo', [path.join(dir, name)]).status).toBe(0);
      const r = repBounded(dir, ['build', '--engine', 'none']);
      expect(r.signal).toBeNull();
      expect(r.stderr).toBe(`${name}: not a regular file (a named pipe): rep reads only regular files\n`);
      expect(r.code).toBe(2);
    }
    const dir = project();
    mkdirSync(path.join(dir, '.dockerignore'));
    expect(repBounded(dir, ['build', '--engine', 'none']).stderr).toBe('.dockerignore: not a regular file (a folder): rep reads only regular files\n');
  }, 30_000);

  it('refuses a Repfile larger than 4 MiB, naming the limit', () => {
    const dir = project({ Repfile: `${REPFILE}#${'x'.repeat(4 << 20)}\n` });
    const r = repBounded(dir, ['build', '--engine', 'none']);
    expect(r.stderr).toBe('Repfile: larger than 4 MiB, the most rep reads from this file\n');
    expect(r.code).toBe(2);
  });

  it('follows a Repfile link that leads to a regular file (a common layout)', () => {
    const dir = makeProject({ 'config/Repfile.yaml': REPFILE, Repfile: { link: 'config/Repfile.yaml' }, 'a.txt': 'a\n' }, 'rep-projectdir-');
    cleanups.push(dir);
    const r = repBounded(dir, ['build', '--engine', 'none']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('neither reads nor writes the emitted Dockerfile through a link', () => {
    const v = victim();
    for (const target of [v.file, '/dev/zero']) {
      const dir = project({ Dockerfile: { link: target } });
      const r = repBounded(dir, ['build', '--engine', 'none']);
      expect(r.signal).toBeNull();
      expect(r.stderr).toBe('Dockerfile: is a symbolic link, which rep neither reads nor writes through; remove it or choose another path with --dockerfile (e.g. Dockerfile.rep)\n');
      expect(r.code).toBe(2);
    }
    expect(readFileSync(v.file, 'utf8')).toBe('precious\n');
  }, 30_000);

  it('prints a diagnostic without reading a source that is not a regular file', () => {
    const dir = project();
    const fifo = path.join(dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const code = `
      const { printDiagnostics } = await import(${JSON.stringify(path.join(REPO, 'cli/print.ts'))});
      const span = { start: { line: 1, col: 1 }, end: { line: 1, col: 2 } };
      printDiagnostics([{ file: '/dev/zero', span, message: 'zero' }, { file: ${JSON.stringify(fifo)}, span, message: 'pipe' }]);`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO, encoding: 'utf8', timeout: 8000, killSignal: 'SIGKILL' });
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe(`/dev/zero:1:1: zero\n${fifo}:1:1: pipe\n`);
  }, 30_000);
});

describe('a .rep/ committed with contents rep did not write', () => {
  it('state.json and statcache.json of another shape are ignored, not trusted and not crashed on', () => {
    const key = `sha256:${'b'.repeat(64)}`;
    const planted: [string, string][] = [
      ['.rep/statcache.json', JSON.stringify({ version: 2, rows: { 'a.txt': [1, 'x'], zzz: null } })],
      ['.rep/state.json', JSON.stringify({ version: 1, repfileSha256: 'x', engine: 'none', target: 'app', steps: null })],
      ['.rep/state.json', JSON.stringify({ version: 1, repfileSha256: 'x', engine: 'none', target: 'app', steps: { app: null } })],
      ['.rep/state.json', JSON.stringify({ version: 1, repfileSha256: 'x', engine: 'none', target: 'app', steps: { app: { key, material: { format: 1, def: {}, inputs: { 'a.txt': 7 }, imports: {} } } } })],
    ];
    for (const [file, text] of planted) {
      const dir = project();
      mkdirSync(path.join(dir, '.rep'));
      writeFileSync(path.join(dir, file), text);
      expect(readState(dir), file).toBeUndefined();
      for (const args of [['status', '--engine', 'none'], ['build', '--engine', 'none']]) {
        const r = repBounded(dir, args);
        expect(r.stderr, `${file} ${args[0]}`).toBe('');
        expect(r.code, `${file} ${args[0]}`).toBe(0);
      }
    }
  });
});

describe('.rep/materials: what each recorded key was computed from', () => {
  const status = (dir: string) => repBounded(dir, ['status', '--engine', 'none']).stdout;
  const built = () => {
    const dir = project();
    expect(repBounded(dir, ['build', '--engine', 'none']).code).toBe(0);
    return dir;
  };
  const materials = (dir: string) => path.join(dir, '.rep/materials');
  const onlyMaterial = (dir: string) => {
    const names = readdirSync(materials(dir));
    expect(names).toHaveLength(1);
    return path.join(materials(dir), names[0]!);
  };
  const change = (dir: string) => writeFileSync(path.join(dir, 'a.txt'), `changed ${Math.random()}\n`);
  const unrecorded = /^app +stale +key changed from sha256:[0-9a-f]{12} \(what that key was computed from is no longer recorded\)$/m;

  it('state.json names each step\'s key only; the step\'s material, a file named by its key, explains a change', () => {
    const dir = built();
    const state = JSON.parse(readFileSync(path.join(dir, '.rep/state.json'), 'utf8'));
    expect(state.version).toBe(STATE_VERSION);
    // And the seal of this user's rep on it (state/seal.ts): what a cloned .rep/ says is not acted on.
    expect(state.steps.app).toEqual({ key: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), seal: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(path.basename(onlyMaterial(dir))).toBe(`${state.steps.app.key.slice(7)}.json`);
    change(dir);
    expect(status(dir)).toBe('app  stale  input changed: a.txt\n');
    // The next build records the new key's material and drops the old one.
    expect(repBounded(dir, ['build', '--engine', 'none']).code).toBe(0);
    const next = JSON.parse(readFileSync(path.join(dir, '.rep/state.json'), 'utf8'));
    expect(next.steps.app.key).not.toBe(state.steps.app.key);
    expect(path.basename(onlyMaterial(dir))).toBe(`${next.steps.app.key.slice(7)}.json`);
  });

  it('believes no material that does not hash to the key it is named by', () => {
    const dir = built();
    const file = onlyMaterial(dir);
    const m = JSON.parse(readFileSync(file, 'utf8'));
    m.inputs['planted.txt'] = { type: 'file', mode: '644', sha256: '0'.repeat(64) };
    writeFileSync(file, JSON.stringify(m));
    change(dir);
    const out = status(dir);
    expect(out).not.toMatch(/planted/);
    expect(out).toMatch(unrecorded);
    // Nested deeper than a canonicaliser's stack: refused, not crashed on.
    const deep = 200_000;
    const nested = `{"format":1,"def":{"x":${'['.repeat(deep)}${']'.repeat(deep)}},"inputs":{},"imports":{}}`;
    for (const text of ['not json', '{"format":1}', '[]', nested]) {
      writeFileSync(file, text);
      const r = repBounded(dir, ['status', '--engine', 'none']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(unrecorded);
    }
  });

  it('shows what a planted material names with its control characters escaped, and at most ten reasons a step', () => {
    const dir = built();
    const file = onlyMaterial(dir);
    const m = JSON.parse(readFileSync(file, 'utf8'));
    // A material that hashes to its name, as anyone can write one: the key in state.json names it.
    m.base = 'busybox:latest\u001b[2J\u001b]0;pwned\u0007';
    m.inputs = { '\u001b[31mFAKE\nrep: all steps fresh, safe to run\u001b[0m': { type: 'file', mode: '644', sha256: '0'.repeat(64) } };
    for (let n = 0; n < 20; n++) m.inputs[`gone/${n}.txt`] = { type: 'file', mode: '644', sha256: '0'.repeat(64) };
    const key = sha256Of(m);
    rmSync(file);
    writeFileSync(path.join(materials(dir), `${key}.json`), JSON.stringify(m));
    const state = JSON.parse(readFileSync(path.join(dir, '.rep/state.json'), 'utf8'));
    state.steps.app.key = `sha256:${key}`;
    writeFileSync(path.join(dir, '.rep/state.json'), JSON.stringify(state));
    for (const args of [['status'], ['build', '--dry-run']]) {
      const r = repBounded(dir, [...args, '--engine', 'none']);
      expect(r.stdout + r.stderr).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
      const gone = [0, 1, 10, 11, 12, 13, 14].map((n) => `input removed: gone/${n}.txt`).join('; ');
      expect(r.stdout).toContain(`  base image changed: busybox:latest\\x1b[2J\\x1b]0;pwned\\x07 -> busybox:latest; input removed: \\x1b[31mFAKE\\x0arep: all steps fresh, safe to run\\x1b[0m; input added: a.txt; ${gone}; and 13 more\n`);
      expect(r.stdout.split('\n').filter((l) => l.includes('safe to run'))).toHaveLength(1);
    }
  });

  it('reads no material through a link (the file or the folder), and a build replaces both with its own', () => {
    const v = victim();
    const dir = built();
    const file = onlyMaterial(dir);
    const name = path.basename(file);
    const genuine = readFileSync(file);
    // The very material, reached through a link at its name: not read.
    writeFileSync(path.join(v.dir, name), genuine);
    rmSync(file);
    symlinkSync(path.join(v.dir, name), file);
    change(dir);
    expect(status(dir)).toMatch(unrecorded);
    // The folder a link to one holding it: not read either.
    rmSync(materials(dir), { recursive: true });
    symlinkSync(v.dir, materials(dir));
    expect(status(dir)).toMatch(unrecorded);
    expect(repBounded(dir, ['build', '--engine', 'none']).code).toBe(0);
    expect(kind(materials(dir))).toBe('folder');
    expect(kind(onlyMaterial(dir))).toBe('file');
    expect(readdirSync(v.dir).sort()).toEqual([name, 'target']);
    expect(readFileSync(path.join(v.dir, name))).toEqual(genuine);
    expect(readFileSync(v.file, 'utf8')).toBe('precious\n');
  });

  it('writes a material over a link planted at its name, never through it, and removes what is not a current key\'s', () => {
    const v = victim();
    const dir = built();
    change(dir);
    const next = JSON.parse(repBounded(dir, ['status', '--engine', 'none', '--json']).stdout).steps[0].key as string;
    const planted = path.join(materials(dir), `${next.slice(7)}.json`);
    symlinkSync(v.file, planted);
    writeFileSync(path.join(materials(dir), 'junk.txt'), 'junk\n');
    mkdirSync(path.join(materials(dir), `${'c'.repeat(64)}.json`));
    symlinkSync(v.dir, path.join(materials(dir), 'away'));
    expect(repBounded(dir, ['build', '--engine', 'none']).code).toBe(0);
    expect(readdirSync(materials(dir))).toEqual([path.basename(planted)]);
    expect(kind(planted)).toBe('file');
    expect(readFileSync(v.file, 'utf8')).toBe('precious\n');
    expect(readdirSync(v.dir)).toEqual(['target']);
    change(dir);
    expect(status(dir)).toBe('app  stale  input changed: a.txt\n');
  });

  it('believes no material shaped otherwise than rep makes them, even one that hashes to its name (nested deeper than an explanation reads)', () => {
    const dir = built();
    const file = onlyMaterial(dir);
    const genuine = JSON.parse(readFileSync(file, 'utf8'));
    let run: unknown = ['x'];
    for (let i = 0; i < 4000; i++) run = [run];
    for (const planted of [{ ...genuine, def: { ...genuine.def, run } }, { ...genuine, def: { ...genuine.def, env: { A: { deep: 1 } } } }, { ...genuine, inputs: { 'a.txt': { sha256: 'x' } } }]) {
      const key = `sha256:${sha256Of(planted)}`;
      rmSync(materials(dir), { recursive: true });
      mkdirSync(materials(dir));
      writeFileSync(path.join(materials(dir), `${key.slice(7)}.json`), JSON.stringify(planted));
      const state = JSON.parse(readFileSync(path.join(dir, '.rep/state.json'), 'utf8'));
      state.steps.app.key = key;
      writeFileSync(path.join(dir, '.rep/state.json'), JSON.stringify(state));
      const r = repBounded(dir, ['status', '--engine', 'none']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(unrecorded);
    }
  });

  it('reads materials within one budget per command', () => {
    const dir = built();
    const file = onlyMaterial(dir);
    const key = `sha256:${path.basename(file, '.json')}`;
    const size = lstatSync(file).size;
    const enough = materialReader(dir, size);
    expect(enough(key)).toBeDefined();
    expect(enough(key)).toBeUndefined();
    expect(materialReader(dir, size - 1)(key)).toBeUndefined();
  });

  it('writes over a regular file planted ahead at the name of a key the build comes to', () => {
    const dir = built();
    change(dir);
    const next = JSON.parse(repBounded(dir, ['status', '--engine', 'none', '--json']).stdout).steps[0].key as string;
    const planted = path.join(materials(dir), `${next.slice(7)}.json`);
    writeFileSync(planted, '{"format":1}');
    expect(repBounded(dir, ['build', '--engine', 'none']).code).toBe(0);
    expect(materialReader(dir)(next)).toBeDefined();
    change(dir);
    expect(status(dir)).toBe('app  stale  input changed: a.txt\n');
  });

  it('reads no material to explain a phony step (it always runs)', () => {
    const dir = makeProject({ Repfile: REPFILE.replace('    run: cat a.txt', '    run: cat a.txt\n    phony: true'), 'a.txt': 'a\n' }, 'rep-projectdir-');
    cleanups.push(dir);
    expect(repBounded(dir, ['build', '--engine', 'none']).code).toBe(0);
    const p = open(dir);
    const asked: string[] = [];
    const r = planBuild(p.dag, p.ctx, { state: readState(dir), recordedMaterial: (rec) => (asked.push(rec.key), undefined) });
    if (!r.ok) throw new Error('plan');
    expect(r.value.step('app').reasons).toEqual([{ kind: 'phony' }]);
    expect(asked).toEqual([]);
  });

  it('reads a state of version 1 (materials inline) and writes it over as version 2', () => {
    const dir = built();
    const file = onlyMaterial(dir);
    const state = JSON.parse(readFileSync(path.join(dir, '.rep/state.json'), 'utf8'));
    state.version = 1;
    state.steps.app.material = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(path.join(dir, '.rep/state.json'), JSON.stringify(state));
    rmSync(materials(dir), { recursive: true });
    change(dir);
    expect(status(dir)).toBe('app  stale  input changed: a.txt\n');
    expect(repBounded(dir, ['build', '--engine', 'none']).code).toBe(0);
    const next = JSON.parse(readFileSync(path.join(dir, '.rep/state.json'), 'utf8'));
    expect(next.version).toBe(STATE_VERSION);
    expect(next.steps.app.material).toBeUndefined();
    expect(path.basename(onlyMaterial(dir))).toBe(`${next.steps.app.key.slice(7)}.json`);
  });
});
