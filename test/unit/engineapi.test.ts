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
import { apiGet, copyContainerName, createContainer, dockerfileTar, removeImage, removeStaleCopies, serverVersion } from '../../src/engine/socket.js';
import { apiBuild, Lines } from '../../src/engine/apibuild.js';
import type { BuildOutcome, BuildRequest, Engine } from '../../src/engine/engine.js';
import { NoneEngine } from '../../src/engine/none.js';
import { planBuild } from '../../src/plan/plan.js';
import { runBuild } from '../../src/scheduler/run.js';
import { makeProject, open } from '../helpers.js';

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

describe('an image name removed over the API', () => {
  it('is one DELETE of the name, without force; a name that could climb the path is not sent', async () => {
    // A build releases its pins (scheduler/pins.ts) so: through the client, each was a process of its own.
    const { socket, asked } = await engine(() => {});
    const pin = `rep-pin:1-2-0123abcd-${'a'.repeat(64)}`;
    await removeImage(socket, pin);
    expect(asked).toEqual([`DELETE /images/${pin}`]);
    await expect(removeImage(socket, 'x/../../containers/y')).rejects.toThrow('not an image reference');
    expect(asked).toHaveLength(1);
  });
});

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
    expect(asked).toEqual([`POST /containers/create?name=${name}`, `DELETE /containers/${name}?force=1&v=1`]);
  });

  it('is removed by its name when the engine answers with an error, and not when it answers with its id', async () => {
    const failing = await engine((res) => res.writeHead(500, { 'Content-Type': 'application/json' }).end('{"message":"boom"}'));
    const name = copyContainerName();
    await expect(createContainer(failing.socket, 'busybox:latest', name)).rejects.toThrow(/engine answered 500 .*boom/);
    expect(failing.asked).toEqual([`POST /containers/create?name=${name}`, `DELETE /containers/${name}?force=1&v=1`]);
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

describe('a build over the API (a Dockerfile alone, or a small tar)', () => {
  const id = `sha256:${'b'.repeat(64)}`;
  const lines = (...objs: unknown[]) => objs.map((o) => `${JSON.stringify(o)}\r\n`).join('');
  const dockerfile = 'FROM rep-cache:abc\nCMD ["x"]\n';
  const body = dockerfileTar(dockerfile);
  const built = (socket: string, more: Partial<Parameters<typeof apiBuild>[2]> = {}) => apiBuild(socket, body, { tag: 'rep-cache:final', buildkit: true, ...more });

  // Protobuf as BuildKit writes its StatusResponse: field 1 a vertex (1 digest, 3 name, 4 cached,
  // 5 started, 6 completed, 7 error), field 3 a log (1 vertex, 4 message).
  const varint = (n: number) => {
    const out: number[] = [];
    do {
      out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
      n = Math.floor(n / 128);
    } while (n > 0);
    return Buffer.from(out);
  };
  const field = (n: number, v: Buffer | string | number) =>
    typeof v === 'number' ? Buffer.concat([varint(n * 8), varint(v)]) : Buffer.concat([varint(n * 8 + 2), varint(Buffer.from(v).length), Buffer.from(v)]);
  const stamp = field(1, 1_700_000_000);
  const vertex = (digest: string, name: string, more: Buffer[] = []) => field(1, Buffer.concat([field(1, digest), field(3, name), ...more]));
  const log = (digest: string, msg: string) => field(3, Buffer.concat([field(1, digest), field(2, stamp), field(3, 1), field(4, msg)]));
  const rawLog = (digest: string, msg: Buffer) => field(3, Buffer.concat([field(1, digest), field(4, msg)]));
  const trace = (...parts: Buffer[]) => ({ id: 'moby.buildkit.trace', aux: Buffer.concat(parts).toString('base64') });

  it('sends the tar to the builder asked for, tagged as asked, with the network and cache asked for', async () => {
    let sent: Buffer | undefined;
    const e = await engine((res, b) => {
      sent = b;
      res.writeHead(200).end(lines({ stream: 'Step 1/2' }, { aux: { ID: id } }, { stream: 'Successfully built' }));
    });
    expect(await built(e.socket, { buildkit: false })).toEqual({ ok: true, imageId: id });
    expect(await built(e.socket, { network: 'host', noCache: true })).toEqual({ ok: true, imageId: id });
    expect(e.asked).toEqual(['POST /build?t=rep-cache%3Afinal&version=1&rm=1&forcerm=1', 'POST /build?t=rep-cache%3Afinal&version=2&rm=1&forcerm=1&networkmode=host&nocache=1']);
    expect(sent).toEqual(body);
    expect(sent!.subarray(0, 10).toString()).toBe('Dockerfile');
  });

  it("prints the classic builder's text and BuildKit's status as lines: each vertex once started and once done, what it printed, line by line", async () => {
    const classic = await engine((res) => res.writeHead(200).end(lines({ stream: 'Step 1/2 : FROM x\n' }, { stream: ' ---> Running in 1\nhello\nwor' }, { stream: 'ld\n' }, { aux: { ID: id } })));
    const got: string[] = [];
    expect(await built(classic.socket, { buildkit: false, onLine: (l) => got.push(l) })).toEqual({ ok: true, imageId: id });
    expect(got).toEqual(['Step 1/2 : FROM x', ' ---> Running in 1', 'hello', 'world']);
    const bk = await engine((res) =>
      res.writeHead(200).end(
        lines(
          trace(vertex('sha256:a', '[1/2] FROM x', [field(5, stamp)]), vertex('sha256:b', '[2/2] RUN echo hi', [field(5, stamp)])),
          trace(vertex('sha256:a', '[1/2] FROM x', [field(4, 1), field(5, stamp), field(6, stamp)]), log('sha256:b', 'hi\npart'), log('sha256:b', 'ial\n')),
          trace(vertex('sha256:b', '[2/2] RUN echo hi', [field(5, stamp), field(6, stamp)])),
          { id: 'moby.image.id', aux: { ID: id } },
        ),
      ),
    );
    const bkLines: string[] = [];
    expect(await built(bk.socket, { onLine: (l) => bkLines.push(l) })).toEqual({ ok: true, imageId: id });
    expect(bkLines).toEqual(['#1 [1/2] FROM x', '#2 [2/2] RUN echo hi', '#1 CACHED', 'hi', 'partial', '#2 DONE']);
  });

  it('cuts a line of the classic builder\'s text that never ends, sent in the pieces the engine sends (found by an adversarial review: split again on every piece, 40 MB took 45 s)', async () => {
    const piece = { stream: 'x'.repeat(32 * 1024) };
    const e = await engine((res) => res.writeHead(200).end(lines({ stream: 'a\nb' }, ...Array.from({ length: 512 }, () => piece), { stream: '\nend\n' }, { aux: { ID: id } })));
    const got: string[] = [];
    expect(await built(e.socket, { buildkit: false, onLine: (l) => got.push(l) })).toEqual({ ok: true, imageId: id });
    expect(got).toEqual(['a', `b${'x'.repeat(16 * 1024 - 1)} … (a line over 16384 characters, cut)`, 'end']);
    // A record over 16 MiB is cut, and then no JSON: passed over (its 17 MB line never reaches the log).
    const huge = await engine((res) => res.writeHead(200).end(lines({ stream: `${'y'.repeat(17 << 20)}\n` }, { aux: { ID: id } })));
    const hugeLines: string[] = [];
    expect(await built(huge.socket, { buildkit: false, onLine: (l) => hugeLines.push(l) })).toEqual({ ok: true, imageId: id });
    expect(hugeLines).toEqual([]);
  });

  it("fails with the engine's words (an error in the stream, a refusal, an answer naming no image), a failed vertex said as such", async () => {
    for (const [answer, said] of [
      [(res: ServerResponse) => res.writeHead(200).end(lines({ stream: 'Step 1/2' }, { errorDetail: { message: 'boom' }, error: 'pull access denied for rep-cache' })), 'pull access denied for rep-cache'],
      [(res: ServerResponse) => res.writeHead(500).end(JSON.stringify({ message: 'daemon trouble' })), 'daemon trouble'],
      [(res: ServerResponse) => res.writeHead(200).end(lines({ stream: 'Step 1/2' })), 'engine answered 200 for building rep-cache:final'],
      [(res: ServerResponse) => res.writeHead(200).end(lines({ aux: { ID: 'not-an-id' } })), 'engine answered 200 for building rep-cache:final'],
    ] as const) {
      const e = await engine(answer);
      expect(await built(e.socket)).toEqual({ ok: false, said, cancelled: false });
    }
    const failing = await engine((res) =>
      res.writeHead(200).end(lines(trace(vertex('sha256:c', '[2/2] RUN exit 3', [field(5, stamp)]), log('sha256:c', 'about to fail\n')), trace(vertex('sha256:c', '[2/2] RUN exit 3', [field(5, stamp), field(6, stamp), field(7, 'exit code: 3')])), { error: 'executor failed running [/bin/sh -c exit 3]: exit code: 3' })),
    );
    const got: string[] = [];
    expect(await built(failing.socket, { onLine: (l) => got.push(l) })).toEqual({ ok: false, said: 'executor failed running [/bin/sh -c exit 3]: exit code: 3', cancelled: false });
    expect(got).toEqual(['#1 [2/2] RUN exit 3', 'about to fail', '#1 ERROR: exit code: 3', 'ERROR: executor failed running [/bin/sh -c exit 3]: exit code: 3']);
  });

  it("decodes a character cut between two of a vertex's log records whole, says an unfinished last line when the vertex ends, and passes over a null record", async () => {
    const e = Buffer.from('é\n');
    const bk = await engine((res) =>
      res.writeHead(200).end(
        lines(
          trace(vertex('sha256:d', '[2/2] RUN x', [field(5, stamp)]), rawLog('sha256:d', e.subarray(0, 1))),
          trace(rawLog('sha256:d', e.subarray(1)), log('sha256:d', 'fatal: x')),
          null,
          trace(vertex('sha256:d', '[2/2] RUN x', [field(5, stamp), field(6, stamp), field(7, 'exit code: 3')])),
          trace(vertex('sha256:e', '[3/3] other', [field(5, stamp), field(6, stamp)])),
          { error: 'failed' },
        ),
      ),
    );
    const got: string[] = [];
    expect(await built(bk.socket, { onLine: (l) => got.push(l) })).toEqual({ ok: false, said: 'failed', cancelled: false });
    expect(got).toEqual(['#1 [2/2] RUN x', 'é', 'fatal: x', '#1 ERROR: exit code: 3', '#2 [3/3] other', '#2 DONE', 'ERROR: failed']);
  });

  it('asks for no tag (no t=) when given none, and names the image by the id the aux record gives, under either builder', async () => {
    const bk = await engine((res) => res.writeHead(200).end(lines(trace(vertex('sha256:a', '[1/1] FROM x', [field(5, stamp), field(6, stamp)])), { id: 'moby.image.id', aux: { ID: id } })));
    expect(await built(bk.socket, { tag: undefined })).toEqual({ ok: true, imageId: id });
    const classic = await engine((res) => res.writeHead(200).end(lines({ stream: 'Step 1/1 : FROM x\n' }, { aux: { ID: id } }, { stream: `Successfully built ${id.slice(7, 19)}\n` })));
    expect(await built(classic.socket, { tag: undefined, buildkit: false })).toEqual({ ok: true, imageId: id });
    expect([...bk.asked, ...classic.asked]).toEqual(['POST /build?version=2&rm=1&forcerm=1', 'POST /build?version=1&rm=1&forcerm=1']);
  });

  it('says the image a build made before it failed or was cancelled (the caller removes it)', async () => {
    const failing = await engine((res) => res.writeHead(200).end(lines({ id: 'moby.image.id', aux: { ID: id } }, { error: 'failed after the image' })));
    expect(await built(failing.socket, { tag: undefined })).toEqual({ ok: false, said: 'failed after the image', cancelled: false, imageId: id });
    const slow = await engine((res) => {
      res.writeHead(200);
      res.write(lines({ id: 'moby.image.id', aux: { ID: id } }));
    });
    const abort = new AbortController();
    const going = built(slow.socket, { tag: undefined, signal: abort.signal });
    setTimeout(() => abort.abort(), 50);
    expect(await going).toEqual({ ok: false, said: 'cancelled', cancelled: true, imageId: id });
  });

  it('fails the build, rather than let the client run it again, when the answer breaks off once it began', async () => {
    const e = await engine((res) => {
      res.writeHead(200);
      res.write(lines({ stream: 'Step 1/2 : FROM x\n' }));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const r = await built(e.socket);
    expect(r).toMatchObject({ ok: false, cancelled: false });
    expect(r.ok ? '' : r.said).toMatch(/^the engine's answer broke off/);
  });

  it('passes over a status record it cannot read', async () => {
    const e = await engine((res) => res.writeHead(200).end(lines({ id: 'moby.buildkit.trace', aux: Buffer.from([0x0a, 0xff, 0x01]).toString('base64') }, { id: 'moby.image.id', aux: { ID: id } })));
    const got: string[] = [];
    expect(await built(e.socket, { onLine: (l) => got.push(l) })).toEqual({ ok: true, imageId: id });
    expect(got).toEqual([]);
  });

  it('is cancelled by its signal, and refuses a tag or network that could change the request before asking', async () => {
    const e = await engine(() => {});
    const abort = new AbortController();
    const going = built(e.socket, { signal: abort.signal });
    setTimeout(() => abort.abort(), 50);
    expect(await going).toEqual({ ok: false, said: 'cancelled', cancelled: true });
    await expect(built(e.socket, { tag: 'x&version=1' })).rejects.toThrow(/not an image reference/);
    await expect(built(e.socket, { network: 'host&nocache=1' })).rejects.toThrow(/not a network/);
    expect(e.asked).toEqual(['POST /build?t=rep-cache%3Afinal&version=2&rm=1&forcerm=1']);
  });

  it('fails, and hangs up, when the status names more steps than any build over the API has (found by a review: a daemon naming new steps without end grew rep ~100 MB/s)', async () => {
    const many = (from: number) => trace(...Array.from({ length: 100 }, (_, i) => vertex(`sha256:${from + i}`, `step ${from + i}`, [field(5, stamp)])));
    const e = await engine((res) => res.writeHead(200).end(lines(...Array.from({ length: 15 }, (_, k) => many(k * 100)), { id: 'moby.image.id', aux: { ID: id } })));
    const got: string[] = [];
    expect(await built(e.socket, { onLine: (l) => got.push(l) })).toEqual({ ok: false, said: "the engine's build status names more than 1000 steps", cancelled: false });
    expect(got.length).toBe(1001);
    expect(got.at(-2)).toBe('#1000 step 999');
    expect(got.at(-1)).toBe("ERROR: the engine's build status names more than 1000 steps");
  });

  it('holds a bounded count of steps and characters of what their status says, whatever the engine sends', () => {
    const said: string[] = [];
    const steps = new Lines((l) => said.push(l));
    const partial = 'p'.repeat(16 * 1024);
    // 900 steps each printing a line that never ends: the lines held stay within a MiB and a line; the ones past it are said, unfinished.
    for (let i = 0; i < 900; i++) steps.status(trace(vertex(`sha256:${i}`, `s${i}`, [field(5, stamp)]), log(`sha256:${i}`, partial)).aux);
    expect(steps.failed).toBeUndefined();
    expect(steps.held.vertices).toBe(900);
    expect(steps.held.chars).toBeLessThanOrEqual((1 << 20) + 16 * 1024 + 1 + 900 * 'sha256:899'.length);
    expect(said.filter((l) => l === partial).length).toBeGreaterThan(800);
    // Past 1000 steps: no more is held, and the build fails.
    for (let i = 900; i < 1500; i++) steps.status(trace(vertex(`sha256:${i}`, `s${i}`, [field(5, stamp)])).aux);
    expect(steps.held.vertices).toBe(1000);
    expect(steps.failed).toBe("the engine's build status names more than 1000 steps");
    // Names that are no digest, megabytes long: past 4 Mi characters held, the build fails.
    const names = new Lines(() => {});
    for (let i = 0; i < 10; i++) names.status(trace(vertex(`${i}${'d'.repeat(1 << 20)}`, 'x', [field(5, stamp)])).aux);
    expect(names.held.chars).toBeLessThanOrEqual(4 << 20);
    expect(names.failed).toBe("the engine's build status holds more than 4194304 characters of step names and unfinished lines");
  });

  it('gives up on an engine that takes the request and never answers, so that the client is asked (found by a review: the build waited for ever); an answer begun may then pause as long as it likes', async () => {
    const silent = await engine(() => {});
    await expect(built(silent.socket, { firstAnswerMs: 200 })).rejects.toThrow(`no answer from ${silent.socket} within 200 ms`);
    const slow = await engine((res) => {
      res.writeHead(200);
      res.write(lines({ stream: 'Step 1/2 : FROM x\n' }));
      setTimeout(() => res.end(lines({ aux: { ID: id } })), 600);
    });
    expect(await built(slow.socket, { buildkit: false, firstAnswerMs: 200 })).toEqual({ ok: true, imageId: id });
  }, 20_000);
});

describe('which steps the scheduler hands over as a tar in memory (Engine.smallArchive)', () => {
  /** An engine that builds nothing but says which form each step came in (by the tag its image is given), and has the base image when told. */
  function recording(hasBase: boolean) {
    const forms = new Map<string, string>();
    const byId = new Map<string, string>();
    const engine: Engine = Object.assign(new NoneEngine(), { smallArchive: { files: 20, bytes: 1 << 20 } });
    engine.hasImage = async (ref: string) => hasBase && ref === 'busybox:latest';
    engine.build = async (req: BuildRequest): Promise<BuildOutcome> => {
      const c = req.context;
      const id = `sha256:${String(byId.size + 1).padStart(64, '0')}`;
      byId.set(id, 'archive' in c ? 'archive' : 'dockerfile' in c ? 'dockerfile' : 'folder' in c ? 'folder' : 'stream');
      return { ok: true, imageId: id };
    };
    engine.tag = async (src: string, dst: string) => void forms.set(dst, byId.get(src) ?? `no image ${src}`);
    engine.inspect = async () => undefined;
    return { engine, forms };
  }
  const repfile = `rep: 1\nname: forms\nbase: busybox:latest\nsteps:\n  a:\n    inputs: [a.txt]\n    run: cat a.txt\n  b:\n    needs: [a]\n    inputs: [b.txt]\n    run: cat b.txt\n  c:\n    needs: [b]\n    inputs: [many/]\n    run: ls many\n`;
  const files = { Repfile: repfile, 'a.txt': 'a\n', 'b.txt': 'b\n', ...Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`many/f${i}`, `${i}\n`])) };

  it('a step with few inputs on a step image, or on a base the engine has; never one that may pull a base (no credentials go with it), nor one with many inputs', async () => {
    for (const [hasBase, a] of [[false, 'stream'], [true, 'archive']] as const) {
      const dir = makeProject(files, 'rep-forms-');
      const p = open(dir);
      const plan = planBuild(p.dag, p.ctx);
      if (!plan.ok) throw new Error('plan');
      const { engine, forms } = recording(hasBase);
      const r = await runBuild(p, engine, plan.value, { jobs: 1, tag: false });
      expect(r.ok).toBe(true);
      const byStep = Object.fromEntries(['a', 'b', 'c'].map((n) => [n, forms.get(`rep-cache:${plan.value.step(n).key.slice(7)}`)]));
      expect(byStep).toEqual({ a, b: 'archive', c: 'stream' });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('copy containers a killed rep left', () => {
  it('are removed once older than a copy ever lives; younger ones, and containers not named as rep names them, are left', async () => {
    const now = Date.now();
    const id = (c: string) => c.repeat(64);
    const list = [
      { Id: id('1'), Names: ['/rep-out-0123456789abcdef'], Created: Math.floor(now / 1000) - 3600 },
      { Id: id('2'), Names: ['/rep-out-fedcba9876543210'], Created: Math.floor(now / 1000) - 5 },
      { Id: id('3'), Names: ['/rep-out-not-ours'], Created: Math.floor(now / 1000) - 3600 },
      { Id: id('4'), Names: ['/someone-else'], Created: Math.floor(now / 1000) - 3600 },
      { Id: 'short', Names: ['/rep-out-0123456789abcdee'], Created: Math.floor(now / 1000) - 3600 },
    ];
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-sock-'));
    const socket = path.join(dir, 'docker.sock');
    const asked: string[] = [];
    const server = createServer((req, res) => {
      asked.push(`${req.method} ${req.url}`);
      if (req.method === 'GET') res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(list));
      else res.writeHead(204).end();
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    servers.push({ close: () => (server.close(), rmSync(dir, { recursive: true, force: true })) });
    expect(await removeStaleCopies(socket, now)).toBe(1);
    expect(asked).toEqual([`GET /containers/json?all=1&filters=${encodeURIComponent('{"name":["rep-out-"]}')}`, `DELETE /containers/${id('1')}?force=1&v=1`]);
  });
});

describe("the engine's version, as the quick path reads it", () => {
  /** A stand-in engine whose ping answers with `server` as its Server header (none when undefined), and /version with 1.2.3. */
  async function pinged(server: string | undefined): Promise<{ socket: string; asked: string[] }> {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-sock-'));
    const socket = path.join(dir, 'docker.sock');
    const asked: string[] = [];
    const http = createServer((req, res) => {
      asked.push(`${req.method} ${req.url}`);
      if (req.url === '/_ping') res.writeHead(200, server === undefined ? {} : { Server: server }).end('OK');
      else if (req.url === '/version') res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ Version: '1.2.3' }));
      else res.writeHead(404).end();
    });
    // Node's server writes no Server header of its own: an engine without one is what it plays by default.
    await new Promise<void>((resolve) => http.listen(socket, resolve));
    servers.push({ close: () => (http.close(), rmSync(dir, { recursive: true, force: true })) });
    return { socket, asked };
  }

  it("is the Server header of a ping, as docker writes it (its /version runs other programs), and /version's when the header says nothing of it", async () => {
    const docker = await pinged('Docker/20.10.24+dfsg1 (linux)');
    expect(await serverVersion(docker.socket)).toBe('20.10.24+dfsg1');
    expect(docker.asked).toEqual(['GET /_ping']);
    for (const other of [undefined, 'Libpod/4.3.1 (linux)', 'Docker/ (linux)', 'Docker/1 2 (linux)']) {
      const e = await pinged(other);
      expect(await serverVersion(e.socket)).toBe('1.2.3');
      expect(e.asked).toEqual(['GET /_ping', 'GET /version']);
    }
  });
});

describe('a small question to the engine (found by an adversarial review)', () => {
  /** A stand-in engine answering every request with `answer`. */
  async function answering(answer: (res: ServerResponse) => void): Promise<string> {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-sock-'));
    const socket = path.join(dir, 'docker.sock');
    const open: ServerResponse[] = [];
    const server = createServer((_req, res) => {
      open.push(res);
      answer(res);
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    servers.push({
      close: () => {
        for (const r of open) r.destroy();
        server.close();
        rmSync(dir, { recursive: true, force: true });
      },
    });
    return socket;
  }

  it('is refused an answer larger than any engine gives, rather than held whole (1.5 GB crashed rep)', async () => {
    const socket = await answering((res) => {
      res.writeHead(200);
      const mb = Buffer.alloc(1 << 20, 0x61);
      for (let i = 0; i < 12; i++) res.write(mb);
      res.end();
    });
    await expect(apiGet(socket, '/images/x/json')).rejects.toThrow("the engine's answer to GET /images/x/json is larger than 8388608 bytes");
  });

  it('gives up on an answer that trickles in, a byte at a time, at five times its time', async () => {
    const socket = await answering((res) => {
      res.writeHead(200);
      const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write('a')), 50);
    });
    await expect(apiGet(socket, '/_ping', 200)).rejects.toThrow(`no whole answer from ${socket} within 1000 ms`);
  });
});
