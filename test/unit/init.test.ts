import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { init } from '../../src/commands/init.js';
import { hashInputs } from '../../src/plan/plan.js';
import { makeProject, open, rep } from '../helpers.js';

function initIn(tree: Record<string, string>) {
  const dir = makeProject(tree, 'myrepo-');
  const r = init(dir);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  const p = open(dir);
  const hashed = hashInputs(p.dag, p.ctx);
  if (!hashed.ok) throw new Error('inputs do not resolve');
  return { dir, text: r.value.text, project: p };
}

const steps = (x: ReturnType<typeof initIn>) => x.project.dag.order;
const stepOf = (x: ReturnType<typeof initIn>, n: string) => x.project.recipe.steps.find((s) => s.name === n)!;

describe('rep init', () => {
  it('reads binder/, which shadows the root, and orders environment steps before the code', () => {
    const x = initIn({
      'binder/apt.txt': 'curl\n',
      'binder/requirements.txt': 'numpy\n',
      'binder/runtime.txt': 'python-3.11\n',
      'binder/postBuild': 'echo done\n',
      'requirements.txt': 'ignored-because-binder-shadows-it\n',
      'setup.py': '',
      'src/a.py': '',
    });
    expect(x.project.recipe.base).toBe('python:3.11-slim');
    expect(steps(x)).toEqual(['system', 'python', 'code', 'install', 'post-build']);
    expect(stepOf(x, 'python')).toMatchObject({ inputs: ['binder/requirements.txt'], run: ['pip install --no-cache-dir -r binder/requirements.txt'] });
    expect(stepOf(x, 'code').inputs).toEqual(['.']);
    expect(x.project.dag.target).toBe('post-build');
    expect(x.text).toMatch(/^# Repfile written by `rep init` from binder\/apt\.txt, binder\/requirements\.txt, binder\/runtime\.txt, binder\/postBuild, setup\.py\.\n/);
    expect(x.text).not.toContain('ignored-because');
    expect(readFileSync(path.join(x.dir, '.dockerignore'), 'utf8')).toContain('\nRepfile\n');
  });

  it('reads .binder/ too', () => {
    const x = initIn({ '.binder/requirements.txt': 'numpy\n' });
    expect(stepOf(x, 'python').inputs).toEqual(['.binder/requirements.txt']);
  });

  it('knows conda, pipenv, R, Julia and start files', () => {
    const conda = initIn({ 'environment.yml': 'dependencies: [numpy]\n' });
    expect(conda.project.recipe.base).toBe('mambaorg/micromamba:bookworm-slim');
    expect(steps(conda)).toEqual(['conda', 'code']);

    const pipenv = initIn({ Pipfile: '[packages]\n', 'Pipfile.lock': '{}' });
    expect(stepOf(pipenv, 'pipenv')).toMatchObject({ inputs: ['Pipfile', 'Pipfile.lock'], run: ['pip install --no-cache-dir pipenv', 'cd . && pipenv install --system --deploy'] });

    const r = initIn({ 'install.R': 'install.packages("x")\n', DESCRIPTION: 'Package: x\n', 'runtime.txt': 'r-4.3-2024-01-01\n' });
    expect(r.project.recipe.base).toBe('debian:bookworm-slim');
    expect(steps(r)).toEqual(['system', 'r-packages', 'r-deps', 'code']);
    expect(stepOf(r, 'system').run).toContain('apt-get install -y --no-install-recommends r-base-core');

    const julia = initIn({ 'Project.toml': '[deps]\n', start: '#!/bin/sh\nexec "$@"\n' });
    expect(julia.project.recipe.base).toBe('julia:1.10');
    expect(julia.project.recipe.image.entrypoint).toEqual(['/work/start']);

    const plain = initIn({ 'analysis.sh': 'echo\n' });
    expect(plain.project.recipe.base).toBe('debian:bookworm-slim');
    expect(steps(plain)).toEqual(['code']);
  });

  it('pyproject.toml makes an install step after the code', () => {
    const x = initIn({ 'pyproject.toml': '[project]\nname = "x"\n', 'x/__init__.py': '' });
    expect(steps(x)).toEqual(['code', 'install']);
  });

  it('refuses to overwrite a Repfile without --force', () => {
    const dir = makeProject({ Repfile: 'mine\n', 'requirements.txt': 'numpy\n' });
    const r = rep(dir, ['init']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('Repfile: exists; rep init does not overwrite it without --force\n');
    expect(readFileSync(path.join(dir, 'Repfile'), 'utf8')).toBe('mine\n');
    const forced = rep(dir, ['init', '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toBe('rep: wrote Repfile from requirements.txt\nrep: wrote .dockerignore (the build context leaves out .git and rep\'s own files)\n');
    expect(readFileSync(path.join(dir, 'Repfile'), 'utf8')).toContain('pip install --no-cache-dir -r requirements.txt');
    writeFileSync(path.join(dir, '.dockerignore'), 'custom\n');
    rep(dir, ['init', '--force']);
    expect(readFileSync(path.join(dir, '.dockerignore'), 'utf8')).toBe('custom\n');
  });
});
