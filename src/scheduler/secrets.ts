// The secrets a build mounts: where each value is, checked before anything is
// built. A secret from a file is mounted from that file, which must not be
// part of the build context (it would be copied into images and published with
// the context). A secret from the environment reaches the engine's client in
// its environment only: no file holds the value, so none is left behind when
// rep is killed.
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { isWithin } from '../context/files.js';
import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import type { Engine, SecretValue } from '../engine/engine.js';
import type { Project } from '../project.js';
import type { Recipe, SecretSource } from '../repfile/recipe.js';
import { inStateDir } from '../state/paths.js';

// eslint-disable-next-line no-control-regex
const shown = (p: string) => (/[\x00-\x1f\x7f"]/.test(p) ? JSON.stringify(p) : p);

/**
 * A secret the command line hands a build (--secret): ID alone takes it from
 * where the Repfile says; id=ID,src=FILE or id=ID,env=NAME from there instead.
 */
export type SecretGrant = { id: string } | ({ id: string } & SecretSource);

/**
 * Parses --secret as docker build does (id=ID,src=FILE or id=ID,env=NAME), and,
 * with `bare`, ID or id=ID alone.
 */
export function parseSecretGrant(given: string, cwd = process.cwd(), bare = false): Result<SecretGrant> {
  const wrong = (message: string) => fail<SecretGrant>({ kind: 'flag', flag: `--secret ${given}`, message });
  const expected = wrong(`expected ${bare ? 'ID, ' : ''}id=ID,src=FILE or id=ID,env=NAME`);
  const text = bare && !given.includes('=') ? `id=${given}` : given;
  const fields = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return expected;
    fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const id = fields.get('id');
  const src = fields.get('src') ?? fields.get('source');
  const env = fields.get('env');
  if (!id || !/^[A-Za-z0-9_.-]+$/.test(id)) return wrong('id is letters, digits, ".", "_" or "-"');
  if (bare && fields.size === 1) return ok({ id });
  if ((src === undefined) === (env === undefined) || fields.size !== 2) return expected;
  return ok(src !== undefined ? { id, file: path.resolve(cwd, src) } : { id, env: env! });
}

/** Whether `file` (after links) lies in the folder of the Repfile: the project's own, not the host's. */
function inProject(recipe: Recipe, file: string): boolean {
  try {
    const root = realpathSync(path.dirname(recipe.path));
    return isWithin(root, existsSync(file) ? realpathSync(file) : path.resolve(file));
  } catch {
    return false;
  }
}

/**
 * Where `file` really is when it, or a folder on its way, is a link (`key -> /host/id_rsa`): the
 * consent asked for names what would be handed over, not only the path in the Repfile. Undefined
 * when it is where its path says, or is not there.
 */
function leadsTo(file: string): string | undefined {
  try {
    const real = realpathSync(file);
    return real === file ? undefined : real;
  } catch {
    return undefined;
  }
}

/**
 * Declared secrets whose file is in the build context (after resolving links:
 * a path elsewhere that leads into the context counts) and not excluded by
 * .dockerignore. A missing file is not one: it is reported when mounted.
 */
export function secretFilesInContext(project: Project): Diagnostic[] {
  const { recipe, ctx } = project;
  let root: string;
  try {
    root = realpathSync(ctx.dir);
  } catch {
    return [];
  }
  const errors: Diagnostic[] = [];
  for (const id of Object.keys(recipe.secrets).sort()) {
    const src = recipe.secrets[id]!;
    if (!('file' in src)) continue;
    let real: string;
    try {
      real = realpathSync(path.resolve(path.dirname(recipe.path), src.file));
    } catch {
      continue;
    }
    if (real === root || !isWithin(root, real)) continue;
    const rel = path.relative(root, real).split(path.sep).join('/');
    if (inStateDir(rel) || ctx.ignore.excludes(rel)) continue;
    errors.push(
      recipe.source.at(
        ['secrets', id, 'file'],
        `the secret is the file ${shown(rel)} of the build context, which .dockerignore does not exclude: it would be copied into images and published with the context; add ${shown(rel)} to .dockerignore, or keep the file outside the context`,
      ),
    );
  }
  return errors;
}

/**
 * Where the value of each secret the steps mount is, for the engine: a file,
 * or (from the environment) the value itself. A Repfile may be a stranger's:
 * a secret it takes from outside the project (an environment variable, a file
 * elsewhere on this machine) is handed over only when `grants` names it, as
 * docker build takes no secret without --secret.
 */
export function prepareSecrets(project: Project, engine: Engine, grants: readonly SecretGrant[] = []): Result<Record<string, SecretValue>> {
  const { recipe } = project;
  const used = [...new Set(recipe.steps.flatMap((s) => s.secrets))].sort();
  const values: Record<string, SecretValue> = {};
  const errors: Diagnostic[] = [];
  const granted = new Map(grants.map((g) => [g.id, g]));
  for (const g of grants) {
    if (!Object.hasOwn(recipe.secrets, g.id)) errors.push({ kind: 'flag', flag: `--secret ${g.id}`, message: `the Repfile declares no secret of that name (it has: ${Object.keys(recipe.secrets).sort().join(', ') || 'none'})` });
  }
  if (used.length === 0) return errors.length ? fail(...errors) : ok(values);
  if (!engine.secretsSupported) {
    const step = recipe.steps.find((s) => s.secrets.length)!;
    return fail(
      recipe.source.at(['steps', step.name, 'secrets'], 'secrets are mounted by BuildKit: build with --buildkit (with Debian\'s docker client, REP_DOCKER=/usr/bin/docker), or with --engine podman'),
    );
  }
  for (const id of used) {
    const declared = recipe.secrets[id]!;
    const grant = granted.get(id);
    const given = grant && ('file' in grant || 'env' in grant) ? grant : undefined;
    const src: SecretSource = given ?? declared;
    // Where a problem is told: at the Repfile's declaration, or at the --secret that gave the source.
    const at = (message: string): Diagnostic =>
      given ? { kind: 'flag', flag: `--secret id=${id}`, message } : recipe.source.at(['secrets', id, 'file' in declared ? 'file' : 'env'], message);
    if ('file' in src) {
      const file = path.resolve(path.dirname(recipe.path), src.file);
      if (!grant && !inProject(recipe, file)) {
        const real = leadsTo(file);
        errors.push(at(`the Repfile asks for the file ${shown(file)}${real ? `, a link to ${shown(real)}` : ''}, outside the project, as secret "${id}"; rep hands a build a file of this machine only when you say so: --secret ${id}`));
      } else if (!existsSync(file)) errors.push(at(`no such file: ${given ? shown(file) : src.file}`));
      else if (/[",\x00-\x1f\x7f]/.test(file)) {
        // docker reads --secret with Go's csv reader: a bare `"` is a parse error there, and the build failed with the engine's word (a review).
        errors.push(at(`the path of a secret file cannot hold ",", '"' or a control character (docker and podman read --secret as comma-separated fields): rename ${shown(file)}`));
      } else values[id] = { src: file };
    } else if (!grant) {
      errors.push(at(`the Repfile asks for the environment variable ${src.env} as secret "${id}"; rep hands a build a value of your environment only when you say so: --secret ${id}`));
    } else {
      const value = process.env[src.env];
      if (value === undefined) errors.push(at(`the environment variable ${src.env} is not set`));
      else values[id] = { value };
    }
  }
  return errors.length ? fail(...errors) : ok(values);
}
