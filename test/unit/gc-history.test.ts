// rep gc through its command function, against engines made of a list of
// images: what it removes, what it says, and what it leaves in
// .rep/history.jsonl for the next gc (which may run against another engine).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ImageSummary } from '../../src/engine/engine.js';
import { NoneEngine } from '../../src/engine/none.js';
import { formatGc, gc } from '../../src/commands/gc.js';
import { APPEND_LIMIT, appendHistory, MAX_DROPPED, pendingRecorder, readHistory, readHistoryFile, writeHistory } from '../../src/state/history.js';
import { startedAt } from '../../src/state/mutex.js';
import { build } from '../../src/build.js';
import { imageStep } from '../../src/scheduler/stepimage.js';
import { open } from '../helpers.js';

const key = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const hex = (n: number) => key(n).slice('sha256:'.length);
const REPFILE = 'rep: 1\nname: x\nbase: busybox:latest\nsteps:\n  a:\n    run: "true"\n';

/**
 * An engine named `name` holding `images` (its rep-cache tags by key number; `other` tags are a
 * user's): removing a tag removes the image once no tag names it, as docker and podman do. It
 * builds too: each build is a new image of one layer more than the one it is built on.
 */
function fakeEngine(name: 'docker' | 'podman', images: { n: number[]; size?: number; layers?: string[]; other?: string[] }[] = []) {
  const held = images.map((i, x) => ({ id: `sha256:${String(x + 1).padStart(64, 'a')}`, tags: i.n.map(hex), other: [...(i.other ?? [])], size: i.size ?? 10, layers: i.layers ?? [`l${x}`] }));
  const removed: string[] = [];
  const named = (ref: string) => held.find((i) => i.id === ref || i.tags.some((t) => `rep-cache:${t}` === ref) || i.other.includes(ref));
  const put = (img: (typeof held)[number], ref: string) => {
    for (const i of held) [i.tags, i.other] = [i.tags.filter((t) => `rep-cache:${t}` !== ref), i.other.filter((t) => t !== ref)];
    if (ref.startsWith('rep-cache:')) img.tags.push(ref.slice('rep-cache:'.length));
    else img.other.push(ref);
  };
  const engine = Object.assign(new NoneEngine(), {
    name,
    identity: async () => `${name} 1.0`,
    listImages: async (repo: string): Promise<ImageSummary[]> =>
      repo === 'rep-cache'
        ? held.filter((i) => i.tags.length).map(({ id, tags, size, layers }) => ({ id, tags: [...tags], size, layers }))
        : held.flatMap(({ id, other, size, layers }) => {
            const tags = other.filter((t) => t.startsWith(`${repo}:`)).map((t) => t.slice(repo.length + 1));
            return tags.length ? [{ id, tags, size, layers }] : [];
          }),
    removeImage: async (ref: string) => {
      removed.push(ref);
      for (const i of held) [i.tags, i.other] = [i.tags.filter((t) => `rep-cache:${t}` !== ref), i.other.filter((t) => t !== ref)];
      for (let x = held.length - 1; x >= 0; x--) if (held[x]!.tags.length + held[x]!.other.length === 0) held.splice(x, 1);
    },
    imageIds: async (refs: readonly string[]) => new Map(refs.map((r) => [r, named(r)?.id] as const)),
    hasImage: async (ref: string) => named(ref) !== undefined,
    inspect: async (ref: string) => {
      const i = named(ref);
      return i && { id: i.id, repoDigests: [], layers: i.layers };
    },
    tag: async (src: string, dst: string) => put(named(src)!, dst),
    build: async (req: { tag?: string; context: unknown }) => {
      const on = /^FROM (\S+)/m.exec(typeof req.context === 'object' && req.context && 'dockerfile' in req.context ? String(req.context.dockerfile) : '')?.[1];
      const img = { id: `sha256:${String(held.length + 1).padStart(64, 'b')}`, tags: [] as string[], other: [] as string[], size: 10, layers: [...(on ? (named(on)?.layers ?? []) : []), `built${held.length}`] };
      held.push(img);
      if (req.tag !== undefined) put(img, req.tag);
      return { ok: true, imageId: img.id };
    },
  }) as unknown as NoneEngine;
  return { engine, removed, held };
}

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A project whose history records `states` (oldest first); no state.json, so the newest line stands for the current state. */
function project(states: number[][]): string {
  dir = mkdtempSync(path.join(tmpdir(), 'rep-gc-'));
  writeFileSync(path.join(dir, 'Repfile'), REPFILE);
  for (const s of states) appendHistory(dir, s.map(key));
  return dir;
}

