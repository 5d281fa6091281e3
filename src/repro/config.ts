// The canonical image config: what a container made from the image runs
// (kept from the engine's config, less what only one engine writes), the
// base image's history as it is, one history entry per step naming its key,
// every time at the epoch, and the layers' diff ids. No container id,
// hostname, docker_version, builder or parent image. Written as canonical
// JSON (sorted keys, no blanks): its sha256 is the image ID.
import { createHash } from 'node:crypto';
import { canonicalJson, isJsonMap } from '../canonical.js';

/** The run settings kept from the engine's config (Config.*); all others are left out. */
const KEPT = ['Cmd', 'Entrypoint', 'Env', 'ExposedPorts', 'Healthcheck', 'Labels', 'OnBuild', 'Shell', 'StopSignal', 'User', 'Volumes', 'WorkingDir'] as const;

/** Labels an engine adds of its own accord (podman/buildah: its version). */
const ENGINE_LABELS = ['io.buildah.version'];

/** The PATH Docker's BuildKit writes into a config that has none, and the one every engine runs with then. */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface HistoryStep {
  /** "rep step NAME" or "rep image TAG". */
  createdBy: string;
  /** The step's key, named in the entry's comment. */
  key: string;
  /** Whether the step left a layer. */
  layer: boolean;
}

export interface ConfigInput {
  /** The engine's config of the built image (parsed JSON). */
  built: Record<string, unknown>;
  /** The base image's config (parsed JSON): its history is kept. */
  base: Record<string, unknown>;
  /** Diff ids, base layers first. */
  diffIds: readonly string[];
  steps: readonly HistoryStep[];
  epoch: number;
}

const empty = (v: unknown) => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0) || (isJsonMap(v) && Object.keys(v).length === 0);

/** RFC 3339 time of the epoch, e.g. 1980-01-01T00:00:00Z. */
export const epochTime = (epoch: number) => new Date(epoch * 1000).toISOString().replace(/\.000Z$/, 'Z');

/** The run settings: kept fields that say something, engine labels dropped (unless the base has them), a PATH always. */
export function runSettings(built: Record<string, unknown>, base: Record<string, unknown>): Record<string, unknown> {
  const from = isJsonMap(built.config) ? built.config : isJsonMap(built.Config) ? built.Config : {};
  const baseConfig = isJsonMap(base.config) ? base.config : {};
  const out: Record<string, unknown> = {};
  for (const k of KEPT) if (!empty(from[k])) out[k] = from[k];
  if (isJsonMap(out.Labels)) {
    const baseLabels = isJsonMap(baseConfig.Labels) ? baseConfig.Labels : {};
    const labels = { ...out.Labels };
    for (const l of ENGINE_LABELS) if (labels[l] !== undefined && baseLabels[l] !== labels[l]) delete labels[l];
    if (empty(labels)) delete out.Labels;
    else out.Labels = labels;
  }
  const env = Array.isArray(out.Env) ? (out.Env as unknown[]).filter((v): v is string => typeof v === 'string') : [];
  if (!env.some((v) => v.startsWith('PATH='))) out.Env = [DEFAULT_PATH, ...env];
  return out;
}

/** The config's bytes and digest ("sha256:…", the image ID). */
export function canonicalConfig(i: ConfigInput): { bytes: Buffer; digest: string } {
  const created = epochTime(i.epoch);
  const baseHistory = Array.isArray(i.base.history) ? i.base.history : [];
  const history = [
    ...baseHistory,
    ...i.steps.map((s) => ({ created, created_by: s.createdBy, comment: `rep key ${s.key}`, ...(s.layer ? {} : { empty_layer: true }) })),
  ];
  const config: Record<string, unknown> = {
    architecture: typeof i.built.architecture === 'string' ? i.built.architecture : 'amd64',
    os: typeof i.built.os === 'string' ? i.built.os : 'linux',
    ...(typeof i.built.variant === 'string' && i.built.variant ? { variant: i.built.variant } : {}),
    config: runSettings(i.built, i.base),
    created,
    history,
    rootfs: { type: 'layers', diff_ids: [...i.diffIds] },
  };
  const bytes = Buffer.from(canonicalJson(config));
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}
