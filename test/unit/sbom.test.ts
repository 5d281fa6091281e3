// The SBOM without an engine: each ecosystem's reader on the files it reads,
// what a hostile image cannot make it do, and the CycloneDX output checked by
// the CycloneDX library's own JSON schema validator.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { FsManifestError, readImageTar } from '../../src/publish/filesystem.js';
import { withSbom } from '../../src/publish/imagefiles.js';
import { prettyJson } from '../../src/canonical.js';
import { rawEntry, rawTar } from './rawtar.js';
import { sbomProblems, stepsOf } from '../../src/publish/statement.js';
import type { Statement } from '../../src/emit/provenance.js';
import { cyclonedxJson, nameUuid } from '../../src/sbom/cyclonedx.js';
import { diffFilesystems, parseFsManifest } from '../../src/publish/filesystem.js';
import { firstOf } from '../../src/publish/verify.js';
import { inventory, KEEP_TOTAL, MAX_PACKAGES, packageFiles } from '../../src/sbom/inventory.js';
import { header, paragraphs } from '../../src/sbom/fields.js';
import { softwareSection } from '../../src/sbom/summary.js';

const DPKG = `Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries
 Contains the standard libraries.
 .
 More text.

Package: removed
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: tzdata
Status: hold ok installed
Architecture: all
Version: 2024a-0+deb12u1

Package: python3.11-minimal
Status: install ok installed
Architecture: amd64
Version: 3.11.2-6+deb12u8
`;

const OS = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n';

const METADATA = (name: string, version: string, extra = '') => `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n${extra}\nLong description: not a header.\nName: other\n`;

const DESCRIPTION = (pkg: string, extra: string) => `Package: ${pkg}\nVersion: 1.2-3\nLicense: GPL-2 | GPL-3\n${extra}Built: R 4.3.1; ; 2024-01-01 00:00:00 UTC; unix\n`;

const FILES: Record<string, string> = {
  'usr/lib/os-release': OS,
  'var/lib/dpkg/status': DPKG,
  'usr/lib/python3/dist-packages/Flask-2.2.2.dist-info/METADATA': METADATA('Flask', '2.2.2', 'License: BSD-3-Clause\n'),
  'usr/local/lib/python3.11/site-packages/numpy-1.26.0.dist-info/METADATA': METADATA('numpy', '1.26.0', 'License-Expression: BSD-3-Clause AND 0BSD\nLicense: ignored when there is an expression\n'),
  'usr/lib/python3/dist-packages/six-1.16.0.egg-info': METADATA('six', '1.16.0', 'License: UNKNOWN\n'),
  'opt/venv/lib/python3.11/site-packages/Typing_Extensions-4.0.egg-info/PKG-INFO': METADATA('Typing_Extensions', '4.0', 'License: PSF\n'),
  'usr/lib/R/library/base/DESCRIPTION': 'Package: base\nVersion: 4.3.1\nPriority: base\nBuilt: R 4.3.1; ; 2024; unix\n',
  'usr/lib/R/library/stats/DESCRIPTION': 'Package: stats\nVersion: 4.3.1\nPriority: base\nBuilt: R 4.3.1; ; 2024; unix\n',
  'usr/local/lib/R/site-library/ggplot2/DESCRIPTION': DESCRIPTION('ggplot2', ''),
  'usr/local/lib/R/site-library/limma/DESCRIPTION': DESCRIPTION('limma', 'biocViews: Software\n'),
  'usr/local/lib/R/site-library/notinstalled/DESCRIPTION': 'Package: notinstalled\nVersion: 1.0\n',
  'usr/local/lib/R/site-library/misnamed/DESCRIPTION': DESCRIPTION('other', ''),
  'opt/conda/conda-meta/numpy-1.26.0-py311h64a7726_0.json': JSON.stringify({ name: 'numpy', version: '1.26.0', build: 'py311h64a7726_0', channel: 'https://conda.anaconda.org/conda-forge/linux-64', subdir: 'linux-64', license: 'BSD-3-Clause', files: ['a'] }),
  'opt/conda/conda-meta/history': 'not a record',
  'opt/conda/include/python3.11/patchlevel.h': '#define PY_MAJOR_VERSION 3\n#define PY_VERSION "3.11.5"\n',
  'opt/julia/include/julia/julia_version.h': '#define JULIA_VERSION_STRING "1.9.3"\n',
};

const kept = (files: Record<string, string>) => {
  const { keep } = packageFiles();
  return new Map(Object.entries(files).filter(([p, t]) => keep(p, Buffer.byteLength(t))).map(([p, t]) => [p, Buffer.from(t)]));
};

const IMAGE = { tag: 'paper:latest', digest: `sha256:${'ab'.repeat(32)}` };

