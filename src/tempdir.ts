// Temporary folders with an owner: each is removed when the work that made it
// is done (success or failure), when the process exits, and on SIGINT/SIGTERM.
// On a signal that nobody else handles, the folders go first and the process
// then exits 130 (SIGINT) or 143 (SIGTERM), as the command line does for an
// interrupted build; when a command handles the signal itself (a build that
// stops its engine run), its own `finally` and the exit hook remove them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const live = new Set<string>();
const SIGNALS = { SIGINT: 130, SIGTERM: 143 } as const;
type Sig = keyof typeof SIGNALS;

const removeAll = () => {
  for (const dir of live) rmSync(dir, { recursive: true, force: true });
  live.clear();
};

const onSignal = (sig: Sig) => {
  // Another listener (a command stopping its build) decides when to exit.
  if (process.listenerCount(sig) > 1) return;
  removeAll();
  process.stderr.write('\nrep: interrupted\n');
  process.exit(SIGNALS[sig]);
};
const handlers = { SIGINT: () => onSignal('SIGINT'), SIGTERM: () => onSignal('SIGTERM') };

function hook(on: boolean): void {
  const method = on ? 'on' : 'off';
  process[method]('exit', removeAll);
  for (const sig of Object.keys(SIGNALS) as Sig[]) process[method](sig, handlers[sig]);
}

export interface TempDir {
  readonly path: string;
  /** Removes the folder and everything in it (again: nothing). */
  remove(): void;
}

/** A new folder under the system's temporary folder, named PREFIX-XXXXXX; the caller removes it. */
export function makeTempDir(prefix: string): TempDir {
  const dir = mkdtempSync(path.join(tmpdir(), `${prefix}-`));
  if (live.size === 0) hook(true);
  live.add(dir);
  return {
    path: dir,
    remove() {
      if (!live.delete(dir)) return;
      rmSync(dir, { recursive: true, force: true });
      if (live.size === 0) hook(false);
    },
  };
}

/** Runs `work` with a new temporary folder, removed afterwards whatever happens. */
export async function withTempDir<T>(prefix: string, work: (dir: string) => Promise<T>): Promise<T> {
  const t = makeTempDir(prefix);
  try {
    return await work(t.path);
  } finally {
    t.remove();
  }
}
