// Picking the engine: an explicit name, or "auto" (docker, then podman, then
// none), saying why when it passes by a docker the user set up.
import { clip, fail, ok, type Result } from '../diag.js';
import type { EngineChoice } from './choice.js';
import { CliEngine } from './cli.js';
import { askedPlatformProblem, type Engine } from './engine.js';
import { NoneEngine } from './none.js';

export { ENGINE_CHOICES, type EngineChoice } from './choice.js';

export interface Selected {
  engine: Engine;
  /** A one-line notice for the user: auto fell back. */
  notice?: string;
  /**
   * Why auto found no engine, when it fell back to none: said as the problem
   * by a command that is no use without an engine, rather than the notice.
   */
  unanswered?: string;
}

/** The engine to use, or an engine problem saying why the one named cannot be used. */
export async function selectEngine(choice: EngineChoice, opts: { buildkit?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<Result<Selected>> {
  const make = (flavor: 'docker' | 'podman') => new CliEngine({ flavor, buildkit: opts.buildkit, env: opts.env });
  const env = opts.env ?? process.env;
  const platform = askedPlatformProblem(env);
  // docker's client reads it (podman does not): refused before docker is used, as a flag would be.
  const refused = (): Result<Selected> => fail({ kind: 'flag', flag: `DOCKER_DEFAULT_PLATFORM=${JSON.stringify(clip(env.DOCKER_DEFAULT_PLATFORM ?? '', 100))}`, message: platform! });
  switch (choice) {
    case 'none':
      return ok({ engine: new NoneEngine() });
    case 'docker':
    case 'podman': {
      if (choice === 'docker' && platform) return refused();
      const e = make(choice);
      if (await e.available()) return ok({ engine: e });
      return fail({ kind: 'engine', engine: choice, message: `not available (\`${e.bin} version\` failed): is the ${choice === 'docker' ? 'daemon running' : 'binary installed'}?` });
    }
    case 'auto': {
      const docker = make('docker');
      const silent = await docker.whySilent();
      if (!silent) return platform ? refused() : ok({ engine: docker });
      // Docker the user set up (DOCKER_HOST, a client named by REP_DOCKER, or a client whose daemon is down) is not passed by in silence.
      const why = env.DOCKER_HOST ? `DOCKER_HOST=${env.DOCKER_HOST}` : silent.kind === 'no-answer' ? silent.said : env.REP_DOCKER ? `REP_DOCKER=${env.REP_DOCKER}: no such program` : undefined;
      const podman = make('podman');
      if (await podman.available()) return ok({ engine: podman, ...(why ? { notice: `docker does not answer (${why}): using podman` } : {}) });
      const unanswered = `no container engine answers (docker${why ? `: ${why};` : ','} podman)`;
      return ok({ engine: new NoneEngine(), notice: `${unanswered}: building nothing, as with --engine none`, unanswered });
    }
    default: {
      const never: never = choice;
      return fail({ kind: 'engine', engine: String(never), message: 'unknown engine' });
    }
  }
}
