// One temporary folder per test run: every test's temp folders (projects,
// bundles, exports) go under it through TMPDIR, and it is removed when the
// run ends, whatever the tests left behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(path.join(tmpdir(), 'rep-tests-'));
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
