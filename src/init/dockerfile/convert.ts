// Parsed Dockerfile -> the steps and image of a Repfile: each stage's steps
// built on one another (FROM an image or an earlier stage), each RUN a step,
// COPY/ADD sources inputs or imports (copy.ts), ENV/WORKDIR/USER/SHELL on the
// steps, ARG defaults exported to the RUNs that see them, and CMD,
// ENTRYPOINT, EXPOSE, VOLUME and LABEL of the final stage on the image.
// What rep cannot express becomes a note at its line.
import { printable, type Diagnostic } from '../../diag.js';
import { joinable } from '../../emit/dockerfile.js';
import { imageRefProblem } from '../../lock/reference.js';
import { placeFrom, placeLocal, STAGING, type Kind, type Placement } from './copy.js';
import { absolute, sq, type Converted, type DraftStep, type Note } from './model.js';
import type { Instruction, ParsedDockerfile } from './parse.js';
import { addImport, finishStage, newStage, newStep, stepForRun, varsOf, type Stage } from './stages.js';
import { keyValues, oneWord, splitWords } from './words.js';

/** Docker's PATH for an image that sets none; most base images set this one. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const ARCHIVE = /\.(tar|tar\.(gz|bz2|xz|zst)|tgz|tbz2?|txz)$/i;
const URL = /^([a-z][a-z0-9+.-]*:\/\/|git@)/i;
/** What a Repfile's one-line fields (cmd, entrypoint, shell, volumes) refuse, and what its `run` refuses (newlines and tabs are fine there). */
// eslint-disable-next-line no-control-regex
const FIELD_CONTROL = /[\x00-\x1f\x7f]/;
// eslint-disable-next-line no-control-regex
const RUN_CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;
/** Instructions whose shell-form text becomes a one-line field as it is (a tab in it too). */
const ONE_LINE = new Set(['CMD', 'ENTRYPOINT', 'USER', 'WORKDIR']);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NOT_CONVERTED: Record<string, string> = {
  HEALTHCHECK: 'a Repfile has no health check; the image has none',
  ONBUILD: 'a Repfile has no ONBUILD triggers',
  STOPSIGNAL: 'a Repfile has no stop signal; the image keeps the base image\'s',
  MAINTAINER: 'MAINTAINER is deprecated and a Repfile has no author field for the image; use a label (org.opencontainers.image.authors)',
};

