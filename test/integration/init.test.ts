// rep init, then rep build with the real docker engine, on sample Binder
// repositories whose dependencies Debian satisfies (base debian:bookworm-slim;
// python:*, julia:*, micromamba and rocker images cannot be pulled here, so
// those cases are checked structurally in test/unit/init*.test.ts). Each image
// is run to show that it holds what repo2docker's would.
import { appendFileSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, rep, type Tree } from '../helpers.js';
import { DOCKER_BIN, sh } from './helpers.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** rep init in a new repository holding `tree`, the image tagged rep-test/init-NAME; then rep build. */
function initAndBuild(name: string, tree: Tree, network = true) {
  const dir = makeProject(tree, 'rep-test-init-');
  dirs.push(dir);
  const init = rep(dir, ['init']);
  expect(init.code).toBe(0);
  appendFileSync(`${dir}/Repfile`, `  tag: rep-test/init-${name}:latest\n`);
  const built = rep(dir, ['build', '--engine', 'docker', ...(network ? ['--network', 'host'] : [])]);
  if (built.code !== 0) throw new Error(`rep build failed:\n${built.stderr}\n${built.stdout}`);
  return { dir, init, tag: `rep-test/init-${name}:latest` };
}
const runIn = (tag: string, script: string) => sh(DOCKER_BIN, ['run', '--rm', tag, 'sh', '-c', script]);

describe('rep init then rep build (docker)', () => {
  it('apt.txt with comments anywhere, CRLF, tabs and blank lines installs every package it names', () => {
    const { tag, init } = initAndBuild('apt', { 'apt.txt': 'jq # to read JSON\r\n\r\n# a comment line\n\tfile\t\n', 'data.csv': 'a,b\n' });
    expect(init.stdout).toBe("rep: wrote Repfile from apt.txt\nrep: wrote .dockerignore (the build context leaves out .git and rep's own files)\n");
    expect(runIn(tag, 'jq --version >/dev/null && file --brief /work/data.csv && cat /work/data.csv')).toBe('ASCII text\na,b\n');
  }, 600_000);

  it('postBuild runs (made executable first) and start wraps the command', () => {
    const { tag, init } = initAndBuild(
      'start',
      {
        'binder/postBuild': { mode: 0o644, text: '#!/bin/sh\nset -e\necho "built by postBuild in $(pwd)" > made-by-postbuild.txt\n' },
        'binder/start': { mode: 0o644, text: '#!/bin/sh\nexport FROM_START=yes\nexec "$@"\n' },
        'notebook.txt': 'analysis\n',
      },
      false,
    );
    expect(init.stdout).toContain('rep: note: binder/postBuild and binder/start run as root, the user of debian:bookworm-slim; repo2docker runs them as a non-root user\n');
    expect(runIn(tag, 'cat made-by-postbuild.txt notebook.txt; echo "FROM_START=$FROM_START"')).toBe('built by postBuild in /work\nanalysis\nFROM_START=yes\n');
    // The image's default command runs through start too.
    expect(sh(DOCKER_BIN, ['inspect', '--format', '{{json .Config.Entrypoint}} {{json .Config.Cmd}}', tag])).toBe('["/work/binder/start"] ["bash"]\n');
  }, 600_000);

  it('a binder/ folder shadows the root .dockerignore, as in repo2docker: the build sees binder/ and the files it excluded', () => {
    const { tag, dir } = initAndBuild('binder', { 'binder/apt.txt': 'jq\n', '.dockerignore': 'binder\n*.csv\n', 'results.csv': '1,2\n' });
    expect(rep(dir, ['status', '--engine', 'docker']).code).toBe(0);
    expect(runIn(tag, 'jq --version >/dev/null && cat results.csv binder/apt.txt')).toBe('1,2\njq\n');
  }, 600_000);

  it("R from Debian: runtime.txt's dated CRAN snapshot is every session's mirror, install.R runs, compilers are there, DESCRIPTION installs the package", () => {
    const installR = [
      'repos <- getOption("repos")',
      'stopifnot(identical(unname(repos[["CRAN"]]), "https://packagemanager.posit.co/cran/2023-01-15"))',
      'dir.create("/opt/results", showWarnings = FALSE)',
      'writeLines(paste("R", getRversion()), "/opt/results/version.txt")',
      '',
    ].join('\n');
    const { tag } = initAndBuild('r', {
      'runtime.txt': 'r-2023-01-15\n',
      'install.R': installR,
      DESCRIPTION: 'Package: hellorep\nVersion: 0.1.0\nTitle: Hello\nDescription: Says hello.\nLicense: MIT\nAuthors@R: person("A", "B", role = c("aut", "cre"), email = "a@b.org")\n',
      NAMESPACE: 'export(hello)\n',
      'R/hello.R': 'hello <- function() "hello from the package"\n',
    });
    expect(runIn(tag, `cat /opt/results/version.txt && Rscript -e 'cat(getOption("repos")[["CRAN"]], hellorep::hello(), sep = "\\n")' && command -v gcc gfortran >/dev/null && echo compilers`)).toBe(
      'R 4.2.2\nhttps://packagemanager.posit.co/cran/2023-01-15\nhello from the package\ncompilers\n',
    );
  }, 900_000);
});
