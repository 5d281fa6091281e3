// rep init against repo2docker's semantics, checked on the Repfile it writes
// (structure, not a build: test/integration/init.test.ts builds the cases
// Debian can satisfy). Each case cites the repo2docker build pack it follows.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { init } from '../../src/commands/init.js';
import { makeProject, open, rep } from '../helpers.js';
import { initIn, NOW, stepOf, type Init } from './initcase.js';

const steps = (x: Init) => x.order;
const runOf = (x: Init, n: string) => stepOf(x, n).run.join('\n');

describe('rep init: where files are found (buildpacks/base.py binder_path)', () => {
  it('reads binder/, which shadows the root, and orders environment steps before the code', () => {
    const x = initIn({
      'binder/apt.txt': 'curl\n',
      'binder/requirements.txt': 'numpy\n',
      'binder/runtime.txt': 'python-3.11\n',
      'binder/postBuild': 'echo done\n',
      'requirements.txt': 'ignored-because-binder-shadows-it\n',
      'src/a.py': '',
    });
    expect(x.recipe.base).toBe('python:3.11-slim');
    expect(steps(x)).toEqual(['system', 'python', 'code', 'post-build']);
    expect(stepOf(x, 'python')).toMatchObject({ inputs: ['binder/requirements.txt'], run: ['pip install --no-cache-dir -r binder/requirements.txt'] });
    expect(x.project.dag.target).toBe('post-build');
    expect(x.used).toEqual(['binder/apt.txt', 'binder/runtime.txt', 'binder/requirements.txt', 'binder/postBuild']);
    expect(x.text).not.toContain('ignored-because');
    expect(readFileSync(path.join(x.dir, '.dockerignore'), 'utf8')).toContain('\nRepfile\n');
  });

  it('reads .binder/ too; with both folders, which repo2docker refuses, reads binder/ and says so', () => {
    expect(stepOf(initIn({ '.binder/requirements.txt': 'numpy\n' }), 'python').inputs).toEqual(['.binder/requirements.txt']);
    const both = initIn({ 'binder/requirements.txt': 'numpy\n', '.binder/apt.txt': 'curl\n' });
    expect(both.used).toEqual(['binder/requirements.txt']);
    expect(both.notes).toContain('both binder/ and .binder/ exist: rep init read binder/ (repo2docker refuses such a repository)');
  });

  it('ignores a root setup.py, pyproject.toml and DESCRIPTION when binder/ exists (python/__init__.py _is_python_package, r.py detect)', () => {
    const x = initIn({ 'binder/requirements.txt': 'numpy\n', 'setup.py': '', DESCRIPTION: 'Package: x\n' });
    expect(steps(x)).toEqual(['python', 'code']);
    expect(x.notes).toContain('setup.py at the root: not installed on its own, as repo2docker ignores it when binder/ exists');
    expect(x.notes).toContain('DESCRIPTION at the root: not installed on its own, as repo2docker ignores it when binder/ exists');
  });

  it('does not follow a symbolic link planted as a configuration file', () => {
    const dir = makeProject({ 'binder/requirements.txt': { link: '/etc/passwd' }, 'binder/apt.txt': 'curl\n' });
    const x = init(dir, { now: NOW });
    if (!x.ok) throw new Error('init failed');
    expect(x.value.used).toEqual(['binder/apt.txt']);
    expect(x.value.text).not.toContain('root:');
    expect(x.value.notes).toContain('binder/requirements.txt is a symbolic link: rep init does not follow links in a repository and left it out');
  });
});

