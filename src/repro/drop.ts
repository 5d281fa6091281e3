// Files a reproducible image leaves out of the layers rep's steps made,
// because they differ on every run whatever the inputs: caches keyed by
// inode or time, logs with timestamps, backup copies of databases. The list
// is documented in docs/reproducible.md; a Repfile adds to it with
// `reproducible: {drop: [...]}`. Patterns are picomatch globs on paths inside
// the image, without the leading "/"; a matching folder drops all under it.
import picomatch from 'picomatch';

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

/** Whether a path (no leading "/") is dropped: it or a folder above it matches a pattern. */
export function dropMatcher(patterns: readonly string[]): (path: string) => boolean {
  if (patterns.length === 0) return () => false;
  const match = picomatch([...patterns], { dot: true });
  return (p: string) => {
    let at = p.length;
    for (;;) {
      if (match(p.slice(0, at))) return true;
      at = p.lastIndexOf('/', at - 1);
      if (at <= 0) return false;
    }
  };
}
