// Which builder a docker build uses (src/engine/builder.ts): BuildKit wherever
// the client has it, the classic builder only when asked or when the client
// has nothing else, and a problem when BuildKit is asked of a client without it.
import { describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildsIntoDaemon, buildxMayBeThere, chooseBuilder, envSwitch, needsBuildxProbe } from '../../src/engine/builder.js';

const OLD = { version: '20.10.24+dfsg1', buildx: false };
const NEW_BARE = { version: '28.2.2', buildx: false };
const NEW_BUILDX = { version: '28.2.2', buildx: true };
const UNKNOWN = { buildx: false };

describe('chooseBuilder', () => {
  it('picks BuildKit by default where the client has it: before docker 23 built in, from 23 on with buildx', () => {
    expect(chooseBuilder({}, OLD)).toEqual({ buildkit: true });
    expect(chooseBuilder({}, NEW_BUILDX)).toEqual({ buildkit: true });
    expect(chooseBuilder({}, { version: '22.06.0-beta.0', buildx: false })).toEqual({ buildkit: true });
    expect(chooseBuilder({}, { version: '23.0.0', buildx: false })).toEqual({ buildkit: false });
    expect(chooseBuilder({}, NEW_BARE)).toEqual({ buildkit: false });
    expect(chooseBuilder({}, UNKNOWN)).toEqual({ buildkit: false });
    expect(chooseBuilder({}, { version: 'dev', buildx: false })).toEqual({ buildkit: false });
    // BuildKit came with docker 18.09.
    expect(chooseBuilder({}, { version: '18.09.1', buildx: false })).toEqual({ buildkit: true });
    expect(chooseBuilder({}, { version: '18.06.3-ce', buildx: false })).toEqual({ buildkit: false });
    expect(chooseBuilder({}, { version: '1.13.1', buildx: false })).toEqual({ buildkit: false });
    expect(chooseBuilder({ flag: true }, { version: '17.03.0', buildx: false })).toEqual({ problem: expect.stringMatching(/^--buildkit: /) });
  });

  it('counts buildx only when its selected builder builds into the daemon (the docker driver)', () => {
    expect(buildsIntoDaemon('Name:          default\nDriver:        docker\nLast Activity: 2026-11-27\n\nNodes:\nName: default\n')).toBe(true);
    expect(buildsIntoDaemon('Name:   default\nDriver: docker\n')).toBe(true);
    expect(buildsIntoDaemon('Name:   multi\nDriver: docker-container\n')).toBe(false);
    expect(buildsIntoDaemon('Name:   k\nDriver: kubernetes\n')).toBe(false);
    expect(buildsIntoDaemon('')).toBe(false);
  });

  it('keeps the classic builder when DOCKER_BUILDKIT says so, as docker does', () => {
    for (const off of ['0', 'false', 'F']) {
      expect(chooseBuilder({ env: off }, OLD), off).toEqual({ buildkit: false });
      expect(chooseBuilder({ env: off }, NEW_BUILDX), off).toEqual({ buildkit: false });
    }
    // --buildkit wins over the environment.
    expect(chooseBuilder({ flag: true, env: '0' }, OLD)).toEqual({ buildkit: true });
  });

  it('builds with BuildKit when asked, and says why not where the client cannot', () => {
    expect(chooseBuilder({ flag: true }, OLD)).toEqual({ buildkit: true });
    expect(chooseBuilder({ env: '1' }, NEW_BUILDX)).toEqual({ buildkit: true });
    expect(chooseBuilder({ env: 'true' }, OLD)).toEqual({ buildkit: true });
    // A client that does not say its version is given the benefit of the doubt when asked.
    expect(chooseBuilder({ flag: true }, UNKNOWN)).toEqual({ buildkit: true });
    const flag = chooseBuilder({ flag: true }, NEW_BARE);
    expect(flag).toEqual({ problem: expect.stringMatching(/^--buildkit: this docker client \(28\.2\.2\) builds with BuildKit only through its buildx plugin, which it does not have: install docker-buildx/) });
    expect(chooseBuilder({ env: 'True' }, NEW_BARE)).toEqual({ problem: expect.stringMatching(/^DOCKER_BUILDKIT=True: /) });
  });

  it('reads DOCKER_BUILDKIT as Go reads a boolean; anything else is no answer', () => {
    expect(['1', 't', 'T', 'TRUE', 'true', 'True'].map(envSwitch)).toEqual(Array(6).fill(true));
    expect(['0', 'f', 'F', 'FALSE', 'false', 'False'].map(envSwitch)).toEqual(Array(6).fill(false));
    expect(['', 'yes', 'on', ' 1', undefined].map(envSwitch)).toEqual(Array(5).fill(undefined));
    expect(chooseBuilder({ env: 'yes' }, NEW_BARE)).toEqual({ buildkit: false });
  });

  it('asks the client about buildx unless the classic builder is asked for', () => {
    expect(needsBuildxProbe({})).toBe(true);
    expect(needsBuildxProbe({ env: '1' })).toBe(true);
    expect(needsBuildxProbe({ env: '0' })).toBe(false);
    expect(needsBuildxProbe({ flag: true, env: '0' })).toBe(true);
  });

  it('asks about buildx only where the client may have it: a docker-buildx in its plugin folders, or extra folders in its config', () => {
    const home = mkdtempSync(path.join(tmpdir(), 'rep-home-'));
    try {
      const system = path.join(home, 'system');
      mkdirSync(system);
      const may = (env: NodeJS.ProcessEnv) => buildxMayBeThere(env, [system]);
      expect(may({ HOME: home })).toBe(false);
      mkdirSync(path.join(home, '.docker', 'cli-plugins'), { recursive: true });
      writeFileSync(path.join(home, '.docker', 'config.json'), '{"auths": {}}');
      expect(may({ HOME: home })).toBe(false);
      writeFileSync(path.join(home, '.docker', 'cli-plugins', 'docker-buildx'), '#!/bin/sh\n');
      chmodSync(path.join(home, '.docker', 'cli-plugins', 'docker-buildx'), 0o755);
      expect(may({ HOME: home })).toBe(true);
      expect(may({ HOME: '/nonexistent', DOCKER_CONFIG: path.join(home, '.docker') })).toBe(true);
      const other = path.join(home, 'other');
      mkdirSync(other);
      expect(may({ HOME: home, DOCKER_CONFIG: other })).toBe(false);
      writeFileSync(path.join(other, 'config.json'), '{"cliPluginsExtraDirs": ["/opt/plugins"]}');
      expect(may({ HOME: home, DOCKER_CONFIG: other })).toBe(true);
      writeFileSync(path.join(system, 'docker-buildx'), '#!/bin/sh\n');
      expect(may({ HOME: '/nonexistent' })).toBe(true);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
