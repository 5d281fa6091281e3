// Helpers for the benchmark harness: running commands, paired timing (rep and
// its baseline measured alternately in the same run, so drift hits both), and
// the projects the cases build.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const HERE = path.dirname(new URL(import.meta.url).pathname);
/** The CLI measured: $REP_BENCH_CLI, else this checkout's dist/bin/rep.mjs, the bundled command line (npm ci / npm run build make it). */
export const CLI = process.env.REP_BENCH_CLI || path.join(HERE, '..', 'dist', 'bin', 'rep.mjs');
export const RSS = path.join(HERE, 'rss.mjs');
/** Debian's docker client: BuildKit without the buildx plugin (DOCKER_BUILDKIT=1). */
export const BUILDKIT_DOCKER = '/usr/bin/docker';

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts, env: { ...process.env, CI: '1', ...opts.env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr}\n${r.stdout}`);
  return r;
}
export const rep = (dir, args, env = {}) => run(process.execPath, [CLI, ...args], { cwd: dir, env });
/** BuildKit building the Dockerfile rep emitted, in the project's folder. */
export const buildkit = (dir, tag) => run(BUILDKIT_DOCKER, ['build', '-q', '-t', tag, '-f', 'Dockerfile', '.'], { cwd: dir, env: { DOCKER_BUILDKIT: '1' } });

/**
 * The same, for a case where BuildKit must run the instruction `ran` matches
 * again (its plain progress says so): a baseline that found the result in its
 * cache measures nothing. BuildKit's cache outlives a benchmark run, so a case
 * whose Dockerfile and inputs repeat an earlier run's would be answered from
 * it: every case's Repfile carries a value of its own run.
 */
export function buildkitRuns(dir, tag, ran) {
  const r = run(BUILDKIT_DOCKER, ['build', '--progress', 'plain', '-t', tag, '-f', 'Dockerfile', '.'], { cwd: dir, env: { DOCKER_BUILDKIT: '1' } });
  const vertex = r.stderr.split('\n').map((l) => /^(#\d+) \[[^\]]*\] (.*)$/.exec(l)).find((m) => m && ran.test(m[2]));
  if (!vertex) throw new Error(`BuildKit did not show an instruction matching ${ran}:\n${r.stderr}`);
  if (r.stderr.split('\n').includes(`${vertex[1]} CACHED`)) throw new Error(`expected BuildKit to run ${vertex[2]} again, it found it cached:\n${r.stderr}`);
  return r;
}

const time = (fn, i) => {
  const t0 = performance.now();
  fn(i);
  return performance.now() - t0;
};

/**
 * Medians of `n` paired runs: each round runs both sides in alternating
 * order, `prepare(side, round)` (untimed) before each.
 */
export function paired(n, repFn, baseFn, prepare = () => {}) {
  const a = [];
  const b = [];
  for (let i = 0; i < n; i++) {
    const order = i % 2 ? [[baseFn, b], [repFn, a]] : [[repFn, a], [baseFn, b]];
    for (const [fn, into] of order) {
      prepare(fn === baseFn ? 'base' : 'rep', i);
      into.push(time(fn, i));
    }
  }
  return { rep: median(a), base: median(b) };
}

/** A project: `files` small files over `steps` chained steps (each step's inputs: one folder). */
export function filesProject(files, steps, bytes = 1024) {
  const dir = mkdtempSync(path.join(tmpdir(), `rep-bench-${files}-${steps}-`));
  const per = Math.ceil(files / steps);
  const lines = ['rep: 1', 'name: bench', 'base: busybox:latest', `env: {BENCH: "${path.basename(dir)}"}`, 'steps:'];
  for (let s = 0; s < steps; s++) {
    const folder = path.join(dir, `s${s}`);
    for (let i = 0; i < per && s * per + i < files; i++) {
      const sub = path.join(folder, `d${i % 50}`);
      if (i < 50) mkdirSync(sub, { recursive: true });
      writeFileSync(path.join(sub, `f${i}.txt`), Buffer.alloc(bytes, (s * 31 + i) % 251));
    }
    lines.push(`  s${s}:`, ...(s > 0 ? [`    needs: [s${s - 1}]`] : []), `    inputs: [s${s}/]`, `    run: echo ${s} > /step${s}`);
  }
  writeFileSync(path.join(dir, 'Repfile'), `${lines.join('\n')}\n`);
  writeFileSync(path.join(dir, '.dockerignore'), '.rep\nDockerfile\n');
  return { dir, last: path.join(dir, `s${steps - 1}`, 'd0', `f0.txt`) };
}

/**
 * Six steps in two stages that build in parallel: a side stage (gen1 -> gen2,
 * outputs /out) and a main one (sys -> lib1 -> lib2 -> app, app importing
 * /out). `nonce` goes into every step's environment: a new one makes every
 * step cold. gen2 filters data.txt (comments dropped): a comment edit re-runs
 * it with equal outputs (early cutoff for app).
 */
export function stagesProject() {
  const dir = mkdtempSync(path.join(tmpdir(), 'rep-bench-stages-'));
  for (const d of ['gen', 'lib', 'app']) mkdirSync(path.join(dir, d));
  writeFileSync(path.join(dir, 'gen', 'data.txt'), '# comment 0\nb 2\na 1\nc 3\n');
  for (let i = 0; i < 20; i++) writeFileSync(path.join(dir, 'lib', `m${i}.txt`), `module ${i}\n`.repeat(50));
  writeFileSync(path.join(dir, 'app', 'main.sh'), 'wc -l /out/clean.txt /opt/lib/*\n');
  writeFileSync(path.join(dir, '.dockerignore'), '.rep\nDockerfile\n');
  return { dir, repfile: (nonce) => writeFileSync(path.join(dir, 'Repfile'), `rep: 1
name: stages
base: busybox:latest
env: {NONCE: "${nonce}"}
steps:
  gen1:
    from: busybox:latest
    run: mkdir -p /work && seq 1 2000 > /work/numbers.txt
  gen2:
    needs: [gen1]
    workdir: /work
    inputs: [gen/]
    run: grep -v '^#' gen/data.txt | sort > /out.txt && mkdir -p /out && mv /out.txt /out/clean.txt
    outputs: [/out/clean.txt]
  sys:
    run: mkdir -p /opt/lib && echo sys > /opt/sys.txt
  lib1:
    needs: [sys]
    workdir: /opt
    inputs: [lib/]
    run: cat lib/*.txt | wc -c > /opt/lib1.txt
  lib2:
    needs: [lib1]
    run: cp /opt/lib/m1.txt /opt/lib/extra.txt
  app:
    needs: [lib2, gen2]
    workdir: /app
    inputs: [app/]
    run: sh app/main.sh > /app/report.txt
image:
  cmd: [cat, /app/report.txt]
`) };
}
