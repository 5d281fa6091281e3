// rep used as a library, through the package's own entry point (what
// `import ... from 'repfile'` loads after `npm install`).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeProject, REPO } from '../helpers.js';

const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
type Lib = typeof import('../../src/index.js');

describe('the package entry point', () => {
  it('names files the build makes', () => {
    for (const f of [pkg.main, pkg.types, pkg.exports['.'].import, pkg.exports['.'].types, pkg.bin.rep]) {
      expect(existsSync(path.join(REPO, f)), f).toBe(true);
    }
  });

  it('opens a project, plans and records a build without an engine, and reports a bad Repfile as located diagnostics', async () => {
    const lib: Lib = await import(pathToFileURL(path.join(REPO, pkg.exports['.'].import)).href);
    const dir = makeProject({
      Repfile: 'rep: 1\nname: lib\nbase: busybox:latest\nsteps:\n  hello:\n    inputs: [hello.txt]\n    run: cat hello.txt\n',
      'hello.txt': 'hi\n',
    });
    const p = lib.openProject({ cwd: dir });
    if (!p.ok) throw new Error(p.errors.map(lib.formatDiagnostic).join('\n'));
    const r = await lib.build(p.value, { engine: new lib.NoneEngine() });
    if (!r.ok) throw new Error(r.errors.map(lib.formatDiagnostic).join('\n'));
    expect(r.value.steps.map((s) => [s.name, s.action])).toEqual([['hello', 'recorded']]);
    expect(readFileSync(path.join(dir, 'Dockerfile'), 'utf8')).toContain('COPY ["hello.txt","/work/"]\nRUN cat hello.txt');
    const again = await lib.status(p.value);
    expect(again.ok && again.value.steps.map((s) => s.state)).toEqual(['fresh']);

    const bad = makeProject({ Repfile: 'rep: 1\nname: lib\nbase: busybox:latest\nsteps:\n  a:\n    needs: [b]\n' });
    const q = lib.openProject({ cwd: bad });
    expect(q.ok).toBe(false);
    if (!q.ok) expect(q.errors.map(lib.formatDiagnostic)[0]).toMatch(/^Repfile:6:\d+: steps\.a\.needs/);
  });
});
