// The typed, validated form of a Repfile that the rest of rep works from.
import type { SourceMap } from './source.js';
import type { PublishDoc } from './schema.js';

export const DEFAULT_WORKDIR = '/work';
/** The epoch when the Repfile names none: 1980-01-01T00:00:00Z, the earliest time a zip file can hold (Python's zipfile refuses earlier ones). */
export const DEFAULT_EPOCH = 315532800;

export interface Step {
  name: string;
  /** Position in the Repfile, for stable ordering. */
  index: number;
  description?: string;
  run: string[];
  inputs: string[];
  needs: string[];
  from?: string;
  outputs: string[];
  /** Sorted by name. */
  env: Record<string, string>;
  workdir?: string;
  user?: string;
  shell?: string[];
  phony: boolean;
  /** Ids of the secrets its commands read. */
  secrets: string[];
}

export type SecretSource = { file: string } | { env: string };

export interface ImageSpec {
  from?: string;
  tag: string;
  cmd?: string | string[];
  entrypoint?: string | string[];
  expose: string[];
  volumes: string[];
  user?: string;
  labels: Record<string, string>;
}

export interface Recipe {
  /** The Repfile as the user named it, for messages ("Repfile"). */
  file: string;
  /** Absolute path of the Repfile. */
  path: string;
  /** Absolute path of the build context. */
  contextDir: string;
  /** sha256 (hex) of the Repfile's bytes. */
  sha256: string;
  name: string;
  base: string;
  workdir: string;
  env: Record<string, string>;
  /** In Repfile order. */
  steps: Step[];
  image: ImageSpec;
  /** Where each secret comes from (file paths relative to the Repfile). */
  secrets: Record<string, SecretSource>;
  /**
   * The canonical rewrite of the image (see src/repro/): the epoch and the
   * Repfile's own drop patterns; undefined when the Repfile says `reproducible: false`.
   */
  reproducible?: { epoch: number; drop: string[] };
  /** Citation metadata for publishing, as written. */
  publish?: PublishDoc;
  source: SourceMap;
}
