// A COPY or ADD -> steps: each source an input of a step in the workdir that
// puts it at its destination, an import of another stage's output, or a copy
// step that moves it there first (copy.ts decides which). What rep cannot
// express (--chown, --parents, a URL or archive ADD, a here-document) is noted.
import path from 'node:path';
import { printable } from '../../diag.js';
import { explicitRef, startProblem } from './imageref.js';
import { linesOf, note, relativeToImage, unresolved, type Conversion } from './conversion.js';
import { contextPath, folderish, intoFolder, placeFrom, placeLocal, STAGING, type Placement } from './copy.js';
import { absolute, withParents, type DraftStep } from './model.js';
import type { Instruction } from './parse.js';
import { addImport, newStep, type Stage } from './stages.js';
import { oneWord, splitWords } from './words.js';

const ARCHIVE = /\.(tar|tar\.(gz|bz2|xz|zst)|tgz|tbz2?|txz)$/i;
const URL = /^([a-z][a-z0-9+.-]*:\/\/|git@)/i;

/** A COPY or ADD: each source an input, an import or a copy step (copy.ts). */
export function copyInstruction(cx: Conversion, ins: Instruction, st: Stage, vars: Map<string, string>): void {
  const flags = new Map(ins.flags);
  for (const f of ['chown', 'chmod']) if (flags.has(f)) note(cx, ins, `${ins.keyword} --${f} is not converted: the files are copied owned by root with their modes in the context (add a chown/chmod to a run)`);
  for (const f of ['parents', 'exclude', 'checksum', 'keep-git-dir']) {
    if (flags.has(f)) {
      note(cx, ins, `${ins.keyword} --${f} is not converted`);
      return;
    }
  }
  if (ins.heredoc) {
    note(cx, ins, `a here-document in ${ins.keyword} is not converted; put the file in the repository`);
    return;
  }
  const w = ins.json ? { words: ins.json.map((j) => oneWord(j, vars, cx).words[0]!), unresolved: [] } : splitWords(ins.args, vars, cx);
  unresolved(cx, ins, w.unresolved, ins.keyword);
  if (w.words.length < 2) {
    note(cx, ins, `${ins.keyword} needs a source and a destination`);
    return;
  }
  const sources = w.words.slice(0, -1);
  const dest = w.words[w.words.length - 1]!;
  const from = flags.get('from');
  let producer: string | undefined;
  if (from !== undefined) {
    const name = oneWord(from, vars, cx).words[0]!.toLowerCase();
    const prev = /^\d+$/.test(name) ? cx.stages[Number(name)] : cx.stages.find((s) => s.alias === name);
    if (!prev && /^\d+$/.test(name)) {
      note(cx, ins, `--from=${from} names no earlier stage (stages count from 0)`);
      return;
    }
    if (!prev && cx.aliases.has(name)) {
      note(cx, ins, `--from=${from} names a stage that comes later in the Dockerfile, which BuildKit allows and rep init does not convert: move that stage before this one`);
      return;
    }
    if (prev && prev !== st) producer = prev.steps[prev.steps.length - 1]!.name;
    else if (!prev && !startProblem(name)) producer = explicitRef(name);
    else {
      note(cx, ins, `--from=${from} names no earlier stage or image`);
      return;
    }
  } else if (ins.keyword === 'ADD') {
    const remote = sources.filter((s) => URL.test(s) || ARCHIVE.test(s));
    if (remote.length) {
      note(cx, ins, `ADD of ${remote.map((s) => JSON.stringify(s)).join(', ')} (a URL or an archive ADD unpacks) is not converted: download or unpack it in a run`);
      return;
    }
  }
  relativeToImage(cx, ins, st, dest);
  const placed: Placement[] = from !== undefined ? placeFrom(sources, dest, st.workdir) : placeLocal(sources, dest, st.workdir, cx.kind, st.dirs);
  knownFolders(cx, ins, st, sources, dest, from !== undefined);
  let cur: { step: DraftStep; workdir: string } | undefined;
  for (const p of placed) {
    switch (p.kind) {
      case 'skip':
        note(cx, ins, p.message);
        break;
      case 'input': {
        // Sources of one COPY that land from the same workdir share a step.
        const s = cur && cur.workdir === p.workdir ? cur.step : newStep(st, cx.all, cx.base, linesOf(ins), p.workdir);
        cur = { step: s, workdir: p.workdir };
        s.inputs.push(p.input);
        if (p.workdir === st.workdir) st.open = s;
        break;
      }
      case 'import':
      case 'relocate': {
        let name = producer!;
        const producerStep = cx.all.find((s) => s.name === name);
        if (p.kind === 'import' && producerStep && !producerStep.outputs.includes(p.path)) producerStep.outputs.push(p.path);
        if (p.kind === 'relocate' || !producerStep) {
          cx.copies++;
          const side: DraftStep = {
            name: `${st.name}-copy-${cx.copies}`,
            lines: linesOf(ins),
            from: producer ?? (st.parent.kind === 'image' ? st.parent.ref : st.parent.name),
            needs: [],
            inputs: p.kind === 'relocate' && p.input ? [p.input] : [],
            workdir: p.kind === 'relocate' && p.input ? STAGING : undefined,
            env: [],
            run: p.kind === 'relocate' ? [p.script] : [],
            outputs: [p.kind === 'relocate' ? p.target : p.path],
            comments: [`${cx.file}:${ins.line}: ${printable(ins.text[0]!.trim())} (puts ${p.kind === 'relocate' ? p.target : p.path} in place for rep to import)`],
          };
          if (p.kind === 'relocate' && producer && !p.contents) note(cx, ins, `copies to ${p.target}, taking the source as a file: if it is a folder whose contents Docker copies, write it as a folder (ending in /)`, true);
          cx.all.push(side);
          name = side.name;
        }
        const s = newStep(st, cx.all, cx.base, linesOf(ins));
        cur = undefined;
        addImport(st, s, name);
        st.open = s;
        break;
      }
      default: {
        const never: never = p;
        return never;
      }
    }
  }
  return;
}