describe('gc against more than one engine', () => {
  it('carries the keys of dropped states this engine does not list, so that gc against the engine that has them removes them', async () => {
    project([[1, 2], [1, 3], [1, 4], [1, 5], [1, 6]]);
    // podman (or another DOCKER_HOST) has the current state's images only; docker has them all.
    const podman = fakeEngine('podman', [{ n: [1] }, { n: [6] }]);
    const docker = fakeEngine('docker', [1, 2, 3, 4, 5, 6].map((n) => ({ n: [n] })));
    const dry = await gc({ cwd: dir }, { engine: podman.engine, keepStates: 3, dryRun: true });
    const real = await gc({ cwd: dir }, { engine: podman.engine, keepStates: 3 });
    if (!dry.ok || !real.ok) throw new Error('gc failed');
    expect(podman.removed).toEqual([]);
    // The dry run says what the run then does, word for word but for "would".
    const said = 'rep gc: 2 step images of dropped states are not in this engine (podman 1.0): their keys stay in .rep/history.jsonl for a gc against another engine that may hold them (podman, another DOCKER_HOST); the next gc against this one forgets them';
    expect(formatGc(dry.value, true)).toBe(`${said}\nrep gc: would remove 0 step images (0 bytes); kept 2 (20 bytes)`);
    expect(formatGc(real.value, false)).toBe(`${said}\nrep gc: removed 0 step images (0 bytes); kept 2 (20 bytes)`);
    expect(readHistory(dir)).toEqual([[key(1), key(4)], [key(1), key(5)], [key(1), key(6)]]);
    const later = await gc({ cwd: dir }, { engine: docker.engine, keepStates: 3 });
    expect(later.ok && later.value.removed.map((i) => i.key)).toEqual([key(2), key(3)]);
    expect(docker.removed).toEqual([`rep-cache:${hex(2)}`, `rep-cache:${hex(3)}`]);
    // Removed, then forgotten: the next gc says nothing of them.
    expect(readFileSync(path.join(dir, '.rep', 'history.jsonl'), 'utf8')).not.toContain(hex(2));
    const again = await gc({ cwd: dir }, { engine: podman.engine, keepStates: 3 });
    expect(again.ok && formatGc(again.value, false)).toBe('rep gc: removed 0 step images (0 bytes); kept 2 (20 bytes)');
  });

  it('forgets the keys of dropped states a gc against the engine that dropped them still does not find (after a docker image prune, they grew with every build and gc)', async () => {
    project([[1]]);
    const file = path.join(dir, '.rep', 'history.jsonl');
    const droppedLines = () => readFileSync(file, 'utf8').split('\n').flatMap((l) => (l.startsWith('{"dropped"') ? [JSON.parse(l) as { dropped: string[]; engine: string }] : [])).map((d) => [d.engine, d.dropped]);
    const pruned = fakeEngine('docker');
    const notice = 'rep gc: 2 step images of dropped states are not in this engine (docker 1.0): their keys stay in .rep/history.jsonl for a gc against another engine that may hold them (podman, another DOCKER_HOST); the next gc against this one forgets them';
    const forgot = (n: number) => `rep gc: forgot the keys of ${n} step images of dropped states an earlier gc against this engine (docker 1.0) kept: it does not hold them`;
    const rounds: [number[], number[], string[]][] = [
      [[2, 3], [1, 2], [notice]],
      [[7, 8], [3, 7], [notice, forgot(2)]],
      [[12, 13], [8, 12], [notice, forgot(2)]],
    ];
    for (const [built, dropped, said] of rounds) {
      for (const n of built) appendHistory(dir, [key(n)]);
      const r = await gc({ cwd: dir }, { engine: pruned.engine, keepStates: 1 });
      if (!r.ok) throw new Error('gc failed');
      // The keys this round dropped, no more: those of the round before are forgotten.
      expect(droppedLines().map(([, keys]) => keys)).toEqual([dropped.map(key)]);
      expect(droppedLines()).toEqual([['docker 1.0', dropped.map(key)]]);
      expect(formatGc(r.value, false).split('\n').slice(0, -1)).toEqual(said);
    }
    // A gc against another engine removes those it holds, keeps the others for docker's, and says nothing of them.
    const podman = fakeEngine('podman', [{ n: [8] }]);
    const other = await gc({ cwd: dir }, { engine: podman.engine, keepStates: 1 });
    expect(other.ok && formatGc(other.value, false)).toBe(`removed rep-cache:${hex(8)} (10 bytes)\nrep gc: removed 1 step images (10 bytes); kept 0 (0 bytes)`);
    expect(droppedLines()).toEqual([['docker 1.0', [key(12)]]]);
    const last = await gc({ cwd: dir }, { engine: pruned.engine, keepStates: 1, dryRun: true });
    expect(last.ok && formatGc(last.value, true).split('\n')[0]).toBe(forgot(1).replace('forgot', 'would forget'));
  });

  it('names the image store in a dropped line, not the version: a second daemon of the same version does not forget the keys the first left for another engine, and an upgraded daemon forgets its own', async () => {
    project([[1, 2], [1, 3], [1, 4]]);
    const file = path.join(dir, '.rep', 'history.jsonl');
    const engines = (line: string) => readFileSync(file, 'utf8').split('\n').flatMap((l) => (l.startsWith('{"dropped"') ? [(JSON.parse(l) as { engine: string }).engine] : [])).includes(line);
    const daemon = (store: string, version = '1.0', images: { n: number[] }[] = [{ n: [1] }, { n: [4] }]) => {
      const e = fakeEngine('docker', images);
      return Object.assign(e.engine, { identity: async () => `docker ${version}`, store: async () => `docker daemon ${store}` });
    };
    // Two daemons of one version (a CI's second daemon), neither holding the dropped states' images; podman holds them.
    const a = await gc({ cwd: dir }, { engine: daemon('A'), keepStates: 1 });
    expect(a.ok && a.value.unlisted).toEqual([key(2), key(3)]);
    expect(engines('docker daemon A')).toBe(true);
    const b = await gc({ cwd: dir }, { engine: daemon('B'), keepStates: 1 });
    expect(b.ok && b.value.forgotten).toEqual([]);
    const podman = fakeEngine('podman', [{ n: [2] }, { n: [3] }]);
    const p = await gc({ cwd: dir }, { engine: podman.engine, keepStates: 1 });
    expect(p.ok && p.value.removed.map((i) => i.key)).toEqual([key(2), key(3)]);

    // The first daemon upgraded (another version, the same store): its own line, forgotten when it still holds none of them.
    rmSync(dir, { recursive: true, force: true });
    project([[1, 5], [1, 6]]);
    await gc({ cwd: dir }, { engine: daemon('A'), keepStates: 1 });
    const upgraded = await gc({ cwd: dir }, { engine: daemon('A', '2.0', [{ n: [1] }, { n: [6] }]), keepStates: 1 });
    expect(upgraded.ok && upgraded.value.forgotten).toEqual([key(5)]);
    // A line an older rep wrote names the version: taken for the engine of that version.
    writeHistory(dir, { states: [[key(1), key(6)]], dropped: [{ engine: 'docker 2.0', keys: [key(7)] }] });
    const legacy = await gc({ cwd: dir }, { engine: daemon('A', '2.0', [{ n: [1] }, { n: [6] }]), keepStates: 1, dryRun: true });
    expect(legacy.ok && legacy.value.forgotten).toEqual([key(7)]);
  });

  it('removes the names a rep killed while it discarded an image left (rep-verify/discard:<32 hex>), which no build keeps', async () => {
    project([[1], [2]]);
    const name = `rep-verify/discard:${'ab'.repeat(16)}`;
    const docker = fakeEngine('docker', [{ n: [1] }, { n: [2] }, { n: [], other: [name] }, { n: [], other: ['rep-verify/paper:0123456789ab'] }, { n: [], other: ['rep-verify/discard:0123456789ab'] }]);
    const r = await gc({ cwd: dir }, { engine: docker.engine, keepStates: 1 });
    expect(r.ok).toBe(true);
    expect(docker.removed).toContain(name);
    // rep verify's own images are the verifier's to look at, a bundle called "discard" too (a review).
    expect(docker.removed).not.toContain('rep-verify/paper:0123456789ab');
    expect(docker.removed).not.toContain('rep-verify/discard:0123456789ab');
  });

  it('keeps the newest MAX_DROPPED keys of dropped states, and takes a line that names no engine (written before they did) for the engine gc runs against', async () => {
    project([[1]]);
    writeHistory(dir, { states: [[key(1)]], dropped: [{ keys: [key(2), key(3)] }, { engine: 'podman 1.0', keys: Array.from({ length: MAX_DROPPED - 2 }, (_, n) => key(n + 100)) }, { engine: 'docker 1.0', keys: [key(4)] }] });
    // One key too many: the oldest line loses one.
    expect(readHistoryFile(dir).dropped).toEqual([{ keys: [key(2)] }, { engine: 'podman 1.0', keys: expect.any(Array) }, { engine: 'docker 1.0', keys: [key(4)] }]);
    const docker = fakeEngine('docker', [{ n: [1] }]);
    const r = await gc({ cwd: dir }, { engine: docker.engine, dryRun: true });
    expect(r.ok && r.value.forgotten).toEqual([key(2), key(4)]);
  });

  it("believes a dropped line only under its own seal: a state line's seal moved onto one, or none, names nothing to remove", async () => {
    project([[3]]);
    const file = path.join(dir, '.rep', 'history.jsonl');
    const moved = readFileSync(file, 'utf8').replace('"keys"', '"dropped"');
    writeFileSync(file, `${moved}{"dropped":["${key(9)}"]}\n`);
    appendHistory(dir, [key(2)]);
    const docker = fakeEngine('docker', [{ n: [2] }, { n: [3] }, { n: [9] }]);
    const r = await gc({ cwd: dir }, { engine: docker.engine });
    expect(r.ok && r.value.removed).toEqual([]);
    expect(docker.removed).toEqual([]);
  });
});

