// rep init reads a Dockerfile as BuildKit's parser does, or refuses it: each
// case is a Dockerfile where rep once read other lines as instructions than
// Docker (found by an adversarial review), so the Repfile ran what Docker
// does not, or dropped what it does.
import { describe, expect, it } from 'vitest';
import { init } from '../../src/commands/init.js';
import { parseDockerfile } from '../../src/init/dockerfile/parse.js';
import { makeProject } from '../helpers.js';

const NOW = new Date('2026-11-27T12:00:00Z');
/** The instructions rep reads: keyword, first line, here-document. */
const read = (t: string) => {
  const p = parseDockerfile(t, 'Dockerfile');
  if (!p.ok) throw new Error(p.errors[0]!.message);
  return p.value.instructions.map((i) => `${i.line} ${i.keyword}${i.heredoc ? ' <<' : ''}`);
};
/** The first diagnostic for `t`: line, column, message. */
const refused = (t: string) => {
  const p = parseDockerfile(t, 'Dockerfile');
  if (p.ok) return 'read';
  const e = p.errors[0]!;
  const at = 'span' in e && e.span ? `${e.span.start.line}:${e.span.start.col}: ` : '';
  return `${at}${e.message}`;
};

describe('here-documents, found as BuildKit finds them (shell words, quotes and escapes removed from the name)', () => {
  it('reads <<\\EOF and <<\'E\'OF as here-documents named EOF: the lines up to EOF are data, not a RUN', () => {
    expect(read('FROM debian:bookworm-slim\nRUN cat <<\\EOF > /tmp/notes\nRUN touch /pwned\nEOF\n')).toEqual(['1 FROM', '2 RUN <<']);
    expect(read("FROM debian:bookworm-slim\nRUN cat <<'E'OF > f\nE\nRUN touch /pwned\nEOF\n")).toEqual(['1 FROM', '2 RUN <<']);
    const dir = makeProject({ Dockerfile: 'FROM debian:bookworm-slim\nRUN cat <<\\EOF > /tmp/notes\nRUN touch /pwned\nEOF\n' }, 'myrepo-');
    const r = init(dir, { now: NOW });
    expect(r.ok && r.value.text).not.toMatch(/run: .*touch/);
  });

  it('finds none in quotes (RUN echo "<<EOF" kept USER nobody out) and none glued to a word (x<<EOF), as Docker', () => {
    expect(read('FROM busybox:latest\nRUN echo "<<EOF"\nUSER nobody\nRUN cat <<X > /dev/null\nEOF\nX\n')).toEqual(['1 FROM', '2 RUN', '3 USER', '4 RUN <<']);
    expect(read("FROM busybox:latest\nRUN echo '<<EOF' x<<EOF\nUSER nobody\n")).toEqual(['1 FROM', '2 RUN', '3 USER']);
  });

  it('reads two on a line, <<-, a file descriptor, ONBUILD RUN, and none in exec form (its flags read as BuildKit reads them)', () => {
    expect(read('FROM busybox:latest\nRUN 3<<A cat <<-"B"\nx\nA\n\tB\nUSER a\n')).toEqual(['1 FROM', '2 RUN <<', '6 USER']);
    expect(read('FROM busybox:latest\nONBUILD RUN <<EOF\nRUN touch /pwned\nEOF\n')).toEqual(['1 FROM', '2 ONBUILD <<']);
    expect(read('FROM busybox:latest\nRUN --x="a b" ["sh", "-c", "cat <<EOF"]\nUSER a\nEOF\n')).toEqual(['1 FROM', '2 RUN', '3 USER', '4 EOF']);
  });

  it('refuses, at the place, what BuildKit versions read differently or its lexer rewrites: a blank after <<, ${x:-y}, an unclosed quote', () => {
    expect(refused('FROM busybox:latest\nRUN cat << EOF\nEOF\n')).toBe('2:9: a blank after <<: Docker reads a here-document there since dockerfile 1.16 and not before; write <<NAME');
    expect(refused('FROM busybox:latest\nRUN cat <<EOF \\\n  > ${D:-/x}\nEOF\n')).toMatch(/^3:5: \$\{\.\.\.\} with an operator beside <</);
    expect(refused("FROM busybox:latest\nRUN cat <<EOF it's\nEOF\n")).toMatch(/^2:17: a ' with no ' that closes it/);
    expect(refused('FROM busybox:latest\nRUN ["a", 1, "<<EOF"]\n')).toBe('2:1: a JSON list of other than strings: Docker refuses it; rep init does not convert it');
  });
});

