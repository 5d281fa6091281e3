// The behaviour every engine must show, run against each real engine.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CliEngine } from '../../src/engine/cli.js';
import { makeProject, rep } from '../helpers.js';
import { buildIn } from './helpers.js';

/** A unique env value, so no other test (or run) has built these keys before. */
export const fresh = () => `TEST_RUN: "${randomUUID()}"`;

export const CHAIN = () => `rep: 1
name: chain
base: busybox:latest
env: {${fresh()}}
steps:
  one:
    inputs: [one.txt]
    run: cp one.txt /one
  two:
    needs: [one]
    inputs: [two.txt]
    run: cat /one two.txt > /two
  three:
    needs: [two]
    inputs: [three.txt]
    run: cat /two three.txt > /three
image:
  tag: rep-test/chain:latest
  cmd: [cat, /three]
`;

/**
 * A producer `lib` whose output /out/lib.so is a link its `run` makes (to version.txt's bytes), and a
 * consumer `app` that copies it and prints it: the image rep-test/NAME:latest says which bytes it got.
 */
export const linkedOutputProject = (name: string, libRun: string) =>
  makeProject({
    Repfile: `rep: 1
name: ${name}
base: busybox:latest
env: {${fresh()}}
steps:
  lib:
    inputs: [version.txt]
    run: ${libRun}
    outputs: [/out/lib.so]
  app:
    needs: [base, lib]
    run: cat /out/lib.so > /result
  base:
    run: echo base > /base
image:
  tag: rep-test/${name}:latest
  cmd: [cat, /result]
`,
    'version.txt': 'one\n',
  });

export const chainProject = () => makeProject({ Repfile: CHAIN(), 'one.txt': '1\n', 'two.txt': '2\n', 'three.txt': '3\n' });

export interface EngineUnderTest {
  name: 'docker' | 'podman';
  /** What the suite is called (default: the engine's name). */
  label?: string;
  /** What `rep build` on the command line needs to use the same engine (e.g. --buildkit and its client). */
  cli?: { args: string[]; env: NodeJS.ProcessEnv };
  make: () => CliEngine;
  /** Runs an image, returning what it prints. */
  run: (image: string) => string;
}

