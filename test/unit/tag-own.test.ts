// Image names a Repfile may not use: rep's own (step images rep-cache:KEY, which
// make a step fresh by existing, and rep-verify/ rebuilds), however docker or
// podman would spell them, and the images the Repfile itself builds on.
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/diag.js';
import { namesRepImage, sameNameTag } from '../../src/lock/reference.js';
import { parseRepfile } from '../../src/repfile/load.js';

const KEY = 'a'.repeat(64);
const HEAD = 'rep: 1\nname: demo\nbase: debian:bookworm-slim\n';
const OWN = "rep-cache holds the step images of every project on this machine, rep-pin those a running build uses, rep-verify/ what rep verify rebuilds";

const check = (text: string) => {
  const r = parseRepfile(text, { file: 'Repfile' });
  return r.ok ? [] : r.errors.map(formatDiagnostic);
};
const withTag = (tag: string) => `${HEAD}steps: {a: {run: x}}\nimage:\n  tag: ${JSON.stringify(tag)}\n`;

describe("rep's own image names", () => {
  it('are told apart as docker and podman normalise them', () => {
    for (const own of [
      `rep-cache:${KEY}`,
      `library/rep-cache:${KEY}`,
      `localhost/rep-cache:${KEY}`,
      `localhost/library/rep-cache:${KEY}`,
      `docker.io/rep-cache:${KEY}`,
      `docker.io/library/rep-cache:${KEY}`,
      `index.docker.io/library/rep-cache:${KEY}`,
      `ghcr.io/someone/rep-cache:${KEY}`,
      'rep-cache',
      `rep-cache@sha256:${KEY}`,
      'rep-verify/paper:0123456789ab',
      'localhost/rep-verify/paper:x',
      'docker.io/rep-verify/paper',
      // The images a running build holds (scheduler/pins.ts).
      `rep-pin:1-2-0123abcd-${KEY}`,
      `localhost/rep-pin:1-2-0123abcd-${KEY}`,
    ]) {
      expect(namesRepImage(own), own).toBe(true);
    }
    for (const other of ['rep-cache-tools:1', 'rep-cache/tools:1', 'myrep-cache:1', 'rep-verify:1', 'paper/rep-verify:1', 'debian:bookworm-slim']) {
      expect(namesRepImage(other), other).toBe(false);
    }
    expect(sameNameTag('debian:bookworm-slim', 'docker.io/library/debian:bookworm-slim')).toBe(true);
    expect(sameNameTag('index.docker.io/library/debian', 'debian:latest')).toBe(true);
    expect(sameNameTag(`debian:12@sha256:${KEY}`, 'debian:12')).toBe(true);
    expect(sameNameTag(`debian@sha256:${KEY}`, 'debian:latest')).toBe(false);
    // podman finds a short name it built as localhost/NAME: the same image there.
    expect(sameNameTag('localhost/debian:12', 'debian:12')).toBe(true);
    expect(sameNameTag('registry.example.org/debian:12', 'debian:12')).toBe(false);
  });

  it('image.tag is refused, in every spelling (it would make a step of another project look fresh)', () => {
    for (const tag of [
      `rep-cache:${KEY}`,
      `localhost/rep-cache:${KEY}`,
      `docker.io/library/rep-cache:${KEY}`,
      `index.docker.io/library/rep-cache:${KEY}`,
      `library/rep-cache:${KEY}`,
      'rep-verify/paper:0123456789ab',
    ]) {
      expect(check(withTag(tag)), tag).toEqual([
        `Repfile:6:8: image.tag: ${JSON.stringify(tag)} is one of rep's own image names (${OWN}): an image tagged so could pass for a cached step; choose another tag, e.g. demo:latest`,
      ]);
    }
    expect(check('rep: 1\nname: rep-cache\nbase: debian:bookworm-slim\nsteps: {a: {run: x}}\n')).toEqual([
      `Repfile:2:7: name: the image's tag, rep-cache:latest (NAME:latest when image.tag does not say), is one of rep's own image names (${OWN}): an image tagged so could pass for a cached step; choose another tag, e.g. analysis:latest`,
    ]);
    expect(check(withTag('demo/rep-cache-tools:1'))).toEqual([]);
  });

  it('base and a step from that is not a step cannot name them (they would build on another project\'s step)', () => {
    expect(check(`rep: 1\nname: demo\nbase: "localhost/rep-cache:${KEY}"\nsteps: {a: {run: x}}\n`)).toEqual([
      `Repfile:3:7: base: "localhost/rep-cache:${KEY}" is one of rep's own images (${OWN}), not an image to build on: start from a published image, or name the step to build on`,
    ]);
    expect(check(`${HEAD}steps:\n  a: {run: x}\n  b: {from: "rep-verify/x:1", run: y}\n`)).toEqual([
      `Repfile:6:13: steps.b.from: "rep-verify/x:1" is one of rep's own images (${OWN}), not an image to build on: start from a published image, or name the step to build on`,
    ]);
    // A step may be called rep-cache, and another built on it.
    expect(check(`${HEAD}steps:\n  rep-cache: {run: x}\n  b: {from: rep-cache, run: y}\n`)).toEqual([]);
  });

  it('image.tag cannot name an image the Repfile builds on (it would replace it for every project)', () => {
    expect(check(withTag('debian:bookworm-slim'))).toEqual([
      'Repfile:6:8: image.tag: "debian:bookworm-slim" names the image base names, which this Repfile builds on: tagging the result so would replace debian:bookworm-slim for every project that uses it; choose another tag',
    ]);
    expect(check(withTag('docker.io/library/debian:bookworm-slim'))).toHaveLength(1);
    expect(check(`${HEAD}steps:\n  a: {run: x}\n  b: {from: "busybox", run: y}\nimage: {from: b, tag: "index.docker.io/library/busybox:latest"}\n`)).toEqual([
      'Repfile:7:23: image.tag: "index.docker.io/library/busybox:latest" names the image steps.b.from names, which this Repfile builds on: tagging the result so would replace busybox for every project that uses it; choose another tag',
    ]);
    expect(check('rep: 1\nname: debian\nbase: debian\nsteps: {a: {run: x}}\n')).toEqual([
      "Repfile:2:7: name: the image's tag, debian:latest (NAME:latest when image.tag does not say), names the image base names, which this Repfile builds on: tagging the result so would replace debian for every project that uses it; choose another tag",
    ]);
    expect(check(withTag('debian:analysis'))).toEqual([]);
    expect(check(withTag('localhost/debian:bookworm-slim'))).toHaveLength(1);
    expect(check(withTag('registry.example.org/debian:bookworm-slim'))).toEqual([]);
  });
});

