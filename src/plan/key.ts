// Step keys: sha256 over a canonical JSON of everything that decides a
// step's result, and nothing else (no mtimes, no absolute paths).
import { randomUUID } from 'node:crypto';
import { sha256Of } from '../canonical.js';
import type { HashedFile } from '../context/hash.js';

/**
 * Raised when the same Repfile and inputs key another build: 3 keeps env
 * values as written (3.10, not 3.1: 27f9180), and drops the images earlier
 * reps built for steps with pattern-named inputs, which BuildKit's file
 * sending could leave without the file (39a5f5a).
 */
export const KEY_FORMAT = 3;

export interface InputRecord {
  type: 'file' | 'symlink';
  /** Octal permission bits, e.g. "644". */
  mode: string;
  sha256: string;
}

export interface ImportRecord {
  paths: string[];
  /** Content digest of the producer's outputs ("sha256:…"), or "key:<producer key>" when the content is not known. */
  digest: string;
}

export interface StepMaterial {
  format: number;
  /** The image a stage starts from (parent is an image). */
  base?: string;
  /** Key of the step this one builds on (parent is a step). */
  parent?: string;
  /** Repfile-wide settings applied where a stage starts from an image. */
  stage?: {
    workdir: string;
    env: Record<string, string>;
    /** SOURCE_DATE_EPOCH every RUN sees (absent when the Repfile turns reproducible images off). */
    epoch?: number;
    /** The platform the engine builds for (os/arch), when it says: a lock pins a base for every platform at once. */
    platform?: string;
    /**
     * The engine's id of the base image, when no digest pins it (no lock, no @sha256: in the
     * Repfile): a tag names whatever was pulled last, and a step on another image is another step.
     */
    baseId?: string;
  };
  def: {
    run: string[];
    env: Record<string, string>;
    /** Effective working directory: where inputs are copied and commands run. */
    workdir: string;
    user?: string;
    shell?: string[];
    phony: boolean;
    /** Ids of the secrets mounted for its commands (never their values). */
    secrets?: string[];
    /**
     * The producers whose outputs it copies, in the order it copies them (`needs`), when there
     * are two or more: where their outputs overlap, the last one's files are the image's.
     */
    imports?: string[];
    /**
     * The paths other steps copy from it (`outputs`), when it has any: its image does not depend on
     * them, but its outputs digest does, which a later build takes from the state by this key.
     */
    outputs?: string[];
  };
  inputs: Record<string, InputRecord>;
  imports: Record<string, ImportRecord>;
  nonce?: string;
}

/** Each permission mode's octal text, made once: a plan holds one per input (100k at times), most of them the same few. */
const modeTexts: string[] = [];
const modeText = (mode: number): string => (Number.isInteger(mode) && mode >= 0 && mode <= 0o7777 ? (modeTexts[mode] ??= mode.toString(8)) : mode.toString(8));

export function inputRecords(files: readonly HashedFile[]): Record<string, InputRecord> {
  // No prototype: an input named __proto__ is a member like the others, not the object's prototype (left out of the key).
  const out = Object.create(null) as Record<string, InputRecord>;
  // Keys in sorted order: the canonical JSON of a key and the pretty JSON of a record take such an object as it is.
  for (const f of files) out[f.path] = { mode: modeText(f.mode), sha256: f.sha256, type: f.type };
  return out;
}

/** What the engine says that a key depends on: the platform it builds for, and the ids of base images no digest pins. */
export interface EngineFacts {
  platform?: string;
  baseIds: ReadonlyMap<string, string>;
}

/** Whether a base reference, as the lock resolves it, is pinned to a digest (else the engine's image id stands for it). */
export const pinned = (resolved: string): boolean => resolved.includes('@');

export function newNonce(): string {
  return randomUUID();
}

export function stepKey(m: StepMaterial): string {
  return `sha256:${sha256Of(m)}`;
}
