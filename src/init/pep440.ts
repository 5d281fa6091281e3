// Enough of PEP 440 version specifiers to choose a Python for a
// pyproject.toml's requires-python, as repo2docker does
// (repo2docker/buildpacks/python/__init__.py, python_version): keep the
// default when it satisfies the specifiers, else the newest supported Python
// that does. Candidates are x.y releases, compared as x.y.0.

/** repo2docker/buildpacks/conda/supported_python_version.py */
export const SUPPORTED_PYTHONS = ['3.8', '3.9', '3.10', '3.11', '3.12', '3.13', '3.14'];

const CLAUSE = /^(~=|==|!=|<=|>=|<|>)\s*(\d+(?:\.\d+)*)(\.\*)?$/;

const nums = (v: string) => v.split('.').map(Number);
function cmp(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}
const prefixOf = (v: number[], p: number[]) => p.every((x, i) => (v[i] ?? 0) === x);

/** Whether `version` satisfies `spec`; undefined when a clause is not one this reads. */
export function satisfies(version: string, spec: string): boolean | undefined {
  const v = nums(version);
  for (const raw of spec.split(',')) {
    const m = CLAUSE.exec(raw.trim());
    if (!m) return undefined;
    const [, op, ver, star] = m;
    const w = nums(ver!);
    if (star && op !== '==' && op !== '!=') return undefined;
    let ok: boolean;
    switch (op) {
      case '==':
        ok = star ? prefixOf(v, w) : cmp(v, w) === 0;
        break;
      case '!=':
        ok = star ? !prefixOf(v, w) : cmp(v, w) !== 0;
        break;
      case '~=':
        if (w.length < 2) return undefined;
        ok = cmp(v, w) >= 0 && prefixOf(v, w.slice(0, -1));
        break;
      case '>=':
        ok = cmp(v, w) >= 0;
        break;
      case '<=':
        ok = cmp(v, w) <= 0;
        break;
      case '>':
        ok = cmp(v, w) > 0;
        break;
      default:
        ok = cmp(v, w) < 0;
    }
    if (!ok) return false;
  }
  return true;
}

/** The Python for requires-python `spec`: `fallback` when it satisfies, else the newest supported one that does. */
export function pythonFor(spec: string, fallback: string): { version: string } | { error: string } {
  const keeps = satisfies(fallback, spec);
  if (keeps === undefined) return { error: `"${spec.slice(0, 60)}" is not a specifier rep init reads` };
  if (keeps) return { version: fallback };
  const fits = SUPPORTED_PYTHONS.filter((v) => satisfies(v, spec));
  return fits.length ? { version: fits[fits.length - 1]! } : { error: `no Python repo2docker supports satisfies "${spec.slice(0, 60)}"` };
}