describe('the final image (the target with the Repfile\'s cmd)', () => {
  it('is recorded with its state, and gc removes it with that state even when the Repfile no longer opens (and says so)', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rep-gc-'));
    writeFileSync(path.join(dir, 'Repfile'), 'rep: 1\nname: x\nbase: busybox:latest\nsteps:\n  a:\n    run: "true"\nimage:\n  tag: rep-test/final:1\n  cmd: [sh]\nreproducible: false\n');
    const docker = fakeEngine('docker');
    const built = await build(open(dir), { engine: docker.engine });
    expect(built.ok && built.value.ok, JSON.stringify(built)).toBe(true);
    const target = built.ok ? built.value.steps[0]!.key : '';
    const final = imageStep(open(dir).dag, target).key;
    expect(docker.held.some((i) => i.tags.includes(final.slice(7)))).toBe(true);
    expect(readHistory(dir)).toEqual([[target, final].sort()]);
    // The Repfile as it is now no longer opens: gc works from the history, and says so.
    writeFileSync(path.join(dir, 'Repfile'), 'rep: 1\nname: x\nsteps: [\n');
    const r = await gc({ cwd: dir }, { engine: docker.engine, all: true });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    // The final image keeps the Repfile's tag: its rep-cache tag is removed, the image stays.
    expect([r.value.removed.map((i) => i.key), r.value.untagged.map((i) => i.key)]).toEqual([[target], [final]]);
    expect(formatGc(r.value, false).split('\n')[0]).toMatch(/^rep gc: Repfile:\d+:\d+: .*; gc works from \.rep\/history\.jsonl alone$/);
    // The image the Repfile's tag names stays: only its rep-cache tag went.
    expect(docker.held.map((i) => i.other)).toEqual([['rep-test/final:1']]);
  });
});