describe('the inventory of an image', () => {
  it('reads dpkg, Python, R, conda and runtime headers into one sorted list of purls', () => {
    const inv = inventory(kept(FILES));
    expect(inv.os).toEqual({ id: 'debian', versionId: '12', versionCodename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)' });
    expect(inv.packages.map((p) => [p.purl, p.licence ?? ''])).toEqual([
      ['pkg:bioconductor/limma@1.2-3', 'GPL-2 | GPL-3'],
      ['pkg:conda/numpy@1.26.0?build=py311h64a7726_0&channel=conda-forge&subdir=linux-64', 'BSD-3-Clause'],
      ['pkg:cran/ggplot2@1.2-3', 'GPL-2 | GPL-3'],
      ['pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=bookworm', ''],
      ['pkg:deb/debian/python3.11-minimal@3.11.2-6%2Bdeb12u8?arch=amd64&distro=bookworm', ''],
      ['pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=bookworm', ''],
      ['pkg:generic/R@4.3.1', ''],
      ['pkg:generic/julia@1.9.3', ''],
      ['pkg:generic/python@3.11.5', ''],
      ['pkg:pypi/flask@2.2.2', 'BSD-3-Clause'],
      ['pkg:pypi/numpy@1.26.0', 'BSD-3-Clause AND 0BSD'],
      ['pkg:pypi/six@1.16.0', ''],
      ['pkg:pypi/typing-extensions@4.0', 'PSF'],
    ]);
  });

  it('says which software a reader needs in REPRODUCE.md', () => {
    const text = softwareSection(inventory(kept(FILES))).join('\n');
    // Debian's Python and the one the image built (its header): both are there to run.
    expect(text).toContain('- Operating system: `Debian GNU/Linux 12 (bookworm)`\n- Python `3.11.2-6+deb12u8` (Debian package `python3.11-minimal`)\n- Python `3.11.5`\n- R `4.3.1`\n- Julia `1.9.3`\n- 3 Debian packages\n');
    expect(text).toContain('Python packages (PyPI):\n\n`Flask 2.2.2`, `numpy 1.26.0`, `six 1.16.0`, `Typing_Extensions 4.0`\n');
    expect(text).toContain('R packages (CRAN):\n\n`ggplot2 1.2-3`\n');
    const debian = { packages: inventory(kept(FILES)).packages.filter((p) => p.ecosystem === 'deb') };
    expect(softwareSection(debian)).toContain('- Python `3.11.2-6+deb12u8` (Debian package `python3.11-minimal`)');
    expect(softwareSection({ packages: [] })).toContain('No operating system release or package database was found in the image.');
  });

  it('names every runtime version an image holds, in numeric order (3.9 before 3.10), each once from its best source', () => {
    const header = (v: string) => `#define PY_VERSION "${v}"\n`;
    const inv = inventory(kept({
      'opt/conda/envs/new/include/python3.10/patchlevel.h': header('3.10.14'),
      'opt/conda/envs/new/conda-meta/python-3.10.14-0.json': JSON.stringify({ name: 'python', version: '3.10.14' }),
      'opt/conda/envs/old/conda-meta/python-3.9.19-0.json': JSON.stringify({ name: 'python', version: '3.9.19' }),
      'usr/local/include/python3.12/patchlevel.h': header('3.12.0rc1'),
      'usr/local/lib/R/library/base/DESCRIPTION': 'Package: base\nVersion: 4.10.0\nPriority: base\nBuilt: R 4.10.0; ; 2030; unix\n',
      'opt/R/4.9.3/lib/R/library/base/DESCRIPTION': 'Package: base\nVersion: 4.9.3\nPriority: base\nBuilt: R 4.9.3; ; 2029; unix\n',
    }));
    const lines = softwareSection(inv).filter((l) => /^- (Python|R) /.test(l));
    expect(lines).toEqual(['- Python `3.9.19` (conda package `python`)', '- Python `3.10.14`', '- Python `3.12.0rc1`', '- R `4.9.3`', '- R `4.10.0`']);
  });

  it("names a runtime once when its distribution's package and its own files both hold it (4.3.2-1 is R 4.3.2)", () => {
    const dpkg = (name: string, version: string) => `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${version}\n\n`;
    const runtimes = (files: Record<string, string>) => softwareSection(inventory(kept(files))).filter((l) => /^- (Python|R|Julia) /.test(l));
    expect(runtimes({
      'usr/lib/os-release': OS,
      'var/lib/dpkg/status': dpkg('r-base-core', '4.3.2-1') + dpkg('python3.11-minimal', '3.11.2-6+deb12u2') + dpkg('julia', '1:1.9.3-1~bpo12+1'),
      'usr/lib/R/library/base/DESCRIPTION': 'Package: base\nVersion: 4.3.2\nPriority: base\nBuilt: R 4.3.2; ; 2024; unix\n',
      'usr/include/python3.11/patchlevel.h': '#define PY_VERSION "3.11.2"\n',
      'usr/include/julia/julia_version.h': '#define JULIA_VERSION_STRING "1.9.3"\n',
    })).toEqual(['- Python `3.11.2`', '- R `4.3.2`', '- Julia `1.9.3`']);
    expect(runtimes({
      'etc/os-release': 'ID=alpine\nVERSION_ID=3.19.1\n',
      'lib/apk/db/installed': 'P:python3\nV:3.11.5-r0\nA:x86_64\n\nP:R\nV:4.3.2-r1\nA:x86_64\n',
      'usr/include/python3.11/patchlevel.h': '#define PY_VERSION "3.11.5"\n',
    })).toEqual(['- Python `3.11.5`', '- R `4.3.2-r1` (Alpine package `R`)']);
    // Debian's spelling of a pre-release (~rc1) and of a repacked tarball (+dfsg) are the same release.
    expect(runtimes({
      'usr/lib/os-release': OS,
      'var/lib/dpkg/status': dpkg('python3.12-minimal', '3.12.0~rc1-1') + dpkg('r-base-core', '4.4.1+dfsg-2'),
      'usr/include/python3.12/patchlevel.h': '#define PY_VERSION "3.12.0rc1"\n',
      'usr/lib/R/library/base/DESCRIPTION': 'Package: base\nVersion: 4.4.1\nPriority: base\nBuilt: R 4.4.1; ; 2024; unix\n',
    })).toEqual(['- Python `3.12.0rc1`', '- R `4.4.1`']);
  });

  it('names a pre-release before its release (3.13.0rc1 before 3.13.0), and 3.9 before 3.10', () => {
    const versions = ['3.13.0', '3.13.0rc1', '3.13.0b2', '3.13.0a1', '3.13.0a1+', '3.13.0.dev0', '3.13.0.post1', '3.13.1', '3.10.0', '3.9.0', '3.10.0rc2'];
    const files = Object.fromEntries(versions.map((v, i) => [`opt/p${i}/include/python3.13/patchlevel.h`, `#define PY_VERSION "${v}"\n`]));
    const lines = softwareSection(inventory(kept(files))).filter((l) => l.startsWith('- Python '));
    const order = ['3.9.0', '3.10.0rc2', '3.10.0', '3.13.0.dev0', '3.13.0a1', '3.13.0a1+', '3.13.0b2', '3.13.0rc1', '3.13.0', '3.13.0.post1', '3.13.1'];
    expect(lines).toEqual(order.map((v) => `- Python \`${v}\``));
  });

  it("reads Alpine's apk database, and counts its packages in REPRODUCE.md", async () => {
    const installed = 'C:Q1abc=\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\nL:MIT\nT:the musl c library\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\n\nP:python3\nV:3.11.8-r0\nA:x86_64\nL:PSF-2.0\n\nP:`evil`\nV:1\n';
    const inv = inventory(kept({ 'etc/os-release': 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n', 'lib/apk/db/installed': installed }));
    expect(inv.packages.map((p) => [p.purl, p.licence])).toEqual([
      ['pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1', 'MIT'],
      ['pkg:apk/alpine/python3@3.11.8-r0?arch=x86_64&distro=alpine-3.19.1', 'PSF-2.0'],
    ]);
    expect(inv.incomplete).toBeUndefined();
    const md = softwareSection(inv).join('\n');
    expect(md).toContain('- Operating system: `Alpine Linux v3.19`\n- Python `3.11.8-r0` (Alpine package `python3`)\n- 2 Alpine packages\n');
    expect(md).toContain('Every package, with its version');
    const json = cyclonedxJson(inv, IMAGE);
    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(json)).toBeNull();
    // Bounded as dpkg's status is: its size, and the packages read.
    expect(packageFiles().keep('lib/apk/db/installed', (64 << 20) + 1)).toBe(false);
    const many = Array.from({ length: MAX_PACKAGES + 5 }, (_, i) => `P:p${i}\nV:1\n`).join('\n');
    const big = inventory(new Map([['lib/apk/db/installed', Buffer.from(many)]]));
    expect(big.packages.length).toBe(MAX_PACKAGES);
    expect(big.incomplete).toEqual([`more than ${MAX_PACKAGES} packages`]);
  }, 60_000);

  it('says the list is incomplete, in the SBOM and REPRODUCE.md, for an RPM database rep cannot read', async () => {
    const wanted = packageFiles();
    for (const [p, n] of [['etc/os-release', 40], ['var/lib/rpm/rpmdb.sqlite', 9_000_000], ['usr/lib/sysimage/rpm/Packages.db', 10]] as const) wanted.keep(p, n);
    expect(wanted.missed()).toEqual(['an RPM database at /usr/lib/sysimage/rpm, which rep does not read', 'an RPM database at /var/lib/rpm, which rep does not read']);
    const inv = inventory(new Map([['etc/os-release', Buffer.from('ID=fedora\nVERSION_ID=40\n')]]), wanted.missed());
    expect(inv.incomplete).toHaveLength(2);
    const md = softwareSection(inv).join('\n');
    expect(md).toContain("The image's package databases were read only in part (an RPM database at /usr/lib/sysimage/rpm, which rep does not read; an RPM database at /var/lib/rpm, which rep does not read)");
    expect(md).toContain('Every package read, with its version');
    expect(md).not.toContain('Every package,');
    const json = cyclonedxJson(inv, IMAGE);
    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(json)).toBeNull();
    expect(JSON.parse(json).metadata.properties.map((p: { name: string }) => p.name)).toEqual(['rep:incomplete', 'rep:incomplete']);
  });

  it('keeps only the files it reads, each within its bound and all within the total', () => {
    const { keep, missed } = packageFiles(3000);
    expect(keep('var/lib/dpkg/status', 2000)).toBe(true);
    expect(keep('usr/lib/python3/dist-packages/x-1.dist-info/METADATA', 2000)).toBe(false); // over the total left
    expect(keep('usr/lib/python3/dist-packages/x-1.dist-info/METADATA', 900)).toBe(true);
    expect(keep('usr/lib/python3/dist-packages/x-1.dist-info/RECORD', 10)).toBe(false);
    expect(keep('etc/shadow', 10)).toBe(false);
    expect(missed()).toEqual(['package databases over 3000 bytes in all']);
    expect(packageFiles().keep('usr/lib/python3/dist-packages/x-1.dist-info/METADATA', 2 << 20)).toBe(false); // over its own bound
    expect(packageFiles().keep('home/u/library/x/DESCRIPTION', 10)).toBe(true);
    expect(packageFiles().keep('home/u/x/DESCRIPTION', 10)).toBe(false);
    // A count of files too (a METADATA each): the rest are left out, and that is said.
    const few = packageFiles(KEEP_TOTAL, 2);
    expect(['a', 'b', 'c'].map((n) => few.keep(`usr/lib/python3/dist-packages/${n}-1.dist-info/METADATA`, 10))).toEqual([true, true, false]);
    expect(few.missed()).toEqual(['more than 2 package database files']);
    expect(packageFiles().missed()).toEqual([]);
  });

  it('reads at most MAX_PACKAGES packages, one at a time, and says the list is incomplete (SBOM and REPRODUCE.md)', async () => {
    // 130,000 stanzas (7 MB, within a status file's bound): spread as arguments they overflowed the stack.
    const stanzas = Array.from({ length: 130_000 }, (_, i) => `Package: p${i}\nStatus: install ok installed\nVersion: 1\nDescription: x\n more\n`).join('\n');
    const inv = inventory(new Map([['var/lib/dpkg/status', Buffer.from(stanzas)]]));
    expect(inv.packages.length).toBe(MAX_PACKAGES);
    expect(inv.incomplete).toEqual([`more than ${MAX_PACKAGES} packages`]);
    // Bounds the file keeper reached are carried along, sorted with the inventory's own.
    const small = inventory(kept(FILES), ['package databases over 3000 bytes in all']);
    expect(small.incomplete).toEqual(['package databases over 3000 bytes in all']);
    expect(inventory(kept(FILES)).incomplete).toBeUndefined();
    const md = softwareSection(small).join('\n');
    expect(md).toContain("The image's package databases were read only in part (package databases over 3000 bytes in all): the packages listed here and in `sbom.cdx.json` may not be all it holds.");
    expect(md).toContain('Every package read, with its version');
    const json = cyclonedxJson(small, IMAGE);
    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(json)).toBeNull();
    expect(JSON.parse(json).metadata.properties).toEqual([{ name: 'rep:incomplete', value: 'package databases over 3000 bytes in all' }]);
  }, 60_000);

  it('keeps a package in at most 100 places, and says so', () => {
    const files = new Map(Array.from({ length: 150 }, (_, i) => [`opt/v${String(i).padStart(3, '0')}/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA`, Buffer.from('Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n')] as const));
    const inv = inventory(files);
    expect(inv.packages.map((p) => [p.purl, p.paths.length])).toEqual([['pkg:pypi/six@1.16.0', 100]]);
    expect(inv.packages[0]!.paths[99]).toBe('opt/v099/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA');
    expect(inv.incomplete).toEqual(['a package found in more than 100 places (the first 100 are listed)']);
  });

  it('names a path once for a package it lists twice (the same dpkg paragraph twice)', async () => {
    const twice = `${DPKG}\n${DPKG}`;
    const inv = inventory(kept({ 'usr/lib/os-release': OS, 'var/lib/dpkg/status': twice }));
    expect(inv.packages.map((p) => [p.name, p.paths])).toEqual([
      ['libc6', ['var/lib/dpkg/status']],
      ['python3.11-minimal', ['var/lib/dpkg/status']],
      ['tzdata', ['var/lib/dpkg/status']],
    ]);
    const json = cyclonedxJson(inv, IMAGE);
    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(json)).toBeNull();
    expect(JSON.parse(json).components.find((c: { name: string }) => c.name === 'libc6').properties).toEqual([{ name: 'rep:path', value: '/var/lib/dpkg/status' }]);
  });

  it('reads fields line by line: others than those asked for, and their continuations, are not kept', () => {
    const text = 'Package: a\r\nDescription: long\r\n more\r\n .\r\nVersion: 1\r\n\r\n\r\nJunk line\nPackage: b\nVersion: 2\n more\n';
    expect([...paragraphs(text, new Set(['Package', 'Version']))]).toEqual([
      new Map([['Package', ['a']], ['Version', ['1']]]),
      new Map([['Package', ['b']], ['Version', ['2\nmore']]]),
    ]);
    expect([...paragraphs(text)][0]!.get('Description')).toEqual(['long\nmore\n.']);
    // A field continued past its bound keeps its first 64 KiB or so, however long the rest.
    const long = [...paragraphs(`Description: x\n${' y\n'.repeat(200_000)}`)][0]!.get('Description')![0]!;
    expect(long.length).toBeGreaterThanOrEqual(64 << 10);
    expect(long.length).toBeLessThan((64 << 10) + 10);
    expect(header('Name: n\nVersion: 1\n\nName: body\n').get('Name')).toEqual(['n']);
    expect([...paragraphs('')]).toEqual([]);
  });

  it("reads R's field names with a slash, and ends a field at any line that is not one, so its continuations are not the field before's", () => {
    // R packages built with usethis carry Config/Needs/website, continued: the lines were appended to Version.
    const description = 'Package: pkgdown\nVersion: 2.0.7\nConfig/Needs/website:\n    r-lib/asciicast,\n    tidyverse/tidytemplate\nLicense: MIT + file LICENSE\nDate/Publication: 2022-12-14\n  10:40:02 UTC\nBuilt: R 4.3.1; ; 2024; unix\n';
    const inv = inventory(kept({ 'usr/local/lib/R/site-library/pkgdown/DESCRIPTION': description }));
    expect(inv.packages.map((p) => [p.purl, p.licence])).toEqual([['pkg:cran/pkgdown@2.0.7', 'MIT + file LICENSE']]);
    expect(header(description).get('Config/Needs/website')).toEqual(['\nr-lib/asciicast,\ntidyverse/tidytemplate']);
    expect([...paragraphs('Package: a\nVersion: 1\nnot a field\n more\n')][0]!.get('Version')).toEqual(['1']);
  });

  it("names a private channel without its token, a user and password, or a query: the SBOM is published", async () => {
    const record = (name: string, channel: string) => JSON.stringify({ name, version: '1', channel });
    const inv = inventory(kept({
      'opt/conda/conda-meta/a-1-0.json': record('a', 'https://conda.anaconda.org/t/tk-0123456789-abcdef/lab-channel/linux-64'),
      'opt/conda/conda-meta/b-1-0.json': record('b', 'https://me:hunter2@conda.example.org/t/tk-0123456789-abcdef/private?token=tk-0123456789-abcdef'),
      'opt/conda/conda-meta/c-1-0.json': record('c', 'https://conda.example.org/t/tk-0123456789-abcdef/shared/noarch'),
    }));
    expect(inv.packages.map((p) => p.purl.replace(/\?.*/, ''))).toEqual(['pkg:conda/a@1', 'pkg:conda/b@1', 'pkg:conda/c@1']);
    expect(inv.packages[0]!.purl).toMatch(/channel=lab-channel$/);
    const json = cyclonedxJson(inv, IMAGE);
    expect(json).toContain('conda.example.org');
    expect(json).not.toMatch(/tk-0123|hunter2|me:|[?&]token/);
    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(json)).toBeNull();
  });

  it('publishes no part of a password holding "?", "#", "@" or "/", nor a token holding "?" or "#"', () => {
    const channels: [string, string | undefined][] = [
      ['https://alice:s3cr?et@host.example/chan/linux-64', 'https://host.example/chan/linux-64'],
      ['https://alice:s3cr#et@host.example/chan/linux-64', 'https://host.example/chan/linux-64'],
      ['https://alice:s3@cr@et@host.example/chan/linux-64', 'https://host.example/chan/linux-64'],
      ['https://alice:s3cr?e#t@host.example/t/tk-0123456789-abcdef/chan?token=x#y', 'https://host.example/chan'],
      ['https://host.example/t/tk-01234?56789/chan/linux-64', 'https://host.example'],
      ['https://host.example/t/tk-01234#56789/chan/linux-64', 'https://host.example'],
      ['https://conda.anaconda.org/t/tk-0123456789-abcdef/lab-channel/noarch', 'lab-channel'],
      ['https://alice:s3cr/et@host.example/chan', undefined],
      ['alice:s3cret@host.example/chan', undefined],
    ];
    const files = Object.fromEntries(channels.map(([channel], i) => [`opt/conda/conda-meta/p${i}-1-0.json`, JSON.stringify({ name: `p${i}`, version: '1', channel })]));
    const inv = inventory(kept(files));
    const channel = (purl: string) => new URLSearchParams(purl.split('?')[1] ?? '').get('channel') ?? undefined;
    expect(inv.packages.map((p) => [p.name, channel(p.purl)])).toEqual(channels.map(([, name], i) => [`p${i}`, name]));
    const json = cyclonedxJson(inv, IMAGE);
    expect(json).not.toMatch(/alice|s3|tk-0|56789/);
  });

  it("writes a purl's version and qualifiers percent-encoded as the purl spec says: all but letters, digits, .-_~ and the colon", async () => {
    const inv = inventory(kept({
      'usr/lib/os-release': OS,
      'var/lib/dpkg/status': 'Package: libstdc++6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:12.2.0-14+deb12u1\n\nPackage: vim\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2:9.0.1378~rc1-1\n',
      'usr/lib/python3/dist-packages/y-1.dist-info/METADATA': 'Metadata-Version: 2.1\nName: y\nVersion: 1!2.0\n',
      'opt/conda/conda-meta/z-1-0.json': JSON.stringify({ name: 'z', version: '1', build: 'h1+cuda~12', channel: 'https://conda.example.org/chan' }),
    }));
    expect(inv.packages.map((p) => p.purl)).toEqual([
      'pkg:conda/z@1?build=h1%2Bcuda~12&channel=https:%2F%2Fconda.example.org%2Fchan',
      'pkg:deb/debian/libstdc%2B%2B6@1:12.2.0-14%2Bdeb12u1?arch=amd64&distro=bookworm',
      'pkg:deb/debian/vim@2:9.0.1378~rc1-1?arch=amd64&distro=bookworm',
      'pkg:pypi/y@1%212.0',
    ]);
    // The version as the package states it, beside the purl.
    expect(inv.packages.map((p) => p.version)).toEqual(['1', '1:12.2.0-14+deb12u1', '2:9.0.1378~rc1-1', '1!2.0']);
    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(cyclonedxJson(inv, IMAGE))).toBeNull();
  });

  it("lists conda's packages whose names start with an underscore (_libgcc_mutex, _openmp_mutex: in nearly every environment)", () => {
    const record = (name: string) => JSON.stringify({ name, version: '0.1', build: 'conda_forge', channel: 'https://conda.anaconda.org/conda-forge/linux-64', subdir: 'linux-64' });
    const inv = inventory(kept({ 'opt/conda/conda-meta/_libgcc_mutex-0.1-conda_forge.json': record('_libgcc_mutex'), 'opt/conda/conda-meta/_openmp_mutex-4.5-2_gnu.json': record('_openmp_mutex') }));
    expect(inv.packages.map((p) => p.purl)).toEqual([
      'pkg:conda/_libgcc_mutex@0.1?build=conda_forge&channel=conda-forge&subdir=linux-64',
      'pkg:conda/_openmp_mutex@0.1?build=conda_forge&channel=conda-forge&subdir=linux-64',
    ]);
    expect(softwareSection(inv)).toContain('`_libgcc_mutex 0.1`, `_openmp_mutex 0.1`');
  });

  it('drops what a hostile image writes to reach the SBOM or REPRODUCE.md', () => {
    const hostile = {
      'etc/os-release': 'ID="debian`rm -rf`"\nPRETTY_NAME="Evil\n# Heading"\nVERSION_ID=$(reboot)\n',
      'var/lib/dpkg/status': 'Package: good\nStatus: install ok installed\nVersion: 1\n\nPackage: `curl evil`\nStatus: install ok installed\nVersion: 1\n\nPackage: x\nStatus: install ok installed\nVersion: 1 ![img](http://x)\n\n\nPackage: y\nStatus: install ok installed\nVersion: 2\nArchitecture: amd64&distro=../../x\n',
      'usr/lib/python3/dist-packages/a-1.dist-info/METADATA': 'Metadata-Version: 2.1\nName: a\nVersion: 1\nLicense: line one\n  line two, a whole licence text\n',
      'usr/lib/python3/dist-packages/b-1.dist-info/METADATA': `Metadata-Version: 2.1\nName: ${'b'.repeat(300)}\nVersion: 1\n`,
      'usr/lib/python3/dist-packages/c-1.dist-info/METADATA': 'Name: no-metadata-version\nVersion: 1\n',
      'opt/conda/conda-meta/d.json': '{"name": ["array"], "version": "1"}',
      'opt/conda/conda-meta/e.json': '[1, 2]',
    };
    const inv = inventory(kept(hostile));
    expect(inv.os).toBeUndefined();
    expect(inv.packages.map((p) => [p.purl, p.licence ?? ''])).toEqual([
      ['pkg:deb/debian/good@1', ''],
      ['pkg:deb/debian/y@2', ''],
      ['pkg:pypi/a@1', ''],
    ]);
    const md = softwareSection(inv).join('\n');
    expect(md).not.toMatch(/evil|Heading|reboot|img/);
  });
});

