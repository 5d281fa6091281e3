// The container rep makes to copy a step's outputs out of its image is named,
// so that it is removed even when the engine's answer to its creation is lost.
// The engine here is a stand-in HTTP server on a unix socket that answers late
// or with an error: what is checked is what rep asks of it, not a build.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyContainerName, createContainer } from '../../src/engine/socket.js';

const servers: { close: () => void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A stand-in engine: `create` decides how a container creation is answered; every request is logged. */
async function engine(create: (res: ServerResponse) => void): Promise<{ socket: string; asked: string[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'rep-sock-'));
  const socket = path.join(dir, 'docker.sock');
  const asked: string[] = [];
  const held: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    asked.push(`${req.method} ${req.url}`);
    req.resume();
    if (req.method === 'POST' && req.url?.startsWith('/containers/create')) {
      held.push(res);
      create(res);
    } else res.writeHead(204).end();
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
