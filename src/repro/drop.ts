// Files a reproducible image leaves out of the layers rep's steps made,
// because they differ on every run whatever the inputs: caches keyed by
// inode or time, logs with timestamps, backup copies of databases. The list
// is documented in docs/reproducible.md; a Repfile adds to it with
// `reproducible: {drop: [...]}`. Patterns are picomatch globs on paths inside
// the image, without the leading "/"; a matching folder drops all under it.
// picomatch makes each pattern's expression and JsRegexp runs it: the paths
// come from what a Repfile's steps made, and V8 can backtrack for hours on
// a path chosen for a pattern.
import picomatch from 'picomatch';
import { JsRegexp, JsRegexpError } from '../context/jsregexp.js';

export const DEFAULT_DROP: readonly string[] = [
  // ldconfig's cache of library inodes and mtimes
  'var/cache/ldconfig/aux-cache',
  // dpkg and apt logs: every line is stamped with the time
  'var/log/dpkg.log',
  'var/log/alternatives.log',
  'var/log/apt/**',
  // apt's downloaded package lists and its binary caches (rebuilt on demand; their bytes hold times)
  'var/lib/apt/lists/**',
  'var/cache/apt/*.bin',
  // debconf's and dpkg's previous copies of their databases
  'var/cache/debconf/*-old',
  'var/lib/dpkg/*-old',
];

function expression(pattern: string): string {
  return picomatch.makeRe(pattern, { dot: true }).source;
}

/** What is wrong with drop patterns JsRegexp will not run (one, or all of them with the default list), or undefined. */
export function dropPatternProblem(pattern: string | readonly string[]): string | undefined {
  try {
    // As dropMatcher makes it: one expression of every pattern, the default list's too.
    new JsRegexp(typeof pattern === 'string' ? expression(pattern) : [...DEFAULT_DROP, ...pattern].map(expression));
    return undefined;
  } catch (e) {
    if (e instanceof JsRegexpError) return `its regular expression has ${e.message}, which rep does not run`;
    return (e as Error).message;
  }
}

/** Whether a path (no leading "/") is dropped: it or a folder above it matches a pattern. */
export function dropMatcher(patterns: readonly string[]): (path: string) => boolean {
  if (patterns.length === 0) return () => false;
  // The patterns' expressions, tested as picomatch's matcher tests them (the path itself, or its
  // expression) without the result object that matcher makes per call.
  const literal = new Set(patterns);
  // No step budget: time is linear in the paths of the layers, which tarindex bounds, and a budget spent
  // over a large image stopped a rewrite after the build.
  const re = new JsRegexp(patterns.map(expression), { budget: Infinity });
  const match = (p: string) => p !== '' && (literal.has(p) || re.test(p));
  // A layer names each folder once and many paths in it: what a folder's answer is, is kept
  // (100k entries at times; trying every prefix of every path again made most of a rewrite's garbage).
  const folders = new Map<string, boolean>();
  const folder = (dir: string): boolean => {
    // Up to the first folder whose answer is known (none: not dropped), then down again, answering each.
    const unknown: string[] = [];
    let known: boolean | undefined;
    for (let d = dir; (known = folders.get(d)) === undefined; ) {
      unknown.push(d);
      const up = d.lastIndexOf('/');
      if (up <= 0) break;
      d = d.slice(0, up);
    }
    let answer = known ?? false;
    for (let i = unknown.length - 1; i >= 0; i--) {
      answer ||= match(unknown[i]!);
      folders.set(unknown[i]!, answer);
    }
    return answer;
  };
  return (p: string) => {
    if (match(p)) return true;
    const up = p.lastIndexOf('/');
    return up > 0 && folder(p.slice(0, up));
  };
}

/**
 * What a container engine leaves in a layer of its own accord, when the
 * image below lacks it: the folders it mounts over (/dev, /proc, /sys, and
 * /etc, /run for the files it mounts there), left empty, and the empty files
 * it mounts over (/etc/hosts, /etc/resolv.conf, /etc/hostname, /.dockerenv,
 * /run/.containerenv), and docker's /etc/mtab link to the kernel's list of
 * mounts. Classic docker makes them outside the layer, BuildKit and podman
 * inside it. Anything with content is the step's and is kept, and so is a link
 * anywhere else (a step's `ln -s /run/systemd/resolve/stub-resolv.conf
 * /etc/resolv.conf`).
 */
const MOUNT_DIRS = ['dev', 'proc', 'sys', 'etc', 'run'];
const MOUNT_FILES = ['etc/hosts', 'etc/resolv.conf', 'etc/hostname', 'etc/mtab', '.dockerenv', 'run/.containerenv'];
const MTAB_TARGETS = ['/proc/mounts', '/proc/self/mounts', '../proc/mounts', '../proc/self/mounts'];

export function engineArtefacts(entries: ReadonlyMap<string, { type: string; size: number; linkname?: string }>, below: ReadonlyMap<string, unknown>): string[] {
  const out: string[] = [];
  for (const f of MOUNT_FILES) {
    const e = entries.get(f);
    if (!e || below.has(f)) continue;
    if ((e.type === '0' && e.size === 0) || (e.type === '2' && f === 'etc/mtab' && MTAB_TARGETS.includes(e.linkname ?? ''))) out.push(f);
  }
  for (const d of MOUNT_DIRS) {
    const e = entries.get(d);
    if (!e || e.type !== '5' || below.has(d)) continue;
    const inside = [...entries.keys()].filter((p) => p.startsWith(`${d}/`));
    if (inside.every((p) => out.includes(p))) out.push(d);
  }
  return out;
}
