// Which build file of a repository `rep init` converts instead of reading
// environment files, found as repo2docker finds it: in binder/ (or .binder/)
// when there is one, which then shadows the root; a Dockerfile there is
// converted, a default.nix (repo2docker's Nix buildpack) is refused. The
// Dockerfile is read bounded, as hostile text, and the Repfile made from
// it is loaded by rep before it is written.
import { lstatSync } from 'node:fs';
import path from 'node:path';
import { fail, ok, printable, type Result } from '../../diag.js';
import { buildDag } from '../../graph/dag.js';
import { parseRepfile } from '../../repfile/load.js';
import { kindOf, readBounded } from '../../safefs.js';
import type { Kind } from './copy.js';
import { convertDockerfile } from './convert.js';
import type { Note } from './model.js';
import { parseDockerfile } from './parse.js';
import { renderConverted } from './renderrepfile.js';
import { utf8Text } from '../../utf8.js';

/** The most of a Dockerfile rep init reads (real ones are a few KiB). */
export const DOCKERFILE_LIMIT = 256 << 10;

export type BuildFile = { kind: 'dockerfile' | 'nix'; rel: string } | { kind: 'refused'; rel: string; message: string };

/**
 * The Dockerfile or default.nix repo2docker would build from `envDir` ("" for
 * the root), if any. One that is not a regular file is refused rather than
 * skipped: repo2docker would follow the link and build it, so a Repfile from
 * the other files would not be what it builds.
 */
export function findBuildFile(repo: string, envDir: string): BuildFile | undefined {
  for (const [name, kind] of [['Dockerfile', 'dockerfile'], ['default.nix', 'nix']] as const) {
    const rel = envDir ? `${envDir}/${name}` : name;
    const st = lstatSync(path.join(repo, rel), { throwIfNoEntry: false });
    if (st?.isFile()) return { kind, rel };
    if (st) return { kind: 'refused', rel, message: `${kindOf(st)}: repo2docker would build it, but rep init converts only a regular file (it does not follow links in a repository); put the ${name} itself there` };
  }
  return undefined;
}

export interface FromDockerfile {
  text: string;
  notes: Note[];
}

/** The Repfile text converted from the Dockerfile `rel` of `repo`, named `name`. */
export function repfileFromDockerfile(repo: string, rel: string, name: string): Result<FromDockerfile> {
  const read = readBounded(path.join(repo, rel), { limit: DOCKERFILE_LIMIT });
  if (!read.ok) return fail({ file: rel, message: read.message });
  const text = utf8Text(read.bytes);
  if (text === undefined) return fail({ file: rel, message: 'not UTF-8 text; rep init converts a Dockerfile of plain text' });
  const parsed = parseDockerfile(text, rel);
  if (!parsed.ok) return parsed;
  const kind = (p: string): Kind => {
    try {
      const st = lstatSync(path.join(repo, p));
      return st.isDirectory() ? 'dir' : 'file';
    } catch {
      return undefined;
    }
  };
  const converted = convertDockerfile(parsed.value, rel, kind);
  if (!converted.ok) return converted;
  const rendered = renderConverted(converted.value, rel, name);
  if (!rendered.ok) {
    const width = parsed.value.instructions.find((i) => i.line === rendered.line)?.text[0]!.length ?? 1;
    return fail({ file: rel, span: { start: { line: rendered.line, col: 1 }, end: { line: rendered.line, col: width + 1 } }, message: rendered.message });
  }
  const out = rendered.text;
  // What rep init writes, rep loads: a Repfile that does not is a bug here, said as such.
  const loaded = parseRepfile(out, { file: path.join(repo, 'Repfile'), displayName: 'Repfile (converted)' });
  const dag = loaded.ok ? buildDag(loaded.value) : loaded;
  if (!dag.ok) return fail(...dag.errors.map((e) => ({ ...e, message: `rep init converted ${rel} into a Repfile rep cannot load (a bug in rep init): ${e.message}` })));
  return ok({ text: out, notes: converted.value.notes.map((n) => ({ ...n, message: printable(n.message) })) });
}
