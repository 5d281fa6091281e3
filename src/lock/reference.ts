// Image references as Docker reads them: [registry/]repository[:tag][@digest].

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
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')) {
    registry = parts.shift()!;
  }
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
