// conda packages: one JSON record per installed package in the environment's
// conda-meta/ folder (name, version, build, channel, subdir, license).
import { makePackage, type Package } from './package.js';
import { shallowJson } from '../canonical.js';

const RECORD = /(^|\/)conda-meta\/[^/]+\.json$/;
/** A record lists every file of its package: a large one runs to a few MB. */
const LIMIT = 16 << 20;

export const condaWants = (path: string): number | undefined => (RECORD.test(path) ? LIMIT : undefined);

/**
 * A channel as a name: "conda-forge" from https://conda.anaconda.org/conda-forge/linux-64 too. The SBOM is
 * published: a token conda keeps in the URL of a private channel (…/t/<token>/…, anaconda.org's form, on any
 * host), a user and password before the host, and a query are left out, never written.
 */
function channelName(c: unknown): string | undefined {
  if (typeof c !== 'string') return undefined;
  // User info first, up to the host's last "@": a password may hold "?", "#" or "@", and cutting the query
  // before this left "https://alice:s3cr" of https://alice:s3cr?et@host/… to be published.
  const noUser = c.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/]*@/i, '$1');
  // An "@" still there is user info this cannot place (a "/" in the password, no scheme): no channel, rather
  // than part of a password.
  if (noUser.includes('@')) return undefined;
  const bare = noUser.replace(/[?#].*$/s, '').replace(/\/t\/[^/]*(?=\/|$)/g, '');
  const m = /^https?:\/\/(?:conda\.anaconda\.org|repo\.anaconda\.com\/pkgs)\/([^/]+)/.exec(bare);
  return m ? m[1] : bare;
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
