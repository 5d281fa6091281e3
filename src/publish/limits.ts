// Bounds on what unpacking someone else's archive may write, with their
// defaults and the size syntax the command line takes (--max-size 64G).

export interface Limits {
  /** Bytes of all files together. */
  maxBytes: number;
  /** Files, folders and links. */
  maxEntries: number;
  /** How many times its own size an archive may expand to (beyond RATIO_SLACK). */
  maxRatio: number;
}

export const GiB = 1024 ** 3;
/**
 * A bundle with an image of a few GB passes (32 GiB in all, a quarter of a
 * million files); a bomb does not: gzip and zip expand at most ~1000 times, an
 * image or a context 2-10 times, so past 100 times plus 64 MiB (for a small
 * bundle of very compressible data) an archive is refused: 1 GB of zeros packed
 * into 1 MB is refused at the entry's header (tar and zip declare sizes), or
 * after ~164 MB were written when its header lies.
 */
export const DEFAULT_LIMITS: Limits = { maxBytes: 32 * GiB, maxEntries: 250_000, maxRatio: 100 };
export const RATIO_SLACK = 64 * 1024 * 1024;

/** A size as the command line takes it: 123, 64K, 512M, 32G, 1T (powers of 1024). */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)\s*([KMGT]?)(i?B)?$/i.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * 1024 ** ' KMGT'.indexOf((m[2] || ' ').toUpperCase());
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export const formatLimit = (n: number) => (n % GiB === 0 ? `${n / GiB}G` : String(n));
