// The build context of a Recipe: its directory and .dockerignore rules, and
// the files it holds.
import path from 'node:path';
import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import { readBounded } from '../safefs.js';
import { DockerIgnore } from './dockerignore.js';
import { walkContext, type ContextFile } from './files.js';

export interface BuildContext {
  dir: string;
  ignore: DockerIgnore;
  /** Text of .dockerignore ("" when there is none), part of what a build depends on. */
  ignoreText: string;
}

export function loadContext(dir: string): Result<BuildContext> {
  const file = path.join(dir, '.dockerignore');
  let text = '';
  // A regular file (a link to one is fine), bounded: never /dev/zero, a FIFO or a folder.
  const read = readBounded(file, { follow: true });
  if (read.ok) text = read.bytes.toString('utf8');
  else if (read.code !== 'ENOENT') return fail({ file: '.dockerignore', message: read.message });
  const { ignore, errors } = DockerIgnore.parse(text);
  if (errors.length) {
    const display = path.relative(process.cwd(), file) || file;
    return fail(
      ...errors.map(
        (e): Diagnostic => ({
          file: display,
          span: { start: { line: e.line, col: 1 }, end: { line: e.line, col: 1 + (text.split(/\r?\n/)[e.line - 1]?.length ?? 1) } },
          message: e.message,
        }),
      ),
    );
  }
  return ok({ dir, ignore, ignoreText: text });
}

/** Every file the context holds (after .dockerignore), sorted: what a build sends. */
export function contextFiles(ctx: BuildContext): Result<ContextFile[]> {
  return walkContext(ctx.dir, ctx.ignore);
}
