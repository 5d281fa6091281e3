// A commented Repfile for what `detect` found: steps ordered from what changes
// least (system packages, language environments) to what changes most (code),
// so that editing code rebuilds only the last steps.
import type { Detected } from './detect.js';

interface Draft {
  name: string;
  comment: string;
  inputs: string[];
  run: string[];
}

const yamlString = (s: string) => (/^[\w./@:=-][\w ./@:=+-]*$/.test(s) && !/^(true|false|null|yes|no|on|off|\d.*)$/i.test(s) ? s : JSON.stringify(s));

export function projectName(dir: string): string {
  const n = dir
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .replace(/[._-]{2,}/g, '-');
  return n || 'analysis';
}

export function renderRepfile(d: Detected, name: string): string {
  const f = d.files;
  const hasR = Boolean(f['install.R'] || f.DESCRIPTION || d.runtime?.kind === 'r');
  const hasPython = Boolean(f['requirements.txt'] || f.Pipfile || d.pythonPackage || d.runtime?.kind === 'python');
  const conda = Boolean(f['environment.yml']);
  const julia = Boolean(f['Project.toml']);

  let base: string;
  let baseWhy: string;
  if (conda) {
    base = 'mambaorg/micromamba:bookworm-slim';
    baseWhy = 'environment.yml is a conda environment: micromamba installs it';
  } else if (hasPython) {
    const v = d.runtime?.kind === 'python' ? d.runtime.version : '3.12';
    base = `python:${v}-slim`;
    baseWhy = d.runtime?.kind === 'python' ? `${f['runtime.txt']} asks for Python ${v}` : 'a Python project; pin the version you use';
  } else if (julia) {
    base = 'julia:1.10';
    baseWhy = 'Project.toml is a Julia project';
  } else {
    base = 'debian:bookworm-slim';
    baseWhy = hasR ? "R comes from Debian's r-base-core below" : 'no language environment found; a plain Debian base';
  }

  const drafts: Draft[] = [];
  const aptPkgs: string[] = [];
  if (hasR) aptPkgs.push('r-base-core');
  if (f['apt.txt'] || aptPkgs.length) {
    const run = ['apt-get update'];
    if (f['apt.txt']) run.push(`grep -v '^#' ${f['apt.txt']} | xargs apt-get install -y --no-install-recommends`);
    if (aptPkgs.length) run.push(`apt-get install -y --no-install-recommends ${aptPkgs.join(' ')}`);
    run.push('rm -rf /var/lib/apt/lists/*');
    drafts.push({ name: 'system', comment: `System packages${f['apt.txt'] ? ` from ${f['apt.txt']}` : ''}${hasR ? ', and R' : ''}.`, inputs: f['apt.txt'] ? [f['apt.txt']] : [], run });
  }
  if (conda) {
    drafts.push({
      name: 'conda',
      comment: `The conda environment of ${f['environment.yml']}.`,
      inputs: [f['environment.yml']!],
      run: [`micromamba install -y -n base -f ${f['environment.yml']}`, 'micromamba clean --all --yes'],
    });
  }
  if (f['requirements.txt']) {
    drafts.push({ name: 'python', comment: `Python packages from ${f['requirements.txt']}.`, inputs: [f['requirements.txt']], run: [`pip install --no-cache-dir -r ${f['requirements.txt']}`] });
  }
  if (f.Pipfile) {
    const inputs = [f.Pipfile, ...(f['Pipfile.lock'] ? [f['Pipfile.lock']] : [])];
    const dir = d.envDir || '.';
    drafts.push({
      name: 'pipenv',
      comment: `Python packages from ${inputs.join(' and ')}.`,
      inputs,
      run: ['pip install --no-cache-dir pipenv', `cd ${dir} && pipenv install --system ${f['Pipfile.lock'] ? '--deploy' : '--skip-lock'}`],
    });
  }
  if (f['install.R']) drafts.push({ name: 'r-packages', comment: `R packages installed by ${f['install.R']}.`, inputs: [f['install.R']], run: [`Rscript ${f['install.R']}`] });
  if (f.DESCRIPTION) {
    drafts.push({
      name: 'r-deps',
      comment: `The R package dependencies named in ${f.DESCRIPTION}.`,
      inputs: [f.DESCRIPTION],
      run: [`Rscript -e 'install.packages("remotes"); remotes::install_deps("${d.envDir || '.'}", dependencies = TRUE)'`],
    });
  }
  if (julia) {
    drafts.push({ name: 'julia', comment: `Julia packages of ${f['Project.toml']}.`, inputs: [f['Project.toml']!], run: [`julia --project=${d.envDir || '.'} -e 'using Pkg; Pkg.instantiate()'`] });
  }
  drafts.push({ name: 'code', comment: 'The code and data of the repository (what .dockerignore keeps); edits rebuild from here.', inputs: ['.'], run: [] });
  if (d.pythonPackage) drafts.push({ name: 'install', comment: `Install the package itself (${d.pythonPackage}).`, inputs: [], run: ['pip install --no-cache-dir .'] });
  if (f.postBuild) drafts.push({ name: 'post-build', comment: `Runs ${f.postBuild}, as Binder does after everything else.`, inputs: [], run: [`chmod +x ${f.postBuild}`, `./${f.postBuild}`] });

  const found = Object.values(f).concat(d.pythonPackage ? [d.pythonPackage] : []);
  const lines: string[] = [
    `# Repfile written by \`rep init\` from ${found.length ? found.join(', ') : 'no environment files'}.`,
    '# Steps run from what changes least to what changes most, so that editing code',
    '# rebuilds only the last steps. Check the base image and the commands, then run `rep build`',
    '# (`rep build --network host` where containers reach the network only that way).',
  ];
  if (d.conflict) lines.push(`# Note: ${d.conflict}.`);
  lines.push('rep: 1', `name: ${name}`, `# ${baseWhy}`, `base: ${base}`, 'workdir: /work', 'env:', '  LANG: C.UTF-8', '  DEBIAN_FRONTEND: noninteractive', 'steps:');
  drafts.forEach((s, i) => {
    lines.push(`  ${s.name}:`, `    # ${s.comment}`);
    if (i > 0) lines.push(`    needs: [${drafts[i - 1]!.name}]`);
    if (s.inputs.length) lines.push(`    inputs: [${s.inputs.map(yamlString).join(', ')}]`);
    if (s.run.length === 1) lines.push(`    run: ${yamlString(s.run[0]!)}`);
    else if (s.run.length > 1) lines.push('    run:', ...s.run.map((r) => `      - ${yamlString(r)}`));
  });
  const start = f.start;
  lines.push('image:', `  from: ${drafts[drafts.length - 1]!.name}`);
  if (start) lines.push(`  # ${start} wraps every command, as on Binder`, `  entrypoint: [${yamlString(`/work/${start}`)}]`);
  lines.push(`  cmd: [${hasPython ? 'python3' : hasR ? 'R' : julia ? 'julia' : 'bash'}]`);
  return `${lines.join('\n')}\n`;
}