describe('rep init: Python (buildpacks/python, pipfile, conda)', () => {
  it('pyproject.toml is a package only with [project] and [build-system]; the summary names it', () => {
    const no = initIn({ 'pyproject.toml': '[project]\nname = "x"\n', 'requirements.txt': 'numpy\n' });
    expect(steps(no)).toEqual(['python', 'code']);
    expect(no.notes).toContain('pyproject.toml has no [project] and [build-system] tables: like repo2docker, rep init does not install the repository as a package');
    const yes = initIn({ 'pyproject.toml': '[project]\nname = "x"\nrequires-python = ">=3.11"\n[build-system]\nrequires = ["hatchling"]\n', 'x/__init__.py': '' });
    // PythonBuildPack.python_version: a default Python that requires-python excludes moves to the newest supported one that fits.
    expect(yes.recipe.base).toBe('python:3.14-slim');
    expect(yes.notes).toEqual([]);
    expect(steps(yes)).toEqual(['code', 'install']);
    expect(runOf(yes, 'install')).toBe('pip install --no-cache-dir .');
    expect(yes.used).toEqual(['pyproject.toml']);
    expect(initIn({ 'setup.py': 'from setuptools import setup\n' }).used).toEqual(['setup.py']);
    // runtime.txt python-3 is a default too (len(Version(version).release) <= 1): requires-python moves it; python-3.10 it does not.
    const pyproject = '[project]\nname = "x"\nrequires-python = ">=3.11"\n[build-system]\nrequires = ["hatchling"]\n';
    expect(initIn({ 'pyproject.toml': pyproject, 'runtime.txt': 'python-3\n' }).recipe.base).toBe('python:3.14-slim');
    expect(initIn({ 'pyproject.toml': pyproject, 'runtime.txt': 'python-3.10\n' }).recipe.base).toBe('python:3.10-slim');
  });

  it('installs a requirements.txt that refers to the repository (-e ., -r) after the code', () => {
    const x = initIn({ 'requirements.txt': 'numpy\n-e .\n', 'setup.py': '' });
    expect(steps(x)).toEqual(['code', 'python', 'install']);
    expect(stepOf(x, 'python').inputs).toEqual([]);
    expect(steps(initIn({ 'requirements.txt': '-r base.txt\n', 'base.txt': 'numpy\n' }))).toEqual(['code', 'python']);
    expect(steps(initIn({ 'requirements.txt': 'numpy  # -e .\n' }))).toEqual(['python', 'code']);
  });

  it('Python 2 gets python:2.7 and a cmd that exists there; requirements3.txt is said to be left out', () => {
    const x = initIn({ 'runtime.txt': 'python-2.7\n', 'requirements.txt': 'numpy\n', 'requirements3.txt': 'nbgitpuller\n' });
    expect(x.recipe.base).toBe('python:2.7-slim');
    expect(x.recipe.image.cmd).toEqual(['python']);
    expect(x.notes).toContain("requirements3.txt: repo2docker installs it into the Python 3 of its notebook server beside the Python 2.7 kernel; a rep image has no such second Python, so it is not installed");
    const py3 = initIn({ 'runtime.txt': 'python-3\n', 'requirements.txt': 'numpy\n', 'requirements3.txt': 'x\n' });
    expect(py3.recipe.base).toBe('python:3.10-slim');
    expect(py3.recipe.image.cmd).toEqual(['python3']);
    expect(py3.notes).toContain('requirements3.txt: not installed, as repo2docker reads it only when the Python is older than 3.7');
  });

  it('Pipfile: [requires] wins over runtime.txt; a lock is installed with --ignore-pipfile --dev; {path = "."} after the code', () => {
    const x = initIn({ Pipfile: '[packages]\nrequests = "*"\n[dev-packages]\npytest = "*"\n[requires]\npython_version = "3.9"\n', 'Pipfile.lock': '{"_meta": {}}', 'runtime.txt': 'python-3.11\n' });
    expect(x.recipe.base).toBe('python:3.9-slim');
    expect(x.notes).toContain('runtime.txt: not used, as repo2docker takes the Python version from Pipfile.lock or Pipfile [requires]');
    expect(steps(x)).toEqual(['pipenv', 'pipenv-install', 'code']);
    expect(runOf(x, 'pipenv')).toBe('pip install --no-cache-dir pipenv==2022.1.8');
    expect(stepOf(x, 'pipenv-install')).toMatchObject({ inputs: ['Pipfile', 'Pipfile.lock'], run: ['cd . && pipenv install --ignore-pipfile --system --dev && pipenv --clear'] });

    const lockWins = initIn({ Pipfile: '[requires]\npython_version = "3.9"\n', 'Pipfile.lock': '{"_meta": {"requires": {"python_version": "3.8"}}}' });
    expect(lockWins.recipe.base).toBe('python:3.8-slim');

    const local = initIn({ 'binder/Pipfile': '[packages]\nmine = {path = ".", editable = true}\n', 'binder/requirements.txt': 'numpy\n' });
    expect(steps(local)).toEqual(['pipenv', 'code', 'pipenv-install']);
    expect(runOf(local, 'pipenv-install')).toBe('cd binder && pipenv install --skip-lock --system --dev && pipenv --clear');
    expect(local.notes).toContain('binder/requirements.txt: not installed, as repo2docker does not with a Pipfile');
    expect(runOf(initIn({ Pipfile: '[requires]\npython_version = "2.7"\n' }), 'pipenv')).toBe('pip install --no-cache-dir pipenv==2021.5.29');
    // PipfileBuildPack installs a setup.py only when the Pipfile names the repository.
    const implicit = initIn({ Pipfile: '[packages]\nthere = "*"\n', 'setup.py': '' });
    expect(implicit.notes).toContain('setup.py: not installed, as repo2docker does not with a Pipfile unless it names the repository ({path = ".", editable = true})');
    expect(initIn({ Pipfile: '[packages]\ndummy = {path=".", editable=true}\n', 'setup.py': '' }).used).toEqual(['Pipfile', 'setup.py']);
  });

  it('environment.yaml as well as environment.yml; requirements.txt then not installed', () => {
    const x = initIn({ 'environment.yaml': 'dependencies: [python=3.9, numpy]\n', 'requirements.txt': 'numpy\n', 'runtime.txt': 'python-3.11\n' });
    expect(x.recipe.base).toBe('mambaorg/micromamba:bookworm-slim');
    expect(steps(x)).toEqual(['conda', 'code']);
    expect(stepOf(x, 'conda')).toMatchObject({ inputs: ['environment.yaml'], run: ['micromamba install -y -n base -f environment.yaml', 'micromamba clean --all --yes'] });
    expect(x.notes).toContain('requirements.txt, runtime.txt: not used, as repo2docker ignores them when there is an environment.yaml (list pip packages under "pip:" in it)');
    const local = initIn({ 'environment.yml': 'dependencies:\n  - pip\n  - pip: ["-e ."]\n', 'setup.py': '' });
    expect(steps(local)).toEqual(['code', 'conda']);
  });

  it("micromamba runs as its own user: apt and the code's ownership as root, the rest (postBuild's chmod) as mambauser", () => {
    const x = initIn({ 'environment.yml': 'dependencies: [python]\n', 'apt.txt': 'curl\n', postBuild: 'echo hi\n', start: '#!/bin/sh\nexec "$@"\n' });
    expect(steps(x).map((s) => [s, stepOf(x, s).user])).toEqual([
      ['system', 'root'],
      ['conda', 'mambauser'],
      ['code', 'root'],
      ['post-build', 'mambauser'],
    ]);
    expect(stepOf(x, 'code').run).toEqual(['chown -R mambauser:mambauser /work', 'chmod +x start']);
    expect(stepOf(x, 'post-build').run).toEqual(['chmod +x postBuild', './postBuild']);
    // The image's own entrypoint activates the environment; start runs inside it.
    expect(x.recipe.image.entrypoint).toEqual(['/usr/local/bin/_entrypoint.sh', '/work/start']);
    expect(x.recipe.env.PATH).toMatch(/^\/opt\/conda\/bin:/);
    const last = initIn({ 'environment.yml': 'dependencies: [python]\n' });
    expect(last.recipe.image.user).toBe('mambauser');
  });
});

