// The Python parts of a Repfile, in repo2docker's order
// (repo2docker/buildpacks/python/__init__.py, pipfile/__init__.py,
// conda/__init__.py): a requirements file before the code unless it refers to
// files of the repository (`-e .`, `-r other.txt`), then after; the package
// itself (setup.py, or pyproject.toml with [project] and [build-system]) after
// the code; pipenv with --ignore-pipfile (a lock) or --skip-lock, --system
// --dev; a conda environment with micromamba.
import type { Detected } from './detect.js';
import { emptyPart, type Part } from './draft.js';
import { pythonFor } from './pep440.js';
import { condaFacts, DEFAULT_PYTHON, hasLocalRequirement, pipfileFacts, pyprojectIsPackage, pyprojectRequiresPython, pythonXY, type Runtime } from './python.js';

/** What a build pack chose: the base, what the Repfile adds to it, the command the image runs. */
export interface Image {
  part: Part;
  base: string;
  baseWhy: string;
  cmd: string[];
}

/** python:2.7 images have python and python2, not python3. */
const pythonCmd = (v: string) => [v.startsWith('2.') ? 'python' : 'python3'];

/** The root file that makes the repository a Python package, if any (PythonBuildPack._is_python_package). */
export function pythonPackage(d: Detected, notes: string[]): 'setup.py' | 'pyproject.toml' | undefined {
  if (d.root['setup.py']) return 'setup.py';
  if (d.root['pyproject.toml']) {
    if (pyprojectIsPackage(d.text['pyproject.toml']!)) return 'pyproject.toml';
    notes.push('pyproject.toml has no [project] and [build-system] tables: like repo2docker, rep init does not install the repository as a package');
  }
  return undefined;
}

/** requirements3.txt: repo2docker reads it only beside a Python older than 3.7, for its notebook server's Python 3. */
function requirements3(d: Detected, python: string, notes: string[]): void {
  const r3 = d.files['requirements3.txt'];
  if (!r3) return;
  const legacy = Number(python.split('.')[0]) < 3 || python === '3.5' || python === '3.6';
  notes.push(
    legacy
      ? `${r3}: repo2docker installs it into the Python 3 of its notebook server beside the Python ${python} kernel; a rep image has no such second Python, so it is not installed`
      : `${r3}: not installed, as repo2docker reads it only when the Python is older than 3.7`,
  );
}

/** requirements.txt and the package itself, installed with the `pip` on PATH. */
export function pipPart(d: Detected, python: string): Part {
  const part = emptyPart();
  const req = d.files['requirements.txt'];
  if (req) {
    part.used.push(req);
    const local = hasLocalRequirement(d.text['requirements.txt']!);
    const step = { name: 'python', inputs: local ? [] : [req], run: [`pip install --no-cache-dir -r ${req}`] };
    if (local) part.post.push({ ...step, comment: `Python packages from ${req}, after the code: it refers to files of the repository (as repo2docker installs it).` });
    else part.pre.push({ ...step, comment: `Python packages from ${req}.` });
  }
  requirements3(d, python, part.notes);
  const pkg = pythonPackage(d, part.notes);
  if (pkg) {
    part.used.push(pkg);
    part.post.push({ name: 'install', comment: `Install the repository itself as a Python package (${pkg}), as repo2docker does.`, inputs: [], run: ['pip install --no-cache-dir .'] });
  }
  return part;
}

/** pipenv as PipfileBuildPack runs it, from the configuration folder. */
export function pipenvImage(d: Detected): Image {
  const part = emptyPart();
  const pipfile = d.files.Pipfile;
  const lock = d.files['Pipfile.lock'];
  const inputs = [pipfile, lock].filter((x): x is string => x !== undefined);
  part.used.push(...inputs);
  const facts = pipfileFacts(d.text.Pipfile, d.text['Pipfile.lock']);
  const python = facts.python ?? DEFAULT_PYTHON;
  if (d.files['runtime.txt']) part.notes.push(`${d.files['runtime.txt']}: not used, as repo2docker takes the Python version from Pipfile.lock or Pipfile [requires]`);
  // PipfileBuildPack.get_preassemble_scripts: the last pipenv for Python before 3.6.
  const old = Number(python.split('.')[0]) < 3 || ['3.0', '3.1', '3.2', '3.3', '3.4', '3.5'].includes(python);
  part.pre.push({ name: 'pipenv', comment: 'pipenv, the version repo2docker installs.', inputs: [], run: [`pip install --no-cache-dir pipenv==${old ? '2021.5.29' : '2022.1.8'}`] });
  const install = `cd ${d.envDir || '.'} && pipenv install ${lock ? '--ignore-pipfile' : '--skip-lock'} --system --dev && pipenv --clear`;
  const what = `${inputs.join(' and ')} (packages and dev-packages, as repo2docker installs them)`;
  if (facts.localPath) part.post.push({ name: 'pipenv-install', comment: `Python packages from ${what}, after the code: a dependency is a folder of the repository.`, inputs: [], run: [install] });
  else part.pre.push({ name: 'pipenv-install', comment: `Python packages from ${what}.`, inputs, run: [install] });
  if (d.files['requirements.txt']) part.notes.push(`${d.files['requirements.txt']}: not installed, as repo2docker does not with a Pipfile`);
  requirements3(d, python, part.notes);
  const pkg = pythonPackage(d, []);
  if (pkg && facts.localPath) part.used.push(pkg);
  else if (pkg) part.notes.push(`${pkg}: not installed, as repo2docker does not with a Pipfile unless it names the repository ({path = ".", editable = true})`);
  const baseWhy = facts.python ? `Python ${python}, from ${facts.pythonFrom} [requires]` : `no Python version in Pipfile [requires]: repo2docker's default, ${python}`;
  return { part, base: `python:${python}-slim`, baseWhy, cmd: pythonCmd(python) };
}

