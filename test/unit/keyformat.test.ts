// A step's key names what it is built from (plan/key.ts), not the Dockerfile
// rep writes for it: a change to how steps are written (a run list joined
// otherwise, a value quoted otherwise) builds something else under the same
// keys, and the images an older rep built would be taken as fresh. Such a
// change must come with a new KEY_FORMAT. This test holds a fingerprint of the
// instructions rep writes for a set of steps that use every field, for each
// format: when the instructions change, it fails until KEY_FORMAT is raised
// and the new fingerprint recorded under it.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KEY_FORMAT } from '../../src/plan/key.js';
import { planBuild } from '../../src/plan/plan.js';
import { ContextIndex } from '../../src/context/files.js';
import { folderCopies, imageStep, stepDockerfile } from '../../src/scheduler/stepimage.js';
import { makeProject, open } from '../helpers.js';

/** The fingerprint of the instructions below, by the KEY_FORMAT they were written under. */
const WRITTEN_UNDER: Record<number, string> = {
  2: '0f3cacb15d65e4f405d80bf4cc195424db556298a9ce87c347b2261c8b5e6481',
  3: '0f3cacb15d65e4f405d80bf4cc195424db556298a9ce87c347b2261c8b5e6481',
};

const REPFILE = `rep: 1
name: fmt
base: busybox:latest
workdir: /work
env: {LANG: C.UTF-8, WITH_DOLLAR: "a$b \\"q\\" 'x'"}
reproducible: {epoch: 1700000000}
secrets:
  token: {env: HOME}
image:
  cmd: [sh, -c, "echo hi"]
  entrypoint: [/bin/sh]
  user: "1000"
  expose: [8080, 53/udp]
  volumes: [/data]
  labels: {org.example.title: "A title"}
steps:
  gen:
    inputs: [gen.sh]
    outputs: [/out/data, /out/more]
    run: sh gen.sh
  other:
    outputs: [/out/data]
    run:
      - mkdir -p /out
      - echo other > /out/data
  system:
    env: {DEBIAN_FRONTEND: noninteractive}
    run:
      - apt-get update
      - |
        for p in a b; do
          echo "$p"
        done
    shell: [/bin/bash, -euo, pipefail, -c]
  app:
    needs: [system, gen, other]
    workdir: /work/app
    user: nobody
    secrets: [token]
    inputs: [src/, "data file.txt"]
    run: python3 src/main.py && cat /out/data
`;

const TREE = {
  Repfile: REPFILE,
  'gen.sh': 'echo gen\n',
  'src/main.py': 'print(1)\n',
  'src/lib/util.py': 'x = 1\n',
  'data file.txt': 'd\n',
};

function written(): string {
  const p = open(makeProject(TREE));
  const plan = planBuild(p.dag, p.ctx);
  if (!plan.ok) throw new Error('plan failed');
  const byName = new Map(plan.value.steps.map((s) => [s.name, s]));
  // Keys stood in for by their step's name: the fingerprint is of what is written, not of the keys.
  const stand = (name: string) => `sha256:${createHash('sha256').update(name).digest('hex')}`;
  const planned = (name: string) => ({ ...byName.get(name)!, key: stand(name) });
  // As built from a tar of the step's inputs, and from the context folder (a builder that syncs folders).
  const index = ContextIndex.walk(p.ctx.dir, p.ctx.ignore, p.ctx.ignoreText);
  if (!index.ok) throw new Error('walk failed');
  const fromFolder = folderCopies(p, index.value);
  const steps = p.dag.order.flatMap((name) => [stepDockerfile(p.dag, name, planned), stepDockerfile(p.dag, name, planned, undefined, fromFolder)]);
  return [...steps, imageStep(p.dag, stand(p.dag.target)).dockerfile].join('\n---\n');
}

describe('the instructions a step is built from', () => {
  it(`are those recorded for KEY_FORMAT ${KEY_FORMAT}: change them only with a new key format`, () => {
    const text = written();
    const fingerprint = createHash('sha256').update(text).digest('hex');
    expect(
      fingerprint,
      `The Dockerfile rep writes for a step changed (fingerprint ${fingerprint}).\n` +
        `Images built by an earlier rep under the same keys hold what the old instructions built: raise KEY_FORMAT ` +
        `in src/plan/key.ts and record this fingerprint under it in WRITTEN_UNDER.\nWhat is written now:\n${text}`,
    ).toBe(WRITTEN_UNDER[KEY_FORMAT]);
  });

  it('use every field of a step: the set above would see a change to any of them', () => {
    const text = written();
    for (const piece of ['ARG SOURCE_DATE_EPOCH=1700000000', 'WORKDIR /work', 'ENV ', 'COPY --from=', 'USER nobody', '--mount=type=secret', '"/bin/bash","-euo"', 'data file.txt', 'CMD', 'ENTRYPOINT', 'EXPOSE', 'VOLUME', 'LABEL']) {
      expect(text).toContain(piece);
    }
  });
});
