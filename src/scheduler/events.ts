// What a build reports as it goes: the CLI renders these as a live status
// line, plain lines, or a JSON event stream.
import type { Reason } from '../plan/reasons.js';

/**
 * Why a step's image was left out of a --cache-to export (exportCache): its rep-cache tag names another project's image
 * now (`moved`) or none (`untagged`), or the image the build settled is gone from the engine (`gone`).
 */
export type CacheLeftOut = 'moved' | 'untagged' | 'gone';

export type BuildEvent =
  /** Another rep build holds the project (`file`, its mutex, as shown; `pid` -1: unknown): this one waits for it, said once. */
  | { type: 'waiting'; pid: number; file: string }
  | { type: 'start'; engine: string; steps: number }
  | { type: 'step-cached'; step: string; key: string }
  | { type: 'step-pulled'; step: string; key: string; from: string }
  /** `steps` went to the cache; `leftOut`, when there are any, did not (the others went all the same). */
  | { type: 'cache-exported'; to: string; steps: number; leftOut?: { step: string; why: CacheLeftOut }[] }
  | { type: 'cache-unused'; from: string; why: string }
  | { type: 'step-building'; step: string; key: string; reasons: Reason[] }
  | { type: 'step-line'; step: string; line: string }
  | { type: 'step-built'; step: string; key: string; imageId: string; seconds: number }
  /**
   * exitCode and tail are the engine build's; `error` (one line, e.g. a located
   * `Repfile:9:14: steps.data.outputs: ...`) says why when the step failed
   * outside its build (exitCode is then 1).
   */
  | { type: 'step-failed'; step: string; key: string; exitCode: number; tail: string[]; log: string; engineDown?: string; error?: string }
  | { type: 'step-skipped'; step: string; because: string }
  | { type: 'outputs-measured'; step: string; digest: string }
  | { type: 'image-tagged'; tag: string; imageId: string }
  | { type: 'finish'; ok: boolean; built: number; cached: number; seconds: number };

export type StepStatus = 'cached' | 'built' | 'recorded' | 'failed' | 'skipped' | 'cancelled';
