// The benchmark harness: generates projects and measures rep against BuildKit
// building the Dockerfile rep itself emits (DOCKER_BUILDKIT=1 with Debian's
// docker client), paired in the same run, and writes benchmarks/RESULTS.md.
// Ratios (baseline time / rep time, > 1: rep is faster), never timed tests.
//
//   npm run bench                 # 1k and 10k files, cold multi-stage, early cutoff, start-up
//   npm run bench -- --large      # adds 100k files (several minutes more)
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { BUILDKIT_DOCKER, CLI, RSS, buildkit, buildkitRuns, filesProject, paired, rep, run, stagesProject } from './lib.mjs';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const large = process.argv.includes('--large');
// rep is measured through the client the baseline uses (Debian's, BuildKit built in): by default rep then builds with BuildKit.
const BK = { REP_DOCKER: BUILDKIT_DOCKER };
const CLASSIC = { ...BK, DOCKER_BUILDKIT: '0' };
/** Untagged images now (full ids): each baseline round moves a tag, and so does each rep build of the same project. */
const dangling = () => run('docker', ['images', '--filter', 'dangling=true', '--quiet', '--no-trunc']).stdout.split('\n').filter(Boolean);
const danglingBefore = new Set(dangling());
const rows = [];
const row = (what, m, baseline, target = '', unit = 'ms') => {
  const ratio = unit === 'ms' ? m.base / m.rep : undefined;
  rows.push({ what, rep: m.rep, base: m.base, baseline, ratio, target, unit });
  console.log(`${what}: rep ${m.rep.toFixed(0)} ${unit}, ${baseline} ${m.base.toFixed(0)} ${unit}${ratio ? `, ratio ${ratio.toFixed(2)}` : ''}`);
};
const peakRss = (dir, args, env = {}) => Number(/rep-bench-maxrss-kib=(\d+)/.exec(run(process.execPath, ['--import', RSS, CLI, ...args], { cwd: dir, env }).stderr)[1]) / 1024;
const nodeRss = () => Number(/rep-bench-maxrss-kib=(\d+)/.exec(run(process.execPath, ['--import', RSS, '-e', '0']).stderr)[1]) / 1024;
/**
 * Runs a measurement again (up to 3 times) when it fails or a build did more
 * than it should: another checkout's test run on this daemon may remove
 * step images meanwhile (its cleanup removes the rep-cache tags made while it
 * ran). `prime` rebuilds what the case starts from.
 */
let repeated = 0;
function attempt(what, prime, measure) {
  for (let i = 1; ; i++) {
    try {
      prime();
      settle();
      return measure();
    } catch (e) {
      if (i === 3) throw e;
      repeated++;
      console.log(`${what}: again (${String(e.message).split('\n').find((l) => /fail|expected|no image/.test(l)) ?? 'failed'})`);
    }
  }
}
/**
 * Waits (at most 10 minutes) until every vitest run that was running when a
 * project was built has ended: such a run's cleanup removes the rep-cache tags
 * made while it ran, ours included. Runs that start later leave ours alone.
 */
