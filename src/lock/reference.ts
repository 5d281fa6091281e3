// Image references as Docker reads them: [registry/]repository[:tag][@digest],
// with the grammar of distribution/reference to tell a valid one from a bad one.

import { clip } from '../diag.js';

// distribution/reference's regexp.go, piece by piece.
const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|-+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const NAME = `(?:${HOST}(?::[0-9]+)?/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

/** [registry[:port]/]name[:tag][@digest], as Docker's reference grammar allows it. */
export const IMAGE_REFERENCE = new RegExp(`^${NAME}(?::${TAG})?(?:@${DIGEST})?$`);
/** [registry[:port]/]name[:tag]: what an image can be tagged as. */
export const IMAGE_NAME_TAG = new RegExp(`^${NAME}(?::${TAG})?$`);

const NAME_RE = new RegExp(`^${NAME}$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const DIGEST_RE = new RegExp(`^${DIGEST}$`);
const NAME_MAX = 255;

/**
 * Why `text` is not an image reference Docker would accept (undefined when it
 * is one). `digest: false` asks for a name to tag an image with: NAME[:TAG].
 */
export function imageRefProblem(text: string, opts: { digest?: boolean } = {}): string | undefined {
  const digestOk = opts.digest ?? true;
  const shape = digestOk ? '[REGISTRY[:PORT]/]NAME[:TAG][@DIGEST], e.g. debian:bookworm-slim' : '[REGISTRY[:PORT]/]NAME[:TAG], e.g. paper/analysis:1.0';
  // A lock's key or a Repfile's base may be megabytes long: quoted clipped.
  const quoted = () => JSON.stringify(clip(text));
  const bad = (why: string) => `${quoted()} is not an image reference: ${why}`;
  const at = text.indexOf('@');
  const digest = at >= 0 ? text.slice(at + 1) : undefined;
  if (digest !== undefined && !digestOk) return `${quoted()} has a digest; image.tag is ${shape}`;
  let name = at >= 0 ? text.slice(0, at) : text;
  let tag: string | undefined;
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  if (!NAME_RE.test(name)) return bad(NAME_RE.test(name.toLowerCase()) ? 'the repository name must be lowercase' : `expected ${shape}`);
  if (/^[a-f0-9]{64}$/.test(text)) return bad('64 hex digits name an image id, not a repository');
  if (name.length > NAME_MAX) return bad(`the name is longer than ${NAME_MAX} characters`);
  if (tag !== undefined && !TAG_RE.test(tag)) return bad('a tag is 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"');
  if (digest !== undefined && !DIGEST_RE.test(digest)) return bad('a digest is ALGORITHM:HEX with at least 32 hex digits, e.g. sha256: and 64 hex digits');
  return undefined;
}

export interface ImageRef {
  /** Registry host[:port]; "docker.io" when none is named. */
  registry: string;
  /** Repository path on the registry (library/ added for Docker Hub's short names). */
  repository: string;
  tag?: string;
  digest?: string;
  /** The reference as written. */
  text: string;
}

export function parseImageRef(text: string): ImageRef {
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  let registry = 'docker.io';
  // As distribution/reference splits it: a first component with a dot, a colon or a capital letter, or localhost, is a registry.
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    registry = parts.shift()!;
  }
  if (registry === 'index.docker.io') registry = 'docker.io';
  let repository = parts.join('/');
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  return { registry, repository, tag: tag ?? (digest ? undefined : 'latest'), digest, text };
}

/** name@sha256:… for a reference and a manifest digest, keeping the name as written (tag dropped). */
export function pinned(text: string, digest: string): string {
  let name = text.replace(/@.*$/, '');
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) name = name.slice(0, colon);
  return `${name}@${digest}`;
}

// The repositories rep keeps its own images in: step images, rep-cache:KEY
// (scheduler/stepimage.ts: a step is fresh when its key's image exists),
// the images a running build holds, rep-pin:OWNER-KEY (scheduler/pins.ts), and
// images rebuilt for verification, rep-verify/NAME:SHA12 (publish/rebuild.ts).
export const STEP_REPO = 'rep-cache';
export const PIN_REPO = 'rep-pin';
export const VERIFY_REPO = 'rep-verify';
const OWN_LAST = new Set([STEP_REPO, PIN_REPO]);
const OWN_FIRST = VERIFY_REPO;

/**
 * Whether the reference `text` names one of rep's own images, however it is
 * spelled: docker and podman both take rep-cache:K, docker.io/library/rep-cache:K,
 * index.docker.io/library/rep-cache:K and localhost/rep-cache:K (podman's name for
 * an image it built) for the same image. So: any repository whose last part is
 * rep-cache or rep-pin, on any registry, and anything under rep-verify/.
 */
export function namesRepImage(text: string): boolean {
  const parts = parseImageRef(text).repository.split('/');
  if (parts[0] === 'library' && parts.length > 1) parts.shift();
  return OWN_LAST.has(parts[parts.length - 1]!) || (parts[0] === OWN_FIRST && parts.length > 1);
}

/**
 * Whether two references may name the same NAME:TAG once normalised as docker does (docker.io,
 * library/, latest), or as podman finds a short name it built: foo:1 is localhost/foo:1 there.
 * A reference by digest alone names no tag.
 */
export function sameNameTag(a: string, b: string): boolean {
  const x = parseImageRef(a);
  const y = parseImageRef(b);
  // docker.io/library/foo and localhost/foo, both as foo.
  const local = (r: ImageRef) => (r.registry === 'docker.io' ? r.repository.replace(/^library\//, '') : r.registry === 'localhost' ? r.repository : undefined);
  const same = (x.registry === y.registry && x.repository === y.repository) || (local(x) !== undefined && local(x) === local(y));
  return x.tag !== undefined && same && x.tag === y.tag;
}

/**
 * Whether `text` reads as an image id rather than a name: sha256:HEX, or a bare run of hex digits
 * (no tag), which docker's daemon (and podman) look an image up by, a prefix of its id included,
 * of any length (moby's digest set asks for none). A base
 * named so is whatever image of this machine has that id (another project's step image, a
 * paper's image), nothing a registry or a lock could name.
 */
export const looksLikeImageId = (text: string): boolean => /^sha256:/i.test(text) || /^[a-f0-9]+$/.test(text);
