// A build's output cut into lines as it streams (src/engine/lines.ts) and what
// a client build makes of it. An adversarial review found the whole
// unfinished line split again on every chunk: a RUN printing 40 MB without a
// newline took 45 s, and past 512 MB crashed rep with a stack trace.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientBuild } from '../../src/engine/clibuild.js';
import { LineSplitter } from '../../src/engine/lines.js';

function split(pieces: string[], max?: number): string[] {
  const out: string[] = [];
  const s = new LineSplitter((l) => out.push(l), max);
  for (const p of pieces) s.push(p);
  s.end();
  return out;
}

describe('LineSplitter', () => {
  it('finds the lines however the text is cut, "\\r\\n" or "\\n", and an unfinished last one', () => {
    const text = 'one\r\ntwo\n\nthree\rfour\nlast';
    const want = ['one', 'two', '', 'three\rfour', 'last'];
    for (const size of [1, 2, 3, 5, text.length]) {
      const pieces = Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));
      expect(split(pieces), `pieces of ${size}`).toEqual(want);
    }
    expect(split(['a\n'])).toEqual(['a']);
    expect(split([])).toEqual([]);
  });

  it('keeps a line to its bound and drops the rest of it up to its newline', () => {
    expect(split(['abcdefgh', 'ij\nnext\n'], 4)).toEqual(['abcd … (a line over 4 characters, cut)', 'next']);
    expect(split(['abcd\r\n', 'abcde\r\n'], 4)).toEqual(['abcd', 'abcd … (a line over 4 characters, cut)']);
    // One character over the bound is over it (the one kept past it is for a "\r" alone).
    expect(split(['abcde\n', 'abcde'], 4)).toEqual(['abcd … (a line over 4 characters, cut)', 'abcd … (a line over 4 characters, cut)']);
    // 64 MB without a newline, in the 32 KB pieces a client's pipe gives: one line, cut, held no longer than the bound.
    const piece = 'a'.repeat(32 * 1024);
    const out: string[] = [];
    const s = new LineSplitter((l) => out.push(l));
    for (let i = 0; i < 2048; i++) s.push(piece);
    s.push('\nend');
    s.end();
    expect(out.map((l) => l.length)).toEqual([16 * 1024 + ' … (a line over 16384 characters, cut)'.length, 3]);
  });
});

describe('a client build', () => {
  const client = (script: string) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-fake-client-'));
    const bin = path.join(dir, 'docker');
    writeFileSync(bin, `#!/bin/sh\n${script}\n`);
    chmodSync(bin, 0o755);
    return { dir, bin };
  };

  it('cuts an endless line of output and shows the tail of stdout and stderr apart', async () => {
    const c = client(`cat > /dev/null; printf 'out1\\nout2-'; printf 'err1\\n' >&2; head -c 3000000 /dev/zero | tr '\\0' x; printf '\\nafter\\n'; exit 3`);
    try {
      const r = await clientBuild({ bin: c.bin, env: { PATH: process.env.PATH }, plainProgress: false }, { tag: 'rep-test:x', context: { dockerfile: 'FROM scratch\n' } });
      expect(r).toMatchObject({ ok: false, exitCode: 3 });
      const tail = (r as { tail: string[] }).tail;
      expect(tail).toContain('out1');
      expect(tail).toContain('err1');
      expect(tail).toContain(`out2-${'x'.repeat(16 * 1024 - 5)} … (a line over 16384 characters, cut)`);
      expect(tail.at(-1)).toBe('after');
    } finally {
      rmSync(c.dir, { recursive: true, force: true });
    }
  });

  it('fails when the client wrote no --iidfile at all', async () => {
    const c = client('cat > /dev/null; exit 0');
    try {
      const r = await clientBuild({ bin: c.bin, env: { PATH: process.env.PATH }, plainProgress: false }, { tag: 'rep-test:x', context: { dockerfile: 'FROM scratch\n' } });
      expect(r).toMatchObject({ ok: false, exitCode: 1, tail: [`ERROR: ${c.bin} build wrote no image ID to its --iidfile`] });
    } finally {
      rmSync(c.dir, { recursive: true, force: true });
    }
  });

  /** A client that writes its arguments to `args` beside it, writes `iid` to its --iidfile and exits with `code`. */
  const writing = (iid: string, code = 0) =>
    client(`cat > /dev/null; printf '%s\\n' "$*" > "$(dirname "$0")/args"; while [ "$1" != --iidfile ]; do shift; done; printf '${iid}' > "$2"; exit ${code}`);
  const hex = 'c'.repeat(64);

  it('asks for a tag (-t) only when given one; without, the image is named by the id its --iidfile says, as sha256:HEX (podman\'s, docker\'s, or HEX alone)', async () => {
    for (const [iid, tag, args] of [
      [`sha256:${hex}`, undefined, 'build --force-rm --iidfile IID -'],
      [`sha256:${hex}\\n`, 'rep-test:x', 'build --force-rm --iidfile IID -t rep-test:x -'],
      [hex, undefined, 'build --force-rm --iidfile IID -'],
    ] as const) {
      const c = writing(iid);
      try {
        const r = await clientBuild({ bin: c.bin, env: { PATH: process.env.PATH }, plainProgress: false }, { tag, context: { dockerfile: 'FROM scratch\n' } });
        expect(r).toEqual({ ok: true, imageId: `sha256:${hex}` });
        expect(readFileSync(path.join(c.dir, 'args'), 'utf8').trim().replace(/--iidfile \S+/, '--iidfile IID')).toBe(args);
      } finally {
        rmSync(c.dir, { recursive: true, force: true });
      }
    }
  });

  it('says the image a failed build made, when its --iidfile names one (the caller removes it)', async () => {
    const c = writing(`sha256:${hex}`, 1);
    try {
      const r = await clientBuild({ bin: c.bin, env: { PATH: process.env.PATH }, plainProgress: false }, { context: { dockerfile: 'FROM scratch\n' } });
      expect(r).toEqual({ ok: false, exitCode: 1, tail: [], cancelled: false, imageId: `sha256:${hex}` });
    } finally {
      rmSync(c.dir, { recursive: true, force: true });
    }
  });

  it('fails when the client wrote something else than an image ID to its --iidfile', async () => {
    const c = client(`cat > /dev/null; while [ "$1" != --iidfile ]; do shift; done; printf 'rep-cache:../x' > "$2"; exit 0`);
    try {
      const r = await clientBuild({ bin: c.bin, env: { PATH: process.env.PATH }, plainProgress: false }, { tag: 'rep-test:x', context: { dockerfile: 'FROM scratch\n' } });
      expect(r).toMatchObject({ ok: false, exitCode: 1, tail: [`ERROR: ${c.bin} build wrote no image ID to its --iidfile`] });
    } finally {
      rmSync(c.dir, { recursive: true, force: true });
    }
  });
});
