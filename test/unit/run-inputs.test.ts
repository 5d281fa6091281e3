import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BuildRequest, Engine } from '../../src/engine/engine.js';
import { planBuild } from '../../src/plan/plan.js';
import type { BuildEvent } from '../../src/scheduler/events.js';
import { runBuild } from '../../src/scheduler/run.js';
import { cacheRef } from '../../src/scheduler/stepimage.js';
import { makeProject, open } from '../helpers.js';

const REPFILE = 'rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  app:\n    inputs: [conf.txt]\n    run: cat conf.txt\n';

/** An engine that builds every step, running `during` while it reads the step's context; it keeps what it tagged. */
function engineThat(during: () => void) {
  const tagged = new Set<string>();
  const removed: string[] = [];
  const engine = {
    name: 'docker',
    syncsFolders: false,
    answers: async () => true,
    hasImage: async (ref: string) => tagged.has(ref) || ref === 'busybox:latest',
    imageIds: async (refs: readonly string[]) => new Map(refs.map((r) => [r, tagged.has(r) ? `sha256:${'1'.repeat(64)}` : undefined])),
    build: async (req: BuildRequest) => {
      during();
      tagged.add(req.tag);
      return { ok: true, imageId: `sha256:${'1'.repeat(64)}` };
    },
    removeImage: async (ref: string) => {
      removed.push(ref);
      tagged.delete(ref);
    },
  } as unknown as Engine;
  return { engine, tagged, removed };
}

async function run(dir: string, engine: Engine) {
  const p = open(dir);
  const plan = planBuild(p.dag, p.ctx);
  if (!plan.ok) throw new Error('plan failed');
  const events: BuildEvent[] = [];
  const r = await runBuild(p, engine, plan.value, { jobs: 1, onEvent: (e) => events.push(e) });
  return { r, key: plan.value.steps[0]!.key, events };
}

describe('an input written while its step is built', () => {
  it('fails the step, and its image is not kept under the key hashed from the old bytes (an undo would find it fresh)', async () => {
    const dir = makeProject({ Repfile: REPFILE, 'conf.txt': 'v1\n' });
    const conf = path.join(dir, 'conf.txt');
    const { engine, tagged, removed } = engineThat(() => writeFileSync(conf, 'v2\n'));
    const { r, key, events } = await run(dir, engine);
    expect(r.ok).toBe(false);
    expect(r.steps.get('app')?.status).toBe('failed');
    expect(removed).toEqual([cacheRef(key)]);
    expect(tagged.has(cacheRef(key))).toBe(false);
    const failure = events.find((e) => e.type === 'step-failed');
    expect(failure && 'error' in failure ? failure.error : '').toBe('input conf.txt changed while the step was built: its image is not kept under a key hashed from what it was before; build again');
    expect(readFileSync(conf, 'utf8')).toBe('v2\n');
  });

  it('written back with the same bytes and size still counts (its ctime moved); an input left alone does not', async () => {
    const dir = makeProject({ Repfile: REPFILE, 'conf.txt': 'v1\n' });
    const conf = path.join(dir, 'conf.txt');
    const same = await run(dir, engineThat(() => writeFileSync(conf, 'v1\n')).engine);
    expect(same.r.steps.get('app')?.status).toBe('failed');
    const alone = engineThat(() => {});
    const quiet = await run(dir, alone.engine);
    expect(quiet.r.steps.get('app')?.status).toBe('built');
    expect(alone.removed).toEqual([]);
  });
});
