// The rep command as a user runs it: exact output and exit codes.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, rep } from '../helpers.js';

const REPFILE = `rep: 1
name: demo
base: busybox:latest
steps:
  system:
    run: echo system
  app:
    needs: [system]
    inputs: [src/]
    run: echo app
`;

describe('rep CLI', () => {
  it('prints help and exits 0', () => {
    const r = rep(process.cwd(), ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: rep');
    for (const c of ['build', 'status', 'context', 'graph', 'schema']) expect(r.stdout).toContain(`  ${c}`);
  });

  it('exits 2 on bad usage', () => {
    expect(rep(process.cwd(), ['frobnicate']).code).toBe(2);
    const r = rep(process.cwd(), ['graph', '--format', 'png']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("option '--format <format>' argument 'png' is invalid");
  });

  it('exits 2 with a located, underlined message for a bad Repfile; no stack trace', () => {
    const dir = makeProject({ Repfile: REPFILE.replace('needs: [system]', 'needs: [sytem]'), 'src/a': 'a' });
    const r = rep(dir, ['status', '--engine', 'none']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'Repfile:8:13: steps.app.needs: unknown step "sytem" (did you mean "system"?)\n 8 |     needs: [sytem]\n   |             ^^^^^\n',
    );
  });

  it('exits 2 when there is no Repfile', () => {
    const dir = makeProject({});
    const r = rep(dir, ['build']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('Repfile: no such file (write one with `rep init`, or name another with -f)\n');
  });

  it('status -q exits 1 when stale and 0 when fresh, printing nothing', () => {
    const dir = makeProject({ Repfile: REPFILE, 'src/a': 'a' });
    let r = rep(dir, ['status', '-q', '--engine', 'none']);
    expect([r.code, r.stdout, r.stderr]).toEqual([1, '', '']);
    r = rep(dir, ['build', '--engine', 'none']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'recorded system  never built\nrecorded app     never built\n' +
        'rep: engine none: 2 of 2 steps recorded, nothing built\n' +
        `rep: wrote ${path.join(dir, 'Dockerfile')}\n`,
    );
    r = rep(dir, ['status', '-q', '--engine', 'none']);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '', '']);
    expect(rep(dir, ['build', '--engine', 'none']).stdout).toBe('rep: all 2 steps fresh\n');
    writeFileSync(path.join(dir, 'src/a'), 'changed');
    expect(rep(dir, ['status', '-q', '--engine', 'none']).code).toBe(1);
    const s = rep(dir, ['status', '--engine', 'none']);
    expect(s.stdout).toMatch(/^system  fresh  sha256:[0-9a-f]{12}\napp     stale  input changed: src\/a\n$/);
  });

  it('status --json gives {steps:[{name,key,state,reasons}]}', () => {
    const dir = makeProject({ Repfile: REPFILE, 'src/a': 'a' });
    rep(dir, ['build', '--engine', 'none']);
    writeFileSync(path.join(dir, 'src/b'), 'b');
    const r = rep(dir, ['status', '--json', '--engine', 'none']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.steps.map((s: { name: string; state: string }) => [s.name, s.state])).toEqual([
      ['system', 'fresh'],
      ['app', 'stale'],
    ]);
    expect(j.steps[1].reasons).toEqual([{ kind: 'input-added', path: 'src/b' }]);
    expect(j.steps[0].key).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('build --dry-run writes nothing', () => {
    const dir = makeProject({ Repfile: REPFILE, 'src/a': 'a' });
    const r = rep(dir, ['build', '--dry-run', '--engine', 'none']);
    expect(r.stdout).toBe('stale    system  never built\nstale    app     never built\nrep: 2 of 2 steps would be built\n');
    expect(rep(dir, ['status', '-q', '--engine', 'none']).code).toBe(1);
    expect(() => readFileSync(path.join(dir, 'Dockerfile'))).toThrow();
  });

  it('context --list and --tar, with -f and -C', () => {
    const dir = makeProject({ 'sub/Repfile': REPFILE, 'sub/src/a': 'a', 'ctx/src/a': 'a', 'ctx/.dockerignore': 'x\n', 'ctx/x': 'x' });
    const r = rep(dir, ['-f', 'sub/Repfile', '-C', 'ctx', 'context', '--list']);
    expect(r.stdout).toBe('.dockerignore\nsrc/a\n');
    const t1 = rep(dir, ['-f', 'sub/Repfile', '-C', 'ctx', 'context', '--tar', 'one.tar']);
    const t2 = rep(dir, ['-f', 'sub/Repfile', '-C', 'ctx', 'context', '--tar', 'two.tar']);
    expect([t1.code, t2.code]).toEqual([0, 0]);
    expect(readFileSync(path.join(dir, 'one.tar')).equals(readFileSync(path.join(dir, 'two.tar')))).toBe(true);
  });

  it('schema prints the JSON Schema', () => {
    const r = rep(process.cwd(), ['schema']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(s.properties.steps.additionalProperties.properties).toHaveProperty('needs');
  });
});