describe('what a base may not be, found by a second review', () => {
  it('an image id, or what reads as one: docker and podman look an image up by its id or a prefix of it, another project\'s step image included', () => {
    for (const id of [`sha256:${KEY}`, '0a1b2c3d4e5f', 'deadbeef', 'abc', 'e3f', 'a']) {
      const errors = check(`rep: 1\nname: demo\nbase: ${JSON.stringify(id)}\nsteps: {a: {run: x}}\n`);
      expect(errors.join('\n'), id).toMatch(/reads as an image id/);
      expect(check(`${HEAD}steps: {x: {from: ${JSON.stringify(id)}, run: x}, y: {run: y}}\nimage: {from: y}\n`).join('\n'), id).toMatch(/steps\.x\.from: .*reads as an image id/);
    }
    for (const named of ['deadbeef:1', 'cafe:latest', 'deadbeef/tool:1', 'abc123x']) expect(check(`rep: 1\nname: demo\nbase: "${named}"\nsteps: {a: {run: x}}\n`), named).toEqual([]);
  });

  it('a tag podman would find as the base: foo:1 is localhost/foo:1 for an image podman built', () => {
    expect(sameNameTag('foo:1', 'localhost/foo:1')).toBe(true);
    expect(sameNameTag('docker.io/library/foo:1', 'localhost/foo:1')).toBe(true);
    expect(sameNameTag('foo:1', 'localhost/foo:2')).toBe(false);
    expect(check(`rep: 1\nname: demo\nbase: "foo:1"\nsteps: {a: {run: x}}\nimage: {tag: "localhost/foo:1"}\n`).join('\n')).toMatch(/names the image base names/);
  });
});