/** requirements.txt, setup.py/pyproject.toml on the python image runtime.txt names (PythonBuildPack). */
export function pythonImage(d: Detected, runtime: Runtime | undefined): Image {
  const notes: string[] = [];
  const rt = d.files['runtime.txt'];
  let python = DEFAULT_PYTHON;
  if (runtime?.name === 'python') {
    const xy = runtime.version ? pythonXY(runtime.version) : undefined;
    if (xy) python = xy;
    else notes.push(`${rt}: "${runtime.version}" is not a Python version; rep init took ${python}`);
  }
  // PythonBuildPack.python_version: requires-python (root pyproject.toml only) moves a default Python, never runtime.txt's
  // x.y (a bare python-3 is a default: len(Version(version).release) <= 1).
  const pinned = runtime?.name === 'python' && /^\d+\.\d+/.test(runtime.version ?? '');
  const requires = d.root['pyproject.toml'] ? pyprojectRequiresPython(d.text['pyproject.toml']!) : undefined;
  let why = runtime?.name === 'python' ? `${rt} asks for Python ${python}` : `no Python in runtime.txt: repo2docker's default, ${python}`;
  if (requires !== undefined) {
    const chosen = pythonFor(requires, python);
    if ('error' in chosen) notes.push(`pyproject.toml requires-python: ${chosen.error}; rep init took Python ${python}`);
    else if (chosen.version !== python && pinned) notes.push(`${rt} asks for Python ${python}, which pyproject.toml's requires-python = "${requires}" excludes: repo2docker refuses that; rep init kept ${python}`);
    else if (chosen.version !== python) {
      python = chosen.version;
      why = `pyproject.toml requires-python = "${requires}": the newest Python repo2docker supports that satisfies it, ${python}`;
    }
  }
  const part = pipPart(d, python);
  part.notes.unshift(...notes);
  if (runtime?.name === 'python') part.used.unshift(rt!);
  return { part, base: `python:${python}-slim`, baseWhy: why, cmd: pythonCmd(python) };
}


/** The environment file into micromamba's base environment (CondaBuildPack.get_env_scripts). */
export function condaPart(d: Detected, file: string): Part & { cmd: string[] } {
  const part = emptyPart();
  part.used.push(file);
  const facts = condaFacts(d.text['environment.yml'] ?? d.text['environment.yaml']!);
  if (facts.error) part.notes.push(`${file}: ${facts.error}; repo2docker refuses it, micromamba will too`);
  if (facts.unread) part.notes.push(`${file}: ${facts.unread}; rep init did not read it (the Repfile installs it, but assumes python and no R: check it)`);
  const run = [`micromamba install -y -n base -f ${file}`, 'micromamba clean --all --yes'];
  if (facts.localPip) part.post.push({ name: 'conda', comment: `The conda environment of ${file}, after the code: its pip section refers to files of the repository (as repo2docker installs it).`, inputs: [], run });
  else part.pre.push({ name: 'conda', comment: `The conda environment of ${file}.`, inputs: [file], run });
  const ignored = (['requirements.txt', 'Pipfile', 'Pipfile.lock', 'runtime.txt'] as const).flatMap((f) => (d.files[f] ? [d.files[f]!] : []));
  if (ignored.length) part.notes.push(`${ignored.join(', ')}: not used, as repo2docker ignores ${ignored.length > 1 ? 'them' : 'it'} when there is an ${file.split('/').pop()} (list pip packages under "pip:" in it)`);
  const pkg = pythonPackage(d, part.notes);
  if (pkg) part.notes.push(`${pkg}: not installed, as repo2docker does not with an environment file (add "-e ." under "pip:" in ${file})`);
  return { ...part, cmd: facts.hasPython || !facts.usesR ? ['python'] : ['R'] };
}
