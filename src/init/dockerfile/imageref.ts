// An image a Dockerfile starts from or copies from, as the Repfile names it.
// Docker reads `FROM b` as b:latest; a Repfile reads a bare `b` in `from` as
// the step b if there is one (`b-1`, a step rep init made: a dependency
// cycle) and a base of hex letters as an image id, which its loader refuses.
// So the tag Docker implies is written, and what the loader refuses anyway is
// said at the Dockerfile's line rather than as a bug in rep init.
import { imageRefProblem, looksLikeImageId, namesRepImage } from '../../lock/reference.js';

/** `ref` with Docker's implied :latest when it has neither tag nor digest. */
export function explicitRef(ref: string): string {
  if (ref.includes('@')) return ref;
  return ref.lastIndexOf(':') > ref.lastIndexOf('/') ? ref : `${ref}:latest`;
}

/** What the Repfile loader refuses in `ref` as an image to start from (written as explicitRef writes it), if anything. */
export function startProblem(ref: string): string | undefined {
  const problem = imageRefProblem(ref);
  if (problem) return problem;
  const written = explicitRef(ref);
  if (looksLikeImageId(written)) return `${JSON.stringify(ref)} reads as an image id, which names an image of this machine only: rep starts from an image by name (with its tag) or pinned by digest`;
  if (namesRepImage(written)) return `${JSON.stringify(ref)} is one of rep's own images (its cache of step images), not an image to build on`;
  return undefined;
}
