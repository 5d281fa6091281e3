// One instruction of a stage (after its FROM) -> what it changes: RUN a step,
// COPY/ADD copysteps.ts, ENV/WORKDIR/USER/SHELL/ARG the stage's state (put on
// the next step), CMD/ENTRYPOINT/EXPOSE/VOLUME/LABEL the image settings. A
// value a Repfile field cannot hold, and an instruction rep has no field for,
// become notes.
import { joinable } from '../../emit/dockerfile.js';
import { quotedName } from '../../diag.js';
// What a Repfile's one-line fields and its `run` refuse, which a JSON escape (CMD ["a\u2028b"]) writes though the parser refused it in the text.
import { FIELD_CONTROL, RUN_CONTROL, UNSHOWABLE } from '../../repfile/schema.js';
import { linesOf, note, relativeToImage, unresolved, type Conversion } from './conversion.js';
import { copyInstruction } from './copysteps.js';
import { absolute, sq, withParents } from './model.js';
import type { Instruction } from './parse.js';
import { stepForRun, type Stage } from './stages.js';
import { keyValues, oneWord, spend, splitWords, type Lexing } from './words.js';

/** Docker's PATH for an image that sets none; most base images set this one. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Instructions whose shell-form text becomes a one-line field as it is (a tab in it too). */
const ONE_LINE = new Set(['CMD', 'ENTRYPOINT', 'USER', 'WORKDIR']);
/** A USER that is root (by name or id, with any group). */
const ROOT = /^(root|0)(:.*)?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NOT_CONVERTED: Record<string, string> = {
  HEALTHCHECK: 'a Repfile has no health check; the image has none',
  ONBUILD: 'a Repfile has no ONBUILD triggers',
  STOPSIGNAL: 'a Repfile has no stop signal; the image keeps the base image\'s',
  MAINTAINER: 'MAINTAINER is deprecated and a Repfile has no author field for the image; use a label (org.opencontainers.image.authors)',
};

