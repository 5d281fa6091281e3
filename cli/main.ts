#!/usr/bin/env node
// rep's entry point. A `rep build` with nothing to do is answered here,
// before the rest of rep loads (src/commands/quick.ts): that answer is most of
// what an edit-build loop and CI see. Every other command line, and every
// build the quick path cannot vouch for, goes to the command line proper.
import { quickArgs, quickNoop } from '../src/commands/quick.js';
import { nothingToBuild, out } from './print.js';

const args = quickArgs(process.argv.slice(2));
const answer = args ? await quickNoop(args).catch(() => undefined) : undefined;
if (answer) out(nothingToBuild(answer.steps, answer.engine, answer.tag));
else await import('./program.js');
