// Cold and warm hashing of a generated context, against sha256sum over the
// same files, measured in the same run and reported as ratios.
//   node benchmarks/hash.mjs [files=10000] [bytes=4096]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DockerIgnore } from '../dist/src/context/dockerignore.js';
import { walkContext } from '../dist/src/context/files.js';
import { StatCache } from '../dist/src/context/hash.js';

const files = Number(process.argv[2] ?? 10000);
const bytes = Number(process.argv[3] ?? 4096);
const dir = mkdtempSync(path.join(tmpdir(), 'rep-bench-hash-'));
for (let i = 0; i < files; i++) {
  const d = path.join(dir, `d${i % 100}`);
  if (i < 100) mkdirSync(d);
  writeFileSync(path.join(d, `f${i}.dat`), Buffer.alloc(bytes, i % 251));
}
const ignore = new DockerIgnore([]);
const time = (fn) => {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
};
const list = walkContext(dir, ignore);
const cold = time(() => new StatCache().hashAll(walkContext(dir, ignore)));
const cachePath = path.join(dir, '.rep', 'cache.json');
const c = new StatCache(cachePath);
c.hashAll(list);
// Entries modified in the last 2 s are not trusted: age the files before saving.
execFileSync('find', [dir, '-type', 'f', '-exec', 'touch', '-d', '@1000000000', '{}', '+']);
const aged = new StatCache(cachePath);
aged.hashAll(walkContext(dir, ignore));
aged.save();
const warm = time(() => new StatCache(cachePath).hashAll(walkContext(dir, ignore)));
const rel = list.map((f) => f.path);
const sums = time(() => {
  for (let i = 0; i < rel.length; i += 2000) execFileSync('sha256sum', rel.slice(i, i + 2000), { cwd: dir, maxBuffer: 1 << 26 });
});
rmSync(dir, { recursive: true, force: true });
const mb = (files * bytes) / 1e6;
console.log(`files ${files} x ${bytes} B (${mb.toFixed(0)} MB)`);
console.log(`sha256sum            ${sums.toFixed(0)} ms`);
console.log(`rep cold hash        ${cold.toFixed(0)} ms   throughput vs sha256sum: ${((sums / cold) * 100).toFixed(0)}%`);
console.log(`rep warm (stat cache) ${warm.toFixed(0)} ms   ${(cold / warm).toFixed(1)}x faster than cold`);
