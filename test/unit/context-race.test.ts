// The context changing while rep reads it (a script rewriting a folder during a build): a file
// removed between the walk and its hash, or a folder between its parent's read and its own, is
// said with its place, never as an errno line. Each race is made deterministic: walk, change, hash.
import fs, { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sumContext } from '../../src/commands/context.js';
import { loadContext } from '../../src/context/context.js';
import { StatCache, UnreadableInput } from '../../src/context/hash.js';
import { walkContext, type ContextFile } from '../../src/context/files.js';
import { DockerIgnore } from '../../src/context/dockerignore.js';
import { exitCode, formatDiagnostic, type Diagnostic } from '../../src/diag.js';
import { makeProject, tempFolders } from '../helpers.js';

const temps = tempFolders();

const project = () => temps.add(makeProject({ 'a.txt': 'a', 'src/d/f1': '1', 'src/d/f2': '2', 'src/e.txt': 'e' }));

function walked(dir: string): ContextFile[] {
  const ctx = loadContext(dir);
  if (!ctx.ok) throw new Error(ctx.errors.map(formatDiagnostic).join('\n'));
  const r = walkContext(dir, ctx.value.ignore);
  if (!r.ok) throw new Error(r.errors.map(formatDiagnostic).join('\n'));
  return r.value;
}

/** What hashing `files` threw: the diagnostic of an UnreadableInput, or the error itself. */
function hashing(dir: string, files: readonly ContextFile[]): unknown {
  try {
    StatCache.forContext(dir).hashAll(files);
    return 'hashed';
  } catch (e) {
    return e instanceof UnreadableInput ? e.diagnostic : e;
  }
}

const removed = 'was removed after the context was listed; build again once nothing is changing it';

describe('a context that changes while rep hashes it', () => {
  it('names a file removed after the walk listed it, exit 1 (it threw ENOENT: no such file or directory, open ...)', () => {
    const dir = project();
    const files = walked(dir);
    rmSync(path.join(dir, 'src/d/f2'));
    const said = hashing(dir, files);
    expect(said).toEqual({ kind: 'io', file: 'src/d/f2', message: removed });
    // As the CLI prints it, and the exit code its kind gives: the tree changed, the Repfile is not wrong.
    expect(formatDiagnostic(said as Diagnostic)).toBe(`rep: src/d/f2: ${removed}`);
    expect(exitCode([said as Diagnostic])).toBe(1);
  });

  it('names a file whose folder was replaced by a file after the walk (ENOTDIR)', () => {
    const dir = project();
    const files = walked(dir);
    rmSync(path.join(dir, 'src/d'), { recursive: true });
    writeFileSync(path.join(dir, 'src/d'), 'now a file');
    expect(hashing(dir, files)).toEqual({ kind: 'io', file: 'src/d/f1', message: removed });
  });

  it('rep context --sums says the removed file with its place too', () => {
    const dir = project();
    const files = walked(dir);
    const ctx = loadContext(dir);
    if (!ctx.ok) throw new Error();
    rmSync(path.join(dir, 'src/d'), { recursive: true });
    let thrown: unknown;
    try {
      sumContext({ ctx: ctx.value, files });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(UnreadableInput);
    expect((thrown as UnreadableInput).diagnostic).toEqual({ kind: 'io', file: 'src/d/f1', message: removed });
  });

  it('says a file that became a link after the walk as the same race (exit 1), with its own words', () => {
    const dir = project();
    const files = walked(dir);
    rmSync(path.join(dir, 'a.txt'));
    fs.symlinkSync('src/e.txt', path.join(dir, 'a.txt'));
    const said = hashing(dir, files) as Diagnostic;
    expect(said).toEqual({ kind: 'io', file: 'a.txt', message: 'became a link after the context was listed, so rep does not read it; build again once nothing is changing it' });
    expect(exitCode([said])).toBe(1);
  });

  it('passes over a folder removed between the read of its parent and its own, as a file removed so (it said "src/d: cannot read this folder (ENOENT)", exit 2)', () => {
    const dir = project();
    // The walk reads src/, then src/d: src/d is removed just before its own read.
    const real = fs.readdirSync;
    fs.readdirSync = ((...args: Parameters<typeof real>) => {
      if (String(args[0]) === path.join(dir, 'src/d')) rmSync(path.join(dir, 'src/d'), { recursive: true, force: true });
      return real(...args);
    }) as typeof real;
    syncBuiltinESMExports();
    let w;
    try {
      w = walkContext(dir, new DockerIgnore([]));
    } finally {
      fs.readdirSync = real;
      syncBuiltinESMExports();
    }
    expect(w.ok ? w.value.map((f) => f.path) : w.errors.map(formatDiagnostic)).toEqual(['a.txt', 'src/e.txt']);
    // A folder rep cannot read that is there (not gone) is still the file problem it was.
    mkdirSync(path.join(dir, 'locked'));
    fs.readdirSync = ((...args: Parameters<typeof real>) => {
      if (String(args[0]) === path.join(dir, 'locked')) throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      return real(...args);
    }) as typeof real;
    syncBuiltinESMExports();
    try {
      w = walkContext(dir, new DockerIgnore([]));
    } finally {
      fs.readdirSync = real;
      syncBuiltinESMExports();
    }
    expect(w.ok ? 'ok' : w.errors.map((d) => [formatDiagnostic(d).split(':')[0], exitCode([d])])).toEqual([['locked', 2]]);
  });
});
