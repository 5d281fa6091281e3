#!/usr/bin/env node
// rep's entry point. A `rep build` with nothing to do, and a `rep status`
// with every step fresh, are answered here, before the rest of rep loads
// (src/commands/quick.ts): that answer is most of what an edit-build loop and
// CI see. Every other command line, and every one the quick path cannot vouch
// for, goes to the command line proper.
import { quickArgs, quickNoop, quickStatus } from '../src/commands/quick.js';
import { nothingToBuild, out } from './print.js';

/** Whether the quick path answered (and printed). */
async function quick(argv: readonly string[]): Promise<boolean> {
  const args = quickArgs(argv);
  if (args?.command === 'build') {
    const answer = await quickNoop(args);
    if (answer) out(nothingToBuild(answer.steps, answer.engine, answer.tag));
    return answer !== undefined;
  }
  if (args?.command === 'status') {
    const answer = await quickStatus(args);
    if (answer?.text !== undefined) out(answer.text);
    if (answer) process.exitCode = answer.exitCode;
    return answer !== undefined;
  }
  return false;
}

// Output read only in part (`rep context --list | head`): the reader is gone, and so is anything left to say to it.
// Node throws its EPIPE at the next write, an unhandled 'error' event and a stack trace, as `cat` would not.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(process.exitCode ?? 0);
  });
}

if (!(await quick(process.argv.slice(2)).catch(() => false))) await import('./program.js');