/** Converts `ins` into the stage `st`, whose variables are `vars`. */
export function convertInstruction(cx: Conversion, ins: Instruction, st: Stage, vars: Map<string, string>): void {
  const written = ins.json ?? (ONE_LINE.has(ins.keyword) ? [ins.args] : []);
  if (written.some((a) => (ins.keyword === 'RUN' ? RUN_CONTROL : FIELD_CONTROL).test(a))) {
    note(cx, ins, 'an argument holds a control character (a tab, or a JSON escape such as \\n) that rep cannot write in this field');
    return;
  }
  /** The arguments as `lex` reads them, with a note for each variable the Dockerfile does not set. */
  const lexed = <T extends { unresolved: string[] }>(lex: (s: string, v: Map<string, string>, lx: Lexing) => T): T => {
    const w = lex(ins.args, vars, cx);
    unresolved(cx, ins, w.unresolved, ins.keyword);
    return w;
  };
  switch (ins.keyword) {
    case 'ARG': {
      const kv = lexed(keyValues);
      for (const [k, v] of kv.pairs) {
        // Exported to the RUNs as `export K=V`: a name the shell cannot take would run as a command.
        if (ENV_NAME.test(k)) st.args.set(k, v ?? cx.globalArgs.get(k));
        else note(cx, ins, `ARG ${JSON.stringify(k)}: rep passes build arguments to RUN as shell variables, and this is not a shell variable name`);
      }
      break;
    }
    case 'ENV': {
      const kv = keyValues(ins.args, vars, cx);
      const fromBase = kv.unresolved.filter((n) => n !== 'PATH');
      let pairs = kv.pairs;
      if (kv.unresolved.includes('PATH')) {
        pairs = keyValues(ins.args, new Map([['PATH', DEFAULT_PATH], ...vars]), cx).pairs;
        note(cx, ins, `ENV refers to $PATH of the base image: rep wrote Docker's default ${DEFAULT_PATH} there (check it is the base image's)`, true);
      }
      unresolved(cx, ins, fromBase, 'ENV');
      for (const [k, v] of pairs) {
        if (v === undefined || !ENV_NAME.test(k)) {
          note(cx, ins, `ENV ${JSON.stringify(k)} is not NAME=VALUE with a name of letters, digits and "_"`);
          continue;
        }
        if (k === '__proto__') {
          note(cx, ins, `ENV ${k}: a Repfile has no key named "__proto__" (as a name it would vanish)`);
          continue;
        }
        st.env.set(k, v);
        st.pendingEnv = st.pendingEnv.filter(([n]) => n !== k).concat([[k, v]]);
      }
      break;
    }
    case 'WORKDIR': {
      const w = lexed(oneWord);
      relativeToImage(cx, ins, st, w.words[0]!);
      st.workdir = absolute(w.words[0]!, st.workdir);
      if (w.words[0]!.startsWith('/')) st.workdirFrom = 'dockerfile';
      for (const d of withParents(st.workdir)) st.dirs.add(d);
      // BuildKit makes a missing WORKDIR owned by the USER set before it; rep's Dockerfile writes a step's WORKDIR before its USER,
      // so root owns it when both land on one step. A USER an earlier step (or the stage built on) applied comes first: no note.
      if (st.user !== undefined && !ROOT.test(st.user) && st.user !== st.applied.user) {
        note(cx, ins, `WORKDIR after USER ${st.user}: Docker makes a missing ${st.workdir} owned by ${st.user}, rep makes it owned by root before it switches user. If a step writes there, make it in a step before (run as root): mkdir -p ${sq(st.workdir)} && chown ${sq(st.user)} ${sq(st.workdir)}`, true);
      }
      break;
    }
    case 'USER': {
      const w = lexed(oneWord);
      // The Repfile refuses it: the Dockerfile rep writes would read it as a flag of USER.
      if (w.words[0]!.startsWith('-')) note(cx, ins, `USER ${JSON.stringify(w.words[0])} starts with "-", which rep's Dockerfile would read as a flag; the steps after it keep the user before it`);
      else st.user = w.words[0] || undefined;
      break;
    }
    case 'SHELL':
      if (ins.json?.length) st.shell = ins.json;
      else note(cx, ins, 'SHELL takes a JSON list of strings');
      break;
    case 'RUN': {
      if (ins.heredoc) {
        note(cx, ins, 'a here-document in RUN is not converted; write its lines as `run` items');
        break;
      }
      for (const [f, v] of ins.flags) note(cx, ins, `RUN --${f}${v ? `=${v}` : ''} is not converted; the command runs without it${f === 'network' ? ' (use `rep build --network host`)' : ''}`);
      const cmd = ins.json ? ins.json.map(sq).join(' ') : ins.args;
      if (!cmd.trim()) {
        note(cx, ins, 'RUN with no command');
        break;
      }
      const exported = [...st.args].filter((e): e is [string, string] => e[1] !== undefined && !st.env.has(e[0]));
      const exp = exported.length ? `export ${exported.map(([k, v]) => `${k}=${sq(v)}`).join(' ')}` : '';
      // Each RUN exports the build arguments again: counted as their expansion is (a long ARG and many RUNs made a Repfile of gigabytes).
      if (!spend(cx.expansion, exp.length)) break;
      const s = stepForRun(st, cx.all, cx.base, linesOf(ins));
      // rep runs a script that is not one `a && b` list with sh -e; Docker's RUN does not stop at a failing command.
      s.run = joinable(cmd) ? [...(exp ? [exp] : []), cmd] : [`set +e; ${exp ? `${exp}; ` : ''}${cmd}`];
      break;
    }
    case 'COPY':
    case 'ADD':
      copyInstruction(cx, ins, st, vars);
      break;
    case 'CMD':
    case 'ENTRYPOINT': {
      const value = ins.json ?? (st.shell ? [...st.shell, ins.args] : ins.args);
      if (ins.keyword === 'CMD') {
        st.meta.cmd = value;
        st.cmdSet = true;
      } else {
        st.meta.entrypoint = value;
        // As BuildKit's dispatchEntrypoint: only a CMD the stage inherited is cleared.
        if (!st.cmdSet) st.meta.cmd = undefined;
      }
      break;
    }
    case 'EXPOSE': {
      const w = lexed(splitWords);
      for (const p of w.words) {
        if (/^\d{1,5}(\/(tcp|udp|sctp))?$/i.test(p) && Number(p.split('/')[0]) >= 1 && Number(p.split('/')[0]) <= 65535) st.meta.expose.push(p.toLowerCase());
        else note(cx, ins, `EXPOSE ${JSON.stringify(p)}: rep takes a port or PORT/PROTOCOL, not a range`);
      }
      break;
    }
    case 'LABEL': {
      const kv = lexed(keyValues);
      for (const [k, v] of kv.pairs) {
        if (v === undefined || k === '') note(cx, ins, `LABEL ${JSON.stringify(k)} is not KEY=VALUE`);
        // What the Repfile refuses in a label key (schema.ts): a character that shows nothing reads as another key.
        else if (UNSHOWABLE.test(k)) note(cx, ins, `LABEL ${quotedName(k)}: a key with a character that shows nothing (a zero-width space or joiner, a word joiner) would read as another key`);
        else if (k === '__proto__') note(cx, ins, `LABEL ${k}: a Repfile has no key named "__proto__" (as a name it would vanish)`);
        else st.meta.labels.set(k, v);
      }
      break;
    }
    case 'VOLUME': {
      const list = ins.json ?? splitWords(ins.args, vars, cx).words;
      for (const v of list) {
        if (v.startsWith('/')) st.meta.volumes.push(absolute(v, '/'));
        else note(cx, ins, `VOLUME ${JSON.stringify(v)} is not an absolute path`);
      }
      break;
    }
    default:
      note(cx, ins, NOT_CONVERTED[ins.keyword] ?? `${ins.keyword} is not a Dockerfile instruction rep knows`);
  }
}
