// The R and Julia parts of a Repfile (repo2docker/buildpacks/r.py,
// julia/julia_project.py). R: a dated CRAN snapshot as the mirror of every R
// session, install.R run with repo2docker's flags, a DESCRIPTION installed as
// a package (remotes::install_local) after the code, compilers present.
// Julia: JULIA_PROJECT set, the project instantiated as repo2docker does.
import type { Detected } from './detect.js';
import { emptyPart, WORKDIR, type Part } from './draft.js';
import { juliaFacts } from './julia.js';
import type { Runtime } from './python.js';
import { chooseR, R_DEFAULT, rRelease, setMirror, snapshotUrl, SNAPSHOT_CUTOFF, twoDaysBefore } from './r.js';

const RSCRIPT = 'Rscript --no-save --no-restore --no-init-file --no-environ';

/** install.R reads other files of the repository: run it after the code is in (repo2docker retries it there). */
const readsFiles = (text: string) => /\b(source|sys\.source|readLines|readRDS|read\.\w+|file)\s*\(/.test(text);

export function rPart(d: Detected, runtime: Runtime | undefined, now: Date): Part & { base: string; baseWhy: string } {
  const part = emptyPart();
  const rt = runtime?.name === 'r' ? runtime : undefined;
  let choice = chooseR(rt?.version, rt?.date);
  if ('error' in choice) {
    part.notes.push(`${d.files['runtime.txt']}: ${choice.error}; rep init took Debian's R`);
    choice = chooseR(undefined, undefined) as Exclude<typeof choice, { error: string }>;
  }
  const debian = choice.image === 'debian';
  const r2d = rt?.version ? (rRelease(rt.version) ?? rt.version) : R_DEFAULT;
  if (choice.version !== r2d) part.notes.push(`R ${choice.version} (${choice.why}), where repo2docker would install R ${r2d}`);

  let date = rt?.date;
  if (!date) {
    date = twoDaysBefore(now);
    part.notes.push(`no snapshot date in runtime.txt: rep init pinned CRAN as of ${date} (repo2docker takes two days before each build)`);
  } else if (date < SNAPSHOT_CUTOFF) part.notes.push(`snapshot date ${date} is before ${SNAPSHOT_CUTOFF}, which repo2docker refuses; rep init kept it`);

  const installR = d.files['install.R'];
  const description = d.root.DESCRIPTION;
  const compiles = Boolean(installR || description);
  // Compilers for packages that build from source: r-base-dev on Debian; rocker/r-ver builds R from source but we do not rely on what it kept.
  part.apt.push(...(debian ? ['r-base-core', ...(compiles ? ['r-base-dev'] : []), ...(description ? ['r-cran-remotes'] : [])] : compiles ? ['build-essential', 'gfortran'] : []));
  part.setup.push(setMirror(snapshotUrl(date)));
  part.why.push(`${debian ? `R ${choice.version} from Debian` : `R ${choice.version} from the base`}${compiles ? ' and compilers for packages built from source' : ''}; CRAN as of ${date} as the mirror of every R session`);

  if (installR) {
    part.used.push(installR);
    const run = [`${RSCRIPT} ${installR}`, 'rm -rf /tmp/downloaded_packages'];
    if (readsFiles(d.text['install.R']!)) part.post.push({ name: 'r-packages', comment: `R packages installed by ${installR}, after the code: it reads other files of the repository (repo2docker retries it there).`, inputs: [], run });
    else part.pre.push({ name: 'r-packages', comment: `R packages installed by ${installR}.`, inputs: [installR], run });
  }
  if (description) {
    part.used.push(description);
    part.post.push({
      name: 'r-package',
      comment: 'Install the repository itself as an R package, with the dependencies its DESCRIPTION names (remotes::install_local, as repo2docker does).',
      inputs: [],
      run: [`Rscript -e 'if (!requireNamespace("remotes", quietly = TRUE)) install.packages("remotes")'`, `R --no-save --no-restore --no-init-file --no-environ --quiet -e 'remotes::install_local()'`],
    });
  }
  const base = debian ? 'debian:bookworm-slim' : choice.image;
  return { ...part, base, baseWhy: `${choice.why}; packages from the CRAN snapshot of ${date}` };
}

export function juliaPart(d: Detected): Part & { base: string; baseWhy: string } {
  const part = emptyPart();
  const project = d.files['JuliaProject.toml'] ?? d.files['Project.toml']!;
  const manifest = d.files['JuliaProject.toml'] ? d.files['JuliaManifest.toml'] : d.files['Manifest.toml'];
  const facts = juliaFacts(d.text['JuliaProject.toml'] ?? d.text['Project.toml']!, manifest ? d.text[d.files['JuliaProject.toml'] ? 'JuliaManifest.toml' : 'Manifest.toml'] : undefined, project);
  if (facts.unread) part.notes.push(facts.unread);
  const inputs = [project, ...(manifest ? [manifest] : [])];
  part.used.push(...inputs);
  const dir = d.envDir ? `${WORKDIR}/${d.envDir}` : WORKDIR;
  part.env.push(['JULIA_PROJECT', dir]);
  const run = [`julia --project=${dir} -e 'using Pkg; Pkg.instantiate(); Pkg.resolve(); Pkg.instantiate()'`];
  const what = `The Julia packages of ${inputs.join(' and ')}`;
  if (facts.needsCode) part.post.push({ name: 'julia', comment: `${what}, after the code: the project is a package itself or installs from a path.`, inputs: [], run });
  else part.pre.push({ name: 'julia', comment: `${what}.`, inputs, run });
  if (d.files['runtime.txt']) part.notes.push(`${d.files['runtime.txt']}: not used, as repo2docker ignores it with a Julia project`);
  return { ...part, base: `julia:${facts.tag}`, baseWhy: facts.why };
}
