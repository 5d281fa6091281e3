// What `rep verify --rebuild` says first: whether the rebuilt image is the
// one the statement names, by digest, and when it is not, each differing
// file with the step whose layer holds it in the rebuilt image (read from
// the canonical config's history, "rep step NAME", and the layers' names).
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import { isJsonMap } from '../canonical.js';
import { withTempDir } from '../tempdir.js';
import { readSaved } from './archive.js';
import { layerPaths } from './layer.js';

const bare = (d: string) => d.replace(/^sha256:/, '');

/** The step (or "base image") whose layer last wrote each path of the image `ref`. */
export async function layerOwners(engine: Engine, ref: string): Promise<Map<string, string>> {
  const id = (await engine.imageIds([ref])).get(ref);
  if (id === undefined) return new Map();
  return withTempDir('rep-owners', async (tmp) => {
    const file = path.join(tmp, 'image.tar');
    await engine.save(ref, file);
    const fd = openSync(file, 'r');
    try {
      const img = readSaved(fd, file).get(`sha256:${bare(id)}`);
      if (!img) return new Map();
      const history = Array.isArray(img.config.history) ? img.config.history.filter(isJsonMap) : [];
      const owners = history.filter((h) => h.empty_layer !== true).map((h) => {
        const by = typeof h.created_by === 'string' ? h.created_by : '';
        return /^rep (step|image)\b/.test(by) ? by.replace(/^rep /, '') : 'base image';
      });
      const out = new Map<string, string>();
      img.layers.forEach((l, i) => {
        for (const p of layerPaths(l)) out.set(p, owners[i] ?? 'base image');
      });
      return out;
    } finally {
      closeSync(fd);
    }
  });
}

/**
 * The digest answer: `reproduced: sha256:… (identical image)`, or `differs:`
 * with both digests; `lines` are the file differences (diffFilesystems'
 * "changed  /path: …" lines), each given the step whose layer holds the path.
 */
export function digestAnswer(recorded: string | undefined, rebuilt: string, lines: readonly string[], owners: ReadonlyMap<string, string>): { same: boolean; text: string[] } {
  if (recorded !== undefined && bare(recorded) === bare(rebuilt)) return { same: true, text: [`reproduced: sha256:${bare(rebuilt)} (identical image)`] };
  // Printed to a reviewer's terminal: a digest that is not hex (a stranger's statement) is not shown as it is.
  const hex = (d: string) => (/^[0-9a-f]{64}$/.test(bare(d)) ? `sha256:${bare(d)}` : 'a digest that is not one');
  const head = `differs: the rebuilt image is ${hex(rebuilt)}, the statement names ${recorded ? hex(recorded) : 'no image'}`;
  const withStep = lines.map((l) => {
    const p = /^\S+\s+\/([^:]*)/.exec(l)?.[1];
    const owner = p === undefined ? undefined : owners.get(p);
    return owner ? `${l} (in the layer of ${owner})` : l;
  });
  return { same: false, text: [head, ...(withStep.length ? withStep : ['no file differs (paths, modes, owners, content): the difference is in times or the image config'])] };
}
