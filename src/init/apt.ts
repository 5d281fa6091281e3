// apt.txt as repo2docker reads it (repo2docker/buildpacks/base.py,
// BaseImage.get_preassemble_scripts): each line up to a `#` is stripped; blank
// lines are skipped; the packages are installed sorted, with
// --no-install-recommends. The Repfile reads apt.txt when it builds (an edit
// to apt.txt then rebuilds that step), with the shell commands below; `parseApt`
// reads it the same way, for rep init's checks and the tests.

/**
 * A Debian package name (policy 5.6.1), with an optional :arch, and =version
 * (5.6.12) or /release (apt-get's pkg/bookworm-backports, which repo2docker
 * passes on). None of them ends in `-`, which apt-get install reads as
 * "remove" (`sudo-` removed sudo); no name, architecture, version or release
 * ends so. [/] rather than \/, and no (?:: the shell commands below give this
 * to grep -E.
 */
export const APT_NAME = /^[a-z0-9]([a-z0-9.+-]*[a-z0-9+])?(:[a-z0-9-]*[a-z0-9])?(=[A-Za-z0-9.+:~-]*[A-Za-z0-9.+:~]|[/][a-z0-9.+-]*[a-z0-9.+])?$/;

export interface AptList {
  /** Package names, sorted, each once. */
  packages: string[];
  /** Words that are not package names, with their 1-based line. */
  invalid: { line: number; word: string }[];
}

/** Words of apt.txt: comments anywhere on a line, CRLF, tabs and blank lines as repo2docker reads them. */
export function parseApt(text: string): AptList {
  const seen = new Set<string>();
  const invalid: AptList['invalid'] = [];
  text.split('\n').forEach((raw, i) => {
    for (const word of raw.replace(/#.*/, '').split(/[ \t\r\v\f]+/)) {
      if (word === '') continue;
      if (APT_NAME.test(word)) seen.add(word);
      else invalid.push({ line: i + 1, word });
    }
  });
  return { packages: [...seen].sort(), invalid };
}

const LIST = '/tmp/rep-apt-packages';

/**
 * Shell commands (run in order, each must succeed) that install the packages
 * `file` (relative to the workdir) names, read as parseApt reads it; a word
 * that is not a package name stops the build with the offending words shown.
 * `extra` are packages rep itself adds (R, Python), installed in the same step.
 */
export function aptInstall(file: string | undefined, extra: readonly string[] = []): string[] {
  const run = ['apt-get update'];
  if (file) {
    run.push(
      `sed -e 's/#.*//' ${file} | tr -s ' \\t\\r\\v\\f' '\\n' | sed '/^$/d' | LC_ALL=C sort -u > ${LIST}`,
      `if grep -Ev '${APT_NAME.source}' ${LIST} >&2; then echo "${file}: the words above are not Debian package names" >&2; exit 1; fi`,
      `xargs -r apt-get install -y --no-install-recommends < ${LIST}`,
    );
  }
  if (extra.length) run.push(`apt-get install -y --no-install-recommends ${[...extra].sort().join(' ')}`);
  run.push(`rm -rf /var/lib/apt/lists/*${file ? ` ${LIST}` : ''}`);
  return run;
}