describe('blanks, as BuildKit reads them (only ASCII ones split words and follow a continuation)', () => {
  it('refuses a blank beyond ASCII at its place (`\\` then U+00A0 continued the line for rep, not for Docker, so ENV ran as shell)', () => {
    expect(refused('FROM busybox:latest\nRUN echo \\\u00a0\nENV A=1;touch${IFS}/pwned\n')).toBe('2:11: blank beyond ASCII U+00A0: rep init converts only a Dockerfile of plain text');
    // In a comment line it splits and continues nothing: text, as Docker reads it (found by a review).
    expect(refused('# Copyright\u00a0ACME\nFROM busybox:latest\nRUN echo a \\\n  # note\u202fhere\n  b\n')).toBe('read');
    expect(refused('# a\ufeffb\nFROM busybox:latest\n')).toMatch(/^1:4: blank beyond ASCII U\+FEFF/);
    for (const c of ['\u3000', '\u2000', '\u200a', '\u202f', '\u205f', '\ufeff', '\u1680']) expect(refused(`FROM busybox:latest\nRUN\u0020echo${c}x\n`), c).toMatch(/^2:9: blank beyond ASCII/);
    // utf8Text drops one byte order mark, as BuildKit does; a second is text Docker reads as part of the keyword.
    expect(refused('\ufeffFROM busybox:latest\n')).toMatch(/^1:1: blank beyond ASCII U\+FEFF/);
    expect(read('FROM busybox:latest\nRUN echo \\ \t \nUSER a\n')).toEqual(['1 FROM', '2 RUN']);
  });
});

describe('parser directives, read where BuildKit reads them', () => {
  const escapeOf = (t: string) => {
    const p = parseDockerfile(t, 'Dockerfile');
    return p.ok ? p.value.escape : p.errors[0]!.message;
  };
  it('stops at the first line that is not a known directive (# x=y, a comment, a blank line): a later # escape= is a comment', () => {
    const t = '# x=y\n# escape=`\nFROM busybox:latest\nRUN echo `\nENV A=1;touch${IFS}/pwned\n';
    expect(escapeOf(t)).toBe('\\');
    expect(read(t)).toEqual(['3 FROM', '4 RUN', '5 ENV']);
    expect(escapeOf('# hello\n# escape=`\nFROM x\n')).toBe('\\');
    expect(escapeOf('\n# escape=`\nFROM x\n')).toBe('\\');
    expect(escapeOf('# syntax=docker/dockerfile:1\n  #  ESCAPE = `  \n# check=skip=all\nFROM x\n')).toBe('`');
  });

  it('refuses a repeated directive and an escape other than ` or \\, at its line, as Docker does', () => {
    expect(refused('# escape=`\n# escape=\\\nFROM x\n')).toBe('2:1: a second escape parser directive: Docker refuses it (only one escape parser directive can be used)');
    expect(refused('# syntax=docker/dockerfile:1\n# Syntax=docker/dockerfile:1.4\nFROM x\n')).toMatch(/^2:1: a second syntax parser directive/);
    expect(refused('# escape=x\nFROM x\n')).toBe('1:1: escape=x: Docker refuses an escape character other than ` or \\');
  });

  it('reads a Dockerfile for docker/dockerfile alone: another frontend image (# syntax=) may parse it as it likes', () => {
    expect(refused('# syntax=evil.example/frontend:1\nFROM x\n')).toBe("1:1: syntax=evil.example/frontend:1: rep init reads a Dockerfile as Docker's own frontend (docker/dockerfile) does; another frontend may read it otherwise");
    expect(refused('# syntax=docker/dockerfile:1.4-labs@sha256:' + 'ab'.repeat(32) + 'x\nFROM x\n')).toMatch(/^1:1: syntax=/);
    for (const ok of ['docker/dockerfile:1', 'docker.io/docker/dockerfile:1.7-labs', 'docker/dockerfile-upstream:master', `docker/dockerfile@sha256:${'ab'.repeat(32)}`, 'docker/dockerfile']) {
      expect(refused(`# syntax=${ok}\nFROM x\n`), ok).toBe('read');
    }
    // Where docker build looks for it too (BuildKit's DetectSyntax): after a #! line, as //syntax=, in a JSON file.
    expect(refused('#!/usr/bin/env docker\n# syntax=evil/frontend:1\nFROM x\n')).toMatch(/^2:1: syntax=evil\/frontend:1: rep init reads/);
    expect(refused('//syntax=evil/frontend\nFROM x\n')).toMatch(/^1:1: syntax=evil\/frontend: rep init reads/);
    expect(refused('{"syntax": "evil/frontend"}\n')).toMatch(/^1:1: syntax=evil\/frontend: rep init reads/);
    expect(refused('#!x\n{"syntax": "evil/frontend"}\n')).toMatch(/^1:1: syntax=evil\/frontend: rep init reads/);
    expect(refused('#!/usr/bin/env docker\n# syntax=docker/dockerfile:1\nFROM x\n')).toBe('read');
  });
});
