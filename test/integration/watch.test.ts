// rep watch, driven by real file edits.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, makeProject } from '../helpers.js';

const repfile = () => `rep: 1
name: watched
base: busybox:latest
env: {TEST_RUN: "${randomUUID()}"}
steps:
  system:
    run: echo system > /system
  app:
    needs: [system]
    inputs: [src/]
    run: sleep 2 && cat src/* > /app
image:
  tag: rep-test/watched:latest
`;

function start(dir: string, args = ['watch', '--engine', 'docker']) {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: { ...process.env, CI: '1' } });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const until = async (pred: (o: string) => boolean, what: string, ms = 60_000) => {
    const end = Date.now() + ms;
    while (!pred(out)) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; output so far:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const count = (s: string) => out.split(s).length - 1;
  const stop = async () => {
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGINT');
    return exited;
  };
  return { until, count, stop, output: () => out };
}

describe('rep watch', () => {
  it('rebuilds only the affected step on an edit, reports a bad Repfile and keeps watching, and queues one more run for changes during a build', async () => {
    const dir = makeProject({ Repfile: repfile(), 'src/a.txt': 'a\n', 'notes.md': 'not an input\n' });
    const w = start(dir);
    try {
      await w.until((o) => o.includes('rep: built 2 of 2 steps'), 'the first build');

      writeFileSync(path.join(dir, 'src/a.txt'), 'A\n');
      await w.until((o) => o.includes('rep: built 1 of 2 steps'), 'the rebuild after an edit');
      expect(w.output()).toContain('rep: changed: src/a.txt\nbuild   app: input changed: src/a.txt\n');
      expect(w.count('build   system')).toBe(1);

      // A Repfile error is shown; watching goes on, and fixing it builds again.
      const good = readFileSync(path.join(dir, 'Repfile'), 'utf8');
      writeFileSync(path.join(dir, 'Repfile'), good.replace('needs: [system]', 'needs: [sytem]'));
      await w.until((o) => o.includes('rep: waiting for a fix'), 'the Repfile error');
      expect(w.output()).toContain('Repfile:9:13: steps.app.needs: unknown step "sytem" (did you mean "system"?)');
      writeFileSync(path.join(dir, 'Repfile'), good);
      await w.until((o) => o.split('rep: ').filter((l) => l.startsWith('nothing to build') || l.startsWith('built')).length >= 3, 'the build after the fix');

      // Two edits while a build runs give exactly one more run.
      const builtBefore = w.count('built   app');
      writeFileSync(path.join(dir, 'src/b.txt'), 'b\n');
      await w.until((o) => o.split('build   app').length - 1 > builtBefore, 'the build to start');
      appendFileSync(path.join(dir, 'src/a.txt'), 'more\n');
      await new Promise((r) => setTimeout(r, 300));
      appendFileSync(path.join(dir, 'src/b.txt'), 'more\n');
      // The run under way ends built, or failed when an input it had hashed was written while the engine read
      // it (its image is not kept under that key); either way one more run follows, and builds.
      const ended = (o: string) => o.split('built   app').length - 1 + (o.split('failed  app: input src/').length - 1);
      await w.until((o) => ended(o) >= builtBefore + 2 && o.split('built   app').length - 1 > builtBefore, 'the queued run');
      await new Promise((r) => setTimeout(r, 3000));
      expect(ended(w.output())).toBe(builtBefore + 2);
    } catch (e) {
      console.error(w.output());
      throw e;
    } finally {
      expect(await w.stop()).toBe(0);
    }
  }, 150_000);

  it('watches the Repfile named with -f outside the context even when it is broken at the start', async () => {
    const good = repfile();
    const dir = makeProject({ 'conf/Repfile': good.replace('needs: [system]', 'needs: [sytem]'), 'ctx/src/a.txt': 'a\n' });
    const w = start(dir, ['-f', 'conf/Repfile', '-C', 'ctx', 'watch', '--engine', 'none']);
    try {
      await w.until((o) => o.includes('rep: waiting for a fix'), 'the Repfile error');
      expect(w.output()).toContain(`rep: watching ${path.join(dir, 'ctx')} (Ctrl-C to stop)\n`);
      writeFileSync(path.join(dir, 'conf/Repfile'), good);
      await w.until((o) => o.includes('rep: engine none: 2 of 2 steps recorded, nothing built'), 'the build after the fix', 10_000);
      expect(w.output()).toContain('rep: changed: ../conf/Repfile\n');
    } catch (e) {
      console.error(w.output());
      throw e;
    } finally {
      expect(await w.stop()).toBe(0);
    }
  }, 30_000);

  it('rebuilds for a change an input may see, the Repfile or .dockerignore, and for nothing else in the folder (rep watch > out.log in the project rebuilt for ever; found by an adversarial review)', async () => {
    const text = repfile().replace('inputs: [src/]', 'inputs: [src/, "data/**/*.csv", ..data/]');
    const dir = makeProject({ Repfile: text, 'src/a.txt': 'a\n', 'data/x.csv': '1\n', 'notes.txt': 'n\n', '..data/c.json': '{}\n' });
    const w = start(dir, ['watch', '--engine', 'none']);
    const built = 'rep: engine none: 2 of 2 steps recorded, nothing built';
    try {
      await w.until((o) => w.count(built) + w.count('rep: nothing to build') >= 1, 'the first build', 10_000);
      // Written as a log would be, and files no input names: no build (given time to start one, were it wrong).
      for (let i = 0; i < 5; i++) appendFileSync(path.join(dir, 'out.log'), `line ${i}\n`);
      appendFileSync(path.join(dir, 'notes.txt'), 'more\n');
      writeFileSync(path.join(dir, 'data/x.txt'), 'not a csv\n');
      await new Promise((r) => setTimeout(r, 1500));
      writeFileSync(path.join(dir, 'data/new.csv'), '2\n');
      await w.until((o) => o.includes('rep: changed: data/new.csv\n'), 'the change to a file the glob names', 10_000);
      appendFileSync(path.join(dir, 'src/a.txt'), 'b\n');
      await w.until((o) => o.includes('rep: changed: src/a.txt\n'), 'the change to an input folder', 10_000);
      appendFileSync(path.join(dir, '.dockerignore'), 'notes.txt\n');
      await w.until((o) => o.includes('rep: changed: .dockerignore\n'), 'the change to .dockerignore', 10_000);
      // A name inside the context that starts with ".." (Kubernetes' ..data) is not outside it (found by a second review).
      appendFileSync(path.join(dir, '..data/c.json'), '\n');
      await w.until((o) => o.includes('rep: changed: ..data/c.json\n'), 'the change under ..data', 10_000);
      expect(w.output().split('\n').filter((l) => l.startsWith('rep: changed:'))).toEqual(['rep: changed: data/new.csv', 'rep: changed: src/a.txt', 'rep: changed: .dockerignore', 'rep: changed: ..data/c.json']);
    } catch (e) {
      console.error(w.output());
      throw e;
    } finally {
      expect(await w.stop()).toBe(0);
    }
  }, 60_000);
});
