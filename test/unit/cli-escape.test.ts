// What rep prints of a name it was given (an argument, a file name, a stranger's file) reaches the terminal escaped,
// on one line: success lines, commander's errors and the places of diagnostics. And an output file that is a
// named pipe is refused, not waited on.
import { spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { errnoWords, formatDiagnostic } from '../../src/diag.js';
import { makeProject, REPO, tempFolders } from '../helpers.js';

const folders = tempFolders();

const REPFILE = `rep: 1
name: demo
base: busybox:latest
steps:
  app:
    run: echo app
`;

/** rep run from its sources (through tsx), killed after `timeout` ms: its exit code (null when killed), stdout and stderr. */
function repSource(dir: string, args: string[], timeout = 30_000) {
  const r = spawnSync(process.execPath, ['--import', path.join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs'), path.join(REPO, 'cli', 'main.ts'), ...args], { cwd: dir, encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  return [r.status, r.stdout, r.stderr] as const;
}

/** Whether `s` holds a control character other than the line breaks between lines. */
// eslint-disable-next-line no-control-regex
const raw = (s: string) => /[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(s);

describe('names on the terminal', () => {
  it("a diagnostic's place (file, flag, field) is one line, escaped; its message keeps its lines", () => {
    expect(formatDiagnostic({ file: 'bad\nname\x1b[31m', message: 'no such file' })).toBe('bad\\x0aname\\x1b[31m: no such file');
    expect(formatDiagnostic({ file: 'Repfile', path: 'steps.a\nb', span: { start: { line: 2, col: 3 }, end: { line: 2, col: 4 } }, message: 'x' })).toBe('Repfile:2:3: steps.a\\x0ab: x');
    expect(formatDiagnostic({ kind: 'flag', flag: '--tar a\nb', message: 'cannot write it' })).toBe('rep: --tar a\\x0ab: cannot write it');
    expect(formatDiagnostic({ kind: 'io', file: 'a\nb', message: 'cannot write it' })).toBe('rep: a\\x0ab: cannot write it');
    expect(formatDiagnostic({ kind: 'engine', engine: 'dock\x1b[2Jer', message: 'one\ntwo' })).toBe('rep: dock\\x1b[2Jer: one\ntwo');
  });

  it('errno codes are said in words', () => {
    expect(errnoWords('ELOOP')).toBe('it is a symbolic link loop, or a link rep does not follow');
    expect(errnoWords('EACCES')).toBe('permission denied');
    expect(errnoWords('EISDIR')).toBe('it is a folder');
    expect(errnoWords('EWHATEVER')).toBe('EWHATEVER');
    expect(errnoWords(undefined, 'it broke')).toBe('it broke');
  });

  it('a place given with a newline (-f, -C, verify) is said on one line', () => {
    const dir = folders.add(makeProject({ Repfile: REPFILE }));
    expect(repSource(dir, ['-f', 'bad\nname\x1b[31m', 'graph'])).toEqual([2, '', 'bad\\x0aname\\x1b[31m: no such file (write one with `rep init`, or name another with -f)\n']);
    const [code, out, err] = repSource(dir, ['-C', 'x\ny', 'graph']);
    expect([code, out, err.split('\n').length, err.startsWith('x\\x0ay: ')]).toEqual([2, '', 2, true]);
    const [vcode, , verr] = repSource(dir, ['verify', 'x\ny']);
    expect([vcode, verr.split('\n').length, verr.startsWith('rep: verify x\\x0ay: ')]).toEqual([2, 2, true]);
  });

  it('success lines name the files written escaped and quoted: build --dockerfile, init -f, keygen', () => {
    const dir = folders.add(makeProject({ Repfile: REPFILE }));
    const [code, out] = repSource(dir, ['build', '--engine', 'none', '--dockerfile', 'a\nb\x1b[1m']);
    expect([code, raw(out), out.split('\n').at(-2)]).toEqual([0, false, `rep: wrote "${path.join(dir, 'a\\x0ab\\x1b[1m')}"`]);
    expect(existsSync(path.join(dir, 'a\nb\x1b[1m'))).toBe(true);

    const init = folders.add(makeProject({ 'requirements.txt': 'numpy\n' }));
    const [icode, iout] = repSource(init, ['-f', 'bad\nname\x1b[31m', 'init']);
    expect([icode, raw(iout), iout.split('\n')[0]]).toEqual([0, false, 'rep: wrote "bad\\x0aname\\x1b[31m" from requirements.txt']);

    expect(repSource(dir, ['keygen', 'k\x1b[2J'])).toEqual([0, 'rep: wrote "k\\x1b[2J.key" (keep it private) and "k\\x1b[2J.pub"\n', '']);
  });

  it('publish -o names the bundle escaped', () => {
    const dir = folders.add(makeProject({ Repfile: REPFILE }));
    const [code, out] = repSource(dir, ['publish', '--engine', 'none', '-o', 'p\nq\x1b[1m']);
    expect([code, raw(out), out.split('\n').at(-2)?.startsWith(`rep: published "${path.join(dir, 'p\\x0aq\\x1b[1m')}" (bundle sha256:`)]).toEqual([0, false, true]);
  });

  it("commander's errors quote the command line escaped, on one line, and keep their suggestion", () => {
    const dir = folders.add(makeProject({ Repfile: REPFILE }));
    const cases: [string[], string][] = [
      [['build', '--network', 'h\x1b[2Jx'], "rep: option '--network <mode>' argument 'h\\x1b[2Jx' is invalid."],
      [['build', '--engine', 'x\x1b[31m'], "rep: option '--engine <name>' argument 'x\\x1b[31m' is invalid. Allowed choices are auto, docker, podman, none.\n"],
      [['graph', '--format', '\x1b]0;pwn\x07'], "rep: option '--format <format>' argument '\\x1b]0;pwn\\x07' is invalid. Allowed choices are dot, mermaid, json.\n"],
      [['bo\x1b[2Jgus'], "rep: unknown command 'bo\\x1b[2Jgus'\n"],
      [['bo\ngus'], "rep: unknown command 'bo\\x0agus'\n"],
      [['build', '--b\x1b[2J'], "rep: unknown option '--b\\x1b[2J'\n"],
      [['buil'], "rep: unknown command 'buil'\n(Did you mean build?)\n"],
    ];
    for (const [args, said] of cases) {
      const [code, out, err] = repSource(dir, args);
      expect([args, code, out, raw(err), err.startsWith(said)]).toEqual([args, 2, '', false, true]);
    }
  });

  it('an output file that is a named pipe nothing reads is refused (exit 2), not waited on; one something reads, and /dev/null, are written', () => {
    const dir = folders.add(makeProject({ Repfile: REPFILE, 'src/a': 'a' }));
    const fifo = path.join(dir, 'ff');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    // A timeout well under vitest's: rep hung here for good.
    expect(repSource(dir, ['context', '--tar', 'ff'], 10_000)).toEqual([2, '', 'rep: --tar ff: cannot write it (a named pipe nothing reads (start what reads it first))\n']);
    expect(repSource(dir, ['schema', '-o', 'ff'], 10_000)).toEqual([2, '', 'rep: --out ff: cannot write it (a named pipe nothing reads (start what reads it first))\n']);
    // With a reader (`--tar >(gzip > x)`, a FIFO a job reads) it is written: refusing every pipe was a regression (a review).
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      expect(repSource(dir, ['context', '--tar', 'ff'], 10_000)).toEqual([0, '', '']);
      const got = Buffer.alloc(65536);
      const n = readSync(reader, got);
      expect(got.subarray(257, 262).toString()).toBe('ustar');
      expect(n % 512).toBe(0);
    } finally {
      closeSync(reader);
    }
    expect(repSource(dir, ['schema', '-o', '/dev/null'])).toEqual([0, '', '']);
    expect(repSource(dir, ['context', '--tar', '/dev/null'])).toEqual([0, '', '']);
  }, 60_000);
});
