// `rep publish --push REF`: the reference is checked before anything is built, with the checks
// image.tag has; it went to `ENGINE tag` and `ENGINE push` as given (found by a review).
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/diag.js';
import { NoneEngine } from '../../src/engine/none.js';
import { publish } from '../../src/publish/publish.js';
import { makeProject, open } from '../helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const REPFILE = `rep: 1
name: demo
base: debian:bookworm-slim
steps:
  side:
    from: docker.io/library/busybox:1.36
    run: echo side > /side
  app:
    needs: [side]
    run: echo hi
`;

async function pushTo(ref: string) {
  const dir = makeProject({ Repfile: REPFILE }, 'rep-push-');
  dirs.push(dir);
  const out = path.join(dir, 'bundle');
  const r = await publish(open(dir), { engine: new NoneEngine(), out, push: ref });
  return { r, wrote: existsSync(out) };
}

describe('rep publish --push', () => {
  it('refuses, before building, what is no NAME[:TAG], one of rep\'s own names, or an image the Repfile builds on', async () => {
    const cases: [string, RegExp][] = [
      ['--privileged', /is not an image reference/],
      ['-v/:/host', /is not an image reference/],
      ['not a ref', /is not an image reference/],
      ['demo@sha256:' + 'a'.repeat(64), /has a digest: --push takes/],
      ['rep-cache:' + '0'.repeat(64), /rep's own image names/],
      ['localhost/rep-pin:x', /rep's own image names/],
      ['debian:bookworm-slim', /names debian:bookworm-slim, which this Repfile builds on/],
      ['docker.io/library/debian:bookworm-slim', /which this Repfile builds on/],
      ['busybox:1.36', /names docker\.io\/library\/busybox:1\.36, which this Repfile builds on/],
    ];
    for (const [ref, why] of cases) {
      const { r, wrote } = await pushTo(ref);
      expect(r.ok, ref).toBe(false);
      if (r.ok) continue;
      expect(r.errors[0]!.kind, ref).toBe('flag');
      expect(formatDiagnostic(r.errors[0]!), ref).toMatch(why);
      expect(formatDiagnostic(r.errors[0]!), ref).toContain(`--push ${ref}`);
      expect(wrote, ref).toBe(false);
    }
  });

  it('takes a registry reference, and one of the base image\'s name with another tag (with no engine, it then says it needs one)', async () => {
    for (const ref of ['127.0.0.1:5000/paper/demo:1.0', 'debian:mine', 'demo']) {
      const { r } = await pushTo(ref);
      expect(r.ok ? [] : r.errors.map((e) => e.message), ref).toEqual(['needs an engine (docker or podman)']);
    }
  });
});
