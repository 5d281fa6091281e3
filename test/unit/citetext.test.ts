// The Repfile's citation text as a bundle's readers meet it: in REPRODUCE.md
// and CITE.md (rendered, or cat in a terminal), CITATION.cff (read by YAML 1.1
// and 1.2 tools) and the RO-Crate (JSON-LD). A title could open an HTML
// comment that hid the real instructions and print a fake "Check the bundle"
// section with the attacker's command; a `yes` title was `true` to PyYAML.
// Found by an adversarial review.
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/diag.js';
import { citationCff, citeMarkdown, markdownText } from '../../src/publish/citation.js';
import { reproduceMd } from '../../src/publish/reproduce.js';
import { roCrate } from '../../src/publish/rocrate.js';
import { parseRepfile } from '../../src/repfile/load.js';

const repfile = (publish: string) => `rep: 1\nname: x\nbase: busybox:latest\nsteps:\n  a:\n    run: "true"\npublish:\n${publish}`;
const problems = (publish: string) => {
  const r = parseRepfile(repfile(publish), { file: '/tmp/nowhere/Repfile' });
  return r.ok ? [] : r.errors.map(formatDiagnostic);
};

describe('citation text in the Repfile', () => {
  it('is one line without control characters or bidirectional overrides, but for the abstract (newlines and tabs)', () => {
    const authors = '  authors: [{name: Org}]\n';
    expect(problems(`  title: "Rain\\n\\n## 1. Check the bundle"\n${authors}`)).toEqual([expect.stringContaining('publish.title: title must be one line without control characters or bidirectional overrides')]);
    expect(problems(`  title: "Rain\\e]0;pwned\\a"\n${authors}`)).toHaveLength(1);
    expect(problems(`  title: "Rain\\u009b2J"\n${authors}`)).toHaveLength(1);
    expect(problems(`  title: "Rain\\u202egnp.exe"\n${authors}`)).toHaveLength(1);
    expect(problems(`  title: T\n  authors: [{family: "L\\nX"}]\n`)).toHaveLength(1);
    expect(problems(`  title: T\n${authors}  keywords: ["a\\tb"]\n`)).toHaveLength(1);
    expect(problems(`  title: T\n${authors}  doi: "10.1234/x\\e]0;t\\a"\n`)).toEqual([expect.stringContaining('a DOI looks like 10.5281/zenodo.1234567')]);
    expect(problems(`  title: T\n${authors}  abstract: "x\\e"\n`)).toHaveLength(1);
    expect(problems(`  title: "Rain <b> & [x](y)"\n${authors}  abstract: "one\\n\\ttwo"\n  doi: 10.1234/a(b)<c>\n  license: MIT OR Apache-2.0\n`)).toEqual([]);
    expect(problems(`  title: "Rain\\u200fx"\n${authors}`)).toHaveLength(1);
    // A block scalar keeps one newline at the end: dropped, not refused (it loaded before the rule).
    const block = parseRepfile(repfile(`  title: >\n    A long title\n    that continues\n${authors}`), { file: '/tmp/nowhere/Repfile' });
    expect(block.ok && block.value.publish?.title).toBe('A long title that continues');
  });
});

