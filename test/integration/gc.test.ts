// rep gc against the real engines: after a build, a change and a rebuild, gc
// removes the old step image, keeps the current ones, leaves images this
// project never recorded alone, and the next build is still a no-op.
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CACHE_REPO, cacheRef, imageStep } from '../../src/scheduler/stepimage.js';
import { gc } from '../../src/commands/gc.js';
import type { CliEngine } from '../../src/engine/cli.js';
import { readHistory } from '../../src/state/history.js';
import { open, rep } from '../helpers.js';
import { chainProject } from './engine-suite.js';
import { buildIn, docker, podman } from './helpers.js';

const ENGINES: [string, () => CliEngine][] = [['docker', docker], ['podman', podman]];

describe.each(ENGINES)('rep gc (%s)', (name, make) => {
  it('removes the step image a change left behind, keeps the current ones, and the next build is a no-op', async () => {
    const engine = make();
    const dir = chainProject();
    try {
      const first = await buildIn(dir, engine);
      writeFileSync(path.join(dir, 'three.txt'), 'changed\n');
      const second = await buildIn(dir, engine);
      expect(second.built).toEqual(['three']);
      const keys = (b: typeof first) => new Map(b.record.steps.map((s) => [s.name, s.key]));
      const old = keys(first).get('three')!;
      const current = [...keys(second).values()];
      const has = async (key: string) => (await engine.imageIds([cacheRef(key)])).get(cacheRef(key)) !== undefined;
      expect(await has(old)).toBe(true);
      // A step image no state of this project named (another project's): never a candidate.
      const stranger = `sha256:${'e'.repeat(64)}`;
      await engine.tag(cacheRef(current[0]!), cacheRef(stranger));

      // The old target's image, the first state's final image (the target with the Repfile's cmd)
      // and its canonical (reproducible) image: what the first state recorded and the second did not.
      const [firstState, secondState] = readHistory(dir);
      // (The history names the final image too, since 9a656f5.)
      const canonical = firstState!.filter((k) => !secondState!.includes(k) && k !== old && k !== imageStep(open(dir).dag, old).key);
      expect(canonical.length).toBe(1);
      const gone = [old, imageStep(open(dir).dag, old).key, ...canonical].sort();
      const dry = await gc({ cwd: dir }, { engine, keepStates: 1, dryRun: true });
      expect(dry.ok && dry.value.removed.map((i) => i.key)).toEqual(gone);
      expect(await has(old)).toBe(true);

      const r = await gc({ cwd: dir }, { engine, keepStates: 1 });
      if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
      expect(r.value.removed.map((i) => i.key)).toEqual(gone);
      expect(r.value.failed).toEqual([]);
      for (const k of gone) expect(await has(k)).toBe(false);
      for (const k of current) expect(await has(k)).toBe(true);
      expect(await has(stranger)).toBe(true);
      expect(readHistory(dir).length).toBe(1);

      // Still a no-op, through the library and through the CLI.
      expect((await buildIn(dir, engine)).built).toEqual([]);
      const cli = rep(dir, ['build', '--engine', name]);
      expect([cli.code, cli.stdout]).toEqual([0, `rep: nothing to build; all 3 steps fresh (${name}); image rep-test/chain:latest\n`]);

      // --all removes every step image the project recorded, and only those.
      const all = rep(dir, ['gc', '--all', '--engine', name]);
      expect(all.code).toBe(0);
      expect(all.stdout).toMatch(/^removed rep-cache:[0-9a-f]{64} \(.+\)\n/);
      for (const k of current) expect(await has(k)).toBe(false);
      expect(await has(stranger)).toBe(true);
      expect((await engine.listImages(CACHE_REPO)).some((i) => i.tags.includes(cacheRef(stranger).split(':')[1]!))).toBe(true);
      await engine.removeImage(cacheRef(stranger));
      // Nothing of this project is left: no step image, and no final image of either state
      // (the target with the Repfile's cmd, a key no state records).
      const run = /TEST_RUN: "([^"]+)"/.exec(readFileSync(path.join(dir, 'Repfile'), 'utf8'))![1]!;
      // One inspect for every step image the engine holds: an engine that keeps hundreds of them
      // (other projects, other runs) answers in one process, not one per image.
      const left = await engine.listImages(CACHE_REPO);
      const envs = spawnSync(engine.bin, ['image', 'inspect', '--format', '{{.Id}} {{json .Config.Env}}', ...left.map((i) => i.id)], {
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      });
      // An image another test removed meanwhile is missing from the answer (and the exit code says so).
      const ofThisRun = new Set(envs.stdout.split('\n').filter((l) => l.includes(run)).map((l) => l.split(' ')[0]));
      expect(envs.stdout.split('\n').filter(Boolean).length > 0).toBe(left.length > 0);
      expect(left.filter((i) => ofThisRun.has(i.id)).map((i) => i.tags)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves an image a container uses, and the container: the engine refuses, gc says so (podman rmi -f removed the container)', async () => {
    const engine = make();
    const dir = chainProject();
    let container = '';
    try {
      const first = await buildIn(dir, engine);
      writeFileSync(path.join(dir, 'three.txt'), 'changed\n');
      await buildIn(dir, engine);
      const old = first.record.steps.find((s) => s.name === 'three')!.key;
      const has = async (key: string) => (await engine.imageIds([cacheRef(key)])).get(cacheRef(key)) !== undefined;
      // A container a user made from the old step image, say to look inside it.
      const made = spawnSync(engine.bin, ['create', cacheRef(old), 'true'], { encoding: 'utf8' });
      expect(made.status).toBe(0);
      container = made.stdout.trim();
      const exists = () => spawnSync(engine.bin, ['container', 'inspect', container], { stdio: 'ignore' }).status === 0;

      const r = await gc({ cwd: dir }, { engine, keepStates: 1 });
      if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
      expect(r.value.failed.map((i) => i.key)).toEqual([old]);
      expect(await has(old)).toBe(true);
      expect(exists()).toBe(true);
      // Kept in the history, so that a later gc, once the container is gone, removes it.
      spawnSync(engine.bin, ['rm', container], { stdio: 'ignore' });
      container = '';
      const again = await gc({ cwd: dir }, { engine, keepStates: 1 });
      expect(again.ok && again.value.removed.map((i) => i.key)).toEqual([old]);
      expect(await has(old)).toBe(false);
    } finally {
      if (container) spawnSync(engine.bin, ['rm', '-f', container], { stdio: 'ignore' });
      rep(dir, ['gc', '--all', '--engine', name]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rep gc and another project on the same engine', () => {
  it('keeps a step image another project built with the same key still uses (keys are content-only: two clones share them)', async () => {
    const engine = docker();
    const a = chainProject();
    const b = path.join(path.dirname(a), `${path.basename(a)}-clone`);
    cpSync(a, b, { recursive: true });
    try {
      const first = await buildIn(a, engine);
      // The clone finds every step built: the same keys.
      expect((await buildIn(b, engine)).built).toEqual([]);
      writeFileSync(path.join(a, 'three.txt'), 'changed\n');
      expect((await buildIn(a, engine)).built).toEqual(['three']);
      const old = first.record.steps.find((s) => s.name === 'three')!.key;
      const r = await gc({ cwd: a }, { engine, keepStates: 1 });
      if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
      expect(r.value.removed.map((i) => i.key)).not.toContain(old);
      expect((await engine.imageIds([cacheRef(old)])).get(cacheRef(old))).toBeDefined();
      // The clone is still a no-op.
      expect(rep(b, ['build', '--engine', 'docker']).stdout).toMatch(/^rep: nothing to build/m);
    } finally {
      for (const dir of [a, b]) rep(dir, ['gc', '--all', '--engine', 'docker']);
      rmSync(b, { recursive: true, force: true });
    }
  });
});

describe('rep gc on the command line', () => {
  it('refuses contradictory or malformed options with exit 2', () => {
    const dir = chainProject();
    try {
      expect(rep(dir, ['gc', '--all', '--keep-states', '2']).code).toBe(2);
      expect(rep(dir, ['gc', '--keep-states', '0']).stderr).toBe('rep: --keep-states 0: expected a whole number from 1\n');
      expect(rep(dir, ['gc', '--keep-bytes', 'lots']).code).toBe(2);
      expect(rep(dir, ['gc', '--engine', 'none']).stderr).toMatch(/rep gc needs an engine/);
      // Never built: nothing to remove, and no .rep/ made for it.
      const none = rep(dir, ['gc', '--engine', 'docker']);
      expect([none.code, none.stdout]).toEqual([0, 'rep gc: removed 0 step images (0 bytes); kept 0 (0 bytes)\n']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
