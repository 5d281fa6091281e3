// What a bundle's RO-Crate and SBOM claim of its files and image, checked by
// rep verify (src/publish/claims.ts). Found by an adversarial review: a crate
// giving other hashes than the files verified "ok".
import { describe, expect, it } from 'vitest';
import { crateProblems, sbomImageProblems } from '../../src/publish/claims.js';

const SHA = (c: string) => c.repeat(64);
const crate = (graph: unknown[]) => Buffer.from(JSON.stringify({ '@context': 'x', '@graph': graph }));
const files = new Map([['Repfile', SHA('a')], ['image.oci.tar', SHA('b')]]);
const sizes: Record<string, number> = { Repfile: 10, 'image.oci.tar': 99 };
const sizeOf = (f: string) => sizes[f];

describe("the crate's word on the bundle", () => {
  it('holds when every File it describes has its sha256 and size, and the image its digest', () => {
    const g = [
      { '@id': 'Repfile', '@type': 'File', sha256: SHA('a'), contentSize: '10' },
      { '@id': 'image.oci.tar', '@type': 'File', sha256: SHA('b'), contentSize: '99', identifier: `sha256:${SHA('c')}` },
      { '@id': '#build', '@type': 'CreateAction' },
    ];
    expect(crateProblems(crate(g), files, sizeOf, SHA('c'))).toEqual([]);
  });

  it('says each File whose sha256 or size is not the file, one not in the bundle, and an image of another digest', () => {
    const g = [
      { '@id': 'Repfile', '@type': ['File'], sha256: SHA('f'), contentSize: '10' },
      { '@id': 'image.oci.tar', '@type': 'File', sha256: SHA('b'), contentSize: 98, identifier: `sha256:${SHA('c')}` },
      { '@id': 'gone.txt', '@type': 'File', sha256: SHA('0') },
      { '@id': '#image', '@type': 'CreativeWork', identifier: `sha256:${SHA('d')}` },
      'not an entity',
      { '@id': 7, '@type': 'File' },
    ];
    expect(crateProblems(crate(g), files, sizeOf, SHA('c'))).toEqual([
      "ro-crate-metadata.json: the sha256 it gives Repfile is not the file's",
      "ro-crate-metadata.json: the contentSize it gives image.oci.tar is not the file's",
      'ro-crate-metadata.json describes gone.txt, which the bundle does not hold',
      `ro-crate-metadata.json: #image names another image than the statement (sha256:${SHA('d')})`,
    ]);
  });

  it('stops at `most` problems (a crate of 200,000 false entries overflowed the stack when spread), and takes a MediaObject for a File', () => {
    const many = Array.from({ length: 200_000 }, (_, i) => ({ '@id': `f${i}`, '@type': 'File', sha256: 'x' }));
    expect(crateProblems(crate(many), files, sizeOf, undefined, 1001)).toHaveLength(1001);
    expect(crateProblems(crate([{ '@id': 'Repfile', '@type': 'schema:MediaObject', sha256: SHA('f') }]), files, sizeOf)).toEqual(["ro-crate-metadata.json: the sha256 it gives Repfile is not the file's"]);
  });

  it('is refused when it is not JSON or has no @graph, and its keys are never a prototype', () => {
    expect(crateProblems(Buffer.from('{'), files, sizeOf)).toEqual(['ro-crate-metadata.json is not JSON']);
    expect(crateProblems(Buffer.from('[]'), files, sizeOf)).toEqual(['ro-crate-metadata.json has no @graph']);
    // Nested past the depth rep reads of a bundle's JSON: refused before JSON.parse builds it (a deep one ran V8 out of heap).
    expect(crateProblems(Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), files, sizeOf)).toEqual(['ro-crate-metadata.json is not JSON']);
    expect(sbomImageProblems(Buffer.from(`{"metadata":${'['.repeat(100_000)}${']'.repeat(100_000)}}`), 'sbom.cdx.json', SHA('c'))).toEqual(['sbom.cdx.json is not JSON']);
    expect(crateProblems(Buffer.from('{"__proto__": {"@graph": []}}'), files, sizeOf)).toEqual(['ro-crate-metadata.json has no @graph']);
  });
});

describe("the SBOM's image", () => {
  it("is the statement's image config, or said", () => {
    const bom = (version: unknown) => Buffer.from(JSON.stringify({ bomFormat: 'CycloneDX', metadata: { component: { name: 'p', version } } }));
    expect(sbomImageProblems(bom(`sha256:${SHA('c')}`), 'sbom.cdx.json', SHA('c'))).toEqual([]);
    expect(sbomImageProblems(bom(`sha256:${SHA('d')}`), 'sbom.cdx.json', SHA('c'))).toEqual([`sbom.cdx.json describes another image than the statement (sha256:${SHA('d')})`]);
    expect(sbomImageProblems(Buffer.from('{}'), 'sbom.cdx.json', SHA('c'))).toEqual(['sbom.cdx.json describes another image than the statement (it names none)']);
  });
});
