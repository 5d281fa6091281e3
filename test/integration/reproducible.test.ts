// Reproducible images across engines: each example, built from nothing with
// docker's classic builder, docker's BuildKit, podman and a second, fresh
// docker daemon (its own data root), gives the same image ID. All four start
// from the same base images (docker's, saved and loaded into the others), as
// the ID rightly depends on the base. Between builds on one engine, the step
// images and the canonical image are removed so that each build runs every
// step. When IDs differ, the test names the files that differ.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildEvent } from '../../src/scheduler/events.js';
import { build } from '../../src/build.js';
import { CliEngine } from '../../src/engine/cli.js';
import { cacheRef } from '../../src/scheduler/stepimage.js';
import { open, REPO } from '../helpers.js';
import { startSecondDaemon, type SecondDaemon } from './daemon.js';
import { imageFilesystem } from '../../src/publish/filesystem.js';
import { DEBIAN_DOCKER, diffFiles, docker, dockerBuildKit, podman, sh } from './helpers.js';

const BASES = { 'busybox:latest': 'rep-test/repro-busybox:base', 'debian:bookworm-slim': 'rep-test/repro-debian:base' } as const;
/** Not the examples' own epoch (the default): keys of their own, so removing these step images disturbs no other test. */
const EPOCH = 1700000000;

const work = mkdtempSync(path.join(tmpdir(), 'rep-repro-'));
let second: SecondDaemon | undefined;

/** Loads docker's image `ref` into another engine (podman, or the second daemon). */
function copyImage(ref: string, into: string[], env?: NodeJS.ProcessEnv): void {
  const file = path.join(work, 'base.tar');
  sh('docker', ['save', '-o', file, ref]);
  sh(into[0]!, [...into.slice(1), 'load', '-i', file], { env });
  rmSync(file);
}

/**
 * The shared bases in docker, and in `into` (podman or the second daemon) when it lacks them.
 * Asked before every build: another test run ending meanwhile removes the rep-test/* tags it saw appear.
 */
function ensureBases(into?: { bin: string; env?: NodeJS.ProcessEnv }): void {
  for (const [from, to] of Object.entries(BASES)) {
    sh('docker', ['tag', from, to]);
    if (into && spawnSync(into.bin, ['image', 'inspect', to], { env: { ...process.env, ...into.env }, stdio: 'ignore' }).status !== 0) copyImage(to, [into.bin], into.env);
  }
}

beforeAll(async () => {
  second = await startSecondDaemon();
}, 300_000);

afterAll(async () => {
  await second?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** A copy of the example on the shared bases, tagged rep-test/repro-NAME, with its own epoch. */
function example(name: string): string {
  const dir = path.join(work, name);
  cpSync(path.join(REPO, 'examples', name), dir, { recursive: true });
  rmSync(path.join(dir, 'Dockerfile'), { force: true });
  let text = readFileSync(path.join(dir, 'Repfile'), 'utf8');
  for (const [from, to] of Object.entries(BASES)) text = text.replaceAll(`: ${from}`, `: ${to}`);
  text = text.replace(/^image:\n/m, `image:\n  tag: rep-test/repro-${name}:latest\n`);
  writeFileSync(path.join(dir, 'Repfile'), `${text}\nreproducible:\n  epoch: ${EPOCH}\n`);
  return dir;
}

/** Builds `dir` with `engine` from nothing (its step images and image removed first, and after); the image ID and its files. */
async function buildFresh(dir: string, engine: CliEngine, into?: { bin: string; env?: NodeJS.ProcessEnv }): Promise<{ id: string; files: Map<string, string> }> {
  const project = () => open(dir);
  const clear = async (keys: string[], id?: string) => {
    for (const k of keys) await engine.removeImage(cacheRef(k));
    if (id) await engine.removeImage(id.replace(/^sha256:/, ''));
  };
  rmSync(path.join(dir, '.rep'), { recursive: true, force: true });
  ensureBases(into);
  const failures: string[] = [];
  const onEvent = (e: BuildEvent) => void (e.type === 'step-failed' && failures.push(`${e.step}: ${e.error ?? ''} ${e.tail.join('\n')}`));
  const r = await build(project(), { engine, jobs: 2, network: 'host', onEvent });
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  expect(r.value.ok, `${engine.bin} build of ${dir}: ${failures.join('\n')}`).toBe(true);
  const keys = r.value.steps.map((s) => s.key);
  const tag = r.value.image!.tag;
  try {
    // A build of the same steps finds the canonical image: nothing is rewritten, the ID is the same.
    const again = await build(project(), { engine, jobs: 2, network: 'host' });
    expect(again.ok && again.value.image?.imageId).toBe(r.value.image!.imageId);
    const files = new Map(Object.entries(await imageFilesystem(engine, tag)).map(([p, e]) => [p, JSON.stringify(e)]));
    return { id: r.value.image!.imageId, files };
  } finally {
    await clear(keys, r.value.image!.imageId);
  }
}

describe.each(['pipeline', 'friendlyhello', 'r-analysis'])('%s', (name) => {
  it('has one image ID on docker classic, docker BuildKit, podman and a second docker daemon', async () => {
    const dir = example(name);
    const engines: [string, CliEngine, { bin: string; env?: NodeJS.ProcessEnv }?][] = [
      ['docker classic', docker()],
      ['docker BuildKit', dockerBuildKit()],
      ['podman', podman(), { bin: 'podman' }],
      ['second docker daemon', new CliEngine({ flavor: 'docker', bin: DEBIAN_DOCKER, env: { ...process.env, ...second!.env } }), { bin: DEBIAN_DOCKER, env: second!.env }],
    ];
    const results: [string, { id: string; files: Map<string, string> }][] = [];
    for (const [label, engine, into] of engines) results.push([label, await buildFresh(dir, engine, into)]);
    const [first, firstResult] = results[0]!;
    for (const [label, r] of results.slice(1)) {
      const why = r.id === firstResult.id ? [] : diffFiles(firstResult.files, r.files);
      expect({ engine: label, id: r.id, files: why }).toEqual({ engine: label, id: firstResult.id, files: [] });
    }
    expect(first).toBe('docker classic');
  }, 3_600_000);
});
