// The consent a build asks before it hands a secret file of this machine to a
// stranger's Repfile: it names the file the build would read, where a link
// leads too (found by a review: `key -> /host/id_rsa` was asked for as proj/key).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/diag.js';
import type { Engine } from '../../src/engine/engine.js';
import { prepareSecrets } from '../../src/scheduler/secrets.js';
import { open, tempFolders, writeTree, type Tree } from '../helpers.js';

const temp = tempFolders();
const engine = { secretsSupported: true } as Engine;

/** A project whose Repfile takes the secret `a` from `file`, with `tree` beside it; and the lines prepareSecrets refuses it with. */
function project(file: string, tree: Tree = {}): { dir: string; refused: string[] } {
  const dir = temp.make('rep-test-secret-');
  writeTree(dir, { ...tree, Repfile: `rep: 1\nname: p\nbase: busybox:latest\nsecrets:\n  a: {file: ${JSON.stringify(file)}}\nsteps:\n  s: {secrets: [a], run: "true"}\n` });
  const r = prepareSecrets(open(dir), engine);
  return { dir, refused: r.ok ? [] : r.errors.map(formatDiagnostic) };
}

const ask = (shown: string) => `Repfile:5:13: secrets.a.file: the Repfile asks for the file ${shown}, outside the project, as secret "a"; rep hands a build a file of this machine only when you say so: --secret a`;

describe('a secret file outside the project', () => {
  it('is named with where it leads when its path is a link or passes through one, escaped for the terminal', () => {
    const host = temp.make('rep-test-host-');
    const idRsa = path.join(host, 'id_rsa');
    writeFileSync(idRsa, 'secret');
    const link = project('key', { key: { link: idRsa } });
    expect(link.refused).toEqual([ask(`${path.join(link.dir, 'key')}, a link to ${idRsa}`)]);
    const through = project('ssh/id_rsa', { ssh: { link: host } });
    expect(through.refused).toEqual([ask(`${path.join(through.dir, 'ssh/id_rsa')}, a link to ${idRsa}`)]);
    const odd = path.join(host, 'a\nb\u202e');
    writeFileSync(odd, 'secret');
    const escaped = project('key', { key: { link: odd } });
    expect(escaped.refused).toEqual([ask(`${path.join(escaped.dir, 'key')}, a link to "${host}/a\\nb\\u202e"`)]);
    // A path with no link on it is named as it is.
    expect(project(idRsa).refused).toEqual([ask(idRsa)]);
  });
});

describe('a secret file whose path docker cannot read in --secret', () => {
  it('is refused when it holds ",", \'"\' or a control character: Go\'s csv reader fails on a bare quote (a review)', () => {
    for (const name of ['to"k"=x', 'a,b']) {
      const { refused } = project(name, { '.dockerignore': `${name}\n`, [name]: 'secret' });
      expect(refused, name).toHaveLength(1);
      expect(refused[0], name).toMatch(/^Repfile:5:13: secrets\.a\.file: the path of a secret file cannot hold ",", '"' or a control character \(docker and podman read --secret as comma-separated fields\): rename "?\//);
    }
  });
});

