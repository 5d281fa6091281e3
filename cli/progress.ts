// Rendering build events: a live status line on a terminal, plain lines when
// CI is set or output is not a terminal, or one JSON object per line.
import type { BuildEvent, CacheLeftOut } from '../src/scheduler/events.js';
import { formatReasons } from '../src/plan/reasons.js';
import { printable, terminalJson } from '../src/diag.js';

/**
 * What a step's commands or the engine printed, as the terminal shows it: control characters
 * (escape sequences that set the title, write the clipboard, move the cursor) as \xNN, a tab as spaces.
 */
const shown = (s: string) => printable(s.replace(/\t/g, '    '));

/** Why a step's image did not go to --cache-to, as the line after the export says it. */
const LEFT_OUT: Record<CacheLeftOut, string> = {
  moved: 'its rep-cache tag names another image now',
  untagged: 'its rep-cache tag is gone',
  gone: 'its image is gone from the engine',
};

export type ProgressMode = 'tty' | 'plain' | 'json';

export function progressMode(json: boolean, env = process.env, stream: NodeJS.WriteStream = process.stdout): ProgressMode {
  if (json) return 'json';
  return stream.isTTY && !env.CI ? 'tty' : 'plain';
}

export function renderer(mode: ProgressMode, write: (s: string) => void = (s) => process.stdout.write(s)) {
  const building = new Map<string, string>();
  let status = '';
  const clear = () => {
    if (mode === 'tty' && status) write('\r\x1b[K');
  };
  const redraw = () => {
    if (mode !== 'tty') return;
    const names = [...building.keys()];
    const width = Math.max(20, (process.stdout.columns || 80) - 1);
    status = names.length ? `building ${names.join(', ')}: ${[...building.values()].pop()!}`.slice(0, width) : '';
    if (status) write(`\r\x1b[K${status}`);
  };
  const line = (s: string) => {
    clear();
    write(`${s}\n`);
    redraw();
  };
  return (e: BuildEvent) => {
    if (mode === 'json') {
      write(`${terminalJson(JSON.stringify(e))}\n`);
      return;
    }
    switch (e.type) {
      case 'start':
      case 'step-cached':
      case 'outputs-measured':
      case 'image-tagged':
        return;
      case 'step-building':
        building.set(e.step, '');
        line(`build   ${e.step}: ${formatReasons(e.reasons)}`);
        return;
      case 'step-line':
        if (mode === 'tty') {
          building.set(e.step, shown(e.line));
          clear();
          redraw();
        }
        return;
      case 'step-built':
        building.delete(e.step);
        line(`built   ${e.step} (${e.seconds.toFixed(1)}s)`);
        return;
      case 'step-failed':
        building.delete(e.step);
        line(
          e.error
            ? `failed  ${e.step}: ${shown(e.error)}${e.tail.map((l) => `\n  | ${shown(l)}`).join('')}`
            : e.engineDown
              ? `failed  ${e.step}: ${shown(e.engineDown)}${e.log ? `; log: ${shown(e.log)}` : ''}\n${e.tail.slice(-5).map((l) => `  | ${shown(l)}`).join('\n')}`
              : `failed  ${e.step} (exit ${e.exitCode})${e.log ? `; full log: ${shown(e.log)}` : ''}\n${e.tail.map((l) => `  | ${shown(l)}`).join('\n')}`,
        );
        return;
      case 'waiting':
        line(`wait    another rep build (${e.pid > 0 ? `pid ${e.pid}` : 'its pid unknown'}) holds the project (${shown(e.file)}); waiting for it, Ctrl-C to stop`);
        return;
      case 'step-pulled':
        line(`pulled  ${e.step} from ${shown(e.from)}`);
        return;
      case 'cache-unused':
        line(`cache   ${shown(e.from)} not used: ${shown(e.why)}`);
        return;
      case 'cache-exported':
        line(`cache   ${e.steps} steps to ${shown(e.to)}${e.leftOut ? ` (${e.leftOut.length} left out: ${e.leftOut.map((l) => `${shown(l.step)}, ${LEFT_OUT[l.why]}`).join('; ')})` : ''}`);
        return;
      case 'step-skipped':
        line(`skipped ${e.step}: ${shown(e.because)}`);
        return;
      case 'finish':
        clear();
        status = '';
        return;
      default: {
        const never: never = e;
        return never;
      }
    }
  };
}
