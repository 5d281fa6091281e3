// What repo2docker reads in Python and conda files, carried over as facts
// (the functions named in each comment are repo2docker's). Every parser takes
// text a repository wrote and never throws: unreadable content reads as
// "nothing declared", and the caller says so.
import { parse as parseToml } from 'smol-toml';
import { isScalar, LineCounter, parseDocument, visit } from 'yaml';
import { dateProblem } from '../repfile/citecheck.js';

/** repo2docker/buildpacks/conda/__init__.py, major_pythons: the version a bare "2" or "3" means, and the default. */
export const MAJOR_PYTHONS: Record<string, string> = { '2': '2.7', '3': '3.10' };
export const DEFAULT_PYTHON = MAJOR_PYTHONS['3']!;

export interface Runtime {
  name: string;
  version?: string;
  /** YYYY-MM-DD */
  date?: string;
}

/**
 * runtime.txt (repo2docker/buildpacks/base.py, BaseImage.runtime): NAME-VERSION,
 * NAME-VERSION-YYYY-MM-DD or NAME-YYYY-MM-DD; anything else is refused.
 */
export function parseRuntime(text: string): Runtime | { error: string } {
  const t = text.trim();
  const parts = t.split('-');
  if (![2, 4, 5].includes(parts.length) || parts.some((p) => p === '')) return { error: `"${t.slice(0, 80)}" is not NAME-VERSION, NAME-VERSION-YYYY-MM-DD or NAME-YYYY-MM-DD` };
  const out: Runtime = { name: parts[0]! };
  if (parts.length === 2 || parts.length === 5) out.version = parts[1];
  if (parts.length >= 4) {
    const date = parts.slice(-3).join('-');
    // Date.parse rolls 2024-02-31 over to March 2; repo2docker (Python's date) refuses it: a day of the calendar, as a citation's.
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || dateProblem(date)) return { error: `"${date}" is not a date YYYY-MM-DD` };
    out.date = date;
  }
  return out;
}

/** x.y of a version ("3" -> "3.10", "2" -> "2.7", "3.11.4" -> "3.11"), as python_version does; undefined when not a version. */
export function pythonXY(v: string): string | undefined {
  const m = /^(\d+)(?:\.(\d+))?/.exec(v);
  if (!m) return undefined;
  return m[2] === undefined ? MAJOR_PYTHONS[m[1]!] : `${m[1]}.${m[2]}`;
}

/** A requirement line that refers to files of the repository (repo2docker/utils.py, is_local_pip_requirement). */
export function isLocalPipRequirement(raw: string): boolean {
  let line = raw.split('#', 1)[0]!.trim();
  if (!line) return false;
  if (/^(-r|-c|--requirement|--constraint)/.test(line)) return true;
  if (line.startsWith('--pre')) return false;
  if (line.startsWith('--') && line.includes('=')) line = line.slice(line.indexOf('=') + 1);
  if (line.startsWith('-')) {
    const rest = line.split(/\s+/).slice(1).join(' ');
    if (!rest) return false;
    line = rest;
  }
  if (line.includes('file://')) return true;
  const p = line.includes('://') ? line.slice(line.indexOf('://') + 3) : line;
  return p.startsWith('.');
}

export const hasLocalRequirement = (text: string) => text.split('\n').some(isLocalPipRequirement);

const toml = (text: string): Record<string, unknown> | undefined => {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};
const table = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** pyproject.toml makes the repository a package only with [project] and [build-system] (PythonBuildPack._is_python_package). */
export function pyprojectIsPackage(text: string): boolean {
  const t = toml(text);
  return t !== undefined && 'project' in t && 'build-system' in t;
}

/** [project] requires-python of a pyproject.toml, which repo2docker satisfies when runtime.txt names no Python. */
export function pyprojectRequiresPython(text: string): string | undefined {
  const v = table(table(toml(text)).project)['requires-python'];
  return typeof v === 'string' ? v : undefined;
}

export interface PipfileFacts {
  /** x.y from Pipfile.lock's _meta.requires, else Pipfile's [requires] (python_full_version, then python_version). */
  python?: string;
  /** Which of the two it came from. */
  pythonFrom?: 'Pipfile.lock' | 'Pipfile';
  /** A dependency installed from a folder of the repository ({path = "."}): pipenv must run after the code is in. */
  localPath: boolean;
}

/** repo2docker/buildpacks/pipfile/__init__.py, PipfileBuildPack.python_version: runtime.txt is not read. */
export function pipfileFacts(pipfile?: string, lock?: string): PipfileFacts {
  const sources: [PipfileFacts['pythonFrom'], Record<string, unknown>][] = [];
  let localPath = false;
  if (lock !== undefined) {
    try {
      const j = table(JSON.parse(lock));
      sources.push(['Pipfile.lock', table(table(j._meta).requires)]);
      for (const group of ['default', 'develop']) for (const dep of Object.values(table(j[group]))) if (typeof table(dep).path === 'string') localPath = true;
    } catch {
      // Not JSON: nothing declared.
    }
  }
  if (pipfile !== undefined) {
    const t = toml(pipfile) ?? {};
    sources.push(['Pipfile', table(t.requires)]);
    for (const group of ['packages', 'dev-packages']) for (const dep of Object.values(table(t[group]))) if (typeof table(dep).path === 'string') localPath = true;
  }
  for (const [from, req] of sources) {
    for (const key of ['python_full_version', 'python_version']) {
      const v = req[key];
      const m = typeof v === 'string' ? /^\d+(\.\d+)*/.exec(v) : null;
      if (m) return { python: pythonXY(m[0]), pythonFrom: from, localPath };
    }
  }
  return { localPath };
}