describe('what gc says it freed', () => {
  it('says "untagged", and counts no bytes, for an image another tag keeps: a user\'s, or a rep-cache tag gc keeps', async () => {
    project([[1], [2, 4]]);
    // Image 1 also has a user's tag; keys 3 and 4 are one image, 4 still in use.
    const docker = fakeEngine('docker', [{ n: [1], size: 70, other: ['mine:1'] }, { n: [2], size: 20 }, { n: [3, 4], size: 30 }]);
    appendHistory(dir, [key(3)]);
    appendHistory(dir, [key(4)]);
    const r = await gc({ cwd: dir }, { engine: docker.engine, keepStates: 1 });
    if (!r.ok) throw new Error('gc failed');
    expect(formatGc(r.value, false)).toBe(
      [
        `removed rep-cache:${hex(2)} (20 bytes)`,
        `untagged rep-cache:${hex(1)}: its image stays (another tag names it, or an image is built on it)`,
        `untagged rep-cache:${hex(3)}: its image stays (another tag names it, or an image is built on it)`,
        'rep gc: removed 1 step images (20 bytes); untagged 2; kept 1 (30 bytes)',
      ].join('\n'),
    );
    expect(docker.held.map((i) => [i.tags, i.other])).toEqual([[[], ['mine:1']], [[hex(4)], []]]);
  });

  it('weighs the first step of a stage without its base image, when the engine lists the base', async () => {
    project([[1], [2]]);
    const docker = fakeEngine('docker', [{ n: [], other: ['busybox:latest'], size: 80, layers: ['base'] }, { n: [1], size: 100, layers: ['base', 'a'] }, { n: [2], size: 95, layers: ['base', 'b'] }]);
    const r = await gc({ cwd: dir }, { engine: docker.engine, keepStates: 1, dryRun: true });
    expect(r.ok && formatGc(r.value, true).split('\n')).toEqual([`would remove rep-cache:${hex(1)} (20 bytes)`, expect.stringMatching(/; kept 1 \(15 bytes\)$/)]);
  });

  it('finds the base however the engine and the Repfile spell its repository (podman: docker.io/library/busybox; docker: busybox)', async () => {
    for (const [base, listed] of [['busybox:latest', 'docker.io/library/busybox:latest'], ['docker.io/library/busybox:latest', 'busybox:latest'], ['index.docker.io/library/busybox', 'busybox:latest']]) {
      // One project each (afterEach removes the last).
      if (dir) rmSync(dir, { recursive: true, force: true });
      project([[1], [2]]);
      writeFileSync(path.join(dir, 'Repfile'), REPFILE.replace('busybox:latest', base!));
      const engine = fakeEngine('podman', [{ n: [], other: [listed!], size: 80, layers: ['base'] }, { n: [1], size: 100, layers: ['base', 'a'] }, { n: [2], size: 95, layers: ['base', 'b'] }]);
      const r = await gc({ cwd: dir }, { engine: engine.engine, keepStates: 1, dryRun: true });
      expect(r.ok && formatGc(r.value, true).split('\n'), base).toEqual([`would remove rep-cache:${hex(1)} (20 bytes)`, expect.stringMatching(/; kept 1 \(15 bytes\)$/)]);
    }
  });

  it('on a dry run, says the same of a rep-cache tag it keeps, and "up to" of the bytes (a user\'s tag it cannot see)', async () => {
    project([[1], [2, 4], [3], [4]]);
    const docker = fakeEngine('docker', [{ n: [1], size: 70, other: ['mine:1'] }, { n: [2], size: 20 }, { n: [3, 4], size: 30 }]);
    const dry = await gc({ cwd: dir }, { engine: docker.engine, keepStates: 1, dryRun: true });
    expect(dry.ok && formatGc(dry.value, true)).toBe(
      [
        `would remove rep-cache:${hex(1)} (70 bytes)`,
        `would remove rep-cache:${hex(2)} (20 bytes)`,
        `would untag rep-cache:${hex(3)}: another tag names its image`,
        'rep gc: would remove 2 step images (up to 90 bytes: an image a tag of another repository names is only untagged); would untag 1; kept 1 (30 bytes)',
      ].join('\n'),
    );
  });
});

