// What rep asks of docker's Engine API and how it reads the answers, where the
// answer is hard to get from a real engine: a container creation whose answer
// is lost, a build that fails or answers in either builder's words. The engine
// here is a stand-in HTTP server on a unix socket (test/integration builds the
// same requests with a real engine): what is checked is what rep asks and
// makes of the answer, not a build.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildDockerfile, copyContainerName, createContainer, dockerfileTar } from '../../src/engine/socket.js';

const servers: { close: () => void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/**
 * A stand-in engine: `answer` decides how a container creation or a build is answered (and gets
 * the request's body); every request is logged; anything else is answered 204.
 */
async function engine(answer: (res: ServerResponse, body: Buffer) => void): Promise<{ socket: string; asked: string[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'rep-sock-'));
  const socket = path.join(dir, 'docker.sock');
  const asked: string[] = [];
  const held: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    asked.push(`${req.method} ${req.url}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && (req.url?.startsWith('/containers/create') || req.url?.startsWith('/build'))) {
        held.push(res);
        answer(res, Buffer.concat(chunks));
      } else res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  servers.push({
    close: () => {
      for (const r of held) r.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
  return { socket, asked };
}

describe('the container outputs are copied from', () => {
  it('is created under a name of its own, a fresh one each time', () => {
    const a = copyContainerName();
    expect(a).toMatch(/^rep-out-[0-9a-f]{16}$/);
    expect(copyContainerName()).not.toBe(a);
  });

  it('is removed by its name when the engine does not answer its creation in time', async () => {
    const { socket, asked } = await engine(() => {});
    const name = copyContainerName();
    await expect(createContainer(socket, 'busybox:latest', name, 200)).rejects.toThrow(/no answer .* within 200 ms/);
    expect(asked).toEqual([`POST /containers/create?name=${name}`, `DELETE /containers/${name}?force=1`]);
  });

  it('is removed by its name when the engine answers with an error, and not when it answers with its id', async () => {
    const failing = await engine((res) => res.writeHead(500, { 'Content-Type': 'application/json' }).end('{"message":"boom"}'));
    const name = copyContainerName();
    await expect(createContainer(failing.socket, 'busybox:latest', name)).rejects.toThrow(/engine answered 500 .*boom/);
    expect(failing.asked).toEqual([`POST /containers/create?name=${name}`, `DELETE /containers/${name}?force=1`]);
    const id = 'a'.repeat(64);
    const answering = await engine((res) => res.writeHead(201, { 'Content-Type': 'application/json' }).end(JSON.stringify({ Id: id })));
    expect(await createContainer(answering.socket, 'busybox:latest', name)).toBe(id);
    expect(answering.asked).toEqual([`POST /containers/create?name=${name}`]);
  });

  it('takes no name but its own (the name goes into the request path)', async () => {
    const { socket, asked } = await engine(() => {});
    await expect(createContainer(socket, 'busybox:latest', 'x?all=1&name=y', 200)).rejects.toThrow(/not a copy container's name/);
    expect(asked).toEqual([]);
  });
});

describe('a build of a Dockerfile alone (the final image) over the API', () => {
  const id = `sha256:${'b'.repeat(64)}`;
  const lines = (...objs: unknown[]) => objs.map((o) => `${JSON.stringify(o)}\r\n`).join('');
  const dockerfile = 'FROM rep-cache:abc\nCMD ["x"]\n';

  it('sends the Dockerfile as a tar of its own, to the builder asked for, tagged as asked', async () => {
    let sent: Buffer | undefined;
    const e = await engine((res, body) => {
      sent = body;
      res.writeHead(200).end(lines({ stream: 'Step 1/2' }, { aux: { ID: id } }, { stream: 'Successfully built' }));
    });
    expect(await buildDockerfile(e.socket, dockerfile, 'rep-cache:final', false)).toEqual({ ok: true, imageId: id });
    expect(await buildDockerfile(e.socket, dockerfile, 'rep-cache:final', true)).toEqual({ ok: true, imageId: id });
    expect(e.asked).toEqual(['POST /build?t=rep-cache%3Afinal&version=1&rm=1&forcerm=1', 'POST /build?t=rep-cache%3Afinal&version=2&rm=1&forcerm=1']);
    expect(sent).toEqual(dockerfileTar(dockerfile));
    expect(sent!.subarray(0, 10).toString()).toBe('Dockerfile');
  });

  it("reads BuildKit's answer: the image in its moby.image.id record, past the trace records", async () => {
    const e = await engine((res) => res.writeHead(200).end(lines({ id: 'moby.buildkit.trace', aux: 'CnkKR3No' }, { id: 'moby.image.id', aux: { ID: id } }, { id: 'moby.buildkit.trace', aux: 'Ep8BCipu' })));
    expect(await buildDockerfile(e.socket, dockerfile, 'rep-cache:final', true)).toEqual({ ok: true, imageId: id });
  });

  it("fails with the engine's words: an error in the stream, a refusal, an answer naming no image", async () => {
    for (const [answer, said] of [
      [(res: ServerResponse) => res.writeHead(200).end(lines({ stream: 'Step 1/2' }, { errorDetail: { message: 'boom' }, error: 'pull access denied for rep-cache' })), 'pull access denied for rep-cache'],
      [(res: ServerResponse) => res.writeHead(500).end(JSON.stringify({ message: 'daemon trouble' })), 'daemon trouble'],
      [(res: ServerResponse) => res.writeHead(200).end(lines({ stream: 'Step 1/2' })), 'engine answered 200 for building rep-cache:final'],
      [(res: ServerResponse) => res.writeHead(200).end(lines({ aux: { ID: 'not-an-id' } })), 'engine answered 200 for building rep-cache:final'],
    ] as const) {
      const e = await engine(answer);
      expect(await buildDockerfile(e.socket, dockerfile, 'rep-cache:final', true)).toEqual({ ok: false, said, cancelled: false });
    }
  });

  it('is cancelled by its signal, and refuses a tag that is no image reference before asking', async () => {
    const e = await engine(() => {});
    const abort = new AbortController();
    const built = buildDockerfile(e.socket, dockerfile, 'rep-cache:final', true, abort.signal);
    setTimeout(() => abort.abort(), 50);
    expect(await built).toEqual({ ok: false, said: 'cancelled', cancelled: true });
    await expect(buildDockerfile(e.socket, dockerfile, 'x&version=1', true)).rejects.toThrow(/not an image reference/);
  });
});
