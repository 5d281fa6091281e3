// What an engine says an image is, checked for shape before rep believes it:
// an image id goes into tags, API paths, `.rep/` records and the provenance, a
// layer list into the rewrite, an id of `rep gc`'s list onto a command line.
// A DOCKER_HOST (or a client on PATH) that answers anything else is refused
// with the engine's name, not taken as an id. Found by an adversarial review.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CliEngine } from '../../src/engine/cli.js';
import { checkedImage, checkedImageId, EngineError } from '../../src/engine/engine.js';
import { imageJson } from '../../src/engine/socket.js';

const ID = 'a'.repeat(64);
const DIFF = `sha256:${'b'.repeat(64)}`;
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
const temp = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rep-shape-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

describe('an image as the engine describes it', () => {
  it('is taken when its id, layers and repo digests have the shapes docker and podman give them', () => {
    expect(checkedImageId(`sha256:${ID}`, 'x', 'docker')).toBe(`sha256:${ID}`);
    expect(checkedImageId(ID, 'x', 'podman')).toBe(ID);
    expect(checkedImage({ id: ID, layers: [DIFF], repoDigests: [`localhost/x@sha256:${ID}`] }, 'x', 'podman')).toEqual({ id: ID, layers: [DIFF], repoDigests: [`localhost/x@sha256:${ID}`] });
    expect(checkedImage({ id: ID, layers: null, repoDigests: undefined }, 'x', 'docker')).toEqual({ id: ID, layers: [], repoDigests: [] });
    // ONBUILD triggers (Config.OnBuild): any, of whatever shape, is said; none, null or an empty list is not.
    for (const some of [['COPY . /x'], 'COPY . /x', {}]) expect(checkedImage({ id: ID, onBuild: some }, 'x', 'docker')).toEqual({ id: ID, layers: [], repoDigests: [], onBuild: true });
    for (const none of [undefined, null, []]) expect(checkedImage({ id: ID, onBuild: none }, 'x', 'docker')).toEqual({ id: ID, layers: [], repoDigests: [] });
  });

  it('is refused for an id that is not one, a layer that is not a diff id, a digest that is not one', () => {
    for (const id of ['', '../../x', `sha256:${ID}\n`, `--force`, `sha512:${ID}`, ID.toUpperCase(), ID.slice(1), 42, undefined]) {
      expect(() => checkedImageId(id, 'x', 'docker'), String(id)).toThrow(EngineError);
    }
    expect(() => checkedImage({ id: ID, layers: ['sha256:../x'] }, 'x', 'docker')).toThrow('the docker engine answered layers of the wrong shape for image x');
    expect(() => checkedImage({ id: ID, layers: DIFF }, 'x', 'docker')).toThrow(EngineError);
    expect(() => checkedImage({ id: ID, repoDigests: ['x@sha256:1'] }, 'x', 'docker')).toThrow('repo digests of the wrong shape');
  });

  it('over the socket: an answer with another id is refused', async () => {
    const dir = temp();
    const socket = path.join(dir, 'docker.sock');
    let id: unknown = `sha256:${ID}`;
    const server = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ Id: id, RootFS: { Layers: [DIFF] } })));
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    cleanups.unshift(() => server.close());
    expect(await imageJson(socket, 'busybox:latest')).toEqual({ id: `sha256:${ID}`, repoDigests: [], layers: [DIFF] });
    id = 'sha256:../../containers/x/kill';
    await expect(imageJson(socket, 'busybox:latest')).rejects.toThrow('the docker engine answered an image id of the wrong shape for image busybox:latest');
  });

  it("from the client: inspect's and imageIds' odd answers are refused, not taken as ids (and no stack trace for output that is not JSON)", async () => {
    const dir = temp();
    const bin = path.join(dir, 'podman');
    const said = path.join(dir, 'said');
    writeFileSync(bin, `#!/bin/sh\ncat '${said}'\n`);
    chmodSync(bin, 0o755);
    const engine = new CliEngine({ flavor: 'podman', env: { REP_PODMAN: bin } });
    writeFileSync(said, `${ID}\n`);
    expect((await engine.imageIds(['x'])).get('x')).toBe(ID);
    writeFileSync(said, '-f\n');
    await expect(engine.imageIds(['x'])).rejects.toThrow('the podman engine answered an image id of the wrong shape for image x: "-f"');
    writeFileSync(said, 'Error: no JSON here\n');
    await expect(engine.inspect('x')).rejects.toThrow(`${bin} image inspect printed no JSON for image x`);
    writeFileSync(said, '[]\n');
    await expect(engine.inspect('x')).rejects.toThrow(`${bin} image inspect printed no image for x`);
    writeFileSync(said, JSON.stringify([{ Id: ID, RootFS: { Layers: [DIFF] } }]));
    expect(await engine.inspect('x')).toEqual({ id: ID, repoDigests: [], layers: [DIFF] });
  });
});
