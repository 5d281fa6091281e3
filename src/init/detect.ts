// What configuration files a repository has, found where repo2docker looks
// for them (repo2docker/buildpacks/base.py, binder_path): in binder/ or
// .binder/ when there is one, which then shadows the root; else at the root.
// A repository is someone else's: files are read bounded, and a link is never
// followed (it is reported and left out).
import { lstatSync } from 'node:fs';
import path from 'node:path';
import { isRealDir, readBounded } from '../safefs.js';

/** Files repo2docker reads in the configuration folder. */
export const ENV_FILES = [
  'apt.txt',
  'environment.yml',
  'environment.yaml',
  'requirements.txt',
  'requirements3.txt',
  'Pipfile',
  'Pipfile.lock',
  'install.R',
  'Project.toml',
  'JuliaProject.toml',
  'Manifest.toml',
  'JuliaManifest.toml',
  'REQUIRE',
  'runtime.txt',
  'postBuild',
  'start',
  '.dockerignore',
  '.containerignore',
] as const;
/** Files repo2docker reads at the root only, and only when there is no binder/ or .binder/ folder. */
export const ROOT_FILES = ['setup.py', 'pyproject.toml', 'DESCRIPTION'] as const;

export type EnvFile = (typeof ENV_FILES)[number];
export type RootFile = (typeof ROOT_FILES)[number];

/** The most rep init reads of one configuration file (a lock file can be large). */
const READ_LIMIT = 4 << 20;

export interface Detected {
  /** The repository's folder. */
  repo: string;
  /** Folder the configuration files are in, relative to the repository ("" for the root). */
  envDir: '' | 'binder' | '.binder';
  /** Configuration files found there: name -> path relative to the repository. */
  files: Partial<Record<EnvFile, string>>;
  /** setup.py, pyproject.toml, DESCRIPTION at the root, when no binder folder shadows them. */
  root: Partial<Record<RootFile, string>>;
  /** Text of each file found (undefined when it could not be read: see notes). */
  text: Partial<Record<EnvFile | RootFile, string>>;
  /** Root files a binder folder shadows, which repo2docker ignores. */
  shadowed: string[];
  /** The root .dockerignore, when there is one (a binder folder shadows it too). */
  rootIgnore?: string;
  /** What stands at .dockerignore when it is not a file rep init read (a link, a folder): then it is left alone. */
  rootIgnoreUnread?: string;
  /** Things found that rep init could not read or that repo2docker refuses, one sentence each. */
  notes: string[];
}

type Kind = 'file' | 'link' | 'other' | 'none';
function kind(p: string): Kind {
  const st = lstatSync(p, { throwIfNoEntry: false });
  if (!st) return 'none';
  return st.isFile() ? 'file' : st.isSymbolicLink() ? 'link' : 'other';
}

export function detect(repo: string): Detected {
  const binder = isRealDir(path.join(repo, 'binder'));
  const dotBinder = isRealDir(path.join(repo, '.binder'));
  // repo2docker refuses a repository with both; rep init reads binder/ and says so.
  const envDir = binder ? 'binder' : dotBinder ? '.binder' : '';
  const out: Detected = { repo, envDir, files: {}, root: {}, text: {}, shadowed: [], notes: [] };
  for (const name of ['binder', '.binder']) {
    if (kind(path.join(repo, name)) === 'link') out.notes.push(`${name} is a symbolic link: rep init does not follow links in a repository and read ${envDir ? `${envDir}/` : 'the root'} instead (repo2docker reads the folder it points to)`);
  }
  if (binder && dotBinder) out.notes.push('both binder/ and .binder/ exist: rep init read binder/ (repo2docker refuses such a repository)');

  const read = (rel: string): string | undefined => {
    const r = readBounded(path.join(repo, rel), { limit: READ_LIMIT });
    if (r.ok) return r.bytes.toString('utf8');
    out.notes.push(`${rel}: ${r.message}; rep init left it out`);
    return undefined;
  };
  const found = (rel: string): boolean => {
    const k = kind(path.join(repo, rel));
    if (k === 'link') out.notes.push(`${rel} is a symbolic link: rep init does not follow links in a repository and left it out`);
    return k === 'file';
  };

  for (const f of ENV_FILES) {
    // The root .dockerignore is read below, as rootIgnore.
    if (!envDir && f === '.dockerignore') continue;
    const rel = envDir ? `${envDir}/${f}` : f;
    if (!found(rel)) continue;
    const text = read(rel);
    if (text === undefined) continue;
    out.files[f] = rel;
    out.text[f] = text;
  }
  for (const f of ROOT_FILES) {
    if (kind(path.join(repo, f)) !== 'file') continue;
    if (envDir) {
      out.shadowed.push(f);
      continue;
    }
    const text = read(f);
    if (text === undefined) continue;
    out.root[f] = f;
    out.text[f] = text;
  }
  const ignore = kind(path.join(repo, '.dockerignore'));
  if (ignore === 'file') out.rootIgnore = read('.dockerignore');
  if (ignore !== 'none' && out.rootIgnore === undefined) out.rootIgnoreUnread = ignore === 'link' ? 'a symbolic link' : ignore === 'other' ? 'not a regular file' : 'a file it could not read';
  return out;
}
