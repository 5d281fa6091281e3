// rep init for apt.txt, postBuild, start, R and Julia, checked on the Repfile
// against repo2docker's build packs (cited per case). test/unit/init.test.ts
// has the file finding and Python; test/integration/init.test.ts builds.
import { describe, expect, it } from 'vitest';
import { initIn, stepOf } from './initcase.js';

describe('apt.txt, postBuild, start (buildpacks/base.py)', () => {
  it('apt.txt alone: Debian, one system step that reads the file when it builds', () => {
    const x = initIn({ 'apt.txt': 'curl # the tool\r\n\r\n  jq\tgit\n' });
    expect(x.recipe.base).toBe('debian:bookworm-slim');
    expect(x.order).toEqual(['system', 'code']);
    expect(stepOf(x, 'system').inputs).toEqual(['apt.txt']);
    expect(stepOf(x, 'system').run[0]).toBe('apt-get update');
    expect(x.recipe.image.cmd).toEqual(['bash']);
    expect(x.notes).toEqual([]);
  });

  it('a word in apt.txt that is not a package name is reported with its line', () => {
    const x = initIn({ 'apt.txt': 'curl\n-oDPkg::Pre-Invoke::=touch /pwned\n' });
    expect(x.notes).toContain('apt.txt:2: "-oDPkg::Pre-Invoke::=touch" is not a Debian package name; the build stops there (repo2docker refuses it too)');
  });

  it('start is made executable with the code and wraps the command; postBuild is made executable and run last', () => {
    const x = initIn({ 'binder/start': '#!/bin/sh\nexec "$@"\n', 'binder/postBuild': 'echo hi\n', 'binder/apt.txt': 'curl\n' });
    expect(stepOf(x, 'code').run).toEqual(['chmod +x binder/start']);
    expect(stepOf(x, 'post-build').run).toEqual(['chmod +x binder/postBuild', './binder/postBuild']);
    expect(x.recipe.image.entrypoint).toEqual(['/work/binder/start']);
    expect(x.used).toEqual(['binder/apt.txt', 'binder/postBuild', 'binder/start']);
    expect(x.notes).toContain('binder/postBuild and binder/start run as root, the user of debian:bookworm-slim; repo2docker runs them as a non-root user');
  });
});

describe('R (buildpacks/r.py)', () => {
  it('runtime.txt r-DATE: that CRAN snapshot as the mirror of every R session, install.R with repo2docker flags, compilers', () => {
    const x = initIn({ 'runtime.txt': 'r-2022-06-01\n', 'install.R': 'install.packages("here")\n' });
    expect(x.recipe.base).toBe('debian:bookworm-slim');
    const sys = stepOf(x, 'system').run;
    expect(sys).toContain('apt-get install -y --no-install-recommends r-base-core r-base-dev');
    expect(sys).toContain(`echo 'options(repos = c(CRAN = "https://packagemanager.posit.co/cran/2022-06-01"))' >> "$(R RHOME)/etc/Rprofile.site"`);
    expect(stepOf(x, 'r-packages')).toMatchObject({ inputs: ['install.R'], run: ['Rscript --no-save --no-restore --no-init-file --no-environ install.R', 'rm -rf /tmp/downloaded_packages'] });
    expect(x.order).toEqual(['system', 'r-packages', 'code']);
    expect(x.used).toEqual(['runtime.txt', 'install.R']);
    expect(x.recipe.image.cmd).toEqual(['R']);
    // R 4.2 was current on that date; repo2docker's default is 4.4.2, which is said.
    expect(x.notes).toEqual(["R 4.2.2 (R 4.2 was current on 2022-06-01, the snapshot date of runtime.txt: Debian bookworm's R 4.2.2), where repo2docker would install R 4.4.2"]);
  });

  it('an R version of the time: runtime.txt r-VERSION-DATE or a date when Debian has another R', () => {
    const v = initIn({ 'runtime.txt': 'r-4.3-2024-01-10\n', 'install.R': '\n' });
    expect(v.recipe.base).toBe('rocker/r-ver:4.3.3');
    expect(v.notes).toEqual([]);
    expect(stepOf(v, 'system').run).toContain('apt-get install -y --no-install-recommends build-essential gfortran');
    const d = initIn({ 'runtime.txt': 'r-2024-06-01\n', 'install.R': '\n' });
    expect(d.recipe.base).toBe('rocker/r-ver:4.4.2');
  });

  it('no date: the snapshot of two days before rep init is pinned and said', () => {
    const x = initIn({ DESCRIPTION: 'Package: mine\nVersion: 0.1\n' });
    expect(stepOf(x, 'system').run.join('\n')).toContain('https://packagemanager.posit.co/cran/2026-11-25');
    expect(x.notes).toContain('no snapshot date in runtime.txt: rep init pinned CRAN as of 2026-11-25 (repo2docker takes two days before each build)');
  });

  it('a DESCRIPTION installs the package itself after the code (remotes::install_local)', () => {
    const x = initIn({ DESCRIPTION: 'Package: mine\n', 'runtime.txt': 'r-2023-01-01\n' });
    expect(x.order).toEqual(['system', 'code', 'r-package']);
    expect(stepOf(x, 'system').run).toContain('apt-get install -y --no-install-recommends r-base-core r-base-dev r-cran-remotes');
    expect(stepOf(x, 'r-package').run[1]).toBe("R --no-save --no-restore --no-init-file --no-environ --quiet -e 'remotes::install_local()'");
    expect(x.used).toEqual(['runtime.txt', 'DESCRIPTION']);
  });

  it('install.R alone still gets R, which repo2docker would not set up: said', () => {
    const x = initIn({ 'install.R': 'source("R/setup.R")\n', 'R/setup.R': '\n' });
    expect(x.order).toEqual(['system', 'code', 'r-packages']);
    expect(x.notes[0]).toBe('install.R: repo2docker sets up R only with runtime.txt r-[VERSION-]YYYY-MM-DD or a DESCRIPTION at the root; rep init installs R anyway');
  });

  it('R with a requirements.txt also installs it (RBuildPack extends PythonBuildPack), in a venv', () => {
    const x = initIn({ 'runtime.txt': 'r-2023-01-01\n', 'requirements.txt': 'numpy\n' });
    expect(x.order).toEqual(['system', 'python', 'code']);
    expect(stepOf(x, 'system').run).toContain('python3 -m venv /opt/venv');
    expect(x.recipe.env.PATH).toMatch(/^\/opt\/venv\/bin:/);
  });

  it('a runtime.txt repo2docker refuses is said, not read', () => {
    const x = initIn({ 'runtime.txt': 'r-4.3-01-2024\n', 'install.R': '\n' });
    expect(x.notes[0]).toBe('runtime.txt: "4.3-01-2024" is not a date YYYY-MM-DD; repo2docker refuses it, rep init ignored it');
    // A day the month does not have (Date.parse rolled it over to March 2 and pinned that snapshot).
    const feb = initIn({ 'runtime.txt': 'r-4.3-2024-02-31\n', 'install.R': '\n' });
    expect(feb.notes[0]).toBe('runtime.txt: "2024-02-31" is not a date YYYY-MM-DD; repo2docker refuses it, rep init ignored it');
  });
});

