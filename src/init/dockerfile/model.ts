// What a converted Dockerfile becomes before it is written as a Repfile:
// steps (in Dockerfile order), the image settings, and the notes on what
// could not be converted (each with its Dockerfile line), shared by the
// converter and the renderer.
import path from 'node:path';
import { shellQuote } from '../../emit/dockerfile.js';
import type { ImageSpec } from '../../repfile/recipe.js';

export interface DraftStep {
  name: string;
  /** First and last Dockerfile line it came from. */
  lines: [number, number];
  from?: string;
  needs: string[];
  inputs: string[];
  workdir?: string;
  env: [string, string][];
  user?: string;
  shell?: string[];
  run: string[];
  outputs: string[];
  /** Comment lines written above its fields (instructions not converted, how a copy was done). */
  comments: string[];
}

/** The image settings a Dockerfile can give, as the Repfile's image has them (labels in Dockerfile order). */
export type ImageSettings = Pick<ImageSpec, 'cmd' | 'entrypoint' | 'expose' | 'volumes'>;

export interface DraftImage extends ImageSettings {
  from: string;
  labels: [string, string][];
}

/** An instruction (or a part of one) rep cannot express, reported on the terminal and kept as a comment. */
export interface Note {
  line: number;
  message: string;
}

export interface Converted {
  base: string;
  steps: DraftStep[];
  image: DraftImage;
  notes: Note[];
}

/** A value as one single-quoted POSIX shell word. */
export const sq = (s: string) => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : shellQuote(s));

/** An absolute path, normalized, without a trailing slash (but "/"). */
export function absolute(p: string, cwd: string): string {
  const n = path.posix.normalize(p.startsWith('/') ? p : `${cwd}/${p}`);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

/** An absolute path and the folders above it, up to "/". */
export function withParents(p: string): string[] {
  const out = [p];
  while (out[out.length - 1] !== '/') out.push(path.posix.dirname(out[out.length - 1]!));
  return out;
}
