// The secrets a build mounts: where each value is, checked before anything is
// built. A secret from a file is mounted from that file, which must not be
// part of the build context (it would be copied into images and published with
// the context). A secret from the environment reaches the engine's client in
// its environment only: no file holds the value, so none is left behind when
// rep is killed.
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import type { Engine, SecretValue } from '../engine/engine.js';
import type { Project } from '../project.js';
import { inStateDir } from '../state/paths.js';

// eslint-disable-next-line no-control-regex
const shown = (p: string) => (/[\x00-\x1f\x7f"]/.test(p) ? JSON.stringify(p) : p);

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
    const rel = path.relative(root, real).split(path.sep).join('/');
    if (rel === '' || rel === '..' || rel.startsWith('../') || path.isAbsolute(rel)) continue;
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

/** Where the value of each secret the steps mount is, for the engine: a file, or (from the environment) the value itself. */
export function prepareSecrets(project: Project, engine: Engine): Result<Record<string, SecretValue>> {
  const { recipe } = project;
  const used = [...new Set(recipe.steps.flatMap((s) => s.secrets))].sort();
  const values: Record<string, SecretValue> = {};
  if (used.length === 0) return ok(values);
  if (!engine.secretsSupported) {
    const step = recipe.steps.find((s) => s.secrets.length)!;
    return fail(
      recipe.source.at(['steps', step.name, 'secrets'], 'secrets are mounted by BuildKit: build with --buildkit (with Debian\'s docker client, REP_DOCKER=/usr/bin/docker), or with --engine podman'),
    );
  }
  const errors: Diagnostic[] = [];
  for (const id of used) {
    const src = recipe.secrets[id]!;
    if ('file' in src) {
      const file = path.resolve(path.dirname(recipe.path), src.file);
      if (!existsSync(file)) errors.push(recipe.source.at(['secrets', id, 'file'], `no such file: ${src.file}`));
      else if (file.includes(',')) {
        errors.push(
          recipe.source.at(['secrets', id, 'file'], `the path of a secret file cannot hold "," (docker and podman read --secret as comma-separated fields): rename ${shown(file)}`),
        );
      } else values[id] = { src: file };
    } else {
      const value = process.env[src.env];
      if (value === undefined) errors.push(recipe.source.at(['secrets', id, 'env'], `the environment variable ${src.env} is not set`));
      else values[id] = { value };
    }
  }
  return errors.length ? fail(...errors) : ok(values);
}
