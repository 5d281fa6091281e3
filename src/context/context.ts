// The build context of a Recipe: its directory and .dockerignore rules, and
// the files it holds.
import path from 'node:path';
import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import { readBounded, resolveInRoot, rootPathInRoot } from '../safefs.js';
import { DockerIgnore } from './dockerignore.js';
import { walkContext, type ContextFile } from './files.js';
import { utf8Name } from '../utf8.js';

/** The .dockerignore errors said one by one; past them, one line counts the rest. */
const MAX_IGNORE_ERRORS = 20;

export interface BuildContext {
  dir: string;
  ignore: DockerIgnore;
  /** Text of .dockerignore ("" when there is none), part of what a build depends on. */
  ignoreText: string;
}

export function loadContext(dir: string): Result<BuildContext> {
  const file = path.join(dir, '.dockerignore');
  let text = '';
  // A regular file, bounded: never /dev/zero, a FIFO or a folder. A link is followed as BuildKit follows it,
  // inside the context (a link to /srv/ignore reads <context>/srv/ignore), never to a file of the host.
  // BuildKit resolves it twice: as FollowPaths chooses what to send (a link's text cleaned before it is
  // followed), and as it reads it in what was sent (continuity's RootPath: a ".." after a link goes up from
  // where the link leads). Where the two differ, what BuildKit reads is not what rep could read: refused.
  const sent = resolveInRoot(dir, '.dockerignore');
  const at = rootPathInRoot(dir, '.dockerignore');
  if (sent !== at && sent !== undefined && at !== undefined) {
    const shown = (p: string) => JSON.stringify(path.relative(dir, p) || '.');
    return fail({ file: '.dockerignore', message: `is a link that BuildKit follows two ways (to ${shown(sent)} when it sends the context, to ${shown(at)} when it reads it): point it at the file itself` });
  }
  const read = at === undefined || sent === undefined ? { ok: false as const, code: 'ELOOP', message: 'is a loop of links' } : readBounded(at, { follow: false });
  if (read.ok) {
    // The byte order mark is kept: parseDockerignore drops one, as Docker does (a second is a pattern's).
    const decoded = utf8Name(read.bytes);
    // Docker compares a pattern's bytes; rep's would be other characters (U+FFFD).
    if (decoded === undefined) return fail({ file: '.dockerignore', message: 'is not UTF-8 text' });
    text = decoded;
  } else if (read.code !== 'ENOENT' && read.code !== 'ENOTDIR') return fail({ file: '.dockerignore', message: read.message });
  const { ignore, errors } = DockerIgnore.parse(text);
  if (errors.length) {
    const display = path.relative(process.cwd(), file) || file;
    // Split once: split per error, 40,000 bad lines took 59 s.
    const lines = text.split(/\r?\n/);
    const at = (line: number) => ({ start: { line, col: 1 }, end: { line, col: 1 + (lines[line - 1]?.length ?? 1) } });
    const said = errors.slice(0, MAX_IGNORE_ERRORS).map((e): Diagnostic => ({ file: display, span: at(e.line), message: e.message }));
    // Docker stops at the first bad line; the first few say what to mend, the rest is a count.
    const more = errors[MAX_IGNORE_ERRORS];
    if (more) said.push({ file: display, span: at(more.line), message: `and ${errors.length - MAX_IGNORE_ERRORS} more errors from here on, not each said (Docker stops at the first)` });
    return fail(...said);
  }
  return ok({ dir, ignore, ignoreText: text });
}

/** Every file the context holds (after .dockerignore), sorted: what a build sends. */
export function contextFiles(ctx: BuildContext): Result<ContextFile[]> {
  return walkContext(ctx.dir, ctx.ignore);
}
