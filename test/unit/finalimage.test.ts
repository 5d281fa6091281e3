import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/engine.js';
import { tagImage } from '../../src/scheduler/finalimage.js';
import { cacheRef, imageStep } from '../../src/scheduler/stepimage.js';
import { makeProject, open } from '../helpers.js';

const REPFILE = 'rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  app:\n    run: echo hi > /hi\nimage:\n  cmd: [cat, /hi]\n';
const TARGET = `sha256:${'a'.repeat(64)}`;

/** An engine that has the images `has` names, and counts what it is asked to build. */
function engineHaving(has: Set<string>) {
  const built: string[] = [];
  const engine = {
    name: 'docker',
    hasImage: async (ref: string) => has.has(ref),
    build: async (req: { tag: string }) => {
      built.push(req.tag);
      has.add(req.tag);
      return { ok: true, imageId: `sha256:${'b'.repeat(64)}` };
    },
    imageIds: async (refs: readonly string[]) => new Map(refs.map((r) => [r, has.has(r) ? `sha256:${'b'.repeat(64)}` : undefined])),
  } as unknown as Engine;
  return { engine, built };
}

describe('the final image (the target with the Repfile\'s cmd)', () => {
  it('is built when the engine lacks it, and not again when it has it (the target unchanged)', async () => {
    const p = open(makeProject({ Repfile: REPFILE }));
    const final = imageStep(p.dag, TARGET);
    expect(final.dockerfile).toContain('CMD ["cat","/hi"]');
    const has = new Set<string>();
    const { engine, built } = engineHaving(has);
    expect(await tagImage(p, engine, TARGET, { jobs: 1, tag: false }, new Set())).toMatchObject({ tag: 't:latest' });
    expect(built).toEqual([cacheRef(final.key)]);
    await tagImage(p, engine, TARGET, { jobs: 1, tag: false }, new Set());
    expect(built).toEqual([cacheRef(final.key)]);
  });
});