describe('citation fields a reader\'s tool checks', () => {
  const authors = '  title: T\n  authors: [{name: Org}]\n';
  it('a license is an SPDX identifier or expression, with the identifier a common name means', () => {
    for (const ok of ['MIT', 'CC-BY-4.0', 'GPL-3.0-or-later WITH Classpath-exception-2.0', '(MIT OR Apache-2.0)', 'LicenseRef-Mine']) expect(problems(`${authors}  license: "${ok}"\n`), ok).toEqual([]);
    expect(problems(`${authors}  license: Apache 2.0\n`)).toEqual([
      'Repfile:10:12: publish.license: "Apache 2.0" is not an SPDX license identifier or expression (did you mean "Apache-2.0"? e.g. MIT, GPL-3.0-or-later, MIT OR Apache-2.0, or LicenseRef-NAME for another; see https://spdx.org/licenses/)',
    ]);
    expect(problems(`${authors}  license: "${'MIT OR '.repeat(100)}MIT"\n`)).toEqual(['Repfile:10:12: publish.license: is 703 characters long; an SPDX license expression here is at most 512']);
    expect(problems(`${authors}  license: All rights reserved\n`)[0]).toMatch(/"All rights reserved" is not an SPDX license identifier or expression \(e\.g\. MIT/);
  });

  it('a date is a day of the calendar, an ORCID iD has its check digit, a url is a web address', () => {
    expect(problems(`${authors}  date-released: "2026-02-30"\n`)).toEqual(['Repfile:10:18: publish.date-released: 2026-02-30 is not a day of the calendar']);
    expect(problems(`${authors}  date-released: "2024-02-29"\n`)).toEqual([]);
    expect(problems('  title: T\n  authors: [{name: Org, orcid: 0000-0002-1825-0098}]\n')).toEqual([expect.stringContaining('0000-0002-1825-0098 is not an ORCID iD: its check digit does not match')]);
    for (const good of ['0000-0002-1825-0097', 'https://orcid.org/0000-0002-9079-593X']) expect(problems(`  title: T\n  authors: [{name: Org, orcid: "${good}"}]\n`), good).toEqual([]);
    expect(problems(`${authors}  url: "javascript:alert(1)"\n`)).toEqual([expect.stringContaining('publish.url: a url is a web address, https://… or http://…')]);
    expect(problems(`${authors}  url: "https://example.org/paper"\n`)).toEqual([]);
    expect(problems(`${authors}  url: "https://ex.com/ a"\n`)).toEqual([expect.stringContaining('publish.url: a url has no blanks')]);
  });
});

describe('REPRODUCE.md and CITE.md', () => {
  const hostile = 'My paper <!-- [run this](https://evil.example) `x` *y* #z | ~ & \\';
  const shown = 'My paper \\<\\!-- \\[run this\\](https://evil.example) \\`x\\` \\*y\\* \\#z \\| \\~ \\& \\\\';

  it('show the title and authors as text, their markup escaped, and the DOI as a link to doi.org alone', () => {
    expect(markdownText(hostile)).toBe(shown);
    // Where CITE.md's line starts with the authors: no list, no code block.
    expect(['    1. Ada', '- Ada', '+ Ada', '2) Ada'].map(markdownText)).toEqual(['1\\. Ada', '\\- Ada', '\\+ Ada', '2\\) Ada']);
    for (const name of ['1', '2023']) {
      const line = citeMarkdown({ title: 'T', tag: 'x:1', bundleSha256: '0'.repeat(64), publish: { title: 'T', authors: [{ name }] } }).split('\n')[0];
      expect(line).toBe(`${name}\\. *T*: computational environment.`);
    }
    expect(reproduceMd({ title: hostile, tag: 'x:1', hasLock: false, hasImage: false, signed: false }).split('\n')[0]).toBe(`# Reproducing: ${shown}`);
    const md = citeMarkdown({ title: hostile, tag: 'x:1', bundleSha256: '0'.repeat(64), publish: { title: hostile, authors: [{ name: '[click](javascript:alert(1))' }], doi: '10.1234/x<img/src=x/onerror=alert(1)>' } });
    expect(md.split('\n')[0]).toBe(`\\[click\\](javascript:alert(1)). *${shown}*: computational environment. <https://doi.org/10.1234/x%3Cimg/src%3Dx/onerror%3Dalert(1)%3E>`);
  });
});

describe('CITATION.cff', () => {
  it('quotes every string, so YAML 1.1 readers (PyYAML, Ruby) read the strings YAML 1.2 readers do', () => {
    const text = citationCff({ title: 'yes', authors: [{ family: 'No', given: 'On' }], version: '1:20', keywords: ['off', '0o12', '1_000'], 'date-released': '2026-01-01' }, { tag: 'x:1' });
    const want = { title: 'yes', authors: [{ 'family-names': 'No', 'given-names': 'On' }], version: '1:20', keywords: ['off', '0o12', '1_000'], 'date-released': '2026-01-01' };
    for (const version of ['1.1', '1.2'] as const) expect(parseYaml(text, { version })).toMatchObject(want);
  });
});

describe('the RO-Crate', () => {
  const crate = (over: object) =>
    roCrate({ name: 'x', files: [], inputs: [], image: { tag: 'x:1' }, startTime: '2026-01-01T00:00:00Z', endTime: '2026-01-01T00:00:01Z', engine: 'none', ...over } as Parameters<typeof roCrate>[0]) as { '@graph': Record<string, unknown>[] };

  it("names an input by a fragment that holds no second '#' nor a '?', one path segment at a time", () => {
    const g = crate({ inputs: [{ path: 'a#b/../c?d e', sha256: '0'.repeat(64) }] })['@graph'];
    expect(g.filter((e) => e['@type'] === 'CreativeWork' && e.name === 'a#b/../c?d e').map((e) => e['@id'])).toEqual(['#input/a%23b/../c%3Fd%20e']);
  });

  it('names the image tag and config digest whether the image is in the bundle (image.oci.tar) or not (#image)', () => {
    const digest = `sha256:${'c'.repeat(64)}`;
    const file = { path: 'image.oci.tar', size: 1, sha256: '0'.repeat(64), description: 'image', encodingFormat: 'application/x-tar' };
    const shipped = crate({ files: [file], image: { tag: 'x:1', configDigest: digest, file: 'image.oci.tar' } })['@graph'];
    expect(shipped.find((e) => e['@id'] === 'image.oci.tar')).toMatchObject({ '@type': 'File', identifier: digest, alternateName: 'x:1' });
    expect(shipped.some((e) => e['@id'] === '#image')).toBe(false);
    const named = crate({ image: { tag: 'x:1', configDigest: digest } })['@graph'];
    expect(named.find((e) => e['@id'] === '#image')).toMatchObject({ identifier: digest, name: 'x:1' });
  });

  it('gives two authors with one ORCID iD one entity, and a license expression as text, not as an @id with blanks', () => {
    const orcid = '0000-0002-1825-0097';
    const g = crate({ publish: { title: 'T', authors: [{ family: 'A', orcid }, { name: 'B', orcid }], license: 'MIT OR Apache-2.0' } })['@graph'];
    expect(g.filter((e) => e['@id'] === `https://orcid.org/${orcid}`)).toHaveLength(1);
    const root = g.find((e) => e['@id'] === './')!;
    expect([root.license, root.author]).toEqual(['MIT OR Apache-2.0', [{ '@id': `https://orcid.org/${orcid}` }]]);
    expect(g.some((e) => String(e['@id']).includes(' '))).toBe(false);
    const mit = crate({ publish: { title: 'T', authors: [{ name: 'B' }], license: 'MIT' } })['@graph'];
    expect(mit.find((e) => e['@id'] === './')!.license).toEqual({ '@id': 'https://spdx.org/licenses/MIT' });
    expect(mit.find((e) => e['@id'] === 'https://spdx.org/licenses/MIT')).toEqual({ '@id': 'https://spdx.org/licenses/MIT', '@type': 'CreativeWork', name: 'MIT' });
  });
});
