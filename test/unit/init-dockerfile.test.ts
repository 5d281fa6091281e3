// rep init from a Dockerfile, without an engine: the parser, the words,
// where copies land, the exact Repfile text, and hostile Dockerfiles.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { init } from '../../src/commands/init.js';
import { placeFrom, placeLocal } from '../../src/init/dockerfile/copy.js';
import { parseDockerfile } from '../../src/init/dockerfile/parse.js';
import { keyValues, oneWord, splitWords } from '../../src/init/dockerfile/words.js';
import { projectName } from '../../src/init/render.js';
import { parseRepfile } from '../../src/repfile/load.js';
import { makeProject, open, type Tree } from '../helpers.js';

const parse = (t: string) => {
  const p = parseDockerfile(t, 'Dockerfile');
  if (!p.ok) throw new Error(p.errors[0]!.message);
  return p.value.instructions.map((i) => ({ k: i.keyword, line: i.line, args: i.args, ...(i.json ? { json: i.json } : {}), ...(i.flags.length ? { flags: i.flags } : {}), ...(i.heredoc ? { heredoc: true } : {}) }));
};

function initIn(tree: Tree) {
  const dir = makeProject(tree, 'myrepo-');
  const r = init(dir);
  return { dir, r };
}

describe('Dockerfile parser', () => {
  it('joins continuations (skipping comments inside), reads flags, JSON form, the escape directive and here-documents', () => {
    expect(
      parse('# syntax=docker/dockerfile:1\nFROM --platform=linux/amd64 debian AS b\nRUN a \\\n# inside\n  && b\nCMD ["x", "y"]\nCOPY --from=b /o /o\nRUN <<EOF\necho hi\nEOF\nrun x\n'),
    ).toEqual([
      { k: 'FROM', line: 2, args: 'debian AS b', flags: [['platform', 'linux/amd64']] },
      { k: 'RUN', line: 3, args: 'a   && b' },
      { k: 'CMD', line: 6, args: '["x", "y"]', json: ['x', 'y'] },
      { k: 'COPY', line: 7, args: '/o /o', flags: [['from', 'b']] },
      { k: 'RUN', line: 8, args: '<<EOF', heredoc: true },
      { k: 'RUN', line: 11, args: 'x' },
    ]);
    expect(parse('# escape=`\nFROM x\nRUN a `\n b\\\n')).toEqual([
      { k: 'FROM', line: 2, args: 'x' },
      { k: 'RUN', line: 3, args: 'a  b\\' },
    ]);
  });

  it('refuses control characters (a terminal escape, a NUL) and an unterminated here-document, at their line', () => {
    const esc = parseDockerfile('FROM x\nRUN echo \x1b[31m\n', 'Dockerfile');
    expect(!esc.ok && esc.errors[0]).toMatchObject({ span: { start: { line: 2, col: 10 } }, message: 'control character U+001B: rep init converts only a Dockerfile of plain text' });
    expect(parseDockerfile('FROM x\0\n', 'D').ok).toBe(false);
    const h = parseDockerfile('FROM x\nRUN <<EOF\necho\n', 'Dockerfile');
    expect(!h.ok && h.errors[0]!.message).toBe('here-document <<EOF has no line "EOF" that ends it');
  });
});

describe('words', () => {
  it('expands $VAR, ${VAR}, ${VAR:-x}, ${VAR:+x}, keeps single quotes literal, names what it does not know', () => {
    const vars = new Map([['A', '1'], ['E', '']]);
    expect(splitWords('$A ${A}x "${B:-d f}" \'$A\' ${E:+y}z \\$A $PATH', vars)).toEqual({ words: ['1', '1x', 'd f', '$A', 'z', '$A', ''], unresolved: ['B', 'PATH'] });
  });

  it('keeps blanks in one word as Docker does for WORKDIR, USER and legacy ENV/LABEL, inside quotes too', () => {
    expect(oneWord('"/a b"/c\\ d  e', new Map()).words).toEqual(['/a b/c d  e']);
    expect(keyValues('MSG "hello  world" x', new Map()).pairs).toEqual([['MSG', 'hello  world x']]);
  });
});

