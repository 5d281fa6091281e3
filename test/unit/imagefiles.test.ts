// What publish reads of the image for filesystem.json and the SBOM: the image
// it built, named by id, not the tag (which can have moved since). Found by
// an adversarial review of the SBOM.
import { writeFileSync } from 'node:fs';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/engine.js';
import { archiveMtime, sourceDateEpoch } from '../../src/context/tar.js';
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

  it('states SOURCE_DATE_EPOCH as the SBOM time only when it is whole seconds; empty is unset', async () => {
    const digest = `sha256:${'b'.repeat(64)}`;
    const time = async (v: string) => (JSON.parse((await describeImage(exporting([]), 'p:1', digest, { SOURCE_DATE_EPOCH: v })).sbom!) as { metadata: { timestamp?: string } }).metadata.timestamp;
    expect(await time('1700000000')).toBe('2023-11-14T22:13:20.000Z');
    // "" and "abc" stated 1970 (read as 0).
    expect(await time('')).toBeUndefined();
    expect(await time('abc')).toBeUndefined();
  });

  it('sourceDateEpoch says what it cannot use, and archives fall back to 1970 for it', () => {
    expect(sourceDateEpoch({})).toEqual({});
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: '' })).toEqual({});
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: '315532800' })).toEqual({ seconds: 315532800 });
    for (const v of ['abc', '-1', '1.5', '99999999999999', ' 1']) expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: v }).problem, v).toMatch(/^expected whole seconds since 1970-01-01/);
    // 99999999999999 made an invalid Date (a RangeError once the build was done) and NaN in tar headers.
    expect(archiveMtime({ SOURCE_DATE_EPOCH: '99999999999999' }).getTime()).toBe(0);
  });

  it('says a package list that is a link, and never follows it', async () => {
    const pack = tar.pack();
    pack.entry({ name: 'var/lib/dpkg/', type: 'directory', mode: 0o755 });
    pack.entry({ name: 'var/lib/dpkg/status', type: 'symlink', linkname: '/etc/shadow' });
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const engine = { exportFilesystem: async (_ref: string, file: string) => writeFileSync(file, Buffer.concat(chunks)) } as unknown as Engine;
    const d = await describeImage(engine, 'p:1', `sha256:${'b'.repeat(64)}`, {});
    const bom = JSON.parse(d.sbom!) as { metadata: { properties: { name: string; value: string }[] }; components?: unknown[] };
    expect(bom.metadata.properties).toEqual([{ name: 'rep:incomplete', value: "dpkg's database at /var/lib/dpkg without a regular file /var/lib/dpkg/status (a link is never followed)" }]);
    expect(bom.components ?? []).toEqual([]);
  });

  it("says a linked dpkg status once, with dpkg's other files beside it; reads apk's list under /usr/lib (merged /usr)", async () => {
    const exportOf = async (entries: { name: string; type?: 'symlink' | 'directory'; linkname?: string; body?: string }[]) => {
      const pack = tar.pack();
      for (const e of entries) {
        const header = { name: e.name, type: e.type ?? 'file', linkname: e.linkname, mode: 0o644 } as const;
        if (e.type) pack.entry(header);
        else pack.entry(header, Buffer.from(e.body ?? ''));
      }
      pack.finalize();
      const chunks: Buffer[] = [];
      for await (const c of pack) chunks.push(c as Buffer);
      return { exportFilesystem: async (_ref: string, file: string) => writeFileSync(file, Buffer.concat(chunks)) } as unknown as Engine;
    };
    const digest = `sha256:${'b'.repeat(64)}`;
    const linked = await describeImage(await exportOf([{ name: 'var/lib/dpkg/info/libc6.list', body: '/x\n' }, { name: 'var/lib/dpkg/status', type: 'symlink', linkname: '/elsewhere' }]), 'p:1', digest, {});
    expect((JSON.parse(linked.sbom!) as { metadata: { properties: unknown[] } }).metadata.properties).toHaveLength(1);
    const usr = await describeImage(await exportOf([{ name: 'lib', type: 'symlink', linkname: 'usr/lib' }, { name: 'usr/lib/apk/db/installed', body: 'P:musl\nV:1.2.4-r4\nA:x86_64\nL:MIT\n\n' }]), 'p:1', digest, {});
    const bom = JSON.parse(usr.sbom!) as { components: { name: string; purl: string }[]; metadata: { properties?: unknown[] } };
    expect(bom.components.map((c) => c.purl)).toEqual(['pkg:apk/alpine/musl@1.2.4-r4?arch=x86_64']);
    expect(bom.metadata.properties ?? []).toEqual([]);
  });

  it('without a digest (nothing built) reads the tag and writes no SBOM', async () => {
    const asked: string[] = [];
    const d = await describeImage(exporting(asked), 'proj:latest', undefined, {});
    expect([asked, d.sbom]).toEqual([['proj:latest'], undefined]);
  });
});