describe('rep init: the build context (buildpacks/base.py build: the ignore files of binder_path)', () => {
  it('a binder/ folder shadows the root .dockerignore, so `rep status` accepts the Repfile', () => {
    const dir = makeProject({ 'binder/apt.txt': 'curl\n', 'binder/.dockerignore': 'data/\n', '.dockerignore': 'binder\n*.csv\n', 'a.csv': '1\n', 'data/big': 'x' }, 'myrepo-');
    const r = rep(dir, ['init']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('rep: note: .dockerignore at the root: repo2docker does not read it when binder/ exists; rep init rewrote it with binder/.dockerignore and kept its old lines as comments\n');
    const st = rep(dir, ['status', '--engine', 'none']);
    expect(st.stderr).toBe('');
    expect(st.code).toBe(0);
    const ignore = readFileSync(path.join(dir, '.dockerignore'), 'utf8');
    expect(ignore).toContain('\ndata/\n');
    expect(ignore).toContain('\n#   binder\n#   *.csv\n');
    // What the code step copies is what repo2docker's context holds: a.csv in, data/ out.
    const files = open(dir).ctx.ignore;
    expect([files.decide('a.csv').excluded, files.decide('data/big').excluded]).toEqual([false, true]);
    // Run again (--force): rep's own file is replaced, not nested as "old lines".
    rep(dir, ['init', '--force']);
    expect(readFileSync(path.join(dir, '.dockerignore'), 'utf8')).toBe(ignore.replace(/\n\n# The root[^]*$/, '\n'));
  });

  it("without binder/, the root .dockerignore is kept, but never excludes the Repfile's own inputs", () => {
    const x = initIn({ 'apt.txt': 'curl\n', '.dockerignore': '*.txt\n' });
    expect(readFileSync(path.join(x.dir, '.dockerignore'), 'utf8')).toBe('*.txt\n# Added by rep init: files the Repfile reads.\n!apt.txt\n');
    expect(x.notes).toContain('.dockerignore excluded apt.txt, which the Repfile reads: rep init added "!apt.txt" to it');
  });
});

describe('rep init: the command', () => {
  it('lists every file used and every difference from repo2docker, in the Repfile and on the terminal', () => {
    const dir = makeProject({ 'requirements.txt': 'numpy\n', 'setup.py': '', 'requirements3.txt': 'x\n' });
    const r = rep(dir, ['init']);
    expect(r.stdout).toBe(
      'rep: wrote Repfile from requirements.txt, setup.py\n' +
        "rep: wrote .dockerignore (the build context leaves out .git and rep's own files)\n" +
        'rep: note: requirements3.txt: not installed, as repo2docker reads it only when the Python is older than 3.7\n',
    );
    const text = readFileSync(path.join(dir, 'Repfile'), 'utf8');
    expect(text).toMatch(/^# Repfile written by `rep init` from requirements\.txt, setup\.py, following repo2docker's rules/);
    expect(text).toContain('#   - requirements3.txt: not installed, as repo2docker reads it only when the Python is older than\n#     3.7\nrep: 1\n');
  });

  it('refuses to overwrite a Repfile without --force', () => {
    const dir = makeProject({ Repfile: 'mine\n', 'requirements.txt': 'numpy\n' });
    const r = rep(dir, ['init']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('Repfile: exists; rep init does not overwrite it without --force\n');
    expect(readFileSync(path.join(dir, 'Repfile'), 'utf8')).toBe('mine\n');
    const forced = rep(dir, ['init', '--force']);
    expect(forced.code).toBe(0);
    expect(readFileSync(path.join(dir, 'Repfile'), 'utf8')).toContain('pip install --no-cache-dir -r requirements.txt');
    writeFileSync(path.join(dir, '.dockerignore'), 'custom\n');
    rep(dir, ['init', '--force']);
    expect(readFileSync(path.join(dir, '.dockerignore'), 'utf8')).toBe('custom\n');
  });
});

describe('the project name rep init writes', () => {
  it('is not one whose image tag a Repfile may not use: rep\'s own names, or the image it builds on', () => {
    const dir = makeProject({ 'rep-cache/requirements.txt': 'numpy==1.26.4\n', 'busybox/Dockerfile': 'FROM busybox:latest\nRUN echo hi > /hi\n' });
    const own = init(path.join(dir, 'rep-cache'), { now: NOW });
    expect(own.ok).toBe(true);
    expect(readFileSync(path.join(dir, 'rep-cache/Repfile'), 'utf8')).toMatch(/^name: rep-cache-analysis$/m);
    expect(open(path.join(dir, 'rep-cache')).recipe.image.tag).toBe('rep-cache-analysis:latest');
    const base = init(path.join(dir, 'busybox'), { now: NOW });
    expect(base.ok).toBe(true);
    const written = readdirSync(path.join(dir, 'busybox')).find((f) => f.startsWith('Repfile'))!;
    expect(readFileSync(path.join(dir, 'busybox', written), 'utf8')).toMatch(/^name: "?busybox-analysis"?$/m);
  });

  it('is quoted where YAML would read the folder name as a number, boolean or null, so rep reads back a string', () => {
    const names = ['123', 'true', 'null', '1e3', '0x10', '1.0'];
    const dir = makeProject(Object.fromEntries(names.map((n) => [`${n}/requirements.txt`, 'numpy==1.26.4\n'])));
    for (const n of names) {
      expect(init(path.join(dir, n), { now: NOW }).ok).toBe(true);
      expect(readFileSync(path.join(dir, n, 'Repfile'), 'utf8')).toMatch(new RegExp(`^name: "${n.replace('.', '\\.')}"$`, 'm'));
      expect(open(path.join(dir, n)).recipe.name).toBe(n);
    }
  });
});