/**
 * Records the folders a copy to `dest` leaves in the stage (those above it;
 * itself when copied into or a folder is copied there), and says where a
 * file is copied as `dest` that might be a folder of the base image, which
 * Docker would put it in, and where a source from another stage goes to a
 * folder the stage has (placeFrom takes it for a folder's contents).
 */
function knownFolders(cx: Conversion, ins: Instruction, st: Stage, sources: string[], dest: string, fromOther: boolean): void {
  const D = absolute(dest, st.workdir);
  const into = intoFolder(sources, dest, D, st.dirs);
  const rel = fromOther ? undefined : contextPath(sources[0]!);
  const isDir = (s: string) => {
    const r = fromOther ? undefined : contextPath(s);
    return fromOther ? folderish(s) : r !== undefined && cx.kind(r) === 'dir';
  };
  if (fromOther && st.dirs.has(D) && !intoFolder(sources, dest, D, new Set()) && !folderish(sources[0]!) && absolute(sources[0]!, '/') !== D) {
    note(cx, ins, `copies ${sources[0]} to ${D}, a folder this stage has: rep takes ${sources[0]} for a folder whose contents go there; if it is a file, Docker puts it at ${absolute(path.posix.basename(sources[0]!), D)} (then write ${dest.replace(/\/*$/, '/')})`, true);
  }
  // A file copied under another name without an extension (`COPY file.txt /app`) may mean a folder the image has.
  const name = path.posix.basename(D);
  if (!into && rel !== undefined && cx.kind(rel) === 'file' && path.posix.basename(rel) !== name && !name.includes('.') && D !== '/') {
    note(cx, ins, `copies the file ${rel} as ${D}: if ${D} is a folder in the base image, Docker puts it at ${absolute(path.posix.basename(rel), D)} instead (then write ${dest.replace(/\/*$/, '/')})`, true);
  }
  for (const d of withParents(D).slice(1)) st.dirs.add(d);
  if (into || sources.some(isDir)) st.dirs.add(D);
}