describe('where copies land', () => {
  const kind = (rel: string) => (['.', 'app', 'src', 'web'].includes(rel) ? ('dir' as const) : ['a.txt', 'src/x.py', 'requirements.txt'].includes(rel) ? ('file' as const) : undefined);
  it('as inputs from the workdir that puts them at the destination, else through a copy step', () => {
    expect(placeLocal(['requirements.txt'], '.', '/app', kind)).toEqual([{ kind: 'input', workdir: '/app', input: 'requirements.txt' }]);
    expect(placeLocal(['.'], '/app/', '/', kind)).toEqual([{ kind: 'input', workdir: '/app', input: '.' }]);
    expect(placeLocal(['app/'], '/app', '/', kind)).toEqual([{ kind: 'input', workdir: '/', input: 'app' }]);
    expect(placeLocal(['./src/x.py', 'a.txt'], '/opt/src/', '/', kind)).toEqual([
      { kind: 'input', workdir: '/opt', input: 'src/x.py' },
      { kind: 'input', workdir: '/opt/src', input: 'a.txt' },
    ]);
    expect(placeLocal(['*.py'], './', '/w', kind)).toEqual([{ kind: 'input', workdir: '/w', input: '*.py' }]);
    expect(placeLocal(['web/'], '/srv/www', '/', kind)[0]).toEqual({ kind: 'relocate', target: '/srv/www', input: 'web', contents: true, script: 'rm -rf /srv/www && mkdir -p /srv/www && cp -a /.rep-copy/web/. /srv/www/' });
    expect(placeLocal(['../etc/passwd', 'src/{a,b}', 'nope'], '/x/', '/', kind).map((p) => p.kind)).toEqual(['skip', 'skip', 'skip']);
    expect(placeLocal(['src/'], '/usr', '/', kind)[0]).toMatchObject({ kind: 'skip', message: 'copies to /usr, which rep can only reach by replacing that whole folder' });
    // A glob's brackets go into the shell command unquoted: only plain characters in them. `[;id>pwned;x]` ran `id`.
    expect(placeLocal(['src/[a-c]?.txt'], '/srv/x/', '/', kind)[0]).toMatchObject({ kind: 'relocate', script: "rm -rf /srv/x && mkdir -p /srv/x && cp -a /.rep-copy/src/[a-c]?.txt /srv/x/" });
    for (const evil of ['src/[;id>pwned;x]*', 'src/[$IFS]', 'src/[`id`]', "src/[a'b]", 'src/[a b]', 'src/[|]', 'src/[&]', 'src/[\n]']) {
      expect(placeLocal([evil], '/srv/x/', '/', kind)[0], evil).toMatchObject({ kind: 'skip', message: expect.stringContaining('which rep does not put in a shell command') });
    }
  });
  it('from another stage: the same path is an import, another a copy step', () => {
    expect(placeFrom(['/venv'], '/venv', '/app')).toEqual([{ kind: 'import', path: '/venv' }]);
    // Written without a slash, into a folder the stage has or not, a source from another stage goes to /srv/tool (its contents, if a folder): copysteps.ts says so.
    expect(placeFrom(['/go/bin/app'], '/srv/tool', '/')[0]).toMatchObject({ kind: 'relocate', target: '/srv/tool' });
    expect(placeFrom(['/go/bin/app'], '/usr/local/bin/', '/')[0]).toMatchObject({ kind: 'relocate', target: '/usr/local/bin/app', contents: false });
  });
});

const FLASK = `FROM python:3.12-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
EXPOSE 5000
CMD ["python", "app.py"]
`;

