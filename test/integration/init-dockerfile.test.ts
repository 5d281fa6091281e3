// rep init converts a Dockerfile, and the converted Repfile built with rep
// gives the image `docker build` gives of the original: the same files
// (path, type, mode, owner, content) and the same runtime config. Both
// builds run on the real docker engine, in the same folder (so the same
// .dockerignore), apt through --network host.
import { appendFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build.js';
import { init } from '../../src/commands/init.js';
import { makeProject, open, type Tree } from '../helpers.js';
import { readFilesystemTar } from '../../src/publish/filesystem.js';
import { diffFiles, docker, DOCKER_BIN, sh } from './helpers.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * Files known to differ between two runs of the same commands, whoever runs
 * them: apt's and dpkg's logs and binary caches (they hold times), the
 * backups dpkg and debconf rotate, ldconfig's cache of file times. rep also
 * leaves such run-to-run files out of its layers (reproducible images).
 */
const VARIES = /^(var\/log\/(apt|dpkg\.log|alternatives\.log|lastlog|faillog)|var\/cache\/(apt|ldconfig|debconf\/.*-old)|var\/lib\/dpkg\/.*-old$|var\/lib\/apt\/extended_states)/;

/**
 * A container of image `id`, made at once: it keeps the image while another
 * test run's cleanup removes the rep-test/ tags it did not have before.
 */
function hold(id: string): string {
  const cid = sh(DOCKER_BIN, ['create', id, 'true']).trim();
  containers.push(cid);
  return cid;
}
const containers: string[] = [];
afterAll(() => containers.forEach((c) => sh(DOCKER_BIN, ['rm', '-f', c])));

/** Every path of the container's filesystem (type, mode, owner, content hash), as publish reads an export. */
async function exported(cid: string): Promise<Map<string, string>> {
  const file = path.join(tmpdir(), `rep-export-${cid.slice(0, 12)}.tar`);
  try {
    sh(DOCKER_BIN, ['export', '-o', file, cid]);
    const files = new Map<string, string>();
    for (const [name, e] of Object.entries(await readFilesystemTar(file))) {
      if (!VARIES.test(name)) files.set(name, `${e.type} ${e.mode} ${e.uid}:${e.gid} ${e.sha256 ?? (e.linkname ? `-> ${e.linkname}` : '')}`);
    }
    return files;
  } finally {
    rmSync(file, { force: true });
  }
}

/** The runtime settings of an image that a Dockerfile sets. */
function config(id: string) {
  const c = JSON.parse(sh(DOCKER_BIN, ['image', 'inspect', '--format', '{{json .Config}}', id])) as Record<string, unknown>;
  return {
    Cmd: c.Cmd ?? null,
    Entrypoint: c.Entrypoint ?? null,
    Env: [...((c.Env as string[] | null) ?? [])].sort(),
    // Docker leaves WorkingDir empty when no WORKDIR was set; rep sets "/", which is where such a container starts.
    WorkingDir: (c.WorkingDir as string) || '/',
    User: c.User ?? '',
    ExposedPorts: c.ExposedPorts ?? null,
    Labels: c.Labels ?? null,
  };
}

async function bothWays(name: string, tree: Tree, dockerfile = 'Dockerfile') {
  const dir = makeProject(tree, 'rep-initdf-');
  dirs.push(dir);
  const r = init(dir);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  expect(r.value.dockerfile?.rel).toBe(dockerfile);
  const repfile = readFileSync(`${dir}/Repfile`, 'utf8');
  // Tagged under rep-test/ (the test setup removes those tags).
  appendFileSync(`${dir}/Repfile`, `  tag: rep-test/initdf-${name}-rep:latest\n`);
  // What is compared is the conversion: rep's reproducible images let every RUN see SOURCE_DATE_EPOCH,
  // which the original build does not, and tools that honour it write other bytes (Python's .pyc
  // files, the date in /etc/shadow). docs/reproducible.md says so; here both builds run without it.
  appendFileSync(`${dir}/Repfile`, 'reproducible: false\n');
  const original = sh(DOCKER_BIN, ['build', '-q', '--network', 'host', '-t', `rep-test/initdf-${name}-docker:latest`, '-f', dockerfile, '.'], { cwd: dir, env: { DOCKER_BUILDKIT: '0' } }).trim();
  // Config read at once, and a container made: another test run's cleanup may untag rep-test/ images any time.
  const ca = config(original);
  const a = hold(original);
  const built = await build(open(dir), { engine: docker(), network: 'host', dockerfile: 'Dockerfile.rep', jobs: 2 });
  if (!built.ok) throw new Error(built.errors.map((e) => e.message).join('\n'));
  expect(built.value.ok, repfile).toBe(true);
  const converted = built.value.image!.imageId;
  const cb = config(converted);
  const b = hold(converted);
  const [fa, fb] = [await exported(a), await exported(b)];
  return { files: diffFiles(fa, fb), config: [ca, cb] as const, repfile, notes: r.value.dockerfile!.notes, original: fa };
}

describe('rep init from a Dockerfile, built both ways', () => {
  it('a Flask app: WORKDIR, requirements first, then the code, EXPOSE, CMD', async () => {
    const x = await bothWays('flask', {
      Dockerfile: `# syntax=docker/dockerfile:1
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
WORKDIR /app
COPY requirements.txt .
# python3-flask from Debian: no PyPI here
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3-flask \\
 && rm -rf /var/lib/apt/lists/*
COPY . .
ENV FLASK_APP=app.py
EXPOSE 5000
CMD ["python3", "-m", "flask", "run", "--host=0.0.0.0"]
`,
      'requirements.txt': 'flask\n',
      'app.py': 'from flask import Flask\napp = Flask(__name__)\n',
      'static/style.css': 'body {}\n',
      'run.sh': { mode: 0o755, text: '#!/bin/sh\nexec python3 -m flask run\n' },
    });
    expect(x.files).toEqual([]);
    expect(x.config[1]).toEqual(x.config[0]);
    expect(x.original.get('app/run.sh')).toMatch(/^file 755 0:0 /);
    expect(x.original.has('usr/lib/python3/dist-packages/flask/__init__.py')).toBe(true);
    expect(x.notes).toEqual([]);
  }, 300_000);

  it('multi-stage: a builder stage, COPY --from to the same path and elsewhere, a local folder renamed', async () => {
    const x = await bothWays('multi', {
      'binder/Dockerfile': `FROM busybox:latest AS builder
WORKDIR /src
COPY tools/ ./
RUN mkdir -p /out /opt/shared && sh make.sh > /out/hello && chmod 755 /out/hello \\
 && echo shared > /opt/shared/data.txt && mkdir -p /out/doc && echo doc > /out/doc/README

FROM debian:bookworm-slim
COPY --from=builder /opt/shared /opt/shared
COPY --from=builder /out/hello /usr/local/bin/
COPY --from=builder /out/doc/ /usr/share/doc/hello/
COPY web/ /srv/www/
RUN ls /srv/www > /srv/listing.txt
CMD ["hello"]
`,
      'Dockerfile': 'FROM busybox:latest\n# shadowed by binder/Dockerfile, as in repo2docker\n',
      'tools/make.sh': 'printf "#!/bin/sh\\necho hello\\n"\n',
      'web/index.html': '<p>hi</p>\n',
      'web/img/logo.svg': { mode: 0o600, text: '<svg/>\n' },
    }, 'binder/Dockerfile');
    expect(x.files).toEqual([]);
    expect(x.config[1]).toEqual(x.config[0]);
    for (const p of ['usr/local/bin/hello', 'usr/share/doc/hello/README', 'opt/shared/data.txt', 'srv/www/img/logo.svg', 'srv/listing.txt']) expect(x.original.has(p), p).toBe(true);
    expect(x.repfile).toContain('outputs: [/opt/shared]');
  });

  it('ENV, ARG, USER, LABEL, SHELL, ENTRYPOINT; what rep cannot express is reported and kept as a comment', async () => {
    const x = await bothWays('settings', {
      Dockerfile: `ARG BASE=debian:bookworm-slim
FROM \${BASE}
ARG APP_HOME=/srv/app
ARG VERSION=1.2
ENV APP_HOME=$APP_HOME LANG=C.UTF-8
LABEL org.opencontainers.image.version="$VERSION" maintainer="A. Person <a@example.org>"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN useradd --create-home --uid 1001 app
WORKDIR \${APP_HOME}
COPY entrypoint.sh /usr/local/bin/
RUN echo "$VERSION" | tee version.txt; echo "[[ bash ]]" > shell.txt
USER app
RUN touch /home/app/made-by-app
HEALTHCHECK CMD test -f version.txt
STOPSIGNAL SIGTERM
EXPOSE 8080/tcp
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
CMD ["--help"]
`,
      'entrypoint.sh': { mode: 0o755, text: '#!/bin/sh\nexec "$@"\n' },
    });
    expect(x.files).toEqual([]);
    expect(x.config[1]).toEqual(x.config[0]);
    expect(x.config[0]).toMatchObject({ User: 'app', WorkingDir: '/srv/app', Entrypoint: ['/usr/local/bin/entrypoint.sh'], Cmd: ['--help'] });
    expect(x.original.get('home/app/made-by-app')).toMatch(/^file 644 1001:1001 /);
    expect(x.notes.map((n) => n.line)).toEqual([14, 15]);
    expect(x.repfile).toContain('# Dockerfile:14: not converted: a Repfile has no health check; the image has none\n    #   HEALTHCHECK CMD test -f version.txt\n');
  });

  it('quoted blanks in WORKDIR and a legacy ENV, and an ENTRYPOINT after the stage\'s own CMD (which Docker keeps)', async () => {
    const x = await bothWays('blanks', {
      Dockerfile: 'FROM busybox:latest\nWORKDIR "/srv/my app"\nENV GREETING "hello  world"\nRUN pwd > where.txt && echo "$GREETING" > greeting.txt\nCMD ["--x"]\nENTRYPOINT ["/bin/echo"]\n',
    });
    expect(x.files).toEqual([]);
    expect(x.config[1]).toEqual(x.config[0]);
    expect(x.config[0]).toMatchObject({ WorkingDir: '/srv/my app', Entrypoint: ['/bin/echo'], Cmd: ['--x'] });
    expect(x.original.has('srv/my app/greeting.txt')).toBe(true);
  });
});

