// Runs the benchmarks against a Docker daemon of their own (test/integration/
// daemon.ts), so that nothing else on the machine removes or adds step images
// meanwhile (another checkout's test run cleaning up its rep-cache tags, say):
//   npx tsx benchmarks/owndaemon.ts [--large]
// The daemon gets busybox:latest from the host's, and is stopped (by pid) and
// removed afterwards.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { startSecondDaemon } from '../test/integration/daemon.js';

const daemon = await startSecondDaemon();
let code = 1;
try {
  const env = { ...process.env, ...daemon.env };
  const save = spawn('docker', ['save', 'busybox:latest'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const load = spawn('docker', ['load', '-q'], { env, stdio: ['pipe', 'inherit', 'inherit'] });
  save.stdout.pipe(load.stdin);
  await new Promise((r) => load.on('exit', r));
  const run = spawnSync(process.execPath, [path.join(import.meta.dirname, 'run.mjs'), ...process.argv.slice(2)], { env, stdio: 'inherit' });
  code = run.status ?? 1;
} finally {
  await daemon.stop();
}
process.exitCode = code;