describe('what an image says of itself', () => {
  it('reaches REPRODUCE.md inside code spans, and a licence only without control, format or private characters', () => {
    const files = kept({
      'etc/os-release': 'ID=debian\nPRETTY_NAME="Debian 12 - see https://evil.example/fix_me_now_ (urgent)"\n',
      'usr/lib/python3/dist-packages/a-1.dist-info/METADATA': 'Metadata-Version: 2.1\nName: a\nVersion: 1\nLicense: MIT \u202eTIM\n',
      'usr/lib/python3/dist-packages/b-1.dist-info/METADATA': 'Metadata-Version: 2.1\nName: b\nVersion: 1\nLicense: BSD \u009b31m\n',
      'usr/lib/python3/dist-packages/c-1.dist-info/METADATA': 'Metadata-Version: 2.1\nName: c\nVersion: 1\nLicense: \u00a9 Caf\u00e9 Ltd\n',
      'usr/lib/python3/dist-packages/d-1.dist-info/METADATA': 'Metadata-Version: 2.1\nName: d\nVersion: 1\nLicense: MIT\u2028x\n',
      // The soft hyphen and the zero-width (non-)joiner spell words (Persian, Indic scripts): kept.
      'usr/lib/python3/dist-packages/e-1.dist-info/METADATA': 'Metadata-Version: 2.1\nName: e\nVersion: 1\nLicense: \u0645\u06cc\u200c\u0634\u0648\u062f Open\u00adSource \u0915\u094d\u200d\u0937\n',
      'usr/lib/python3/dist-packages/f-1.dist-info/METADATA': 'Metadata-Version: 2.1\nName: f\nVersion: 1\nLicense: MIT\u200bGPL \u2066x\u2069\n',
    });
    const inv = inventory(files);
    expect(softwareSection(inv)).toContain('- Operating system: `Debian 12 - see https://evil.example/fix_me_now_ (urgent)`');
    expect(inv.packages.map((p) => [p.name, p.licence ?? ''])).toEqual([
      ['a', ''],
      ['b', ''],
      ['c', '\u00a9 Caf\u00e9 Ltd'],
      ['d', ''],
      ['e', '\u0645\u06cc\u200c\u0634\u0648\u062f Open\u00adSource \u0915\u094d\u200d\u0937'],
      ['f', ''],
    ]);
  });

  it('leaves out a package read from a path with control, bidi or line-separator characters, as one with a bad name', async () => {
    const metadata = (name: string) => `Metadata-Version: 2.1\nName: ${name}\nVersion: 1\n`;
    const files = kept({
      'usr/lib/python3/dist-packages/\u202egnp.exe\u2028x.dist-info/METADATA': metadata('a'),
      'usr/lib/python3/dist-packages/b\u0007-1.dist-info/METADATA': metadata('b'),
      'usr/lib/python3/dist-packages/c\u200b-1.dist-info/METADATA': metadata('c'),
      'opt/conda/conda-meta/d\u2066x\u2069.json': '{"name": "d", "version": "1"}',
      'home/u\u061c/library/e/DESCRIPTION': DESCRIPTION('e', ''),
      'var/lib/dpkg/status.d/f\u009b': 'Package: f\nVersion: 1\n',
      'opt/x\u2029/include/python3.11/patchlevel.h': '#define PY_VERSION "3.11.5"\n',
      // Found at a plain path too: listed there only.
      'opt/\u202ex/lib/python3.11/site-packages/six-1.dist-info/METADATA': metadata('six'),
      'opt/caf\u00e9/lib/python3.11/site-packages/six-1.dist-info/METADATA': metadata('six'),
    });
    expect(files.size).toBe(9);
    const inv = inventory(files);
    expect(inv.packages.map((p) => [p.purl, p.paths])).toEqual([['pkg:pypi/six@1', ['opt/caf\u00e9/lib/python3.11/site-packages/six-1.dist-info/METADATA']]]);
    const json = cyclonedxJson(inv, IMAGE);
    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(json)).toBeNull();
    expect(json).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|\\u00|gnp/);
  });
});

