import { describe, expect, it } from 'vitest';
import type { Engine, ImageInfo } from '../../src/engine/engine.js';
import { tagImage } from '../../src/scheduler/finalimage.js';
import { Pins } from '../../src/scheduler/pins.js';
import { cacheRef, imageStep } from '../../src/scheduler/stepimage.js';
import { makeProject, open } from '../helpers.js';

const REPFILE = 'rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  app:\n    run: echo hi > /hi\nimage:\n  cmd: [cat, /hi]\n';
const TARGET = `sha256:${'a'.repeat(64)}`;
const layer = (c: string) => `sha256:${c.repeat(64)}`;
const BUILT = `sha256:${'b'.repeat(64)}`;

/** An engine holding `images` (ref -> layers); a build puts the target's layers under its tag, and is counted. */
function engineWith(images: Map<string, string[]>) {
  const built: string[] = [];
  const networks: (string | undefined)[] = [];
  const info = (ref: string): ImageInfo | undefined => (images.has(ref) ? { id: `sha256:${'9'.repeat(64)}`, repoDigests: [], layers: images.get(ref)! } : undefined);
  const engine = {
    name: 'docker',
    inspect: async (ref: string) => info(ref),
    hasImage: async (ref: string) => images.has(ref),
    build: async (req: { tag: string; network?: string }) => {
      built.push(req.tag);
      networks.push(req.network);
      images.set(req.tag, [...images.get(cacheRef(TARGET))!]);
      images.set(BUILT, images.get(req.tag)!);
      return { ok: true, imageId: BUILT };
    },
    // A pin (scheduler/pins.ts) names what its source does.
    tag: async (src: string, dst: string) => void images.set(dst, images.get(src)!),
    imageIds: async (refs: readonly string[]) => new Map(refs.map((r) => [r, info(r)?.id])),
  } as unknown as Engine;
  return { engine, built, networks };
}

describe('the final image (the target with the Repfile\'s cmd)', () => {
  it('is built when the engine lacks it, and not again while it stands on the target\'s image as it is', async () => {
    const p = open(makeProject({ Repfile: REPFILE }));
    const final = cacheRef(imageStep(p.dag, TARGET).key);
    expect(imageStep(p.dag, TARGET).dockerfile).toContain('CMD ["cat","/hi"]');
    const images = new Map([[cacheRef(TARGET), [layer('1'), layer('2')]]]);
    const { engine, built } = engineWith(images);
    const recorded: string[] = [];
    const beforeTag = async (key: string) => void recorded.push(key);
    expect(await tagImage(p, engine, TARGET, cacheRef(TARGET), new Pins(engine), { jobs: 1, tag: false, beforeTag })).toMatchObject({ tag: 't:latest' });
    expect(built).toEqual([final]);
    // Recorded before the engine tagged it (a build killed then leaves an image gc knows: state/history.ts).
    expect(recorded).toEqual([imageStep(p.dag, TARGET).key]);
    await tagImage(p, engine, TARGET, cacheRef(TARGET), new Pins(engine), { jobs: 1, tag: false });
    expect(built).toEqual([final]);
  });

  it('is built again when the target was rebuilt under the same key with other layers (another builder, its image removed)', async () => {
    const p = open(makeProject({ Repfile: REPFILE }));
    const final = cacheRef(imageStep(p.dag, TARGET).key);
    const images = new Map([[cacheRef(TARGET), [layer('1'), layer('3')]], [final, [layer('1'), layer('2')]]]);
    const { engine, built } = engineWith(images);
    const recorded: string[] = [];
    await tagImage(p, engine, TARGET, cacheRef(TARGET), new Pins(engine), { jobs: 1, tag: false, beforeTag: async (key) => void recorded.push(key) });
    expect(built).toEqual([final]);
    expect(images.get(final)).toEqual([layer('1'), layer('3')]);
    // The tag was there (another project's final image, on the image the key named before): not recorded as this build's.
    expect(recorded).toEqual([]);
  });

  it('is built on the network the steps were (verify --rebuild: none), not the engine\'s default (a review)', async () => {
    const p = open(makeProject({ Repfile: REPFILE }));
    const { engine, networks } = engineWith(new Map([[cacheRef(TARGET), [layer('1')]]]));
    await tagImage(p, engine, TARGET, cacheRef(TARGET), new Pins(engine), { jobs: 1, tag: false, network: 'none' });
    expect(networks).toEqual(['none']);
  });
});
