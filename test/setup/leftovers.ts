// What one test run leaves behind is removed when it ends: every test's temp
// folders (projects, bundles, exports) go under one folder through TMPDIR,
// and the images the run tagged in rep's namespaces (rep-cache, rep-test/*,
// rep-verify/*) in docker and podman are removed, while images that were
// there before the run stay.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ENGINES = [process.env.REP_DOCKER || 'docker', process.env.REP_PODMAN || 'podman'];
const OURS = /^(localhost\/)?(rep-cache|rep-test\/[^:]+|rep-verify\/[^:]+):[^:]+$/;

/** Tags in rep's namespaces an engine has now (none when the engine does not answer). */
function repTags(bin: string): Set<string> {
  const r = spawnSync(bin, ['images', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) return new Set();
  return new Set(r.stdout.split('\n').filter((t) => OURS.test(t)));
}

export default function setup(): () => void {
  const dir = mkdtempSync(path.join(tmpdir(), 'rep-tests-'));
  process.env.TMPDIR = dir;
  const before = ENGINES.map((bin) => repTags(bin));
  return () => {
    ENGINES.forEach((bin, i) => {
      const added = [...repTags(bin)].filter((t) => !before[i]!.has(t));
      for (let j = 0; j < added.length; j += 100) spawnSync(bin, ['image', 'rm', '-f', ...added.slice(j, j + 100)], { stdio: 'ignore' });
    });
    rmSync(dir, { recursive: true, force: true });
  };
}
