// What `rep verify --rebuild` builds: the bundle's project with its recipe
// rewritten so that a stranger's Repfile reaches none of the verifier's own
// things: no secret but those the verifier grants (--secret), and the image
// tagged in rep's own namespace (rep-verify/NAME:BUNDLESHA12), never the
// Repfile's image.tag. (Step images are rep-cache:KEY already; the network is
// "none" unless the verifier asks, see verify.ts.)
import { fail, ok, type Diagnostic, type Result } from '../diag.js';
import type { Engine } from '../engine/engine.js';
import type { Dag } from '../graph/dag.js';
import type { BuildEvent } from '../scheduler/events.js';
import { CACHE_REPO, cacheRef, imageStep, keyHex } from '../scheduler/stepimage.js';
import { VERIFY_REPO } from '../lock/reference.js';
import type { Project } from '../project.js';
import type { SecretSource } from '../repfile/recipe.js';
import type { SecretGrant } from '../scheduler/secrets.js';

export type { SecretGrant };
import { shown } from './bundlefs.js';

/** The tag a rebuild gets: rep-verify/NAME:first 12 hex digits of the bundle's sha256. */
export function verifyTag(name: string, bundleSha256: string): string {
  const repo = name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 100) || 'bundle';
  return `${VERIFY_REPO}/${repo}:${bundleSha256.slice(0, 12)}`;
}

const from = (s: SecretSource) => ('file' in s ? `the file ${shown(s.file)}` : `the environment variable ${shown(s.env)}`);

/** The project as a verifier rebuilds it: granted secrets only, tagged `tag`. */
export function forVerification(project: Project, grants: readonly SecretGrant[], tag: string): Result<Project> {
  const { recipe } = project;
  const errors: Diagnostic[] = [];
  const granted = new Map(grants.map((g) => [g.id, g]));
  for (const g of grants) {
    if (!('file' in g) && !('env' in g)) errors.push({ file: recipe.file, message: `--secret ${g.id}: a rebuild for verification takes no secret the Repfile names; give its value with --secret id=${g.id},src=FILE or id=${g.id},env=NAME` });
    else if (!Object.hasOwn(recipe.secrets, g.id)) errors.push({ file: recipe.file, message: `--secret id=${g.id}: the Repfile has no secret of that name (it has: ${Object.keys(recipe.secrets).sort().join(', ') || 'none'})` });
  }
  for (const step of recipe.steps) {
    step.secrets.forEach((id, i) => {
      if (granted.has(id)) return;
      const src = recipe.secrets[id]!;
      errors.push(
        recipe.source.at(
          ['steps', step.name, 'secrets', i],
          `step ${step.name} mounts the secret "${id}", which the Repfile takes from ${from(src)}; a rebuild for verification uses none of your secrets: give one with --secret id=${id},${'file' in src ? 'src=FILE' : 'env=NAME'} if you trust this bundle`,
          { shownPath: ['steps', step.name, 'secrets'] },
        ),
      );
    });
  }
  if (errors.length) return fail(...errors);
  const secrets: Record<string, SecretSource> = {};
  for (const g of grants) {
    if ('file' in g) secrets[g.id] = { file: g.file };
    else if ('env' in g) secrets[g.id] = { env: g.env };
  }
  const rewritten = { ...recipe, image: { ...recipe.image, tag }, secrets };
  return ok({ ...project, recipe: rewritten, dag: { ...project.dag, recipe: rewritten } });
}

/**
 * Removes the rep-cache images a rebuild made: tags that were not there
 * before it (`before`) and name one of its steps (`keys`) or the image it
 * built. Its history lived in a temporary .rep/, so no `rep gc` would ever
 * find them. Images that were there stay (a verifier's own build of the same
 * steps), and so does the rep-verify tag verify names. Never forced: an image
 * a container uses stays too.
 */
export async function removeRebuildImages(engine: Engine, before: ReadonlySet<string>, keys: readonly string[], imageId: string | undefined): Promise<void> {
  const ours = new Set(keys.map(cacheRef));
  for (const image of await engine.listImages(CACHE_REPO)) {
    const built = imageId !== undefined && keyHex(image.id) === keyHex(imageId);
    for (const t of image.tags) {
      const ref = `${CACHE_REPO}:${t}`;
      if (before.has(t) || !(ours.has(ref) || built)) continue;
      await engine.removeImage(ref).catch(() => undefined);
    }
  }
}

/**
 * What a rebuild leaves in the engine, learned as it goes, to remove once it
 * is over whatever came of it: a build that fails after its steps were built
 * (the reproducible rewrite, the provenance) or throws returns no record of
 * them, and they are tagged rep-cache:KEY all the same, for a later build of
 * another project to take as fresh (keys cover neither the rebuild's network
 * nor secret values). The keys come from the build's events; `start` notes
 * the tags there were before (see removeRebuildImages).
 */
export class RebuildImages {
  private readonly keys = new Set<string>();
  private constructor(
    private readonly engine: Engine,
    private readonly dag: Dag,
    private readonly tag: string,
    private readonly before: ReadonlySet<string>,
  ) {}

  /** Before the build: `tag` is the one the rebuild's image gets (verifyTag). */
  static async start(engine: Engine, dag: Dag, tag: string): Promise<RebuildImages> {
    return new RebuildImages(engine, dag, tag, await cacheTags(engine));
  }

  /** For BuildOptions.onEvent: every key a step was found, pulled, built or failed under. */
  readonly onEvent = (e: BuildEvent): void => {
    if (!('key' in e) || e.key === '') return;
    this.keys.add(e.key);
    // The final image (the Repfile's runtime settings on the target's) is tagged by its own key, which no event names.
    if (e.step === this.dag.target) this.keys.add(imageStep(this.dag, e.key).key);
  };

  /**
   * Removes what the rebuild made. `imageId`: the image the build returned; without one (it failed),
   * the one `tag` names now, which the rewrite tags rep-cache:KEY before the provenance is written.
   */
  async remove(imageId: string | undefined): Promise<void> {
    const built = imageId ?? (await this.engine.imageIds([this.tag])).get(this.tag);
    await removeRebuildImages(this.engine, this.before, [...this.keys], built);
  }
}

/** The tags in rep-cache now, to tell later which a rebuild made. */
export async function cacheTags(engine: Engine): Promise<Set<string>> {
  return new Set((await engine.listImages(CACHE_REPO)).flatMap((i) => i.tags));
}
