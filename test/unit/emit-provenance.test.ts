// The provenance statement names each input by a file: URI that reads back as
// exactly that path (rep verify compares digests, never these URIs).
import { describe, expect, it } from 'vitest';
import { provenanceStatement, type ProvenanceInput } from '../../src/emit/provenance.js';

const SHA = 'a'.repeat(64);

function inputUris(paths: string[]): string[] {
  const p: ProvenanceInput = {
    repfile: { path: 'Repfile', sha256: SHA },
    target: 'app',
    tag: 'demo:latest',
    engine: 'none',
    engineVersion: '0',
    dockerfile: { name: 'Dockerfile', sha256: SHA },
    context: { name: 'context.tar', sha256: SHA },
    bases: [],
    inputs: paths.map((path) => ({ path, sha256: SHA })),
    steps: [],
    startedOn: new Date(0),
    finishedOn: new Date(0),
  };
  return provenanceStatement(p).predicate.buildDefinition.resolvedDependencies.map((d) => d.uri!);
}

describe('input URIs in the provenance statement', () => {
  it('escape "#" and "?", which would end the path (data#v2.csv is not the file "data" with a fragment)', () => {
    expect(inputUris(['data#v2.csv', 'q?x=1', 'd/100% sure.txt', 'src/main.py', 'a b/é.txt'])).toEqual([
      'file:data%23v2.csv',
      'file:q%3Fx%3D1',
      'file:d/100%25%20sure.txt',
      'file:src/main.py',
      'file:a%20b/%C3%A9.txt',
    ]);
  });

  it('read back as the path they name', () => {
    for (const path of ['data#v2.csv', 'x?y', 'a/b#c/d?e', 'p%41', 'semi;colon:at@.txt']) {
      const [uri] = inputUris([path]);
      const url = new URL(uri!, 'file:///ctx/');
      expect([url.hash, url.search], path).toEqual(['', '']);
      expect(decodeURIComponent(url.pathname.replace(/^\/ctx\//, '')), path).toBe(path);
    }
  });
});
