// What the canonical rewrite (src/repro/) costs: friendlyhello built cold,
// then the rewrite alone (the same build with every step cached and the
// canonical image removed, less the same build with it present), as a ratio
// to the cold build (target <= 10%), with the engine's own part of it (its
// `docker save` of the image); an edit of app.py built with the rewrite and
// without it; and a no-op build, which must rewrite nothing: no `docker load`
// happens (docker's event stream says so) and the image ID stays. Writes
// benchmarks/RESULTS-reproducible.md.
//
//   npm run bench:repro            (needs docker, debian:bookworm-slim and the apt mirror)
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const CLI = path.join(HERE, '..', 'dist', 'bin', 'rep.mjs');
const DOCKER = process.env.REP_DOCKER || 'docker';
const REPEAT = 3;

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts, env: { ...process.env, CI: '1', ...opts.env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr}\n${r.stdout}`);
  return r;
}
const timed = (fn) => {
  const t0 = performance.now();
  const out = fn();
  return [performance.now() - t0, out];
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = mkdtempSync(path.join(tmpdir(), 'rep-bench-repro-'));
const epoch = 1600000000 + Math.floor(Math.random() * 1e6); // keys of its own: a cold build
cpSync(path.join(HERE, '..', 'examples', 'friendlyhello'), dir, { recursive: true });
rmSync(path.join(dir, 'Dockerfile'));
const tag = 'rep-bench/repro-friendlyhello:latest';
writeFileSync(path.join(dir, 'Repfile'), `${readFileSync(path.join(dir, 'Repfile'), 'utf8').replace(/^image:\n/m, `image:\n  tag: ${tag}\n`)}\nreproducible:\n  epoch: ${epoch}\n`);
const rep = (args) => run(process.execPath, [CLI, ...args, '--engine', 'docker', '--network', 'host'], { cwd: dir });
const imageId = () => run(DOCKER, ['image', 'inspect', '--format', '{{.Id}}', tag]).stdout.trim();
const loadsSince = (since) => run(DOCKER, ['events', '--since', since, '--until', String(Math.ceil(Date.now() / 1000)), '--filter', 'type=image', '--filter', 'event=load', '--format', '{{.ID}}']).stdout.split('\n').filter(Boolean).length;

try {
  const [cold] = timed(() => rep(['build']));
  const id = imageId();
  // With every step cached: the full build path (--json skips the no-op answer) with the canonical image there, and without it.
  const cached = [];
  const rewriting = [];
  for (let i = 0; i < REPEAT; i++) {
    cached.push(timed(() => rep(['build', '--json']))[0]);
    run(DOCKER, ['image', 'rm', '-f', id]);
    rewriting.push(timed(() => rep(['build', '--json']))[0]);
    if (imageId() !== id) throw new Error('the rewrite gave another image ID');
  }
  const rewrite = median(rewriting) - median(cached);
  // The engine's part of it: docker saving the image the rewrite reads (the target step's, base included).
  const state = () => JSON.parse(readFileSync(path.join(dir, '.rep', 'state.json'), 'utf8'));
  const target = `rep-cache:${state().steps.app.key.slice(7)}`;
  const savedTo = path.join(dir, 'saved.tar');
  const saves = [];
  for (let i = 0; i < REPEAT; i++) {
    saves.push(timed(() => run(DOCKER, ['save', '-o', savedTo, target]))[0]);
    rmSync(savedTo, { force: true });
  }
  // The edit loop: app.py edited, built with the rewrite and without it.
  const edit = (args) => {
    writeFileSync(path.join(dir, 'app.py'), `${readFileSync(path.join(dir, 'app.py'), 'utf8')}# edit ${Math.random()}\n`);
    const [ms, r] = timed(() => rep(args));
    if (!r.stdout.includes('built 1 of 2 steps')) throw new Error(`expected app alone to build:\n${r.stdout}`);
    return ms;
  };
  const edits = [];
  const plainEdits = [];
  for (let i = 0; i < REPEAT; i++) {
    edits.push(edit(['build']));
    plainEdits.push(edit(['build', '--no-reproducible']));
  }
  // Back to a canonical image for the no-op rows below.
  rep(['build']);
  const beforeNoops = imageId();
  // docker's events have whole seconds: start the no-ops in a second of their own.
  const since = String(Math.floor(Date.now() / 1000) + 1);
  while (Date.now() < Number(since) * 1000) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  const noops = [];
  for (let i = 0; i < REPEAT; i++) {
    const [ms, r] = timed(() => rep(['build']));
    if (!r.stdout.includes('nothing to build')) throw new Error(`expected a no-op:\n${r.stdout}`);
    noops.push(ms);
  }
  const loads = loadsSince(since);
  if (imageId() !== beforeNoops) throw new Error('a no-op changed the image');
  const pct = (100 * rewrite) / (cold - rewrite);
  const lines = [
    '# The canonical rewrite: cost',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} by \`npm run bench:repro\` on ${cpus().length} cores, docker classic builder, medians of ${REPEAT}.`,
    '',
    '| what | ms |',
    '| --- | ---: |',
    `| friendlyhello, cold build (apt over the network) incl. the rewrite | ${cold.toFixed(0)} |`,
    `| full build, every step cached, canonical image present | ${median(cached).toFixed(0)} |`,
    `| full build, every step cached, canonical image removed (rewrite runs) | ${median(rewriting).toFixed(0)} |`,
    `| **the rewrite** (difference) | **${rewrite.toFixed(0)}** |`,
    `| of which the engine saving the image (\`docker save\` of the target step's image, base included) | ${median(saves).toFixed(0)} |`,
    `| app.py edited: \`rep build\` (app rebuilt, the rewrite runs) | ${median(edits).toFixed(0)} |`,
    `| app.py edited: \`rep build --no-reproducible\` | ${median(plainEdits).toFixed(0)} |`,
    `| no-op \`rep build\` | ${median(noops).toFixed(0)} |`,
    '',
    `The rewrite costs **${pct.toFixed(1)}%** of the cold build without it (target <= 10%);`,
    `the engine's save of the image is ${((100 * median(saves)) / rewrite).toFixed(0)}% of the rewrite: rep reads a step's layers through \`docker save\`,`,
    'which writes every layer of the image, the base\'s too, whatever changed.',
    `On an edit of app.py the rewrite adds ${(median(edits) - median(plainEdits)).toFixed(0)} ms to the build.`,
    `No-op builds: ${loads} \`docker load\` (must be 0), image ID unchanged: the no-op rewrites nothing.`,
    '',
  ];
  writeFileSync(path.join(HERE, 'RESULTS-reproducible.md'), lines.join('\n'));
  console.log(lines.join('\n'));
  if (loads !== 0) process.exitCode = 1;
} finally {
  // Every image this project's builds tagged rep-cache (steps, final images, canonical images of
  // every round: what its history names), then the image with every tag it has.
  spawnSync(process.execPath, [CLI, 'gc', '--all', '--engine', 'docker'], { cwd: dir, stdio: 'ignore', env: { ...process.env, CI: '1' } });
  const id = spawnSync(DOCKER, ['image', 'inspect', '--format', '{{.Id}}', tag], { encoding: 'utf8' }).stdout.trim();
  spawnSync(DOCKER, ['image', 'rm', '-f', tag, ...(id ? [id] : [])]);
  rmSync(dir, { recursive: true, force: true });
}
