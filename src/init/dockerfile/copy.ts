// Where the sources of one COPY/ADD land, and how rep puts them there. rep
// copies a step's inputs to WORKDIR/<path in the context> and imports a
// step's outputs at the same path, so a copy is, per source:
// - an input of a step whose workdir W makes W/<source> the Dockerfile's
//   destination (`COPY requirements.txt .`, `COPY app/ /app/`);
// - an import of the same path from another stage (`COPY --from=b /venv /venv`);
// - else a "copy" step in a stage of its own that puts the source at its
//   destination (cp -a) and declares it as an output, imported from there
//   (`COPY src/ /app/`, `COPY --from=b /out/app /usr/local/bin/`).
import { absolute, sq } from './model.js';

export type Kind = 'file' | 'dir' | undefined;

export type Placement =
  | { kind: 'input'; workdir: string; input: string }
  | { kind: 'import'; path: string }
  /** `script` run in a step with the source at /.rep-copy/<input> (local) or in the producer (--from); its output `target`. */
  | { kind: 'relocate'; target: string; input?: string; script: string; contents: boolean }
  | { kind: 'skip'; message: string };

const GLOB = /[*?[]/;
/** Paths a relocation must not replace whole (it removes the target first). */
const SYSTEM = /^\/(bin|boot|dev|etc|home|lib\w*|opt|proc|root|run|sbin|srv|sys|tmp|usr|var)?(\/(bin|lib\w*|local|sbin|share))?(\/(bin|lib|sbin))?$/;
export const STAGING = '/.rep-copy';

/** A glob as one shell word: quoted but for its pattern characters (see SAFE_BRACKETS). */
const globWord = (g: string) => g.split(/([*?]|\[[^\]]*\])/).map((part, i) => (i % 2 ? part : part ? sq(part) : '')).join('');
/**
 * A bracket expression goes into the shell word unquoted (quoting would make
 * its characters literal): only letters, digits, `._-` and a leading `!`/`^`
 * may be in it. `COPY src/[;id>x;]* /app/` turned into a command line that ran `id`.
 */
const SAFE_BRACKETS = (g: string) => [...g.matchAll(/\[([^\]]*)\]/g)].every((m) => /^[!^]?[A-Za-z0-9._-]*$/.test(m[1]!));

/** Ends with `/`, `/.` or is `.`: names a folder. */
export const folderish = (p: string) => p === '.' || p === '..' || p.endsWith('/') || p.endsWith('/.') || p.endsWith('/..');

/** A context source as a rep input: no leading ./ or /, no trailing /, "." for the whole context; undefined when it leaves the context or is not a plain glob. */
export function contextPath(src: string): string | undefined {
  const n = absolute(src, '/');
  if (src.split('/').includes('..') || /[{}()!\\]|\*\*/.test(src)) return undefined;
  return n === '/' ? '.' : n.slice(1);
}

/** The workdir W with W/<rel> === target, if any. */
function workdirFor(target: string, rel: string): string | undefined {
  if (rel === '.') return target;
  if (target === `/${rel}`) return '/';
  return target.endsWith(`/${rel}`) ? target.slice(0, -rel.length - 1) : undefined;
}

function relocation(target: string, source: string, contents: boolean): Placement {
  if (SYSTEM.test(target)) return { kind: 'skip', message: `copies to ${target}, which rep can only reach by replacing that whole folder` };
  const script = contents
    ? `rm -rf ${sq(target)} && mkdir -p ${sq(target)} && cp -a ${sq(source)}/. ${sq(target)}/`
    : `rm -rf ${sq(target)} && mkdir -p ${sq(absolute('..', target))} && cp -a ${sq(source)} ${sq(target)}`;
  return { kind: 'relocate', target, script, contents };
}

/**
 * Whether the sources go into the destination D (`dest` as written) as
 * Docker decides: written as a folder, more than one source or a pattern, or
 * a folder the stage is known to have (`WORKDIR /app` then `COPY f /app`
 * makes /app/f, not a file /app).
 */
export function intoFolder(sources: string[], dest: string, D: string, dirs: ReadonlySet<string>): boolean {
  return folderish(dest) || sources.length > 1 || sources.some((s) => GLOB.test(s)) || dirs.has(D);
}

/**
 * Placements of the local `sources` of a COPY to `dest` (expanded), in a
 * stage whose workdir is `cwd` and that has the folders `dirs`; `kind` says
 * what a context path is.
 */
export function placeLocal(sources: string[], dest: string, cwd: string, kind: (rel: string) => Kind, dirs: ReadonlySet<string> = new Set()): Placement[] {
  const D = absolute(dest, cwd);
  const intoDir = intoFolder(sources, dest, D, dirs);
  return sources.map((src): Placement => {
    const rel = contextPath(src);
    if (rel === undefined) return { kind: 'skip', message: `source ${JSON.stringify(src)} leaves the context or is a pattern rep reads otherwise (rep inputs are globs without {}, (), ! or **)` };
    if (GLOB.test(rel)) {
      const dir = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '.';
      if (GLOB.test(dir)) return { kind: 'skip', message: `source ${JSON.stringify(src)} has a pattern in a folder name` };
      const W = workdirFor(D, dir);
      if (W !== undefined) return { kind: 'input', workdir: W, input: rel };
      if (SYSTEM.test(D)) return { kind: 'skip', message: `copies to ${D}, which rep can only reach by replacing that whole folder` };
      if (!SAFE_BRACKETS(rel)) return { kind: 'skip', message: `source ${JSON.stringify(src)} has a [...] pattern with characters other than letters, digits and ._-, which rep does not put in a shell command` };
      return { kind: 'relocate', target: D, input: rel, contents: true, script: `rm -rf ${sq(D)} && mkdir -p ${sq(D)} && cp -a ${globWord(`${STAGING}/${rel}`)} ${sq(D)}/` };
    }
    const k = kind(rel);
    if (k === undefined) return { kind: 'skip', message: `source ${JSON.stringify(src)} is not in the context` };
    // A folder's contents go to D; a file goes to D/<name> (into a folder) or to D.
    const target = k === 'dir' ? D : intoDir ? absolute(rel.slice(rel.lastIndexOf('/') + 1), D) : D;
    const W = workdirFor(target, rel);
    if (W !== undefined) return { kind: 'input', workdir: W, input: rel };
    const p = relocation(target, `${STAGING}/${rel}`, k === 'dir');
    return p.kind === 'relocate' ? { ...p, input: rel } : p;
  });
}

/**
 * Placements of `sources` copied from another stage or an image (`--from`):
 * paths from its root. A source is taken as a file unless written as a
 * folder (`/out/`), which a caller reports when it moves. A folder the stage
 * has does not make one source go into it: whether the source is a file
 * (which Docker puts in it) or a folder (whose contents Docker copies there)
 * is not known here, and `COPY --from=build /app /app` into WORKDIR /app is
 * a folder's far more often (the caller says which was taken).
 */
export function placeFrom(sources: string[], dest: string, cwd: string): Placement[] {
  const D = absolute(dest, cwd);
  const intoDir = intoFolder(sources, dest, D, new Set());
  return sources.map((src): Placement => {
    if (GLOB.test(src)) return { kind: 'skip', message: `source ${JSON.stringify(src)} is a pattern; rep imports named paths` };
    const S = absolute(src, '/');
    const dir = folderish(src);
    const target = dir || !intoDir ? D : absolute(S.slice(S.lastIndexOf('/') + 1), D);
    if (target === S) return { kind: 'import', path: S };
    return relocation(target, S, dir);
  });
}
