// Docker with BuildKit: the behaviour suite, and what is particular to it:
// a step's build reads the context folder (which BuildKit syncs
// incrementally) instead of a tar of its inputs, and copies only the inputs.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject } from '../helpers.js';
import { fresh, engineSuite } from './engine-suite.js';
import { buildIn, DEBIAN_DOCKER, dockerBuildKit, sh } from './helpers.js';

engineSuite({
  name: 'docker',
  label: 'docker (BuildKit)',
  make: dockerBuildKit,
  cli: { args: ['--buildkit'], env: { REP_DOCKER: DEBIAN_DOCKER } },
  run: (image) => sh(DEBIAN_DOCKER, ['run', '--rm', image]),
});

describe('BuildKit reads the context folder', () => {
  it("copies a step's inputs from the folder, and nothing else of it", async () => {
    const dir = makeProject({
      Repfile: `rep: 1\nname: folder\nbase: busybox:latest\nenv: {${fresh()}}\nsteps:\n  app:\n    inputs: [src/a.txt, data/]\n    run: find /work -type f | sort > /files\nimage:\n  tag: rep-test/folder:latest\n  cmd: [cat, /files]\n`,
      'src/a.txt': 'a\n',
      'src/b.txt': 'not an input\n',
      'data/x.csv': '1\n',
      'secret.txt': 'not an input either\n',
    });
    const first = await buildIn(dir, dockerBuildKit());
    expect(first.built).toEqual(['app']);
    // The step's Dockerfile names the inputs in the context, as the standalone Dockerfile does.
    const log = readFileSync(path.join(dir, '.rep/logs/app.log'), 'utf8');
    expect(log).toContain('COPY ["data","/work/data/"]\nCOPY ["src/a.txt","/work/src/"]\n');
    expect(sh(DEBIAN_DOCKER, ['run', '--rm', 'rep-test/folder:latest'])).toBe('/work/data/x.csv\n/work/src/a.txt\n');
    // An edit is seen: the folder is synced again, the step rebuilt with the new bytes.
    writeFileSync(path.join(dir, 'src/a.txt'), 'A\n');
    const second = await buildIn(dir, dockerBuildKit());
    expect(second.built).toEqual(['app']);
    expect(sh(DEBIAN_DOCKER, ['run', '--rm', 'rep-test/folder:latest', 'cat', '/work/src/a.txt'])).toBe('A\n');
  });
});