export interface CondaFacts {
  /** x.y of a `python=...` dependency (CondaBuildPack.python_version). */
  python?: string;
  /** The environment names python, or has a pip section: `python` exists in the image. */
  hasPython: boolean;
  /** The environment has an R (`r-...`) package (CondaBuildPack.uses_r). */
  usesR: boolean;
  /** Its pip section refers to files of the repository: installed after the code (CondaBuildPack._should_preassemble_env). */
  localPip: boolean;
  /** Not a mapping: repo2docker refuses it. */
  error?: string;
  /** Too large or too deeply nested for rep init to read (the facts above are then the defaults). */
  unread?: string;
}

/** The most of an environment file rep init parses (real ones are a few KiB), and the deepest nesting. */
export const CONDA_LIMIT = 256 << 10;
export const CONDA_DEPTH = 64;

/**
 * How deep `text` nests, counted cheaply and never under the truth: open
 * flow brackets, plus the block levels of a line (a stack of rising
 * indentations and the `- `, `? `, `: ` indicators that open the line). It
 * stops past `limit`. The yaml package took seconds and ~700 MB for 1M
 * levels, and a second such parse aborted Node.
 */
export function yamlDepth(text: string, limit: number): number {
  let flow = 0;
  let max = 0;
  const indents: number[] = [];
  for (const line of text.split('\n')) {
    const lead = /^([ \t]*)((?:[-?:](?:[ \t]+|$))*)/.exec(line)!;
    // A line of indicators alone opens its blocks too (its content comes on the lines below, further in).
    if (lead[2]!.length > 0 || (lead[0].length < line.length && line[lead[0].length] !== '#')) {
      const indent = lead[1]!.length;
      while (indents.length && indents[indents.length - 1]! >= indent) indents.pop();
      indents.push(indent);
      // Each indicator opens a block at the column after it: a level of its own for the lines below.
      let column = indent;
      for (const m of lead[2]!.matchAll(/[-?:](?:[ \t]+|$)/g)) indents.push((column += m[0].length));
    }
    for (let k = lead[0].length; k < line.length && max <= limit; k++) {
      const c = line[k];
      if (c === '[' || c === '{') max = Math.max(max, ++flow + indents.length);
      else if ((c === ']' || c === '}') && flow > 0) flow--;
    }
    max = Math.max(max, flow + indents.length);
    if (max > limit) break;
  }
  return max;
}

/**
 * `text` as yaml's parse() reads it, a key twice in a map an error too (as
 * ruamel.yaml, which repo2docker reads it with), found in one pass: the
 * library's own check compares each key with every other (66,364 keys took 23 s).
 */
function parseConda(text: string): unknown {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: true });
  if (doc.errors.length) throw doc.errors[0]!;
  let twice: number | undefined;
  visit(doc, {
    Map: (_k, map) => {
      // As the library compares keys: scalars by their typed value (1 and '1' differ), others never.
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        if (seen.has(pair.key.value) && !Number.isNaN(pair.key.value)) twice ??= pair.key.range?.[0] ?? 0;
        seen.add(pair.key.value);
      }
    },
  });
  if (twice !== undefined) {
    const at = lines.linePos(twice);
    throw new Error(`Map keys must be unique at line ${at.line}, column ${at.col}`);
  }
  return doc.toJS({ maxAliasCount: 100 });
}

export function condaFacts(text: string): CondaFacts {
  const none = { hasPython: false, usesR: false, localPip: false };
  if (text.length > CONDA_LIMIT) return { ...none, unread: `larger than ${CONDA_LIMIT >> 10} KiB` };
  if (yamlDepth(text, CONDA_DEPTH) > CONDA_DEPTH) return { ...none, unread: `nested more than ${CONDA_DEPTH} deep` };
  let doc: unknown;
  try {
    doc = parseConda(text) ?? {};
  } catch (e) {
    return { hasPython: false, usesR: false, localPip: false, error: `not YAML (${(e as Error).message.split('\n')[0]!.replace(/:$/, '')})` };
  }
  if (typeof doc !== 'object' || Array.isArray(doc)) return { hasPython: false, usesR: false, localPip: false, error: 'not a mapping of conda environment fields' };
  const deps = (doc as { dependencies?: unknown }).dependencies;
  const list = Array.isArray(deps) ? deps : [];
  const out: CondaFacts = { hasPython: false, usesR: false, localPip: false };
  for (const d of list) {
    if (typeof d === 'string') {
      const py = /^python\s*=+\s*([\d.]*)/.exec(d);
      if (py && out.python === undefined && py[1]) out.python = pythonXY(py[1]);
      if (d.startsWith('r-')) out.usesR = true;
      if (/^python\s*([=<>!~ ]|$)/.test(d)) out.hasPython = true;
    } else {
      const pip = table(d).pip;
      if (Array.isArray(pip)) out.hasPython = true;
      if (Array.isArray(pip) && pip.some((l) => typeof l === 'string' && isLocalPipRequirement(l))) out.localPip = true;
    }
  }
  return out;
}