describe('rep init with a Dockerfile', () => {
  it('writes this Repfile for the Flask app Dockerfile, which rep loads', () => {
    const { dir, r } = initIn({ Dockerfile: FLASK, 'requirements.txt': 'flask\n', 'app.py': '' });
    expect(r.ok).toBe(true);
    expect(r.ok && r.value.text).toBe(`# Repfile written by \`rep init\` from Dockerfile: each RUN is a step, COPY and ADD sources are inputs
# (copied to the step's workdir at their path in the context), FROM ... AS stages are steps with \`from\`.
# Build it with \`rep build --dockerfile Dockerfile.rep\`: rep's standalone Dockerfile must not overwrite Dockerfile.
# A RUN that rep would run with \`sh -e\` (not one \`a && b\` list) starts with \`set +e\`, as Docker runs it.
rep: 1
name: ${projectName(path.basename(dir))}
base: "python:3.12-slim"
# A stage starts in its image's WORKDIR, which rep init cannot read: / is assumed (set it here if
# the base image has another). The Dockerfile's WORKDIRs are on the steps.
workdir: /
steps:
  main-1:
    # Dockerfile:3-4
    workdir: /app
    inputs: [requirements.txt]
    run: "pip install -r requirements.txt"
  main-2:
    # Dockerfile:5
    needs: [main-1]
    inputs: ["."]
image:
  from: main-2
  cmd: [python, app.py]
  expose: ["5000"]
`);
    expect(open(dir).dag.order).toEqual(['main-1', 'main-2']);
  });

  it('multi-stage: a stage per FROM ... AS, COPY --from of the same path as outputs and needs; notes at their lines', () => {
    const { r } = initIn({
      Dockerfile: 'FROM debian:bookworm-slim AS build\nRUN make\nFROM busybox:latest\nCOPY --from=build /opt/app /opt/app\nHEALTHCHECK CMD true\nADD https://example.org/x.tgz /x\n',
    });
    expect(r.ok && r.value.dockerfile!.notes).toEqual([
      { line: 5, message: 'a Repfile has no health check; the image has none' },
      { line: 6, message: 'ADD of "https://example.org/x.tgz" (a URL or an archive ADD unpacks) is not converted: download or unpack it in a run' },
    ]);
    const text = r.ok ? r.value.text : '';
    expect(text).toContain('  build:\n    # Dockerfile:2\n    run: make\n    outputs: [/opt/app]\n');
    expect(text).toContain('  stage-1:\n    # Dockerfile:4\n    # Dockerfile:5: not converted: a Repfile has no health check; the image has none\n    #   HEALTHCHECK CMD true\n');
    expect(text).toContain('    from: "busybox:latest"\n    needs: [build]\n');
    expect(parseRepfile(text, { file: 'Repfile' }).ok).toBe(true);
  });

  it('says a relative WORKDIR or COPY destination depends on the base image\'s WORKDIR, which it cannot read (Jupyter\'s is /home/jovyan), once per stage', () => {
    const { r } = initIn({
      Dockerfile: 'FROM quay.io/jupyter/scipy-notebook:2024-05-27\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\nWORKDIR work\nCOPY . .\nFROM debian:bookworm-slim AS b\nWORKDIR /srv\nCOPY . .\nFROM b\nWORKDIR x\n',
      'requirements.txt': '',
    });
    const notes = r.ok ? r.value.dockerfile!.notes : [];
    expect(notes).toEqual([{ line: 2, message: expect.stringMatching(/^COPY "\." is relative to the base image's working directory, which rep init cannot read: it took \//) }]);
    expect(r.ok && r.value.text).toContain("    # Dockerfile:2: COPY \".\" is relative to the base image's working directory");
    expect(r.ok && r.value.text).not.toContain('Docker starts each stage in /');
  });

  it('says a WORKDIR after a USER other than root is made owned by root (rep writes WORKDIR before USER), where BuildKit makes it the user\'s', () => {
    const { r } = initIn({ Dockerfile: 'FROM debian:bookworm-slim\nUSER bob\nWORKDIR /home/bob/app\nRUN touch x\nUSER 0\nWORKDIR /srv\n' });
    expect(r.ok && r.value.dockerfile!.notes).toEqual([
      { line: 3, message: "WORKDIR after USER bob: Docker makes a missing /home/bob/app owned by bob, rep makes it owned by root before it switches user. If a step writes there, make it in a step before (run as root): mkdir -p /home/bob/app && chown bob /home/bob/app" },
    ]);
  });

  it('says nothing of a WORKDIR after a USER an earlier step applied: rep writes that USER first, and BuildKit makes the folder the user\'s', () => {
    for (const Dockerfile of ['FROM debian:bookworm-slim\nUSER bob\nRUN echo hi\nWORKDIR /home/bob/app\nRUN touch x\n', 'FROM debian:bookworm-slim AS a\nUSER bob\nRUN echo hi\nFROM a\nWORKDIR /home/bob/app\nRUN touch x\n']) {
      const { r } = initIn({ Dockerfile });
      expect(r.ok && r.value.dockerfile!.notes, Dockerfile).toEqual([]);
    }
  });

  it('copies a file into a folder the stage is known to have (WORKDIR /app, COPY f /app is /app/f), and says where the folder might be the image\'s', () => {
    const { r } = initIn({ Dockerfile: 'FROM debian:bookworm-slim\nWORKDIR /app\nCOPY file.txt /app\nRUN cat file.txt\nCOPY web /srv/www\nCOPY file.txt /srv/www\nCOPY file.txt /data\n', 'file.txt': 'x', 'web/i.html': '' });
    const text = r.ok ? r.value.text : '';
    expect(text).toContain('    workdir: /app\n    inputs: [file.txt]\n    run: "cat file.txt"\n');
    expect(text).not.toContain('rm -rf /app');
    expect(text).toContain('    needs: [main-2]\n    workdir: /srv/www\n    inputs: [file.txt]\n');
    expect(r.ok && r.value.dockerfile!.notes).toEqual([
      { line: 7, message: 'copies the file file.txt as /data: if /data is a folder in the base image, Docker puts it at /data/file.txt instead (then write /data/)' },
    ]);
  });

  it('COPY --from into a folder the stage has takes the source for a folder (its contents there), as multi-stage builds mean, and says so', () => {
    const df = 'FROM node:20 AS build\nWORKDIR /app\nCOPY . .\nRUN npm run build\nFROM node:20-slim\nWORKDIR /app\nCOPY --from=build /app /app\nCOPY --from=build /app/dist /app\n';
    const { dir, r } = initIn({ Dockerfile: df, 'package.json': '{}' });
    const text = r.ok ? r.value.text : '';
    // The same path: imported as it is (cp /app /app/app failed: "cannot copy a directory into itself").
    expect(text).not.toContain('/app/app');
    expect(text).not.toContain('/app/dist/dist');
    expect(text).toContain('cp -a /app/dist /app');
    expect(r.ok && r.value.dockerfile!.notes.map((n) => n.line)).toContain(8);
    expect(r.ok && r.value.dockerfile!.notes.find((n) => n.line === 8)!.message).toMatch(/^copies \/app\/dist to \/app, a folder this stage has: rep takes \/app\/dist for a folder whose contents go there; if it is a file, Docker puts it at \/app\/dist/);
    expect(open(dir).dag.order.length).toBeGreaterThan(0);
  });

  it('ENTRYPOINT clears a CMD only when the stage has not set one itself (BuildKit dispatchEntrypoint, cmdSet)', () => {
    const image = (Dockerfile: string) => {
      const { dir, r } = initIn({ Dockerfile });
      expect(r.ok).toBe(true);
      return open(dir).recipe.image;
    };
    expect(image('FROM busybox:latest\nCMD ["a"]\nENTRYPOINT ["b"]\n')).toMatchObject({ cmd: ['a'], entrypoint: ['b'] });
    expect(image('FROM busybox:latest AS x\nCMD ["a"]\nFROM x\nENTRYPOINT ["b"]\n').cmd).toBeUndefined();
  });

  it('ARG defaults reach RUN (exported) and expansions; ENV is set on the step; SHELL and USER carried', () => {
    const { r } = initIn({ Dockerfile: 'FROM debian:bookworm-slim\nARG V=1\nENV HOME_DIR=/srv/$V\nSHELL ["/bin/bash", "-c"]\nUSER nobody\nRUN echo $V; true\n' });
    const text = r.ok ? r.value.text : '';
    expect(text).toContain('    env:\n      HOME_DIR: "/srv/1"\n    user: nobody\n    shell: [/bin/bash, "-c"]\n    run: "set +e; export V=1; echo $V; true"\n');
  });

  it('binder/Dockerfile shadows the root; default.nix is refused; a huge or binary Dockerfile is refused', () => {
    const b = initIn({ 'binder/Dockerfile': 'FROM busybox:latest\n', Dockerfile: 'FROM debian:bookworm-slim\n' });
    expect(b.r.ok && b.r.value.dockerfile?.rel).toBe('binder/Dockerfile');
    const nix = initIn({ 'default.nix': '{}' });
    expect(!nix.r.ok && nix.r.errors[0]).toMatchObject({ file: path.relative(process.cwd(), path.join(nix.dir, 'default.nix')), message: expect.stringMatching(/^a Nix environment .* is not supported by rep init/) });
    const big = initIn({ Dockerfile: `FROM x\n${'RUN true\n'.repeat(40000)}` });
    expect(!big.r.ok && big.r.errors[0]!.message).toMatch(/^larger than 256 KiB/);
    const bin = makeProject({}, 'myrepo-');
    writeFileSync(path.join(bin, 'Dockerfile'), Buffer.from([0x46, 0x52, 0xff, 0x0a]));
    const r = init(bin);
    expect(!r.ok && r.errors[0]!.message).toBe('not UTF-8 text; rep init converts a Dockerfile of plain text');
  });

  it('hostile text stays inside YAML strings and comments: a newline-free injection attempt, quotes, a label with "=" in a value', () => {
    const { dir, r } = initIn({
      Dockerfile: 'FROM debian:bookworm-slim\nLABEL "a b"="x\\"y: z" k=v=w\nENV X="1\\nsteps: {}"\nRUN echo "#"; echo \'image: {}\'\nSTOPSIGNAL "\\nrep: 2"\n',
    });
    expect(r.ok).toBe(true);
    const p = open(dir);
    expect(p.recipe.image.labels).toEqual({ 'a b': 'x"y: z', k: 'v=w' });
    expect(p.recipe.steps[0]!.env).toEqual({ X: '1\\nsteps: {}' });
    expect(p.recipe.steps[0]!.run).toEqual([`set +e; echo "#"; echo 'image: {}'`]);
  });
});
