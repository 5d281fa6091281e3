import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { afterAll } from 'vitest';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { openProject, type Project } from '../src/project.js';
import { formatDiagnostic } from '../src/diag.js';
import type { Engine, ImageSummary } from '../src/engine/engine.js';
import { NoneEngine } from '../src/engine/none.js';

export const REPO = path.resolve(import.meta.dirname, '..');
export const CLI = path.join(REPO, 'dist', 'bin', 'rep.mjs');

export type Tree = Record<string, string | { link: string } | { mode: number; text: string }>;

/**
 * Temporary folders a test file removes after its tests: `make` creates one,
 * `add` hands over one made elsewhere (a project). Call once per file, at its top.
 */
export function tempFolders(): { make: (prefix: string) => string; add: (dir: string) => string } {
  const made: string[] = [];
  afterAll(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });
  const add = (dir: string) => (made.push(dir), dir);
  return { make: (prefix) => add(mkdtempSync(path.join(tmpdir(), prefix))), add };
}

/** A fresh project directory holding `tree`. */
export function makeProject(tree: Tree, prefix = 'rep-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  writeTree(dir, tree);
  return dir;
}

export function writeTree(dir: string, tree: Tree): void {
  for (const [rel, v] of Object.entries(tree)) {
    const abs = path.join(dir, rel);
    mkdirSync(path.dirname(abs), { recursive: true });
    if (typeof v === 'string') writeFileSync(abs, v);
    else if ('link' in v) symlinkSync(v.link, abs);
    else {
      writeFileSync(abs, v.text);
      chmodSync(abs, v.mode);
    }
  }
}

export function open(dir: string): Project {
  const p = openProject({ cwd: dir });
  if (!p.ok) throw new Error(p.errors.map(formatDiagnostic).join('\n'));
  return p.value;
}

/** Diagnostics of a project that must fail to open, one line each. */
export function openErrors(dir: string): string[] {
  const p = openProject({ cwd: dir });
  if (p.ok) throw new Error('expected the project to fail to open');
  return p.errors.map(formatDiagnostic);
}

export function rep(dir: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// NoneEngine's methods take no arguments; a stand-in's take the Engine interface's.
const EngineBase = NoneEngine as unknown as new () => Engine;

/**
 * A stand-in engine whose images are `tags` (reference -> image id): looked up, tagged and listed by
 * name as docker does (a tag moved to the image its source names). Subclasses build, load, remove.
 */
export class TaggedEngine extends EngineBase {
  constructor(readonly tags: Map<string, string>) {
    super();
  }
  override async hasImage(ref: string) {
    return this.tags.has(ref);
  }
  override async imageIds(refs: readonly string[]) {
    return new Map(refs.map((r) => [r, this.tags.get(r)] as const));
  }
  override async tag(src: string, dst: string) {
    this.tags.set(dst, this.tags.get(src) ?? src);
  }
  override async listImages(repository: string): Promise<ImageSummary[]> {
    const out = new Map<string, ImageSummary>();
    for (const [ref, id] of this.tags) {
      if (!ref.startsWith(`${repository}:`)) continue;
      const s = out.get(id) ?? { id, tags: [], size: 0, layers: [] };
      s.tags.push(ref.slice(repository.length + 1));
      out.set(id, s);
    }
    return [...out.values()];
  }
}