export function convertDockerfile(parsed: ParsedDockerfile, file: string, kind: (rel: string) => Kind): { ok: true; value: Converted } | { ok: false; errors: Diagnostic[] } {
  const esc = parsed.escape;
  const notes: Note[] = [];
  const errors: Diagnostic[] = [];
  const all: DraftStep[] = [];
  const stages: Stage[] = [];
  const globalArgs = new Map<string, string | undefined>();
  let base = '';
  let stage: Stage | undefined;
  let copies = 0;
  /** What rep cannot express: reported, and kept as a comment (with the instruction) at the step it falls in. */
  const note = (ins: Instruction, message: string, changed = false) => {
    notes.push({ line: ins.line, message });
    const keep = changed ? [`${file}:${ins.line}: ${message}`] : [`${file}:${ins.line}: not converted: ${message}`, ...ins.text.slice(0, 20).map((t) => `  ${t}`)];
    if (stage) stage.comments.push(...keep.map(printable));
  };
  let last: [number, number] = [1, 1];
  const unresolved = (ins: Instruction, names: string[], what: string) => {
    for (const n of names) note(ins, `${what} refers to $${n}, which this Dockerfile does not set (a base image's variable or a build argument): rep wrote it as empty`);
  };
  const lines = (ins: Instruction): [number, number] => [ins.line, ins.endLine];

  for (const ins of parsed.instructions) {
    const prevLines = last;
    last = lines(ins);
    const vars = stage ? varsOf(stage) : new Map([...globalArgs].filter((e): e is [string, string] => e[1] !== undefined));
    if (ins.keyword === 'FROM') {
      if (stage) finishStage(stage, all, base, prevLines);
      for (const [f] of ins.flags) notes.push({ line: ins.line, message: `FROM --${f} is not converted; rep builds for the engine's platform` });
      const w = splitWords(ins.args, vars, esc);
      if (w.unresolved.length) notes.push({ line: ins.line, message: `FROM refers to ${w.unresolved.map((u) => `$${u}`).join(', ')}, which no ARG before it sets` });
      const ref = w.words[0] ?? '';
      const alias = w.words[1]?.toLowerCase() === 'as' ? w.words[2]?.toLowerCase() : undefined;
      const prev = stages.find((s) => s.alias === ref.toLowerCase());
      if (!prev) {
        const problem = ref === 'scratch' ? 'rep starts every stage from an image: FROM scratch is not converted' : imageRefProblem(ref);
        if (problem) {
          errors.push({ file, span: { start: { line: ins.line, col: 1 }, end: { line: ins.line, col: ins.text[0]!.length + 1 } }, message: problem });
          continue;
        }
        if (!base) base = ref;
      }
      const parent = prev ? { kind: 'step' as const, name: prev.steps[prev.steps.length - 1]!.name } : { kind: 'image' as const, ref };
      stage = newStage(stages.length, parent, prev, stageName(alias, stages), alias, ins.line);
      stages.push(stage);
      continue;
    }
    if (!stage) {
      if (ins.keyword === 'ARG') for (const [k, v] of keyValues(ins.args, vars, esc).pairs) globalArgs.set(k, v);
      else notes.push({ line: ins.line, message: `${ins.keyword} before the first FROM is not converted` });
      continue;
    }
    const st = stage;
    const written = ins.json ?? (ONE_LINE.has(ins.keyword) ? [ins.args] : []);
    if (written.some((a) => (ins.keyword === 'RUN' ? RUN_CONTROL : FIELD_CONTROL).test(a))) {
      note(ins, 'an argument holds a control character (a tab, or a JSON escape such as \\n) that rep cannot write in this field');
      continue;
    }
    switch (ins.keyword) {
      case 'ARG': {
        const kv = keyValues(ins.args, vars, esc);
        unresolved(ins, kv.unresolved, 'ARG');
        for (const [k, v] of kv.pairs) {
          // Exported to the RUNs as `export K=V`: a name the shell cannot take would run as a command.
          if (ENV_NAME.test(k)) st.args.set(k, v ?? globalArgs.get(k));
          else note(ins, `ARG ${JSON.stringify(k)}: rep passes build arguments to RUN as shell variables, and this is not a shell variable name`);
        }
        break;
      }
      case 'ENV': {
        const kv = keyValues(ins.args, vars, esc);
        const fromBase = kv.unresolved.filter((n) => n !== 'PATH');
        let pairs = kv.pairs;
        if (kv.unresolved.includes('PATH')) {
          pairs = keyValues(ins.args, new Map([['PATH', DEFAULT_PATH], ...vars]), esc).pairs;
          note(ins, `ENV refers to $PATH of the base image: rep wrote Docker's default ${DEFAULT_PATH} there (check it is the base image's)`, true);
        }
        unresolved(ins, fromBase, 'ENV');
        for (const [k, v] of pairs) {
          if (v === undefined || !ENV_NAME.test(k)) {
            note(ins, `ENV ${JSON.stringify(k)} is not NAME=VALUE with a name of letters, digits and "_"`);
            continue;
          }
          st.env.set(k, v);
          st.pendingEnv = st.pendingEnv.filter(([n]) => n !== k).concat([[k, v]]);
        }
        break;
      }
      case 'WORKDIR': {
        const w = oneWord(ins.args, vars, esc);
        unresolved(ins, w.unresolved, 'WORKDIR');
        st.workdir = absolute(w.words[0]!, st.workdir);
        break;
      }
      case 'USER': {
        const w = oneWord(ins.args, vars, esc);
        unresolved(ins, w.unresolved, 'USER');
        st.user = w.words[0] || undefined;
        break;
      }
      case 'SHELL':
        if (ins.json?.length) st.shell = ins.json;
        else note(ins, 'SHELL takes a JSON list of strings');
        break;
      case 'RUN': {
        if (ins.heredoc) {
          note(ins, 'a here-document in RUN is not converted; write its lines as `run` items');
          break;
        }
        for (const [f, v] of ins.flags) note(ins, `RUN --${f}${v ? `=${v}` : ''} is not converted; the command runs without it${f === 'network' ? ' (use `rep build --network host`)' : ''}`);
        const cmd = ins.json ? ins.json.map(sq).join(' ') : ins.args;
        if (!cmd.trim()) {
          note(ins, 'RUN with no command');
          break;
        }
        const exported = [...st.args].filter((e): e is [string, string] => e[1] !== undefined && !st.env.has(e[0]));
        const exp = exported.length ? `export ${exported.map(([k, v]) => `${k}=${sq(v)}`).join(' ')}` : '';
        const s = stepForRun(st, all, base, lines(ins));
        // rep runs a script that is not one `a && b` list with sh -e; Docker's RUN does not stop at a failing command.
        s.run = joinable(cmd) ? [...(exp ? [exp] : []), cmd] : [`set +e; ${exp ? `${exp}; ` : ''}${cmd}`];
        break;
      }
      case 'COPY':
      case 'ADD':
        copies = copy(ins, st, vars, copies);
        break;
      case 'CMD':
      case 'ENTRYPOINT': {
        const value = ins.json ?? (st.shell ? [...st.shell, ins.args] : ins.args);
        if (ins.keyword === 'CMD') st.meta.cmd = value;
        else {
          st.meta.entrypoint = value;
          st.meta.cmd = undefined;
        }
        break;
      }
      case 'EXPOSE': {
        const w = splitWords(ins.args, vars, esc);
        unresolved(ins, w.unresolved, 'EXPOSE');
        for (const p of w.words) {
          if (/^\d{1,5}(\/(tcp|udp|sctp))?$/i.test(p) && Number(p.split('/')[0]) >= 1 && Number(p.split('/')[0]) <= 65535) st.meta.expose.push(p.toLowerCase());
          else note(ins, `EXPOSE ${JSON.stringify(p)}: rep takes a port or PORT/PROTOCOL, not a range`);
        }
        break;
      }
      case 'LABEL': {
        const kv = keyValues(ins.args, vars, esc);
        unresolved(ins, kv.unresolved, 'LABEL');
        for (const [k, v] of kv.pairs) {
          if (v === undefined || k === '') note(ins, `LABEL ${JSON.stringify(k)} is not KEY=VALUE`);
          else st.meta.labels.set(k, v);
        }
        break;
      }
      case 'VOLUME': {
        const list = ins.json ?? splitWords(ins.args, vars, esc).words;
        for (const v of list) {
          if (v.startsWith('/')) st.meta.volumes.push(absolute(v, '/'));
          else note(ins, `VOLUME ${JSON.stringify(v)} is not an absolute path`);
        }
        break;
      }
      default:
        note(ins, NOT_CONVERTED[ins.keyword] ?? `${ins.keyword} is not a Dockerfile instruction rep knows`);
    }
  }
  if (errors.length) return { ok: false, errors };
  if (!stage) return { ok: false, errors: [{ file, message: 'has no FROM instruction' }] };
  finishStage(stage, all, base, last);
  const final = stage;
  const m = final.meta;
  rename(stages, all);
  const target = final.steps[final.steps.length - 1]!.name;
  return {
    ok: true,
    value: {
      base,
      steps: all,
      image: { from: target, cmd: m.cmd, entrypoint: m.entrypoint, expose: m.expose, volumes: m.volumes, labels: [...m.labels] },
      notes,
      trailing: [],
    },
  };

  /** A COPY or ADD: each source an input, an import or a copy step (copy.ts). Returns the copy steps made so far. */
  function copy(ins: Instruction, st: Stage, vars: Map<string, string>, made: number): number {
    const flags = new Map(ins.flags);
    for (const f of ['chown', 'chmod']) if (flags.has(f)) note(ins, `${ins.keyword} --${f} is not converted: the files are copied owned by root with their modes in the context (add a chown/chmod to a run)`);
    for (const f of ['parents', 'exclude', 'checksum', 'keep-git-dir']) {
      if (flags.has(f)) {
        note(ins, `${ins.keyword} --${f} is not converted`);
        return made;
      }
    }
    if (ins.heredoc) {
      note(ins, `a here-document in ${ins.keyword} is not converted; put the file in the repository`);
      return made;
    }
    const w = ins.json ? { words: ins.json.map((j) => oneWord(j, vars, parsed.escape).words[0]!), unresolved: [] } : splitWords(ins.args, vars, parsed.escape);
    unresolved(ins, w.unresolved, ins.keyword);
    if (w.words.length < 2) {
      note(ins, `${ins.keyword} needs a source and a destination`);
      return made;
    }
    const sources = w.words.slice(0, -1);
    const dest = w.words[w.words.length - 1]!;
    const from = flags.get('from');
    let producer: string | undefined;
    if (from !== undefined) {
      const name = oneWord(from, vars, parsed.escape).words[0]!.toLowerCase();
      const prev = /^\d+$/.test(name) ? stages[Number(name)] : stages.find((s) => s.alias === name);
      if (!prev && /^\d+$/.test(name)) {
        note(ins, `--from=${from} names no earlier stage (stages count from 0)`);
        return made;
      }
      if (prev && prev !== st) producer = prev.steps[prev.steps.length - 1]!.name;
      else if (!prev && !imageRefProblem(name)) producer = name;
      else {
        note(ins, `--from=${from} names no earlier stage or image`);
        return made;
      }
    } else if (ins.keyword === 'ADD') {
      const remote = sources.filter((s) => URL.test(s) || ARCHIVE.test(s));
      if (remote.length) {
        note(ins, `ADD of ${remote.map((s) => JSON.stringify(s)).join(', ')} (a URL or an archive ADD unpacks) is not converted: download or unpack it in a run`);
        return made;
      }
    }
    const placed: Placement[] = from !== undefined ? placeFrom(sources, dest, st.workdir) : placeLocal(sources, dest, st.workdir, kind);
    let cur: { step: DraftStep; workdir: string } | undefined;
    for (const p of placed) {
      switch (p.kind) {
        case 'skip':
          note(ins, p.message);
          break;
        case 'input': {
          // Sources of one COPY that land from the same workdir share a step.
          const s = cur && cur.workdir === p.workdir ? cur.step : newStep(st, all, base, lines(ins), p.workdir);
          cur = { step: s, workdir: p.workdir };
          s.inputs.push(p.input);
          if (p.workdir === st.workdir) st.open = s;
          break;
        }
        case 'import':
        case 'relocate': {
          let name = producer!;
          const producerStep = all.find((s) => s.name === name);
          if (p.kind === 'import' && producerStep && !producerStep.outputs.includes(p.path)) producerStep.outputs.push(p.path);
          if (p.kind === 'relocate' || !producerStep) {
            made++;
            const side: DraftStep = {
              name: `${st.name}-copy-${made}`,
              lines: lines(ins),
              from: producer ?? (st.parent.kind === 'image' ? st.parent.ref : st.parent.name),
              needs: [],
              inputs: p.kind === 'relocate' && p.input ? [p.input] : [],
              workdir: p.kind === 'relocate' && p.input ? STAGING : undefined,
              env: [],
              run: p.kind === 'relocate' ? [p.script] : [],
              outputs: [p.kind === 'relocate' ? p.target : p.path],
              comments: [`${file}:${ins.line}: ${printable(ins.text[0]!.trim())} (puts ${p.kind === 'relocate' ? p.target : p.path} in place for rep to import)`],
            };
            if (p.kind === 'relocate' && producer && !p.contents) note(ins, `copies to ${p.target}, taking the source as a file: if it is a folder whose contents Docker copies, write it as a folder (ending in /)`, true);
            all.splice(all.length, 0, side);
            name = side.name;
          }
          const s = newStep(st, all, base, lines(ins));
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
    return made;
  }
}

/** A step-name stem for a stage: its AS name made a step name, else stage-N; unique. */
function stageName(alias: string | undefined, stages: Stage[]): string {
  let n = (alias ?? (stages.length ? `stage-${stages.length}` : 'main')).replace(/[^a-z0-9_.-]+/g, '-').replace(/^[^a-z]+/, '').slice(0, 40) || `stage-${stages.length}`;
  while (stages.some((s) => s.name === n)) n = `${n}-${stages.length}`;
  return n;
}

/** A stage with one step names it after the stage alone. */
function rename(stages: Stage[], all: DraftStep[]): void {
  const map = new Map<string, string>();
  for (const st of stages) if (st.steps.length === 1 && !all.some((s) => s.name === st.name)) map.set(st.steps[0]!.name, st.name);
  const r = (n: string) => map.get(n) ?? n;
  for (const s of all) {
    s.name = r(s.name);
    if (s.from !== undefined) s.from = r(s.from);
    s.needs = s.needs.map(r);
  }
}
