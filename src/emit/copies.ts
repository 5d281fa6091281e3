// Which COPY instructions put a step's input files into the image at their
// relative paths. COPY of a glob flattens directories, so files are copied
// per directory, and a directory whose every context file is an input is
// copied whole (when that copies exactly those files). The top of the
// context is never copied whole: Docker would copy .rep and whatever else
// rep leaves out.

export interface CopySpec {
  /** Sources, relative to the context. */
  sources: string[];
  /** Destination relative to the workdir: "" for the workdir itself, else "dir/". */
  dest: string;
  /** A whole directory copied to a directory of the same name. */
  wholeDir: boolean;
}

/** The folder a slash-separated relative path is in ("" for the top). */
export const parentOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');

/**
 * `inputs`: the step's input paths; `context`: every path in the build
 * context (after .dockerignore). Both relative, slash-separated.
 */
const count = (m: Map<string, number>, p: string) => {
  for (let d = parentOf(p); ; d = parentOf(d)) {
    m.set(d, (m.get(d) ?? 0) + 1);
    if (d === '') break;
  }
};

/** How many context files each directory holds ("" for the root). */
export function directoryCounts(context: readonly string[]): Map<string, number> {
  const total = new Map<string, number>();
  for (const p of context) count(total, p);
  return total;
}

/**
 * `wholeOk(dir)`: whether COPY of the whole folder gives exactly the context
 * files listed under it (see context/folders.ts); asked only of folders whose
 * every listed file is an input.
 */
export function planCopies(
  inputs: readonly string[],
  context: readonly string[] | ReadonlyMap<string, number>,
  wholeOk: (dir: string) => boolean = () => true,
): CopySpec[] {
  if (inputs.length === 0) return [];
  const wanted = new Set(inputs);
  // For each directory: how many context files it holds, how many of them are inputs.
  const total = context instanceof Map ? context : directoryCounts(context as readonly string[]);
  const chosen = new Map<string, number>();
  for (const p of inputs) count(chosen, p);
  const complete = (d: string) => d !== '' && chosen.get(d) !== undefined && chosen.get(d) === total.get(d) && wholeOk(d);

  const specs: CopySpec[] = [];
  const coveredBy = (p: string): string | undefined => {
    let top: string | undefined;
    for (let d = parentOf(p); ; d = parentOf(d)) {
      if (complete(d)) top = d;
      if (d === '') break;
    }
    return top;
  };
  const wholeDirs = new Set<string>();
  const loose = new Map<string, string[]>();
  for (const p of [...wanted].sort()) {
    const top = coveredBy(p);
    if (top !== undefined) wholeDirs.add(top);
    else {
      const d = parentOf(p);
      loose.set(d, [...(loose.get(d) ?? []), p]);
    }
  }
  for (const d of [...wholeDirs].sort()) specs.push({ sources: [d], dest: `${d}/`, wholeDir: true });
  for (const d of [...loose.keys()].sort()) {
    specs.push({ sources: loose.get(d)!, dest: d === '' ? '' : `${d}/`, wholeDir: false });
  }
  return specs;
}
