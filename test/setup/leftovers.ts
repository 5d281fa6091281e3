// What one test run leaves behind is removed when it ends: every test's temp
// folders (projects, bundles, exports) go under one folder through TMPDIR,
// and the images the run tagged in rep's namespaces (rep-cache, rep-pin, rep-test/*,
// rep-verify/*) in docker and podman are removed, while images that were
// there before the run stay. Runs that overlap (two worktrees, a developer
// and an agent) share one engine: the last of them to end removes what all
// of them tagged, so none removes an image another is still using.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { alive } from '../../src/state/mutex.js';

const ENGINES = [process.env.REP_DOCKER || 'docker', process.env.REP_PODMAN || 'podman'];
const OURS = /^(localhost\/)?(rep-cache|rep-pin|rep-test\/[^:]+|rep-verify\/[^:]+):[^:]+$/;

/** Tags in rep's namespaces an engine has now (none when the engine does not answer). */
function repTags(bin: string): Set<string> {
  const r = spawnSync(bin, ['images', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.error || r.status !== 0) {
    // Say so: a silent empty answer here once left every podman image of every run behind.
    process.stderr.write(`leftovers: ${bin} images failed: ${r.error?.message ?? r.stderr.trim()}\n`);
    return new Set();
  }
  return new Set(r.stdout.split('\n').filter((t) => OURS.test(t)));
}

/**
 * Untagged images an engine has now (full ids). A run leaves some: a tag it
 * moves (the same Repfile built again, an image rewritten) leaves the image
 * it named untagged, and no tag removal reaches it.
 */
function dangling(bin: string): string[] | undefined {
  const r = spawnSync(bin, ['images', '--filter', 'dangling=true', '--quiet', '--no-trunc'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return r.error || r.status !== 0 ? undefined : r.stdout.split('\n').filter(Boolean);
}

/** Where overlapping runs leave what was there before them: one file per run, named by its pid. */
const RUNS = path.join(tmpdir(), 'vitest-rep-runs');

/** The tags, and the untagged images, each engine had when a run started. */
interface Before {
  tags: Record<string, string[]>;
  dangling?: Record<string, string[]>;
}

const readBefore = (file: string): Before => JSON.parse(readFileSync(file, 'utf8')) as Before;

/** An engine's `CreatedAt` ("2026-11-27 22:19:00 +0000 UTC", podman with a fraction) in ms; NaN if unreadable. */
function createdAt(text: string): number {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.\d+)? ([+-]\d\d)(\d\d)/.exec(text);
  return m ? Date.parse(`${m[1]}T${m[2]}${m[3]}:${m[4]}`) : NaN;
}

export default function setup(): () => void {
  const outer = process.env.TMPDIR;
  const outerState = process.env.XDG_STATE_HOME;
  const dir = mkdtempSync(path.join(tmpdir(), 'rep-tests-'));
  process.env.TMPDIR = dir;
  // rep's seal key (src/state/seal.ts) of this run, not the key of whoever runs the tests.
  process.env.XDG_STATE_HOME = path.join(dir, 'state');
  const own: Before = {
    tags: Object.fromEntries(ENGINES.map((bin) => [bin, [...repTags(bin)]])),
    dangling: Object.fromEntries(ENGINES.flatMap((bin) => {
      const ids = dangling(bin);
      return ids ? [[bin, ids] as const] : [];
    })),
  };
  mkdirSync(RUNS, { recursive: true });
  const mine = path.join(RUNS, `${process.pid}.json`);
  writeFileSync(mine, JSON.stringify(own));
  return () => {
    // podman writes under TMPDIR and fails when it is gone: give it back before asking the engines.
    if (outer === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = outer;
    if (outerState === undefined) delete process.env.XDG_STATE_HOME;
    else process.env.XDG_STATE_HOME = outerState;
    rmSync(dir, { recursive: true, force: true });
    const files = readdirSync(RUNS).filter((f) => f !== `${process.pid}.json`);
    const started = files.filter((f) => /^\d+\.json$/.test(f));
    if (started.some((f) => alive(Number(f.slice(0, -'.json'.length))))) {
      // Another run still uses the engines: the last to end removes what all of them tagged.
      renameSync(mine, path.join(RUNS, `${process.pid}.ended.json`));
      return;
    }
    // Runs that ended before this one (or died) tell what was there before them too.
    const others = files.filter((f) => /^\d+(\.ended)?\.json$/.test(f)).map((f) => path.join(RUNS, f));
    const befores = [own, ...others.map(readBefore)];
    for (const bin of ENGINES) {
      const added = [...repTags(bin)].filter((t) => !befores.every((b) => (b.tags?.[bin] ?? []).includes(t)));
      // Containers rep created from the run's step images to copy outputs out and never removed (a test
      // kills rep with SIGKILL mid-copy): only those still 'created', running `true`, made a minute ago
      // or more (a copy lives for seconds: one of a real build going on now is left alone).
      const ps = spawnSync(bin, ['ps', '-a', '--filter', 'status=created', '--format', '{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedAt}}'], { encoding: 'utf8' });
      const ofOurs = (ps.status === 0 ? ps.stdout.split('\n') : [])
        .map((l) => l.split('\t'))
        .filter(([id, image, command, at]) => id && image && added.includes(image) && /^"?true"?$/.test(command ?? '') && Date.now() - createdAt(at ?? '') > 60_000)
        .map(([id]) => id!);
      if (ofOurs.length) spawnSync(bin, ['rm', ...ofOurs], { stdio: 'ignore' });
      for (let j = 0; j < added.length; j += 100) spawnSync(bin, ['image', 'rm', '-f', ...added.slice(j, j + 100)], { stdio: 'ignore' });
      // Images the runs left untagged (no run is going on now: this is the last to end), known only where
      // every run saw the engine's untagged images when it started. Without -f: one a container still
      // uses stays; twice, for an image that is the parent of another such one.
      const seen = befores.map((b) => b.dangling?.[bin]);
      for (let pass = 0; pass < 2 && seen.every((ids) => ids !== undefined); pass++) {
        const left = (dangling(bin) ?? []).filter((id) => !seen.every((ids) => ids!.includes(id)));
        for (let j = 0; j < left.length; j += 100) spawnSync(bin, ['image', 'rm', ...left.slice(j, j + 100)], { stdio: 'ignore' });
      }
    }
    for (const f of [mine, ...others]) rmSync(f, { force: true });
    try {
      rmdirSync(RUNS);
    } catch {
      // A run started meanwhile: its file keeps the folder.
    }
  };
}
