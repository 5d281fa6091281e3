// What environment files a repository has, found the way Binder/repo2docker
// looks for them: in binder/ (or .binder/) when there is one, which then
// shadows the files at the root; else at the root.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export const ENV_FILES = [
  'apt.txt',
  'environment.yml',
  'requirements.txt',
  'Pipfile',
  'Pipfile.lock',
  'install.R',
  'DESCRIPTION',
  'Project.toml',
  'runtime.txt',
  'postBuild',
  'start',
] as const;

export type EnvFile = (typeof ENV_FILES)[number];

export interface Detected {
  /** Folder the environment files are in, relative to the repository ("" for the root). */
  envDir: string;
  /** Environment files found there, with their paths relative to the repository. */
  files: Partial<Record<EnvFile, string>>;
  /** setup.py / pyproject.toml at the root: the repository is a Python package. */
  pythonPackage?: 'setup.py' | 'pyproject.toml';
  runtime?: { kind: 'python'; version: string } | { kind: 'r'; version?: string; date?: string };
  /** When binder/ and .binder/ both exist (repo2docker refuses that too). */
  conflict?: string;
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();
const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

export function detect(repo: string): Detected {
  const binder = isDir(path.join(repo, 'binder'));
  const dotBinder = isDir(path.join(repo, '.binder'));
  const envDir = binder ? 'binder' : dotBinder ? '.binder' : '';
  const files: Detected['files'] = {};
  for (const f of ENV_FILES) {
    const rel = envDir ? `${envDir}/${f}` : f;
    if (isFile(path.join(repo, rel))) files[f] = rel;
  }
  const out: Detected = { envDir, files };
  if (binder && dotBinder) out.conflict = 'both binder/ and .binder/ exist; rep init read binder/ (Binder refuses such a repository)';
  if (isFile(path.join(repo, 'setup.py'))) out.pythonPackage = 'setup.py';
  else if (isFile(path.join(repo, 'pyproject.toml'))) out.pythonPackage = 'pyproject.toml';
  if (files['runtime.txt']) {
    const text = readFileSync(path.join(repo, files['runtime.txt']), 'utf8').trim();
    const py = /^python-(\d+(?:\.\d+)?)/.exec(text);
    const r = /^r-(?:(\d+(?:\.\d+)*)-)?(\d{4}-\d{2}-\d{2})$/.exec(text);
    if (py) out.runtime = { kind: 'python', version: py[1]! };
    else if (r) out.runtime = { kind: 'r', version: r[1], date: r[2] };
  }
  return out;
}
