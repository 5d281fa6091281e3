// The scalars rep init writes read back from YAML as the same string: a
// value that starts with a YAML indicator is quoted (found by an adversarial
// review: `USER @x` made rep init fail with "a bug in rep init").
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { init } from '../../src/commands/init.js';
import { flow, yamlString } from '../../src/init/yaml.js';
import { makeProject } from '../helpers.js';

describe('yamlString', () => {
  it('quotes a value that starts with any YAML indicator, and each reads back as itself', () => {
    for (const c of ['-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', "'", '"', '%', '@', '`']) {
      for (const v of [`${c}x`, c, `${c}cfg/a.txt`]) {
        expect(yamlString(v), v).toMatch(/^"/);
        expect(parse(`k: ${yamlString(v)}\nl: ${flow([v, 'b'])}\n`), v).toEqual({ k: v, l: [v, 'b'] });
      }
    }
    expect(yamlString('a@b')).toBe('a@b');
  });

  it('USER @x and COPY @cfg /srv/ convert to a Repfile rep loads', () => {
    const dir = makeProject({ Dockerfile: 'FROM busybox:latest\nUSER @x\nCOPY @cfg /srv/\nRUN true\n', '@cfg': '' }, 'myrepo-');
    const r = init(dir, { now: new Date('2026-11-27T12:00:00Z') });
    expect(r.ok ? r.value.text : r.errors[0]!.message).toContain('user: "@x"');
  });
});
