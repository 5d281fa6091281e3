// Reading a bundle folder as the hostile input it may be: names must be plain
// relative paths, only regular files are read (never through a link: every
// parent is lstat'ed, the file opened O_NOFOLLOW|O_NONBLOCK and fstat'ed),
// small files are read whole up to a bound, large ones are streamed.
import { createHash } from 'node:crypto';
import { closeSync, constants, createReadStream, fstatSync, lstatSync, openSync, readdirSync, type Dirent } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { formatSize, readOpen } from '../safefs.js';

const MiB = 1 << 20;

/** Why `name` is not a plain relative path (segments joined by "/", none empty, "." or ".."), or undefined. */
export function pathProblem(name: string): string | undefined {
  if (name === '') return 'it is empty';
  if (name.startsWith('/')) return 'it is absolute';
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'it holds a control character';
  if (name.includes('\\')) return 'it holds a backslash';
  for (const seg of name.split('/')) {
    if (seg === '') return 'it has an empty segment';
    if (seg === '.' || seg === '..') return `it has a "${seg}" segment`;
  }
  return undefined;
}

/** A name from a bundle as it may be printed: control and direction characters escaped, long names cut. */
export function shown(name: string, max = 200): string {
  const safe = name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return safe.length > max ? `${safe.slice(0, max)}...` : safe;
}

/** A message that quotes a bundle's text (a Repfile diagnostic), escaped as shown() does, not cut. */
export const escaped = (message: string): string => shown(message, Number.POSITIVE_INFINITY);

type Opened = { fd: number; size: number } | { problem: string };

