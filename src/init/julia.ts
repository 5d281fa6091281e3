// Julia projects as repo2docker reads them
// (repo2docker/buildpacks/julia/julia_project.py): JuliaProject.toml wins over
// Project.toml; its [compat] julia entry chooses the newest Julia release it
// allows (default "1.6", i.e. the newest 1.x); JULIA_PROJECT is the folder of
// the project. rep init cannot ask which releases exist (no network at init),
// so it names the official image tag that floats to the newest allowed
// release: julia:1 for "1.6" (any 1.x from 1.6), julia:1.6 for "~1.6",
// julia:1.6.7 for "=1.6.7"; `rep lock` then pins it to a digest.
import { parse as parseToml } from 'smol-toml';

export interface JuliaFacts {
  /** The image tag for the Julia the project allows. */
  tag: string;
  /** Where the tag came from, for the Repfile's comment. */
  why: string;
  /** The project is a package itself (it has a uuid) or the manifest installs from a path: instantiate after the code is in. */
  needsCode: boolean;
  /** A [compat] julia entry rep init could not read: it took the default and says so. */
  unread?: string;
}

/** Default of JuliaProjectTomlBuildPack.julia_version when there is no [compat] julia. */
export const DEFAULT_JULIA_COMPAT = '1.6';

const VERSION = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?$/;

/**
 * The tag for one specifier of Pkg's compat grammar: caret (the default,
 * "1.6" = "^1.6"), tilde, and equality. The upper bound of a caret is the next
 * non-zero leading component, so "^1.6" floats within 1.x and "^0.7" within 0.7.
 */
function tagOf(spec: string): string | undefined {
  const s = spec.trim();
  const op = /^[\^~=]/.test(s) ? s[0]! : '^';
  const m = VERSION.exec(op === s[0] ? s.slice(1).trim() : s);
  if (!m) return undefined;
  const [major, minor, patch] = [m[1]!, m[2], m[3]];
  if (op === '=') return patch !== undefined ? `${major}.${minor}.${patch}` : minor !== undefined ? `${major}.${minor}` : major;
  if (op === '~') return minor !== undefined ? `${major}.${minor}` : major;
  return major !== '0' || minor === undefined ? major : `${major}.${minor}`;
}

/** Compare two tags as versions, a shorter tag (julia:1) standing for the newest release under it. */
function newer(a: string, b: string): boolean {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? Infinity;
    const y = pb[i] ?? Infinity;
    if (x !== y) return x > y;
  }
  return false;
}

export function juliaFacts(project: string, manifest: string | undefined, projectFile: string): JuliaFacts {
  let doc: Record<string, unknown> = {};
  try {
    doc = parseToml(project) as Record<string, unknown>;
  } catch {
    // Unreadable: the default version; Pkg itself will report the file when it builds.
  }
  const compat = (doc.compat as Record<string, unknown> | undefined)?.julia;
  // Line by line: a multiline /^\s*path/ restarts its \s* at every blank line, quadratic in them.
  const needsCode = typeof doc.uuid === 'string' || (manifest !== undefined && manifest.split('\n').some((l) => /^\s*path\s*=/.test(l)));
  if (compat === undefined) return { tag: tagOf(DEFAULT_JULIA_COMPAT)!, why: `${projectFile} has no [compat] julia: the newest 1.x, as repo2docker takes`, needsCode };
  const specs = typeof compat === 'string' ? compat.split(',') : [];
  const tags = specs.map(tagOf);
  if (specs.length === 0 || tags.some((t) => t === undefined)) {
    return { tag: tagOf(DEFAULT_JULIA_COMPAT)!, why: `the newest 1.x`, needsCode, unread: `${projectFile}: [compat] julia = ${JSON.stringify(compat).slice(0, 60)} is not a form rep init reads (X.Y, ^X.Y, ~X.Y, =X.Y.Z, comma-separated): it took the newest 1.x; check it` };
  }
  const tag = (tags as string[]).reduce((a, b) => (newer(b, a) ? b : a));
  return { tag, why: `${projectFile} has [compat] julia = "${compat}": the newest release it allows`, needsCode };
}
