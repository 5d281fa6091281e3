// The Repfile rep init is about to write, as data: which base, which steps in
// which order, what the image runs, every file it used and every place where
// it differs from repo2docker (said in the Repfile and on the terminal).

export interface Draft {
  name: string;
  comment: string;
  inputs: string[];
  run: string[];
  user?: string;
}

export interface InitPlan {
  base: string;
  baseWhy: string;
  /** Top-level env, in the order written. */
  env: [string, string][];
  steps: Draft[];
  image: { entrypoint?: string[]; cmd: string[]; user?: string };
  /** Every file of the repository the Repfile reads, in the order found. */
  used: string[];
  /** Where the Repfile differs from what repo2docker would build, or what it left out, one sentence each. */
  notes: string[];
}

/** Where rep copies the repository (repo2docker's REPO_DIR is the user's home). */
export const WORKDIR = '/work';

/** A language's part of the Repfile: packages for the system step, steps before and after the code, env. */
export interface Part {
  apt: string[];
  /** Commands for the system step, after its packages (R's mirror, a Python venv). */
  setup: string[];
  /** What the packages and setup are for, for the system step's comment. */
  why: string[];
  pre: Draft[];
  post: Draft[];
  env: [string, string][];
  used: string[];
  notes: string[];
}

export const emptyPart = (): Part => ({ apt: [], setup: [], why: [], pre: [], post: [], env: [], used: [], notes: [] });

export function mergeParts(...parts: Part[]): Part {
  const out = emptyPart();
  for (const p of parts) {
    out.apt.push(...p.apt.filter((a) => !out.apt.includes(a)));
    out.setup.push(...p.setup);
    out.why.push(...p.why);
    out.pre.push(...p.pre);
    out.post.push(...p.post);
    out.env.push(...p.env);
    out.used.push(...p.used);
    out.notes.push(...p.notes);
  }
  return out;
}