/** Opens the regular file `name` inside `root` for reading, following no link on the way. */
export function openInside(root: string, name: string): Opened {
  const bad = pathProblem(name);
  if (bad) return { problem: `"${shown(name)}" is not a plain relative path inside the bundle: ${bad}` };
  const parts = name.split('/');
  for (let i = 1; i < parts.length; i++) {
    const rel = parts.slice(0, i).join('/');
    const st = lstatSync(path.join(root, rel), { throwIfNoEntry: false });
    if (!st) return { problem: `missing: ${shown(name)}` };
    if (!st.isDirectory()) return { problem: `${shown(name)}: ${shown(rel)} is not a folder (a link or a file)` };
  }
  const abs = path.join(root, name);
  const st = lstatSync(abs, { throwIfNoEntry: false });
  if (!st) return { problem: `missing: ${shown(name)}` };
  if (!st.isFile()) return { problem: `${shown(name)} is not a regular file (a link, folder, device or pipe); a bundle holds regular files only` };
  let fd: number;
  try {
    fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    return { problem: `cannot read ${shown(name)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  const now = fstatSync(fd);
  if (!now.isFile() || now.ino !== st.ino || now.dev !== st.dev) {
    closeSync(fd);
    return { problem: `${shown(name)} is not a regular file (it changed while being opened)` };
  }
  return { fd, size: now.size };
}

/** The bytes of the regular file `name` inside `root`, if it is at most `limit` bytes. */
export function readInside(root: string, name: string, limit: number): { data: Buffer } | { problem: string } {
  const o = openInside(root, name);
  if ('problem' in o) return o;
  try {
    const r = readOpen(o.fd, limit);
    return r.ok ? { data: r.bytes } : { problem: `${shown(name)}: ${r.message}` };
  } finally {
    closeSync(o.fd);
  }
}

/** A stream of the regular file `name` inside `root` (the descriptor closes with the stream). */
export function streamInside(root: string, name: string): { stream: Readable; size: number } | { problem: string } {
  const o = openInside(root, name);
  if ('problem' in o) return o;
  return { stream: createReadStream('', { fd: o.fd, autoClose: true, highWaterMark: MiB }), size: o.size };
}

/**
 * sha256 of the regular file `name` inside `root`, streamed; `tap`, when
 * given, reads the same bytes at the same time (e.g. to look inside image.tar).
 */
export async function hashInside<T>(root: string, name: string, tap?: (s: Readable) => Promise<T>): Promise<{ sha256: string; tapped?: T } | { problem: string }> {
  const s = streamInside(root, name);
  if ('problem' in s) return s;
  const hash = createHash('sha256');
  const done = new Promise<void>((resolve, reject) => {
    s.stream.on('data', (c) => hash.update(c as Buffer));
    s.stream.on('end', resolve);
    s.stream.on('error', reject);
  });
  const tapping = tap ? tap(s.stream) : Promise.resolve(undefined);
  try {
    const [tapped] = await Promise.all([tapping, done]);
    return { sha256: hash.digest('hex'), tapped };
  } catch (e) {
    s.stream.destroy();
    // The tap's own reason when it failed: it stops the stream, which the hash then calls "aborted" (a
    // refused image.tar read "cannot read image.tar: The operation was aborted"). Not waited for long.
    const why = await Promise.race([tapping.then(() => e, (t: unknown) => t), new Promise((r) => setTimeout(() => r(e), 1000).unref())]);
    return { problem: `cannot read ${shown(name)}: ${escaped((why as Error).message ?? String(why))}` };
  }
}

/** A bundle folder listed: its regular files, the other entries, and a problem for each entry not read. */
export interface Listing {
  files: string[];
  others: string[];
  problems: string[];
}

/**
 * The code of a failed read of the bundle (EACCES, ENAMETOOLONG), for a line that names the entry itself:
 * the error's message holds the path, names from the bundle with whatever escapes they hold.
 */
const codeOf = (e: unknown): string | undefined => {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? shown(code, 40) : undefined;
};

/**
 * Every entry of a bundle folder, relative and sorted: the regular files, and
 * a problem for anything else (a link, device or pipe: none is read), for a
 * folder or file that cannot be read, and for names no SHA256SUMS line could
 * hold; `refused` when the folder is over a bound.
 */
export function listInside(root: string, bounds: { maxEntries: number; maxBytes: number }): Listing | { refused: string } {
  const { maxEntries, maxBytes } = bounds;
  const files: string[] = [];
  const others: [string, string][] = [];
  const unread: string[] = [];
  let count = 0;
  let bytes = 0;
  /** What was read of `rel` and under it; a refusal when over a bound. */
  const visit = (rel: string): string | undefined => {
    let entries: Dirent[];
    try {
      entries = readdirSync(rel ? path.join(root, rel) : root, { withFileTypes: true });
    } catch (e) {
      const code = codeOf(e);
      if (code === undefined) throw e;
      unread.push(rel ? `cannot read the folder ${shown(rel)}: ${code}` : `cannot read the bundle folder: ${code}`);
      return undefined;
    }
    for (const d of entries) {
      const name = rel ? `${rel}/${d.name}` : d.name;
      if (++count > maxEntries) return `the bundle holds more than ${maxEntries} files; if you trust it, raise the bound with --max-files N`;
      const bad = pathProblem(name);
      if (d.isDirectory()) {
        const refused = visit(name);
        if (refused) return refused;
      } else if (!d.isFile()) others.push([name, `${shown(name)} is not a regular file (a link, device or pipe); a bundle holds regular files only`]);
      else if (bad) others.push([name, `"${shown(name)}" cannot be named in SHA256SUMS: ${bad}`]);
      else {
        let size: number;
        try {
          size = lstatSync(path.join(root, name)).size;
        } catch (e) {
          const code = codeOf(e);
          if (code === undefined) throw e;
          others.push([name, `cannot read ${shown(name)}: ${code}`]);
          continue;
        }
        // A folder bundle is bounded as an archive is: a huge (or sparse) file is refused, not hashed for hours.
        bytes += size;
        if (bytes > maxBytes) return `the bundle holds more than ${formatSize(maxBytes)}; if you trust it, raise the bound with --max-size SIZE`;
        files.push(name);
      }
    }
    return undefined;
  };
  const refused = visit('');
  if (refused) return { refused };
  const sort = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  others.sort(([a], [b]) => sort(a, b));
  return { files: files.sort(sort), others: others.map(([n]) => n), problems: [...unread, ...others.map(([, p]) => p)] };
}