describe('Julia (buildpacks/julia/julia_project.py)', () => {
  it('JULIA_PROJECT is the project folder; [compat] julia chooses the image; the manifest is an input', () => {
    const x = initIn({ 'binder/Project.toml': '[deps]\n[compat]\njulia = "~1.9"\n', 'binder/Manifest.toml': '' });
    expect(x.recipe.base).toBe('julia:1.9');
    expect(x.recipe.env.JULIA_PROJECT).toBe('/work/binder');
    expect(stepOf(x, 'julia')).toMatchObject({
      inputs: ['binder/Project.toml', 'binder/Manifest.toml'],
      run: ["julia --project=/work/binder -e 'using Pkg; Pkg.instantiate(); Pkg.resolve(); Pkg.instantiate()'"],
    });
    expect(x.recipe.image.cmd).toEqual(['julia']);
  });

  it('no [compat]: the newest 1.x, as repo2docker takes; JuliaProject.toml wins; a package project instantiates after the code', () => {
    expect(initIn({ 'Project.toml': '[deps]\n' }).recipe.base).toBe('julia:1');
    const x = initIn({ 'JuliaProject.toml': 'name = "Mine"\nuuid = "7876af07-990d-54b4-ab0e-23690620f79a"\n[compat]\njulia = "=1.10.4"\n', 'Project.toml': '[compat]\njulia = "1.6"\n' });
    expect(x.recipe.base).toBe('julia:1.10.4');
    expect(x.order).toEqual(['code', 'julia']);
    expect(x.recipe.env.JULIA_PROJECT).toBe('/work');
  });
});

describe('hostile content', () => {
  it('text from a repository reaches the Repfile only inside comments, whatever it holds', () => {
    const x = initIn({ 'runtime.txt': 'r-4.3-2024-01-01\nsteps: {}\n', 'Project.toml': '[compat]\njulia = "1.6\\nbase: evil"\n' });
    expect(x.recipe.base).toBe('julia:1');
    expect(x.recipe.steps.map((s) => s.name)).toEqual(['julia', 'code']);
    expect(x.text.split('\n').filter((l) => /evil|steps: \{\}/.test(l)).every((l) => l.startsWith('#'))).toBe(true);
  });
});

describe('rep init: build pack order (repo2docker/app.py: Docker, Julia, REQUIRE, Nix, R, conda, Pipfile, Python)', () => {
  it('a Julia project wins over default.nix, which is then said unused; default.nix alone is refused', () => {
    const x = initIn({ 'Project.toml': 'name = "x"\n', 'default.nix': '{}' });
    expect(x.recipe.base).toBe('julia:1');
    expect(x.notes).toContain('default.nix: not used, as repo2docker builds the Julia project before it would look at Nix');
    expect(() => initIn({ 'default.nix': '{}', 'requirements.txt': 'numpy\n' })).toThrow(/a Nix environment/);
  });
});

