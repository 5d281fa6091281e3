// The readers rep init uses on a repository's files, against the cases
// repo2docker's own tests and code spell out (cited per case), and the apt.txt
// shell commands against the TypeScript reader, run by the host's sh.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { aptInstall, parseApt } from '../../src/init/apt.js';
import { juliaFacts } from '../../src/init/julia.js';
import { condaFacts, isLocalPipRequirement, parseRuntime, pipfileFacts, pyprojectIsPackage } from '../../src/init/python.js';
import { chooseR, rOfDate } from '../../src/init/r.js';
import { pythonFor } from '../../src/init/pep440.js';

describe('apt.txt (buildpacks/base.py: l.partition("#")[0].strip(), sorted)', () => {
  const tricky = 'curl # the tool\r\n\r\n# a comment line\n  jq\tgit  \r\nless#no space\n\t\ncurl\nlibssl-dev:amd64 python3=3.11.2-1+b1 r-base/bookworm-backports\n';

  it('reads comments anywhere on a line, CRLF, tabs and blank lines; pkg:arch, pkg=version and pkg/release as apt-get does', () => {
    expect(parseApt(tricky)).toEqual({ packages: ['curl', 'git', 'jq', 'less', 'libssl-dev:amd64', 'python3=3.11.2-1+b1', 'r-base/bookworm-backports'], invalid: [] });
    expect(parseApt('Curl\n-o APT::x=1\n$(id)\n').invalid).toEqual([
      { line: 1, word: 'Curl' },
      { line: 2, word: '-o' },
      { line: 2, word: 'APT::x=1' },
      { line: 3, word: '$(id)' },
    ]);
  });

  /** Runs the Repfile's apt commands with apt-get replaced by echo, in a folder holding apt.txt. */
  function runAptCommands(text: string) {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-test-apt-'));
    try {
      writeFileSync(path.join(dir, 'apt.txt'), text);
      const list = path.join(dir, 'list');
      const run = aptInstall('apt.txt')
        .slice(1, -1)
        .map((c) => c.replaceAll('/tmp/rep-apt-packages', list).replace('apt-get install -y --no-install-recommends', 'echo'));
      const r = spawnSync('/bin/sh', ['-ec', run.join('\n')], { cwd: dir, encoding: 'utf8' });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('the shell commands in the Repfile read apt.txt exactly as parseApt does', () => {
    const r = runAptCommands(tricky);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split(' ')).toEqual(parseApt(tricky).packages);
    expect(runAptCommands('# nothing\n\n').stdout).toBe('');
  });

  it('refuses a word ending in "-", which apt-get install reads as "remove" (sudo- removed sudo), in parseApt and the shell commands alike', () => {
    const good = 'g++ libstdc++6 python3.11 foo:amd64 foo=1.2-3 foo/bookworm-backports x foo+ c++:arm64 a=1:2.3~rc1 b/stable';
    const bad = 'sudo- foo:amd64- foo=1.2- foo/bookworm- - a.- x=- y/- z:-';
    expect(parseApt(good)).toEqual({ packages: good.split(' ').sort(), invalid: [] });
    expect(parseApt(bad).invalid.map((i) => i.word)).toEqual(bad.split(' '));
    const r = runAptCommands(`${good}\n${bad}\n`);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').slice(0, -2).sort()).toEqual(bad.split(' ').sort());
    expect(runAptCommands(good).stdout.trim().split(' ')).toEqual(parseApt(good).packages);
  });

  it('the shell commands stop at a word that is not a package name (an apt-get option smuggled in)', () => {
    const r = runAptCommands('curl\n-oDPkg::Pre-Invoke::=touch\n');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('-oDPkg::Pre-Invoke::=touch\napt.txt: the words above are not Debian package names\n');
  });
});

describe('Python files', () => {
  // tests/unit/test_utils.py, test_local_pip_requirement.
  it.each([
    ['-r requirements.txt', true],
    ['-e .', true],
    ['--editable=.', true],
    ['--editable=git+https://github.com/popgensims/stdpopsim.git#egg=stdpopsim-master', false],
    ['file://subdir', true],
    ['file://./subdir', true],
    ['git://github.com/jupyterhub/repo2docker', false],
    ['git+https://github.com/jupyterhub/repo2docker', false],
    ['numpy', false],
    ['# -e .', false],
    ['--pre', false],
    ['--pre pandas', false],
    ['--unrecognized', false],
    ['-e', false],
  ])('is_local_pip_requirement(%j) is %s', (line, local) => expect(isLocalPipRequirement(line)).toBe(local));

  it('runtime.txt as BaseImage.runtime parses it', () => {
    expect(parseRuntime('python-3.8\n')).toEqual({ name: 'python', version: '3.8' });
    expect(parseRuntime('r-4.1-2021-10-22')).toEqual({ name: 'r', version: '4.1', date: '2021-10-22' });
    expect(parseRuntime('r-2021-10-22')).toEqual({ name: 'r', date: '2021-10-22' });
    expect(parseRuntime('python')).toHaveProperty('error');
    expect(parseRuntime('r-4.1-2021-13-45')).toHaveProperty('error');
  });

  it('pyproject.toml is a package with [project] and [build-system] only; bad TOML is none', () => {
    expect(pyprojectIsPackage('[project]\nname="x"\n[build-system]\n')).toBe(true);
    expect(pyprojectIsPackage('[tool.black]\nline-length = 88\n')).toBe(false);
    expect(pyprojectIsPackage('[project\n')).toBe(false);
  });

  it('Pipfile.lock _meta.requires, then Pipfile [requires]: python_full_version before python_version', () => {
    expect(pipfileFacts('[requires]\npython_full_version = "3.7.4"\npython_version = "3.8"\n')).toEqual({ python: '3.7', pythonFrom: 'Pipfile', localPath: false });
    expect(pipfileFacts('[requires]\npython_version = "3"\n')).toEqual({ python: '3.10', pythonFrom: 'Pipfile', localPath: false });
    expect(pipfileFacts(undefined, '{"default": {"mine": {"path": ".", "editable": true}}}')).toEqual({ localPath: true });
    expect(pipfileFacts('not toml [', 'not json')).toEqual({ localPath: false });
  });

  it('environment.yml: python=X.Y, R packages, local pip lines; a list is not an environment', () => {
    expect(condaFacts('dependencies:\n  - python=3.9.7\n  - r-base\n')).toEqual({ python: '3.9', hasPython: true, usesR: true, localPip: false });
    expect(condaFacts('dependencies:\n  - r-base\n')).toMatchObject({ hasPython: false, usesR: true });
    expect(condaFacts('dependencies:\n  - pip:\n    - -e .\n')).toMatchObject({ hasPython: true, localPip: true });
    expect(condaFacts('- a\n').error).toBe('not a mapping of conda environment fields');
    expect(condaFacts('a: &a [*a]\n')).toHaveProperty('usesR', false);
  });
});

describe('Julia [compat] julia (julia_project.py julia_version, Pkg compat grammar)', () => {
  it.each([
    ['1.6', 'julia:1'],
    ['^1.9', 'julia:1'],
    ['~1.9', 'julia:1.9'],
    ['=1.10.4', 'julia:1.10.4'],
    ['0.7', 'julia:0.7'],
    ['~1.6, ~1.9', 'julia:1.9'],
    ['~1.6, 1.8', 'julia:1'],
  ])('[compat] julia = %j -> %s', (compat, tag) => expect(`julia:${juliaFacts(`[compat]\njulia = "${compat}"\n`, undefined, 'Project.toml').tag}`).toBe(tag));

  it('a compat rep init cannot read takes the default and says so', () => {
    const f = juliaFacts('[compat]\njulia = ">= 1.6"\n', undefined, 'Project.toml');
    expect(f.tag).toBe('1');
    expect(f.unread).toMatch(/^Project\.toml: \[compat\] julia = ">= 1.6" is not a form rep init reads/);
  });
});

describe('R versions (r.py r_version, version_map)', () => {
  it('x.y is its last patch release; a date chooses the R of its time; Debian when that is 4.2', () => {
    expect(chooseR('4.1', undefined)).toMatchObject({ image: 'rocker/r-ver:4.1.3', version: '4.1.3' });
    expect(chooseR('4.1.2', '2022-01-01')).toMatchObject({ image: 'rocker/r-ver:4.1.2' });
    expect(chooseR('4.2', undefined)).toMatchObject({ image: 'debian', version: '4.2.2' });
    expect(chooseR(undefined, '2023-01-15')).toMatchObject({ image: 'debian' });
    expect(chooseR(undefined, '2020-05-01')).toMatchObject({ image: 'rocker/r-ver:4.0.5' });
    expect(chooseR('5.1', undefined)).toHaveProperty('error');
    expect([rOfDate('2019-04-25'), rOfDate('2019-04-26')]).toEqual(['3.5', '3.6']);
  });
});

describe('requires-python (python/__init__.py python_version, PEP 440)', () => {
  it.each([
    ['>=3.8', '3.10'],
    ['>=3.11', '3.14'],
    ['>=3.8,<3.10', '3.9'],
    ['~=3.11', '3.14'],
    ['~=3.11.2', 'error'],
    ['==3.12.*', '3.12'],
    ['!=3.10.*', '3.14'],
    ['<3', 'error'],
    ['>= 3.9, != 3.10', '3.14'],
    ['^3.9', 'error'],
  ])('%j with the default 3.10 -> %s', (spec, want) => {
    const r = pythonFor(spec, '3.10');
    expect('version' in r ? r.version : 'error').toBe(want);
  });
});