function settle() {
  const built = Date.now();
  // a process is older when it has run for longer than the time since `built`
  const older = () => run('ps', ['-eo', 'etimes=,args=']).stdout.split('\n')
    .filter((l) => /vitest/.test(l) && Number(l.trim().split(/\s+/)[0]) * 1000 > Date.now() - built);
  const until = built + 600_000;
  if (older().length) console.log('waiting for test runs that started before the project was built');
  while (older().length && Date.now() < until) spawnSync('sleep', ['5']);
}
/** A rep build that must build exactly `n` steps. */
const builds = (n, r) => {
  if (!r.stdout.includes(`rep: built ${n} of `)) throw new Error(`expected ${n} step(s) built:\n${r.stdout}`);
};
const cleanup = (dir, tags) => {
  rep(dir, ['gc', '--all', '--engine', 'docker']);
  spawnSync('docker', ['image', 'rm', '-f', ...tags], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
};

// 1. no-op builds, one file changed in the last step, and a rebuild's peak memory
for (const files of large ? [1000, 10000, 100000] : [1000, 10000]) {
  const { dir, last } = filesProject(files, 10);
  const prime = () => {
    rep(dir, ['build', '--engine', 'docker'], BK);
    buildkit(dir, 'rep-bench:buildkit');
  };
  const nothing = (r) => {
    if (!r.stdout.includes('nothing to build')) throw new Error(`expected a no-op build:\n${r.stdout}`);
  };
  row(`no-op build, ${files} files, 10 steps`, attempt('no-op', prime, () => paired(5, () => nothing(rep(dir, ['build', '--engine', 'docker'], BK)), () => buildkit(dir, 'rep-bench:buildkit'))), 'BuildKit (cached)');
  let n = 0;
  const change = () => writeFileSync(last, `changed ${n++}\n`);
  // BuildKit must run the last step's RUN again, as rep must.
  const rebuilt = () => buildkitRuns(dir, 'rep-bench:buildkit', /^RUN echo 9 > \/step9$/);
  const edit = attempt('edit', prime, () => paired(3, () => builds(1, rep(dir, ['build', '--engine', 'docker'], BK)), rebuilt, change));
  row(`one file changed in the last step, ${files} files`, edit, 'BuildKit', files <= 10000 ? '>= 0.8' : '>= 1.0');
  if (files <= 10000) {
    const loose = attempt('edit --no-reproducible', prime, () => paired(3, () => builds(1, rep(dir, ['build', '--engine', 'docker', '--no-reproducible'], BK)), rebuilt, change));
    row(`same, rep --no-reproducible (no canonical rewrite), ${files} files`, loose, 'BuildKit', '>= 0.8');
    const classic = attempt('edit classic', prime, () => paired(3, () => builds(1, rep(dir, ['build', '--engine', 'docker'], CLASSIC)), rebuilt, change));
    row(`same, rep with the classic builder (DOCKER_BUILDKIT=0), ${files} files`, classic, 'BuildKit', '>= 0.8');
  }
  if (files >= 10000) {
    change();
    const mib = peakRss(dir, ['build', '--engine', 'docker'], BK);
    row(`peak RSS of a one-file rebuild, ${files} files`, { rep: mib, base: nodeRss() }, 'node doing nothing', files >= 100000 ? '< 250 MB' : '', 'MB');
  }
  cleanup(dir, ['rep-bench:buildkit', 'bench:latest']);
}

// 2. a cold build of six steps in two parallel stages, and early cutoff
{
  const { dir, repfile } = stagesProject();
  let nonce = 0;
  // BuildKit builds the Dockerfile rep emits for the same nonce (written, nothing built, with --engine none).
  const fresh = (side) => {
    repfile(`cold-${Date.now()}-${nonce++}`);
    if (side === 'base') rep(dir, ['build', '--engine', 'none']);
  };
  const none = () => {};
  row('cold build, 6 steps in two parallel stages', attempt('cold', none, () => paired(3, () => builds(6, rep(dir, ['build', '--engine', 'docker'], BK)), () => buildkitRuns(dir, 'rep-bench:stages', /sh app\/main\.sh/), fresh)), 'BuildKit', '>= 0.9');
  row('same, rep with the classic builder (DOCKER_BUILDKIT=0)', attempt('cold classic', none, () => paired(3, () => builds(6, rep(dir, ['build', '--engine', 'docker'], CLASSIC)), () => buildkitRuns(dir, 'rep-bench:stages', /sh app\/main\.sh/), fresh)), 'BuildKit', '>= 0.9');
  const primeCutoff = () => {
    // A value of this run's own: BuildKit's cache still holds the comments an earlier run built.
    repfile(`cutoff-${Date.now()}`);
    rep(dir, ['build', '--engine', 'docker'], BK);
    buildkit(dir, 'rep-bench:stages');
  };
  const data = path.join(dir, 'gen', 'data.txt');
  let c = 0;
  const comment = () => writeFileSync(data, readFileSync(data, 'utf8').replace(/^# comment .*$/m, `# comment ${++c}`));
  const cutoff = attempt('early cutoff', primeCutoff, () => paired(3, () => {
    const r = rep(dir, ['build', '--engine', 'docker'], BK);
    if (/^built\s+app\b/m.test(r.stdout) || !/^built\s+gen2\b/m.test(r.stdout)) throw new Error(`expected gen2 rebuilt and app not:\n${r.stdout}`);
  }, () => buildkitRuns(dir, 'rep-bench:stages', /grep -v/), comment));
  row('a change that leaves a producer\'s outputs equal (early cutoff)', cutoff, 'BuildKit', '>= 1.0');

  // 3. start-up, in the built project (built again: the last early-cutoff round may have left an edit unbuilt)
  rep(dir, ['build', '--engine', 'docker'], BK);
  const node = () => run(process.execPath, ['-e', '0']);
  row('start-up: rep --help', paired(7, () => rep(dir, ['--help']), node), 'node -e 0', '>= 0.5');
  row('start-up: rep status', paired(7, () => rep(dir, ['status'], BK), node), 'node -e 0', '>= 0.5');
  row('start-up: rep context --list', paired(7, () => rep(dir, ['context', '--list']), node), 'node -e 0', '>= 0.5');
  // status after an edit: the quick path cannot answer, the full one plans (hashing the changed file, asking the engine).
  comment();
  row('rep status with one input changed (the full path)', paired(7, () => rep(dir, ['status'], BK), node), 'node -e 0', '');
  cleanup(dir, ['rep-bench:stages', 'stages:latest']);
}

// 4. cold hashing against sha256sum over the same files, and planning 1,000 steps
{
  const { dir } = filesProject(10000, 10, 4096);
  const list = execFileSync('find', ['.', '-type', 'f', '-path', './s*'], { cwd: dir, encoding: 'utf8' }).trim().split('\n');
  const sums = () => {
    for (let i = 0; i < list.length; i += 2000) execFileSync('sha256sum', list.slice(i, i + 2000), { cwd: dir, maxBuffer: 1 << 26 });
  };
  const cold = () => {
    rmSync(path.join(dir, '.rep'), { recursive: true, force: true });
    rep(dir, ['status', '--engine', 'none']);
  };
  row('cold status, 10k files x 4 KiB (no stat cache)', paired(3, cold, sums), 'sha256sum');
  rmSync(dir, { recursive: true, force: true });
  const steps = filesProject(1000, 1000, 16).dir;
  rep(steps, ['status', '--engine', 'none']);
  row('plan 1,000 steps (rep status, warm stat cache)', paired(3, () => rep(steps, ['status', '--engine', 'none']), () => run(process.execPath, ['-e', '0'])), 'node -e 0', '< 1 s');
  rmSync(steps, { recursive: true, force: true });
}

// 5. peak RSS hashing a large context (1 GB; 10 GB with --large)
{
  const gb = large ? 10 : 1;
  const dir = mkdtempSync(path.join(tmpdir(), 'rep-bench-big-'));
  mkdirSync(path.join(dir, 'data'));
  const chunk = Buffer.alloc(1 << 20, 7);
  for (let f = 0; f < gb * 8; f++) {
    const fd = openSync(path.join(dir, 'data', `part${f}.bin`), 'w');
    for (let i = 0; i < 128; i++) writeSync(fd, chunk);
    closeSync(fd);
  }
  writeFileSync(path.join(dir, 'Repfile'), 'rep: 1\nname: big\nbase: busybox:latest\nsteps:\n  data:\n    inputs: [data/]\n');
  row(`peak RSS hashing a ${gb} GB context`, { rep: peakRss(dir, ['status', '--engine', 'none']), base: nodeRss() }, 'node doing nothing', '< 200 MB', 'MB');
  rmSync(dir, { recursive: true, force: true });
}

// What the rounds left untagged goes (without -f: one a container uses stays; twice, for parents of such images).
for (let pass = 0; pass < 2; pass++) {
  const left = dangling().filter((id) => !danglingBefore.has(id));
  for (let j = 0; j < left.length; j += 100) spawnSync('docker', ['image', 'rm', ...left.slice(j, j + 100)], { stdio: 'ignore' });
}

const server = run('docker', ['version', '--format', '{{.Server.Version}}']).stdout.trim();
const machine = `${cpus().length} cores (${cpus()[0].model}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB memory, Linux ${release()}, Node ${process.versions.node}, Docker engine ${server}${process.env.DOCKER_HOST ? ' (a daemon of the benchmark\'s own: npm run bench:own-daemon)' : ''}`;
const fmt = (v, unit) => `${v.toFixed(0)} ${unit}`;
const table = rows.map((r) => `| ${r.what} | ${fmt(r.rep, r.unit)} | ${r.baseline}: ${fmt(r.base, r.unit)} | ${r.ratio === undefined ? '' : r.ratio.toFixed(2)} | ${r.target} |`);
writeFileSync(path.join(HERE, 'RESULTS.md'), `# Benchmark results

Measured by \`npm run bench${large ? ' -- --large' : ''}\` on ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}.
Machine: ${machine}.

Every baseline was measured in the same run, paired with rep: each round runs both, in
alternating order, and each time is the median of the rounds. "ratio" is baseline time /
rep time (> 1: rep is faster). The baseline for builds is BuildKit (\`DOCKER_BUILDKIT=1\`,
Debian's \`/usr/bin/docker\`) building the standalone Dockerfile rep emitted for the same
project. rep runs through the same client and builds with its default there, BuildKit (the
client has it built in), unless the row says otherwise.
Memory rows give peak RSS (MB) and have no ratio. Absolute times depend on what else the
machine runs; the paired ratios much less.

| case | rep | baseline | ratio | target |
|---|---|---|---|---|
${table.join('\n')}

Notes:
- The no-op is answered by rep's quick path (src/commands/quick.ts) before the rest of rep loads.
- "one file changed": one file of the last step's inputs is rewritten before each build.
- "cold build": a new value in the Repfile's \`env\` makes every step's key (and every
  Dockerfile layer) new; the base image is local. The six steps are two stages
  (gen1 -> gen2, sys -> lib1 -> lib2 -> app) that can build in parallel; app imports gen2's outputs.
- "early cutoff": a comment in gen2's input changes, gen2 runs again and its outputs are the
  same bytes: rep does not rebuild app (checked), BuildKit's COPY --from checksum does not either.
- Where BuildKit must run an instruction again (edits, cold builds, early cutoff), its plain
  progress is checked to say so: a baseline answered from BuildKit's cache is refused. Each
  project's Repfile holds a value of its own run, since BuildKit's cache outlives a run.
- "start-up" runs in the built six-step project with the default engine (docker); nothing
  changed since its last build, so \`rep status\` is answered by the quick path too.
- Every rep build here rewrites its image canonically (reproducible images, on by default)
  unless the row says \`--no-reproducible\`; BuildKit's image is not rewritten.
- 100k files run only with \`--large\`${large ? '' : ' (not in this run)'}.
- ${repeated} measurement(s) had to be repeated in this run: step images vanished meanwhile
  (another test run on the same daemon removing the rep-cache tags made while it ran).
`);
console.log(`\nwrote ${path.join(HERE, 'RESULTS.md')}`);