export function engineSuite(t: EngineUnderTest): void {
  const docker = t.make;
  const run = t.run;
  const build = (dir: string) => rep(dir, ['build', '--engine', t.name, ...(t.cli?.args ?? [])], t.cli?.env);
  describe(`${t.label ?? t.name} engine`, () => {
  it('builds the image, which runs; a second build with nothing changed runs no engine build', async () => {
    const dir = chainProject();
    const first = await buildIn(dir, docker());
    expect(first.built).toEqual(['one', 'two', 'three']);
    expect(first.record.ok, first.failed).toBe(true);
    expect(run('rep-test/chain:latest')).toBe('1\n2\n3\n');
    const second = await buildIn(dir, docker());
    expect(second.built).toEqual([]);
    expect(second.events.filter((e) => e.type === 'step-building')).toEqual([]);
    expect(second.record.steps.map((s) => s.action)).toEqual(['cached', 'cached', 'cached']);
    const cli = build(dir);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toBe(`rep: nothing to build; all 3 steps fresh (${t.name}); image rep-test/chain:latest\n`);
  });

  it('rebuilds the changed step and the steps above it only, and status says why first', async () => {
    const dir = chainProject();
    await buildIn(dir, docker());
    writeFileSync(path.join(dir, 'two.txt'), 'two\n');
    const st = rep(dir, ['status', '--engine', t.name]);
    expect(st.stdout).toMatch(/^one    fresh  sha256:[0-9a-f]{12}\ntwo    stale  input changed: two.txt\nthree  stale  builds on "two", which changed\n$/);
    expect(rep(dir, ['status', '-q', '--engine', t.name]).code).toBe(1);
    const again = await buildIn(dir, docker());
    expect(again.built).toEqual(['two', 'three']);
    expect(run('rep-test/chain:latest')).toBe('1\ntwo\n3\n');
    expect(rep(dir, ['status', '-q', '--engine', t.name]).code).toBe(0);
    // Reverting the change finds the old images again: nothing to build.
    writeFileSync(path.join(dir, 'two.txt'), '2\n');
    expect((await buildIn(dir, docker())).built).toEqual([]);
  });

  it('early cutoff: a phony producer that reran with the same outputs does not rebuild its consumer', async () => {
    const dir = makeProject({
      Repfile: `rep: 1
name: cutoff
base: busybox:latest
env: {${fresh()}}
steps:
  fetch:
    from: busybox:latest
    phony: true
    inputs: [source.csv]
    run: mkdir -p /out && sort source.csv > /out/data.csv
    outputs: [/out/data.csv]
  analyse:
    needs: [base, fetch]
    run: wc -l < /out/data.csv > /result
  base:
    run: echo base > /base
image:
  tag: rep-test/cutoff:latest
  cmd: [cat, /result]
`,
      'source.csv': 'b\na\n',
    });
    const first = await buildIn(dir, docker());
    expect(first.built.sort()).toEqual(['analyse', 'base', 'fetch']);
    const second = await buildIn(dir, docker());
    expect(second.built).toEqual(['fetch']);
    expect(second.record.steps.find((s) => s.name === 'analyse')!.action).toBe('cached');
    // A change to what the producer makes does reach the consumer.
    writeFileSync(path.join(dir, 'source.csv'), 'b\na\nc\n');
    const third = await buildIn(dir, docker());
    expect(third.built.sort()).toEqual(['analyse', 'fetch']);
    expect(run('rep-test/cutoff:latest')).toBe('3\n');
  });

  it('an output that is a link is measured by what it leads to: new bytes behind it rebuild the consumer, which COPY gives them (found by a review)', async () => {
    const dir = linkedOutputProject('linked', 'mkdir -p /out && cp version.txt /out/lib.so.1 && ln -s lib.so.1 /out/lib.so');
    const first = await buildIn(dir, docker());
    expect(first.built.sort()).toEqual(['app', 'base', 'lib']);
    expect(run('rep-test/linked:latest')).toBe('one\n');
    writeFileSync(path.join(dir, 'version.txt'), 'two\n');
    const second = await buildIn(dir, docker());
    expect(second.built.sort()).toEqual(['app', 'lib']);
    expect(run('rep-test/linked:latest')).toBe('two\n');
  });

  it('builds independent stages at the same time', async () => {
    const dir = makeProject({
      Repfile: `rep: 1
name: parallel
base: busybox:latest
env: {${fresh()}}
steps:
  left:
    run: sleep 2 && mkdir -p /out && echo left > /out/left
    outputs: [/out/left]
  right:
    from: busybox:latest
    run: sleep 2 && mkdir -p /out && echo right > /out/right
    outputs: [/out/right]
  both:
    from: busybox:latest
    needs: [left, right]
    run: cat /out/left /out/right > /both
image:
  tag: rep-test/parallel:latest
  cmd: [cat, /both]
`,
    });
    const { events } = await buildIn(dir, docker(), { jobs: 2 });
    const order = events.filter((e) => e.type === 'step-building' || e.type === 'step-built').map((e) => `${e.type === 'step-built' ? 'done' : 'start'} ${e.step}`);
    expect(order.slice(0, 2).sort()).toEqual(['start left', 'start right']);
    expect(order.slice(-2)).toEqual(['start both', 'done both']);
    expect(run('rep-test/parallel:latest')).toBe('left\nright\n');
    // With one job at a time, one stage finishes before the other starts.
    const serial = makeProject({ Repfile: readFileSync(path.join(dir, 'Repfile'), 'utf8').replace(/TEST_RUN: "[^"]+"/, fresh()) });
    const s = await buildIn(serial, docker(), { jobs: 1 });
    const sorder = s.events.filter((e) => e.type === 'step-building' || e.type === 'step-built').map((e) => e.type);
    expect(sorder).toEqual(['step-building', 'step-built', 'step-building', 'step-built', 'step-building', 'step-built']);
  });

  it('a failing step exits 1 with its log tail, and the steps before it stay cached', async () => {
    const repfile = CHAIN().replace('run: cat /one two.txt > /two', 'run: echo "about to fail" && cat /nonexistent');
    const dir = makeProject({ Repfile: repfile, 'one.txt': '1\n', 'two.txt': '2\n', 'three.txt': '3\n' });
    const r = build(dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('build   one: never built\nbuilt   one');
    expect(r.stdout).toMatch(/failed {2}two \(exit 1\); full log: .*\.rep\/logs\/two\.log\n/);
    expect(r.stdout).toContain('  | about to fail');
    expect(r.stdout).toContain("  | cat: can't open '/nonexistent': No such file or directory");
    expect(r.stdout).toContain('skipped three: "two" failed');
    expect(r.stdout).toContain('rep: build failed: 1 built, 0 cached, two failed');
    expect(readFileSync(path.join(dir, '.rep/logs/two.log'), 'utf8')).toContain('about to fail');
    writeFileSync(path.join(dir, 'Repfile'), repfile.replace('cat /nonexistent', 'cat /one two.txt > /two'));
    const fixed = await buildIn(dir, docker());
    expect(fixed.built).toEqual(['two', 'three']);
  });

  });
}