describe('reading the exported filesystem', () => {
  const tarFile = async (dir: string, fill: (pack: tar.Pack) => void) => {
    const pack = tar.pack();
    fill(pack);
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    writeFileSync(path.join(dir, 'fs.tar'), Buffer.concat(chunks));
    return path.join(dir, 'fs.tar');
  };

  it('never follows a symlink named like a package database', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-sbom-'));
    try {
      const file = await tarFile(dir, (pack) => {
        pack.entry({ name: 'etc/shadow', mode: 0o600 }, 'root:secret\n');
        pack.entry({ name: 'var/lib/dpkg/status', type: 'symlink', linkname: '/etc/shadow' });
        pack.entry({ name: 'opt/conda/conda-meta/a.json', mode: 0o644 }, '{"name": "a", "version": "1"}');
      });
      const { manifest, files } = await readImageTar(file, packageFiles().keep);
      expect(Object.keys(manifest)).toEqual(['etc/shadow', 'opt/conda/conda-meta/a.json', 'var/lib/dpkg/status']);
      expect([...files.keys()]).toEqual(['opt/conda/conda-meta/a.json']);
      expect(inventory(files).packages.map((p) => p.purl)).toEqual(['pkg:conda/a@1']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("says the list is incomplete when dpkg's or apk's list of packages is a symlink, which it does not follow", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-sbom-'));
    try {
      const file = await tarFile(dir, (pack) => {
        pack.entry({ name: 'etc/shadow', mode: 0o600 }, 'root:secret\n');
        pack.entry({ name: 'var/lib/dpkg/info/libc6.list', mode: 0o644 }, '/lib\n');
        pack.entry({ name: 'var/lib/dpkg/status', type: 'symlink', linkname: '/etc/shadow' });
        pack.entry({ name: 'lib/apk/db/lock', mode: 0o600 }, '');
        pack.entry({ name: 'lib/apk/db/installed', type: 'symlink', linkname: '../../../etc/shadow' });
      });
      const wanted = packageFiles();
      const { files } = await readImageTar(file, wanted.keep);
      expect([...files.keys()]).toEqual([]);
      const inv = inventory(files, wanted.missed());
      expect(inv.incomplete).toEqual([
        "apk's database at /lib/apk/db without a regular file /lib/apk/db/installed (a link is never followed)",
        "dpkg's database at /var/lib/dpkg without a regular file /var/lib/dpkg/status (a link is never followed)",
      ]);
      expect(softwareSection(inv).join('\n')).toContain('Every package read, with its version');
      // A regular status file, or distroless's status.d, is read: nothing to say.
      const plain = packageFiles();
      for (const p of ['var/lib/dpkg/info/libc6.list', 'var/lib/dpkg/status', 'lib/apk/db/lock', 'lib/apk/db/installed']) plain.keep(p, 10);
      expect(plain.missed()).toEqual([]);
      const distroless = packageFiles();
      for (const p of ['var/lib/dpkg/status.d/libc6', 'var/lib/dpkg/status.d/libc6.md5sums']) distroless.keep(p, 10);
      expect(distroless.missed()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a package database docker export writes as a hard link (a conda environment sharing its files with the package cache), within the bounds', async () => {
    const metadata = (name: string) => `Metadata-Version: 2.1\nName: ${name}\nVersion: 1.0\n`;
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-sbom-'));
    try {
      const file = await tarFile(dir, (pack) => {
        // The first names are not package databases: their bytes come from a second pass.
        pack.entry({ name: 'opt/conda/pkgs/a-1.0/info/METADATA' }, metadata('a'));
        pack.entry({ name: 'opt/conda/lib/python3.11/site-packages/b-1.0.dist-info/METADATA' }, metadata('b'));
        pack.entry({ name: 'opt/conda/lib/python3.11/site-packages/a-1.0.dist-info/METADATA', type: 'link', linkname: 'opt/conda/pkgs/a-1.0/info/METADATA' });
        // The first is one: its bytes are shared.
        pack.entry({ name: 'opt/conda/envs/x/lib/python3.11/site-packages/b-1.0.dist-info/METADATA', type: 'link', linkname: 'opt/conda/lib/python3.11/site-packages/b-1.0.dist-info/METADATA' });
        pack.entry({ name: 'usr/share/doc/x', type: 'link', linkname: 'opt/conda/pkgs/a-1.0/info/METADATA' });
      });
      const { files } = await readImageTar(file, packageFiles().keep);
      expect([...files.keys()].sort()).toEqual([
        'opt/conda/envs/x/lib/python3.11/site-packages/b-1.0.dist-info/METADATA',
        'opt/conda/lib/python3.11/site-packages/a-1.0.dist-info/METADATA',
        'opt/conda/lib/python3.11/site-packages/b-1.0.dist-info/METADATA',
      ]);
      expect(inventory(files).packages.map((p) => p.purl)).toEqual(['pkg:pypi/a@1.0', 'pkg:pypi/b@1.0']);
      // A hard link is kept within the same bounds as a file: none over the total.
      const small = packageFiles(10);
      expect((await readImageTar(file, small.keep)).files.size).toBe(0);
      expect(small.missed()).toEqual(['package databases over 10 bytes in all']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the manifest of an exported filesystem', () => {
  it('is refused when two paths read alike (names that are not UTF-8), rather than listing one of them', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-fs-'));
    try {
      const file = path.join(dir, 'fs.tar');
      const named = (...names: Buffer[]) => rawTar(...names.map((name) => rawEntry({ name, type: '0', body: 'x' })));
      writeFileSync(file, named(Buffer.from('etc/a\xff', 'latin1')));
      expect(Object.keys((await readImageTar(file)).manifest)).toEqual(['etc/a\ufffd']);
      writeFileSync(file, named(Buffer.from('etc/a\xff', 'latin1'), Buffer.from('etc/a\xfe', 'latin1')));
      await expect(readImageTar(file)).rejects.toThrow(FsManifestError);
      await expect(readImageTar(file)).rejects.toThrow('two paths of the image read alike, "/etc/a\ufffd" (names that are not UTF-8)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is refused past what rep verify reads of filesystem.json, counted to the byte (names in UTF-8, link texts)', async () => {
    const pack = tar.pack();
    for (let i = 0; i < 3; i++) pack.entry({ name: `f${i}`, mode: 0o644 }, 'x');
    pack.entry({ name: 'l', type: 'symlink', linkname: 'y'.repeat(300) });
    // Three bytes a character in UTF-8, one UTF-16 unit: counted by length, the list was about 1.4 times its count.
    pack.entry({ name: '文'.repeat(200), mode: 0o644 }, 'x');
    pack.entry({ name: 'd', type: 'directory', mode: 0o755 });
    pack.entry({ name: 'q"\\\n', mode: 0o600 }, '');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const dir = mkdtempSync(path.join(tmpdir(), 'rep-fs-'));
    try {
      const file = path.join(dir, 'fs.tar');
      writeFileSync(file, Buffer.concat(chunks));
      const { manifest } = await readImageTar(file);
      expect(Object.keys(manifest)).toEqual(['d', 'f0', 'f1', 'f2', 'l', 'q"\\\n', '文'.repeat(200)]);
      // The bound is the file's size in bytes, exactly: the file as publish writes it passes, a byte less does not.
      const bytes = Buffer.byteLength(prettyJson(manifest));
      expect(bytes).toBeGreaterThan(1400);
      expect(Object.keys((await readImageTar(file, undefined, bytes)).manifest)).toHaveLength(7);
      await expect(readImageTar(file, undefined, bytes - 1)).rejects.toThrow(FsManifestError);
      await expect(readImageTar(file, undefined, 400)).rejects.toThrow('the image holds more files than filesystem.json can list within the 400 bytes rep verify reads of it (2 listed so far)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a bundle's filesystem.json", () => {
  const entry = { type: 'file', mode: '644', uid: 0, gid: 0, sha256: 'a'.repeat(64) };
  it('is taken only when every entry has the shape rep writes', () => {
    const ok = { 'etc/x': entry, 'bin/sh': { type: 'symlink', mode: '777', uid: 0, gid: 0, linkname: 'busybox' }, 'tmp': { type: 'directory', mode: '1777', uid: 0, gid: 0 } };
    expect(parseFsManifest(Buffer.from(JSON.stringify(ok)))).toEqual(ok);
    for (const bad of [{ ...entry, type: { toString: 1 } }, { ...entry, mode: '999' }, { ...entry, mode: 420 }, { ...entry, uid: -1 }, { ...entry, gid: 1.5 }, { ...entry, sha256: 'x' }, { ...entry, linkname: 7 }, { ...entry, extra: 1 }, [entry], null]) {
      expect(parseFsManifest(Buffer.from(JSON.stringify({ 'etc/x': bad })))).toBeUndefined();
    }
    expect(parseFsManifest(Buffer.from('[1]'))).toBeUndefined();
  });

  it('is compared path by path as its own members: "constructor" or "toString" is a path like any other', () => {
    const e = JSON.stringify(entry);
    const recorded = parseFsManifest(Buffer.from(`{"constructor": ${e}, "__proto__": ${e}, "etc/x": ${e}}`))!;
    expect(diffFilesystems(recorded, { 'etc/x': entry, toString: entry })).toEqual(['missing  /__proto__', 'missing  /constructor', 'added    /toString']);
  });

  it('differences are shown up to a bound, then counted', () => {
    const many = Array.from({ length: 200_000 }, (_, i) => `missing  /f${i}`);
    const shownLines = firstOf(many);
    expect(shownLines.length).toBe(1001);
    expect(shownLines.at(-1)).toBe('... and 199000 more');
    expect(firstOf(['a'])).toEqual(['a']);
    const out: string[] = [];
    out.push(...shownLines);
    expect(out.length).toBe(1001);
  });
});

describe('sbom.cdx.json', () => {
  it('is valid CycloneDX 1.6 by the library\'s own JSON schema, with a serial number from the image digest and no clock', async () => {
    const json = cyclonedxJson(inventory(kept(FILES)), IMAGE);
    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(json)).toBeNull();
    const bom = JSON.parse(json);
    expect(bom.specVersion).toBe('1.6');
    expect(bom.serialNumber).toBe(nameUuid(`urn:rep:sbom:image:${IMAGE.digest}`));
    expect(bom.serialNumber).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(bom.metadata.timestamp).toBeUndefined();
    expect(bom.metadata.component).toMatchObject({ type: 'container', name: 'paper:latest', version: IMAGE.digest });
    const numpy = bom.components.find((c: { purl?: string }) => c.purl === 'pkg:pypi/numpy@1.26.0');
    expect(numpy.licenses).toEqual([{ expression: 'BSD-3-Clause AND 0BSD' }]);
    const ggplot = bom.components.find((c: { name: string }) => c.name === 'ggplot2');
    expect(ggplot.licenses).toEqual([{ license: { name: 'GPL-2 | GPL-3' } }]);
    const flask = bom.components.find((c: { name: string }) => c.name === 'Flask');
    expect(flask.licenses).toEqual([{ license: { id: 'BSD-3-Clause' } }]);
    expect(cyclonedxJson(inventory(kept(FILES)), { ...IMAGE, epoch: new Date(1700000000 * 1000) })).toContain('"timestamp": "2023-11-14T22:13:20.000Z"');
  });

  it('is the same bytes whatever order the files were found in', () => {
    const reversed = Object.fromEntries(Object.entries(FILES).reverse());
    expect(cyclonedxJson(inventory(kept(reversed)), IMAGE)).toBe(cyclonedxJson(inventory(kept(FILES)), IMAGE));
    const twice = { ...FILES, 'opt/other/lib/python3.11/site-packages/Flask-2.2.2.dist-info/METADATA': FILES['usr/lib/python3/dist-packages/Flask-2.2.2.dist-info/METADATA']! };
    const flask = JSON.parse(cyclonedxJson(inventory(kept(twice)), IMAGE)).components.filter((c: { name: string }) => c.name === 'Flask');
    expect(flask.map((c: { properties: unknown }) => c.properties)).toEqual([[
      { name: 'rep:path', value: '/opt/other/lib/python3.11/site-packages/Flask-2.2.2.dist-info/METADATA' },
      { name: 'rep:path', value: '/usr/lib/python3/dist-packages/Flask-2.2.2.dist-info/METADATA' },
    ]]);
  });

  it('is the same bytes whatever the locale: its lists in code-unit order, never collated', () => {
    // Danish collates "aa" after "z", English "a" before "Z"; code units put "Z" before "a". Node reads ICU's
    // default locale (LANG, LC_ALL) once, at start: each locale is a process of its own.
    const metadata = (name: string) => `Metadata-Version: 2.1\nName: ${name}\nVersion: 1\n`;
    const files = {
      'usr/lib/python3/dist-packages/aardvark-1.dist-info/METADATA': metadata('aardvark'),
      'usr/lib/python3/dist-packages/zope-1.dist-info/METADATA': metadata('zope'),
      'usr/lib/python3/dist-packages/Zebra_X-1.dist-info/METADATA': metadata('Zebra_X'),
      'opt/Zoo/lib/python3.11/site-packages/zope-1.dist-info/METADATA': metadata('zope'),
      'opt/aa/lib/python3.11/site-packages/zope-1.dist-info/METADATA': metadata('zope'),
    };
    const script = `
      import { cyclonedxJson } from ${JSON.stringify(new URL('../../src/sbom/cyclonedx.js', import.meta.url).href)};
      import { inventory, packageFiles } from ${JSON.stringify(new URL('../../src/sbom/inventory.js', import.meta.url).href)};
      const files = JSON.parse(process.env.REP_TEST_FILES);
      const { keep } = packageFiles();
      const kept = new Map(Object.entries(files).filter(([p, t]) => keep(p, Buffer.byteLength(t))).map(([p, t]) => [p, Buffer.from(t)]));
      process.stdout.write(cyclonedxJson(inventory(kept), JSON.parse(process.env.REP_TEST_IMAGE)));`;
    const sbomIn = (locale: string) => {
      const env = { ...process.env, LANG: locale, LC_ALL: locale, REP_TEST_FILES: JSON.stringify(files), REP_TEST_IMAGE: JSON.stringify(IMAGE) };
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('../..', import.meta.url)), env, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      return r.stdout;
    };
    const danish = sbomIn('da_DK.UTF-8');
    const english = sbomIn('en_US.UTF-8');
    const c = sbomIn('C.UTF-8');
    expect(danish).toBe(c);
    expect(english).toBe(c);
    const bom = JSON.parse(c);
    expect(bom.components.map((x: { purl: string }) => x.purl)).toEqual(['pkg:pypi/aardvark@1', 'pkg:pypi/zebra-x@1', 'pkg:pypi/zope@1']);
    expect(bom.components[2].properties.map((x: { value: string }) => x.value)).toEqual([
      '/opt/Zoo/lib/python3.11/site-packages/zope-1.dist-info/METADATA',
      '/opt/aa/lib/python3.11/site-packages/zope-1.dist-info/METADATA',
      '/usr/lib/python3/dist-packages/zope-1.dist-info/METADATA',
    ]);
    expect(bom.dependencies.map((x: { ref: string }) => x.ref)).toEqual(['image', 'pkg:pypi/aardvark@1', 'pkg:pypi/zebra-x@1', 'pkg:pypi/zope@1']);
  }, 60_000);
});

describe('the SBOM in the provenance statement', () => {
  const statement = {
    subject: [],
    predicate: { runDetails: { byproducts: [{ name: 'step:a', digest: { sha256: '1'.repeat(64) } }] } },
  } as unknown as Statement;

  it('is a byproduct that is not a step, and verify compares it with the bundle\'s file', () => {
    const st = withSbom(statement, 'ab'.repeat(32));
    expect(stepsOf(st).map((b) => b.name)).toEqual(['step:a']);
    expect(statement.predicate.runDetails.byproducts).toHaveLength(1);
    expect(sbomProblems(st, new Set(['sbom.cdx.json']), new Map([['sbom.cdx.json', 'ab'.repeat(32)]]))).toEqual([]);
    expect(sbomProblems(st, new Set(['sbom.cdx.json']), new Map([['sbom.cdx.json', 'cd'.repeat(32)]]))).toEqual(["sbom.cdx.json does not match the statement's byproduct"]);
    expect(sbomProblems(st, new Set(), new Map())).toEqual(['missing: sbom.cdx.json']);
  });

  it('names no other file: a statement pointing elsewhere fails', () => {
    const st = withSbom(statement, 'ab'.repeat(32));
    st.predicate.runDetails.byproducts[1]!.name = '../../etc/passwd\x1b[2J';
    expect(sbomProblems(st, new Set(), new Map())).toEqual(["the statement names an SBOM ../../etc/passwd\\u001b[2J; a bundle's SBOM is sbom.cdx.json"]);
  });
});
