// The .dockerignore rep init leaves: what the build context keeps, as
// repo2docker decides it (repo2docker/buildpacks/base.py, BuildPack.build:
// it reads .dockerignore and .containerignore in the configuration folder, so
// a binder/ folder shadows the root ones). rep reads only the root
// .dockerignore, so with a binder/ folder rep init writes there the rules
// repo2docker would use, keeping the old lines as comments. Whatever the
// rules, the Repfile's own inputs are never excluded.
import { DockerIgnore } from '../context/dockerignore.js';
import type { Detected } from './detect.js';
import { leavingLinks } from './links.js';

/** Kept out of the context always: rep's own files, so editing them does not change the code step. */
const REP_OWN = ['.git', '.rep', 'Repfile', 'Repfile.lock', 'Dockerfile'];

export interface IgnorePlan {
  /** The text to write to the root .dockerignore; undefined: leave the file as it is. */
  text?: string;
  /** Files of the repository read for it. */
  used: string[];
  notes: string[];
}

/** Lines as repo2docker keeps them: stripped, without blank lines and comments. */
const rules = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

export function planIgnore(d: Detected, inputs: readonly string[]): IgnorePlan {
  const used: string[] = [];
  const notes: string[] = [];
  // A link is not followed, nor replaced: what it points to is the user's to keep.
  if (d.rootIgnoreUnread) return { used, notes: [`.dockerignore at the root is ${d.rootIgnoreUnread}: rep init did not read it and left it as it is; check that it keeps the files the Repfile reads`] };
  let text: string | undefined;
  const own = ['# Written by rep init: what the build context leaves out.', ...REP_OWN];
  if (d.envDir) {
    const from = (['.dockerignore', '.containerignore'] as const).filter((f) => d.files[f] !== undefined);
    used.push(...from.map((f) => d.files[f]!));
    const lines = [
      `# Written by rep init. repo2docker reads ${d.envDir}/.dockerignore and ${d.envDir}/.containerignore, not the root`,
      `# .dockerignore, when ${d.envDir}/ exists; rep reads only this file, so it holds their rules${from.length ? '' : ' (there are none)'}.`,
      ...from.flatMap((f) => rules(d.text[f]!)),
      "# rep's own files:",
      ...REP_OWN,
    ];
    if (d.rootIgnore !== undefined && !d.rootIgnore.startsWith('# Written by rep init')) {
      notes.push(`.dockerignore at the root: repo2docker does not read it when ${d.envDir}/ exists; rep init rewrote it with ${from.length ? from.map((f) => d.files[f]).join(' and ') : "rep's own rules"} and kept its old lines as comments`);
      lines.push('', `# The root .dockerignore before rep init (repo2docker ignores it when ${d.envDir}/ exists):`, ...d.rootIgnore.split('\n').filter((l) => l.trim() !== '').map((l) => `#   ${l.replace(/\r$/, '')}`));
    }
    text = `${lines.join('\n')}\n`;
  } else if (d.rootIgnore === undefined) {
    const container = d.files['.containerignore'];
    if (container) used.push(container);
    text = `${[...own, ...(container ? ['# From .containerignore, which repo2docker reads too:', ...rules(d.text['.containerignore']!)] : [])].join('\n')}\n`;
  } else if (d.files['.containerignore']) {
    notes.push('.containerignore: repo2docker reads it beside .dockerignore; rep reads only .dockerignore: move its rules there');
  }

  // The Repfile's own inputs must reach the build, whatever the rules say.
  let current = text ?? d.rootIgnore ?? '';
  const ignore = DockerIgnore.parse(current).ignore;
  const excluded = inputs.filter((p) => p !== '.' && ignore.decide(p).excluded);
  const add = (comment: string, lines: string[]) => {
    current = text = `${current}${current === '' || current.endsWith('\n') ? '' : '\n'}# Added by rep init: ${comment}\n${lines.join('\n')}\n`;
  };
  if (excluded.length) {
    notes.push(`.dockerignore excluded ${excluded.join(', ')}, which the Repfile reads: rep init added ${excluded.map((p) => `"!${p}"`).join(', ')} to it`);
    add('files the Repfile reads.', excluded.map((p) => `!${p}`));
  }
  // rep does not build a step whose inputs hold a link out of the context (the code step takes "."): left out.
  if (inputs.includes('.')) {
    const leaving = leavingRules(d.repo, current);
    notes.push(...leaving.notes);
    if (leaving.rules.length) add(LEAVING_COMMENT, leaving.rules);
  }
  return { text, used, notes };
}

/** The comment above the rules leavingRules gives. */
export const LEAVING_COMMENT = 'links that lead out of the repository (rep does not build with them).';

/**
 * .dockerignore rules that leave out the links under `repo` that lead out of
 * it and that `ignore` (a .dockerignore's text) keeps, with notes naming them
 * and those no rule can name; `added` says whether the caller adds the rules.
 */
export function leavingRules(repo: string, ignore: string, added = true): { rules: string[]; notes: string[] } {
  const notes: string[] = [];
  const leaving = leavingLinks(repo, DockerIgnore.parse(ignore).ignore);
  const plain = leaving.links.filter((l) => WRITABLE.test(l.path));
  const odd = leaving.links.filter((l) => !WRITABLE.test(l.path));
  const said = (ls: typeof plain) => ls.slice(0, 5).map((l) => `${l.path} -> ${l.target}`).join(', ') + (ls.length > 5 ? ` and ${ls.length - 5} more` : '');
  if (plain.length) notes.push(`links that lead out of the repository, which rep does not copy into a build: ${said(plain)}${added ? '; rep init added them to .dockerignore' : ''}`);
  if (odd.length) notes.push(`links that lead out of the repository, with names rep init does not write as .dockerignore rules: ${said(odd)}; exclude them in .dockerignore, or the code step does not build`);
  if (leaving.partial) notes.push('the repository is too large for rep init to look for every link that leads out of it: a step that reads one does not build; exclude such links in .dockerignore');
  return { rules: plain.map((l) => asRule(l.path)), notes };
}

/** A path a .dockerignore line can name: no line break, no blank at either end (the line is trimmed). */
const WRITABLE = /^\S(.*\S)?$/;
/** `p` as a .dockerignore rule naming it alone: pattern characters, and a leading ! or #, escaped with \\ (patternmatcher's escape). */
const asRule = (p: string) => p.replace(/[*?[\\]|^[!#]/g, '\\$&');
