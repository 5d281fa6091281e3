// What the engine says the keys depend on (plan/freshness.ts engineFacts), and the no-op record's
// hold on the bases no digest pins.
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/engine.js';
import { engineFacts } from '../../src/plan/freshness.js';
import { noopImagesHold, type NoopRecord } from '../../src/scheduler/noop.js';
import { buildProvenance } from '../../src/record/provenance.js';
import { makeProject, open } from '../helpers.js';

const ID = (c: string) => `sha256:${c.repeat(64)}`;
const REPFILE = 'rep: 1\nname: t\nbase: debian:bookworm-slim\nsteps:\n  a:\n    run: echo a\n  b:\n    from: busybox@sha256:' + 'b'.repeat(64) + '\n    run: echo b\n  c:\n    from: alpine:3\n    run: echo c\nimage:\n  from: a\n';

function engineWith(images: Map<string, string>, pullable: Record<string, string> = {}) {
  const pulled: string[] = [];
  const engine = {
    name: 'docker',
    platform: async () => 'linux/amd64',
    imageIds: async (refs: readonly string[]) => new Map(refs.map((r) => [r, images.get(r)])),
    pull: async (ref: string) => {
      pulled.push(ref);
      if (!pullable[ref]) return false;
      images.set(ref, pullable[ref]!);
      return true;
    },
  } as unknown as Engine;
  return { engine, pulled };
}

describe('engine facts', () => {
  it('are the platform and the ids of the bases no digest pins; a missing one is pulled first when asked, as the build would', async () => {
    const p = open(makeProject({ Repfile: REPFILE }));
    const lock = (r: string) => (r === 'alpine:3' ? `alpine:3@${ID('e')}` : r);
    const quiet = engineWith(new Map([['debian:bookworm-slim', ID('1')]]));
    expect(await engineFacts(quiet.engine, p.dag, lock)).toEqual({ platform: 'linux/amd64', baseIds: new Map([['debian:bookworm-slim', ID('1')]]) });
    expect(quiet.pulled).toEqual([]);
    const missing = engineWith(new Map(), { 'debian:bookworm-slim': ID('2') });
    expect((await engineFacts(missing.engine, p.dag, lock, true)).baseIds).toEqual(new Map([['debian:bookworm-slim', ID('2')]]));
    expect(missing.pulled).toEqual(['debian:bookworm-slim']);
    // One that cannot be pulled is left to the build to report.
    const none = engineWith(new Map());
    expect((await engineFacts(none.engine, p.dag, (r) => r, true)).baseIds).toEqual(new Map());
    expect(none.pulled.sort()).toEqual(['alpine:3', 'debian:bookworm-slim']);
  });
});

describe('a no-op record', () => {
  const record: NoopRecord = { stamp: 's', imageId: ID('9'), tag: 't:1', refs: [`rep-cache:${'a'.repeat(64)}`], steps: [], lock: [], bases: [['debian:bookworm-slim', ID('1')]] };
  const ids = (base: string | undefined) => new Map([['t:1', ID('9')], [`rep-cache:${'a'.repeat(64)}`, ID('8')], ['debian:bookworm-slim', base]]);
  it('holds while each base it names is the image it was, and not once a pull moved its tag or it is gone', () => {
    expect(noopImagesHold(record, ids(ID('1')))).toBe(true);
    expect(noopImagesHold(record, ids('1'.repeat(64)))).toBe(true);
    expect(noopImagesHold(record, ids(ID('2')))).toBe(false);
    expect(noopImagesHold(record, ids(undefined))).toBe(false);
  });
});

describe('the provenance of a build', () => {
  it('records the base ids its keys were made of, not what the engine answers after the build (a base pulled or moved meanwhile)', async () => {
    const p = open(makeProject({ Repfile: REPFILE }));
    const engine = {
      name: 'docker',
      describe: async () => 'docker 20.10.24 (BuildKit)',
      imageIds: async (refs: readonly string[]) => new Map(refs.map((r) => [r, ID('7')])),
    } as unknown as Engine;
    const statement = await buildProvenance(p, {
      context: { listed: [] }, steps: [], outputsDigests: new Map(), dockerfileText: '', engine, platform: 'linux/amd64',
      baseIds: new Map([['debian:bookworm-slim', ID('1')]]), startedOn: new Date(0), finishedOn: new Date(0),
    });
    const bases = Object.fromEntries(statement.predicate.buildDefinition.resolvedDependencies.filter((d) => d.annotations?.kind === 'base-image').map((d) => [d.name, [d.digest?.sha256, d.annotations?.digestSource]]));
    expect(bases).toEqual({
      'debian:bookworm-slim': ['1'.repeat(64), 'image-id'],
      // Named by digest in the Repfile: its id is asked, as it names one image whatever happens.
      [`busybox@sha256:${'b'.repeat(64)}`]: ['7'.repeat(64), 'image-id'],
      // Missing when the keys were made: none, as the keys have none.
      'alpine:3': [undefined, 'none'],
    });
    expect(statement.predicate.buildDefinition.internalParameters.platform).toBe('linux/amd64');
  });
});
