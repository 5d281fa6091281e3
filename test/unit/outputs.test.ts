// A step's outputs digest (early cutoff) read from the tar an engine gives of them.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import tarStream from 'tar-stream';
import type { Engine } from '../../src/engine/engine.js';
import { measureOutputs, outputsDigestOf, readOutputTar } from '../../src/scheduler/outputs.js';
import { rawEntry, rawTar } from './rawtar.js';

const outputs = (...names: (string | Buffer)[]) => readOutputTar('/out/data', Readable.from([rawTar(...names.map((name) => rawEntry({ name, type: '0', body: 'x' })))]));

describe('the outputs digest', () => {
  it('depends on the outputs alone: names, contents, modes, owners, not the step image', async () => {
    const a = await outputs('data/a', 'data/b');
    expect(a.map((e) => e.path)).toEqual(['/out/data/a', '/out/data/b']);
    expect(outputsDigestOf(a, 'rep-cache:1')).toBe(outputsDigestOf(await outputs('data/b', 'data/a'), 'rep-cache:2'));
    expect(outputsDigestOf(a, 'rep-cache:1')).not.toBe(outputsDigestOf(await outputs('data/a', 'data/c'), 'rep-cache:1'));
  });

  it('is the step\'s own when a name is not UTF-8: names that differ read alike, so no change may pass for none', async () => {
    const ff = await outputs(Buffer.from('data/a\xff', 'latin1'));
    const fe = await outputs(Buffer.from('data/a\xfe', 'latin1'));
    // The tar reader gives both bytes as U+FFFD: the entries alone cannot tell these outputs apart.
    expect(ff).toEqual(fe);
    expect(outputsDigestOf(ff, 'rep-cache:1')).not.toBe(outputsDigestOf(fe, 'rep-cache:2'));
    // The same step image (the same key) measured twice gives one digest.
    expect(outputsDigestOf(ff, 'rep-cache:1')).toBe(outputsDigestOf(fe, 'rep-cache:1'));
  });
});

describe('an output that is a link', () => {
  type Node = { file: string } | { link: string } | { dir: Record<string, Node> };
  /** An engine whose image `image` holds `root`: exportPaths gives each path's tar as `docker cp` does (a link is not followed). */
  function engineWith(images: Record<string, Record<string, Node>>): { engine: Engine; asked: string[][] } {
    const asked: string[][] = [];
    const lookup = (root: Record<string, Node>, p: string): Node | undefined => {
      let node: Node = { dir: root };
      for (const part of p.split('/').filter(Boolean)) {
        if (!('dir' in node)) return undefined;
        node = node.dir[part]!;
        if (!node) return undefined;
      }
      return node;
    };
    const tarOf = async (name: string, node: Node): Promise<Buffer> => {
      const pack = tarStream.pack();
      const add = (n: string, x: Node) => {
        if ('file' in x) pack.entry({ name: n, mode: 0o644 }, x.file);
        else if ('link' in x) pack.entry({ name: n, type: 'symlink', linkname: x.link });
        else {
          pack.entry({ name: `${n}/`, type: 'directory', mode: 0o755 });
          for (const [k, v] of Object.entries(x.dir).sort()) add(`${n}/${k}`, v);
        }
      };
      add(name, node);
      pack.finalize();
      const chunks: Buffer[] = [];
      for await (const c of pack) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    const engine = {
      exportPaths: async (image: string, paths: readonly string[], read: (p: string, tar: Readable) => Promise<void>) => {
        asked.push([...paths]);
        for (const p of paths) {
          const node = lookup(images[image]!, p);
          if (!node) throw new Error(`no ${p}`);
          await read(p, Readable.from([await tarOf(p.replace(/\/+$/, '').split('/').pop()!, node)]));
        }
      },
    } as unknown as Engine;
    return { engine, asked };
  }
  const lib = (bytes: string): Record<string, Node> => ({ usr: { dir: { lib: { dir: { 'libfoo.so': { link: 'libfoo.so.1.2.3' }, 'libfoo.so.1.2.3': { file: bytes } } } } } });

  it('is measured by what it leads to, as COPY --from copies it: new bytes behind the same link give a new digest', async () => {
    const { engine, asked } = engineWith({ one: lib('v1'), two: lib('v2'), same: lib('v1') });
    const one = await measureOutputs(engine, 'one', ['/usr/lib/libfoo.so']);
    expect(await measureOutputs(engine, 'two', ['/usr/lib/libfoo.so'])).not.toBe(one);
    expect(await measureOutputs(engine, 'same', ['/usr/lib/libfoo.so'])).toBe(one);
    expect(asked.slice(0, 2)).toEqual([['/usr/lib/libfoo.so'], ['/usr/lib/libfoo.so.1.2.3']]);
  });

  it('leading to a folder, by an absolute link, measures the folder under the link\'s name; links inside a folder stay links', async () => {
    const image = (v: string): Record<string, Node> => ({ opt: { dir: { app: { link: '/opt/app-1' }, 'app-1': { dir: { bin: { file: v }, cur: { link: 'bin' } } } } } });
    const { engine } = engineWith({ a: image('a'), b: image('b') });
    expect(await measureOutputs(engine, 'a', ['/opt/app'])).not.toBe(await measureOutputs(engine, 'b', ['/opt/app']));
  });

  it('in a loop is an error, not a hang', async () => {
    const { engine } = engineWith({ loop: { a: { link: 'b' }, b: { link: 'a' } } });
    await expect(measureOutputs(engine, 'loop', ['/a'])).rejects.toThrow('output /a: more than 40 links lead on from it');
  });
});

describe('an output the engine followed (docker cp -L, podman cp)', () => {
  it('is named by the output\'s path, whatever the tar names what the link led to', async () => {
    const tarOf = async (entries: { name: string; body?: string; dir?: boolean }[]) => {
      const pack = tarStream.pack();
      for (const e of entries) pack.entry(e.dir ? { name: e.name, type: 'directory', mode: 0o755 } : { name: e.name, mode: 0o644 }, e.body ?? '');
      pack.finalize();
      const chunks: Buffer[] = [];
      for await (const c of pack) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    // /usr/lib/libfoo.so -> libfoo.so.1.2.3, and /opt/app -> /srv/app-1: the engine gives what they lead to.
    const engine = (v: string) =>
      ({
        exportPaths: async (_image: string, paths: readonly string[], read: (p: string, tar: Readable) => Promise<void>) => {
          for (const p of paths) {
            const tar = p === '/usr/lib/libfoo.so' ? await tarOf([{ name: 'libfoo.so.1.2.3', body: v }]) : await tarOf([{ name: 'app-1/', dir: true }, { name: 'app-1/bin', body: v }]);
            await read(p, Readable.from([tar]));
          }
        },
      }) as unknown as Engine;
    const digest = (v: string) => measureOutputs(engine(v), 'img', ['/usr/lib/libfoo.so', '/opt/app']);
    expect(await digest('a')).not.toBe(await digest('b'));
    // The same bytes under the output's names: as if the engine had given files of those names.
    const named = outputsDigestOf(
      [
        { path: '/usr/lib/libfoo.so', type: 'file', mode: '644', uid: 0, gid: 0, sha256: createHash('sha256').update('a').digest('hex') },
        { path: '/opt/app', type: 'directory', mode: '755', uid: 0, gid: 0 },
        { path: '/opt/app/bin', type: 'file', mode: '644', uid: 0, gid: 0, sha256: createHash('sha256').update('a').digest('hex') },
      ],
      'img',
    );
    expect(await digest('a')).toBe(named);
  });
});
