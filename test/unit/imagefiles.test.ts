// What publish reads of the image for filesystem.json and the SBOM: the image
// it built, named by id, not the tag (which can have moved since). Found by
// an adversarial review of the SBOM.
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/engine.js';
import { describeImage } from '../../src/publish/imagefiles.js';

/** An engine whose containers are empty, which remembers what it was asked to export. */
function exporting(asked: string[]): Engine {
  const engine: Pick<Engine, 'exportFilesystem'> = {
    exportFilesystem: async (ref: string, file: string) => {
      asked.push(ref);
      writeFileSync(file, Buffer.alloc(1024));
    },
  };
  return engine as Engine;
}

describe('describeImage', () => {
  it('exports the image by the digest the SBOM names, not by its tag', async () => {
    const asked: string[] = [];
    const digest = `sha256:${'b'.repeat(64)}`;
    const d = await describeImage(exporting(asked), 'proj:latest', digest, {});
    expect(asked).toEqual([digest]);
    expect(JSON.parse(d.sbom!).metadata.component.version).toBe(digest);
  });

  it('without a digest (nothing built) reads the tag and writes no SBOM', async () => {
    const asked: string[] = [];
    const d = await describeImage(exporting(asked), 'proj:latest', undefined, {});
    expect([asked, d.sbom]).toEqual([['proj:latest'], undefined]);
  });
});