describe('the images of a build that wrote no state (killed, or failed after tagging)', () => {
  const TWO = 'rep: 1\nname: x\nbase: busybox:latest\nsteps:\n  a:\n    run: "true"\n  b:\n    needs: [a]\n    run: "echo b"\nimage:\n  tag: rep-test/pending:1\n  cmd: [sh]\n';
  const pendingKeys = () => readHistoryFile(dir).pending.flatMap((d) => d.keys).sort();
  /** The fake engine of image store `store`. */
  const storeEngine = (store: string, images: Parameters<typeof fakeEngine>[1] = []) => {
    const e = fakeEngine('docker', images);
    Object.assign(e.engine, { store: async () => store });
    return e;
  };

  it('are recorded as pending before each tag, and gc removes them; a build whose state names them takes them over', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rep-gc-'));
    writeFileSync(path.join(dir, 'Repfile'), TWO);
    const docker = storeEngine('docker daemon A');
    // The steps are built and tagged, then the canonical rewrite fails (the engine cannot save): no state is written.
    const failed = await build(open(dir), { engine: docker.engine });
    expect(failed.ok).toBe(false);
    expect(existsSync(path.join(dir, '.rep', 'state.json'))).toBe(false);
    const tagged = docker.held.flatMap((i) => i.tags).map((t) => `sha256:${t}`).sort();
    // a, b, and the final image (b with the Repfile's cmd).
    expect(tagged).toHaveLength(3);
    expect(pendingKeys()).toEqual(tagged);
    expect(readHistoryFile(dir).pending.map((d) => d.engine)).toEqual(['docker daemon A', 'docker daemon A', 'docker daemon A']);
    // gc against another image store (a second daemon) leaves them for the one they were built on.
    const other = storeEngine('docker daemon B', [{ n: [] }]);
    const elsewhere = await gc({ cwd: dir }, { engine: other.engine });
    expect(elsewhere.ok && formatGc(elsewhere.value, false)).toBe('rep gc: removed 0 step images (0 bytes); kept 0 (0 bytes)');
    expect(pendingKeys()).toEqual(tagged);
    const r = await gc({ cwd: dir }, { engine: docker.engine });
    expect(r.ok && r.value.removed.map((i) => i.key)).toEqual(tagged);
    expect(docker.held.flatMap((i) => i.tags)).toEqual([]);
    expect(pendingKeys()).toEqual([]);

    // Built again, now without the rewrite: the state names every key the build tagged, and the pending lines go.
    writeFileSync(path.join(dir, 'Repfile'), `${TWO}reproducible: false\n`);
    const built = await build(open(dir), { engine: docker.engine });
    expect(built.ok && built.value.ok).toBe(true);
    expect(pendingKeys()).toEqual([]);
    expect(readFileSync(path.join(dir, '.rep', 'history.jsonl'), 'utf8')).not.toContain('"pending"');
    const kept = await gc({ cwd: dir }, { engine: docker.engine });
    expect(kept.ok && kept.value.removed).toEqual([]);
  });

  it('keeps a pending key a later state names, and removes only the one no state does', async () => {
    project([[1]]);
    const record = pendingRecorder(dir, Promise.resolve('docker daemon A'));
    for (const n of [1, 2, 3]) await record(key(n));
    // Key 1 is a state's already: no line for it.
    expect(pendingKeys()).toEqual([key(2), key(3)]);
    // A state of another image store names key 3: that store's images are not the ones the pending line stands for.
    appendHistory(dir, [key(1), key(3)], 'podman store /x');
    expect(pendingKeys()).toEqual([key(2), key(3)]);
    appendHistory(dir, [key(3), key(4)], 'docker daemon A');
    expect(pendingKeys()).toEqual([key(2)]);
    const docker = storeEngine('docker daemon A', [{ n: [1] }, { n: [2] }, { n: [3] }, { n: [4] }]);
    const r = await gc({ cwd: dir }, { engine: docker.engine });
    expect(r.ok && formatGc(r.value, false)).toBe(`removed rep-cache:${hex(2)} (10 bytes)\nrep gc: removed 1 step images (10 bytes); kept 3 (30 bytes)`);
  });

  it("records a key another image store's pending line names: that line stands for the other store's image (a review: docker's was left to no gc)", async () => {
    project([[1]]);
    await pendingRecorder(dir, Promise.resolve('podman store /x'))(key(2));
    await pendingRecorder(dir, Promise.resolve('docker daemon A'))(key(2));
    expect(readHistoryFile(dir).pending).toEqual([{ engine: 'podman store /x', keys: [key(2)] }, { engine: 'docker daemon A', keys: [key(2)] }]);
    const docker = storeEngine('docker daemon A', [{ n: [1] }, { n: [2] }]);
    const r = await gc({ cwd: dir }, { engine: docker.engine });
    expect(r.ok && r.value.removed.map((i) => i.key)).toEqual([key(2)]);
    // The podman line stays for a gc against podman.
    expect(readHistoryFile(dir).pending).toEqual([{ engine: 'podman store /x', keys: [key(2)] }]);
  });

  it('forgets without a word a pending key the engine does not list (the build was killed before it tagged it)', async () => {
    project([[1]]);
    await pendingRecorder(dir, Promise.resolve('docker daemon A'))(key(2));
    const docker = storeEngine('docker daemon A', [{ n: [1] }]);
    const r = await gc({ cwd: dir }, { engine: docker.engine });
    expect(r.ok && formatGc(r.value, false)).toBe('rep gc: removed 0 step images (0 bytes); kept 1 (10 bytes)');
    expect(pendingKeys()).toEqual([]);
    expect(readFileSync(path.join(dir, '.rep', 'history.jsonl'), 'utf8')).not.toContain(hex(2));
  });

  it('leaves a running build\'s pending images out of a dry run (it holds the mutex; a real gc waits for it)', async () => {
    project([[1]]);
    await pendingRecorder(dir, Promise.resolve('docker daemon A'))(key(2));
    const docker = storeEngine('docker daemon A', [{ n: [1] }, { n: [2] }]);
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writeFileSync(path.join(dir, '.rep', 'build.pid'), `${child.pid} ${startedAt(child.pid!) ?? ''}`.trim() + '\n');
      const dry = await gc({ cwd: dir }, { engine: docker.engine, dryRun: true });
      expect(dry.ok && dry.value.removed).toEqual([]);
      const busy = await gc({ cwd: dir }, { engine: docker.engine });
      expect(busy.ok).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
    rmSync(path.join(dir, '.rep', 'build.pid'));
    const dry = await gc({ cwd: dir }, { engine: docker.engine, dryRun: true });
    expect(dry.ok && dry.value.removed.map((i) => i.key)).toEqual([key(2)]);
  });

  it('names the engine\'s identity when it does not say which image store it is: no other engine takes the keys for its own', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rep-gc-'));
    writeFileSync(path.join(dir, 'Repfile'), TWO);
    const docker = storeEngine('docker daemon A');
    Object.assign(docker.engine, { store: async () => undefined });
    expect((await build(open(dir), { engine: docker.engine })).ok).toBe(false);
    const tagged = docker.held.flatMap((i) => i.tags).map((t) => `sha256:${t}`).sort();
    expect(readHistoryFile(dir).pending.map((d) => d.engine)).toEqual(['docker 1.0', 'docker 1.0', 'docker 1.0']);
    // A podman that holds images of the same keys (its own) keeps them, and the line stays for docker.
    const podman = fakeEngine('podman', tagged.map((k) => ({ n: [parseInt(k.slice(-8), 16)] })));
    Object.assign(podman.engine, { listImages: async () => tagged.map((k, x) => ({ id: `sha256:${String(x).padStart(64, 'c')}`, tags: [k.slice(7)], size: 1, layers: [] })) });
    const r = await gc({ cwd: dir }, { engine: podman.engine });
    expect(r.ok && r.value.removed).toEqual([]);
    expect(pendingKeys()).toEqual(tagged);
  });

  it('appends a pending line to a history past APPEND_LIMIT rather than rewriting it: a rewrite kept only the newest MAX_DROPPED pending keys', async () => {
    project([]);
    // 120 states of 150 keys: past the append bound.
    for (let s = 0; s < 120; s++) appendHistory(dir, Array.from({ length: 150 }, (_, n) => key(1000 + s * 150 + n)));
    const file = path.join(dir, '.rep', 'history.jsonl');
    expect(readFileSync(file).length).toBeGreaterThan(APPEND_LIMIT);
    const inode = statSync(file).ino;
    await pendingRecorder(dir, Promise.resolve('docker daemon A'))(key(7));
    expect(statSync(file).ino).toBe(inode);
    expect(pendingKeys()).toEqual([key(7)]);
  });

  it('believes a pending line only under its own seal: one a cloned .rep/ brought names nothing to remove', async () => {
    project([[1]]);
    const file = path.join(dir, '.rep', 'history.jsonl');
    const state = readFileSync(file, 'utf8');
    writeFileSync(file, `{"pending":["${key(9)}"],"engine":"docker daemon A"}\n${state.replace('"keys"', '"pending"')}${state}`);
    const docker = storeEngine('docker daemon A', [{ n: [1] }, { n: [9] }]);
    const r = await gc({ cwd: dir }, { engine: docker.engine });
    expect(r.ok && r.value.removed).toEqual([]);
    expect(docker.removed).toEqual([]);
  });
});
