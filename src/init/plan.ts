// Which Repfile a repository's configuration files make, decided the way
// repo2docker picks its build pack (repo2docker/app.py, `buildpacks`: Julia,
// R, conda, Pipfile, Python, in that order; R and Julia also install a
// requirements.txt and a setup.py, as their packs extend the Python one).
// Steps go from what changes least (system packages) to what changes most
// (the code, then what needs the code: the package itself, postBuild).
import type { Detected } from './detect.js';
import { aptInstall, parseApt } from './apt.js';
import { emptyPart, mergeParts, WORKDIR, type Draft, type InitPlan, type Part } from './draft.js';
import { condaPart, pipenvImage, pipPart, pythonImage, pythonPackage } from './pythonparts.js';
import { DEFAULT_PYTHON, parseRuntime, type Runtime } from './python.js';
import { juliaPart, rPart } from './rjparts.js';

const MICROMAMBA = 'mambaorg/micromamba:bookworm-slim';
/** The user micromamba's image runs as (its MAMBA_USER), which owns its conda environment. */
const MAMBA_USER = 'mambauser';
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Python from Debian in a venv on PATH, for R and Julia images with a requirements.txt or a package (whose packs extend repo2docker's Python one). */
function venvPart(d: Detected, base: string): Part {
  const pip = pipPart(d, '3.11');
  if (!pip.used.length) return pip;
  const julia = base.startsWith('julia:') ? '/usr/local/julia/bin:' : '';
  return mergeParts(pip, {
    ...emptyPart(),
    apt: ['python3', 'python3-venv'],
    setup: ['python3 -m venv /opt/venv'],
    why: ["Debian's Python 3 in a venv on PATH for pip"],
    env: [['PATH', `/opt/venv/bin:${julia}${SYSTEM_PATH}`]],
    notes: [`${pip.used.join(', ')}: installed into a venv of Debian's Python 3 (repo2docker uses its conda Python ${DEFAULT_PYTHON})`],
  });
}

export function planInit(d: Detected, now: Date): InitPlan {
  const f = d.files;
  const notes = [...d.notes];
  let runtime: Runtime | undefined;
  if (f['runtime.txt']) {
    const r = parseRuntime(d.text['runtime.txt']!);
    if ('error' in r) notes.push(`${f['runtime.txt']}: ${r.error}; repo2docker refuses it, rep init ignored it`);
    else runtime = r;
  }
  const juliaFile = f['JuliaProject.toml'] ?? f['Project.toml'];
  if (!juliaFile && f.REQUIRE) notes.push(`${f.REQUIRE}: Julia REQUIRE files are no longer supported by repo2docker (use Project.toml); rep init left it out`);
  const condaFile = f['environment.yml'] ?? f['environment.yaml'];
  const rByRepo2docker = (runtime?.name === 'r' && runtime.date !== undefined) || Boolean(d.root.DESCRIPTION);
  const r = rByRepo2docker || Boolean(f['install.R']) || runtime?.name === 'r';
  const pipenv = Boolean(f.Pipfile || f['Pipfile.lock']) && !(runtime && runtime.name !== 'python');
  const quietNotes: string[] = [];
  const python = runtime?.name === 'python' || Boolean(f['requirements.txt']) || pythonPackage(d, quietNotes) !== undefined;

  let base: string;
  let baseWhy: string;
  let part: Part;
  let cmd: string[];
  if (juliaFile) {
    const j = juliaPart(d);
    part = mergeParts(j, venvPart(d, j.base));
    ({ base, baseWhy } = j);
    cmd = ['julia'];
    if (f['install.R']) notes.push(`${f['install.R']}: not run, as repo2docker ignores it with a Julia project`);
  } else if (r) {
    if (!rByRepo2docker) notes.push(`${f['install.R'] ?? f['runtime.txt']}: repo2docker sets up R only with runtime.txt r-[VERSION-]YYYY-MM-DD or a DESCRIPTION at the root; rep init installs R anyway`);
    const rp = rPart(d, runtime, now);
    part = mergeParts(rp, venvPart(d, rp.base));
    ({ base, baseWhy } = rp);
    if (runtime?.name === 'r') part.used.unshift(f['runtime.txt']!);
    cmd = ['R'];
  } else if (condaFile) {
    const c = condaPart(d, condaFile);
    part = c;
    base = MICROMAMBA;
    baseWhy = `${condaFile} is a conda environment: micromamba installs it into its base environment, as repo2docker updates its own`;
    cmd = c.cmd;
  } else if (pipenv || python) {
    ({ part, base, baseWhy, cmd } = pipenv ? pipenvImage(d) : pythonImage(d, runtime));
  } else {
    part = emptyPart();
    base = 'debian:bookworm-slim';
    baseWhy = 'no language environment found: a plain Debian base';
    cmd = ['bash'];
  }
  if ((juliaFile || r) && condaFile) notes.push(`${condaFile}: not installed; repo2docker installs it into its conda environment beside ${juliaFile ? 'Julia' : 'R'}, which this image does not have`);
  const pipfiles = [f.Pipfile, f['Pipfile.lock']].filter(Boolean).join(' and ');
  if ((juliaFile || r) && pipfiles) notes.push(`${pipfiles}: not installed, as repo2docker does not with ${juliaFile ? 'a Julia project' : 'R'}`);
  return assemble(d, { base, baseWhy, part, cmd, notes });
}

function assemble(d: Detected, p: { base: string; baseWhy: string; part: Part; cmd: string[]; notes: string[] }): InitPlan {
  const f = d.files;
  const { part } = p;
  const notes = [...p.notes, ...part.notes, ...d.shadowed.map((s) => `${s} at the root: not installed on its own, as repo2docker ignores it when ${d.envDir}/ exists`)];
  const used: string[] = [];
  const steps: (Draft & { root?: boolean })[] = [];
  const apt = f['apt.txt'];
  if (apt) {
    used.push(apt);
    for (const bad of parseApt(d.text['apt.txt']!).invalid) notes.push(`${apt}:${bad.line}: "${bad.word.slice(0, 60)}" is not a Debian package name; the build stops there (repo2docker refuses it too)`);
  }
  used.push(...part.used);
  if (apt || part.apt.length || part.setup.length) {
    const what = [apt ? `the packages ${apt} names` : '', ...part.why];
    steps.push({ name: 'system', comment: `System: ${what.filter(Boolean).join('; ')}.`, inputs: apt ? [apt] : [], run: [...aptInstall(apt, part.apt), ...part.setup], root: true });
  }
  steps.push(...part.pre);
  const mamba = p.base === MICROMAMBA;
  const start = f.start;
  const codeRun = [...(mamba ? [`chown -R ${MAMBA_USER}:${MAMBA_USER} ${WORKDIR}`] : []), ...(start ? [`chmod +x ${start}`] : [])];
  const owned = mamba ? `, owned by ${MAMBA_USER} as repo2docker makes them its user's` : '';
  steps.push({ name: 'code', comment: `The code and data of the repository (what .dockerignore keeps)${owned}; edits rebuild from here.`, inputs: ['.'], run: codeRun, root: true });
  steps.push(...part.post);
  if (f.postBuild) {
    used.push(f.postBuild);
    steps.push({ name: 'post-build', comment: `Runs ${f.postBuild} after everything else, made executable first, as repo2docker does.`, inputs: [], run: [`chmod +x ${f.postBuild}`, `./${f.postBuild}`] });
  }
  if (start) used.push(start);
  if ((f.postBuild || start) && !mamba) notes.push(`${[f.postBuild, start].filter(Boolean).join(' and ')} ${f.postBuild && start ? 'run' : 'runs'} as root, the user of ${p.base}; repo2docker runs ${f.postBuild && start ? 'them' : 'it'} as a non-root user`);

  // Only micromamba's image has a user other than root: root for apt and for owning the code, its user otherwise.
  let user = mamba ? MAMBA_USER : 'root';
  for (const s of steps) {
    const want = s.root || !mamba ? 'root' : MAMBA_USER;
    if (want !== user) s.user = user = want;
    delete s.root;
  }
  const image: InitPlan['image'] = { cmd: p.cmd };
  if (start) image.entrypoint = [...(mamba ? ['/usr/local/bin/_entrypoint.sh'] : []), `${WORKDIR}/${start}`];
  if (mamba && user !== MAMBA_USER) image.user = MAMBA_USER;
  const env: [string, string][] = [['LANG', 'C.UTF-8'], ['DEBIAN_FRONTEND', 'noninteractive'], ...part.env];
  if (mamba) env.push(['PATH', `/opt/conda/bin:${SYSTEM_PATH}`]);
  return { base: p.base, baseWhy: p.baseWhy, env, steps, image, used: [...new Set(used)], notes };
}
