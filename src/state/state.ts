// .rep/state.json: what the last build recorded for each step. Read to decide
// freshness (engine "none") and to explain staleness; written atomically.
import path from 'node:path';
import { prettyJson } from '../canonical.js';
import type { StepMaterial } from '../plan/key.js';
import { readJsonFile, writeFileAtomic } from './files.js';

export const STATE_VERSION = 1;

export interface StepRecord {
  key: string;
  material: StepMaterial;
  /** Content digest of the step's declared outputs, when an engine measured it. */
  outputsDigest?: string;
  /** Image id the engine built for this key. */
  image?: string;
}

export interface State {
  version: number;
  repfileSha256: string;
  engine: string;
  target: string;
  steps: Record<string, StepRecord>;
}

export const stateDir = (contextDir: string) => path.join(contextDir, '.rep');
const stateFile = (contextDir: string) => path.join(stateDir(contextDir), 'state.json');

export function readState(contextDir: string): State | undefined {
  return readJsonFile<State>(stateFile(contextDir), (s) => s.version === STATE_VERSION);
}

export function writeState(contextDir: string, state: State): void {
  writeFileAtomic(stateFile(contextDir), prettyJson(state));
}
