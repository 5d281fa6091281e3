// Pins: the step images one build uses, held under names of its own while it
// runs. A step's `rep-cache:<key>` tag is shared by every project on the
// engine: another project's build of the same key moves it to its own image
// (a command that writes other bytes each time), and `rep gc` in another
// project removes it. A build that measured a producer's outputs on one image
// and then copied them with `COPY --from=rep-cache:<key>` took them from
// another one, its key and provenance naming bytes its image does not hold (a
// review). So each image a build goes on to use (a parent a step builds FROM,
// a producer it copies from, the target under the final image, and the final
// image) is tagged by its id under a pin, and used by that name; the canonical
// rewrite reads those, and the other step images by their ids. Pins go when
// the build ends; a killed rep's are removed by `rep gc`, which knows them by
// the process named in them.
import { randomBytes } from 'node:crypto';
import type { Engine } from '../engine/engine.js';
import { PIN_REPO } from '../lock/reference.js';
import { ownerGone, startedAt } from '../state/mutex.js';
import { cacheRef, keyHex } from './stepimage.js';

export { PIN_REPO };

/** A pin's tag: the process (pid, start time), one build of it, the key. */
const PIN_TAG = /^(\d+)-(\d*)-([0-9a-f]{8})-([0-9a-f]{64})$/;

/** A pin of `key` could not be made: the image it was to hold was removed meanwhile (rep gc in another project, docker rmi). */
export class PinError extends Error {}

export class Pins {
  /** This build's part of every pin's name: the process that can remove it, and the build within that process. */
  private readonly owner = `${process.pid}-${startedAt(process.pid) ?? ''}-${randomBytes(4).toString('hex')}`;
  private readonly made = new Map<string, Promise<string>>();

  constructor(private readonly engine: Engine) {}

  /** The name pinning `key`'s image, once pin() made it. */
  async ref(key: string): Promise<string | undefined> {
    return this.made.get(key)?.catch(() => undefined);
  }

  /**
   * Pins the image `id` (the one the build settled for `key`), or, with no id known, the one
   * `rep-cache:<key>` names now; its name. Pinned once per key: a key stands for one image in a build.
   */
  pin(key: string, id?: string): Promise<string> {
    let p = this.made.get(key);
    if (!p) {
      p = this.make(key, id);
      this.made.set(key, p);
    }
    return p;
  }

  private async make(key: string, id: string | undefined): Promise<string> {
    const name = `${PIN_REPO}:${this.owner}-${keyHex(key)}`;
    const source = id ?? cacheRef(key);
    try {
      await this.engine.tag(source, name);
    } catch (e) {
      throw new PinError(`the image of ${cacheRef(key)} was removed while this build ran (rep gc in another project?): ${(e as Error).message.split('\n')[0]}; build again`);
    }
    return name;
  }

  /** Removes every pin made (best effort: a pin left is rep gc's). */
  async release(): Promise<void> {
    const names = await Promise.all([...this.made.values()].map((p) => p.catch(() => undefined)));
    this.made.clear();
    await Promise.all(names.map((name) => (name === undefined ? undefined : this.engine.removeImage(name).catch(() => undefined))));
  }
}

/** Whether a tag in PIN_REPO is a pin no running rep holds: its process gone, or another one under its pid (see ownerGone). */
export function deadPin(tag: string): boolean {
  const m = PIN_TAG.exec(tag);
  if (!m) return false;
  return ownerGone(Number(m[1]), m[2]!);
}
