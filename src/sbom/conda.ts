// conda packages: one JSON record per installed package in the environment's
// conda-meta/ folder (name, version, build, channel, subdir, license).
import { makePackage, type Package } from './package.js';
import { shallowJson } from '../canonical.js';

const RECORD = /(^|\/)conda-meta\/[^/]+\.json$/;
/** A record lists every file of its package: a large one runs to a few MB. */
const LIMIT = 16 << 20;

export const condaWants = (path: string): number | undefined => (RECORD.test(path) ? LIMIT : undefined);

/** A channel as a name: "conda-forge" from https://conda.anaconda.org/conda-forge/linux-64 too. */
function channelName(c: unknown): string | undefined {
  if (typeof c !== 'string') return undefined;
  const m = /^https?:\/\/(?:conda\.anaconda\.org|repo\.anaconda\.com\/pkgs)\/([^/]+)/.exec(c);
  return m ? m[1] : c;
}

export function readConda(path: string, text: string): Package | undefined {
  let r: Record<string, unknown>;
  try {
    r = shallowJson(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return undefined;
  const str = (k: string) => (typeof r[k] === 'string' ? (r[k] as string) : undefined);
  return makePackage({
    ecosystem: 'conda',
    name: str('name'),
    version: str('version'),
    qualifiers: { build: str('build'), channel: channelName(r.channel), subdir: str('subdir') },
    licence: str('license'),
    path,
  });
}
