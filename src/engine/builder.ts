// Which builder a docker build uses: BuildKit wherever the client has it, the
// classic builder (deprecated by Docker) only when asked or when the client
// has nothing else. Docker clients before 23.0 carry BuildKit themselves
// (DOCKER_BUILDKIT=1); from 23.0 on it is the buildx plugin, without which
// `DOCKER_BUILDKIT=1 docker build` refuses to run.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** What the user asked: --buildkit, and docker's own switch DOCKER_BUILDKIT. */
export interface BuilderAsk {
  flag?: boolean;
  env?: string;
}

/** DOCKER_BUILDKIT as the docker client reads it (Go's strconv.ParseBool); undefined when unset or not a boolean. */
export function envSwitch(text: string | undefined): boolean | undefined {
  if (text === undefined) return undefined;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

/**
 * What the client can do: its version ("20.10.24"; undefined when it did not
 * say) and whether it has buildx with a builder of the `docker` driver
 * selected, which builds into the daemon's own image store (a
 * `docker-container` builder keeps its images to itself, and the next step's FROM would not find them).
 */
export interface ClientFacts {
  version?: string;
  buildx: boolean;
}

/** Whether `docker buildx inspect` (which fails without buildx) says the selected builder has the `docker` driver. */
export const buildsIntoDaemon = (inspect: string): boolean => /^Driver:\s+docker\s*$/m.test(inspect);

export type BuilderChoice = { buildkit: boolean } | { problem: string };

/** The first docker client release whose BuildKit is the buildx plugin. */
const BUILDX_FROM = 23;

/** Whether the client can build with BuildKit; undefined when its version is unknown and it has no buildx. */
function hasBuildKit(c: ClientFacts): boolean | undefined {
  if (c.buildx) return true;
  const v = /^v?(\d+)\.(\d+)/.exec(c.version ?? '');
  if (!v) return undefined;
  const [major, minor] = [Number(v[1]), Number(v[2])];
  // BuildKit came with 18.09.
  return (major > 18 || (major === 18 && minor >= 9)) && major < BUILDX_FROM;
}

export function chooseBuilder(ask: BuilderAsk, client: ClientFacts): BuilderChoice {
  const env = envSwitch(ask.env);
  const asked = ask.flag ? '--buildkit' : env === true ? `DOCKER_BUILDKIT=${ask.env}` : undefined;
  const can = hasBuildKit(client);
  if (asked) {
    if (can === false) {
      return { problem: `${asked}: this docker client (${client.version}) builds with BuildKit only through its buildx plugin, which it does not have: install docker-buildx, point REP_DOCKER at a client that has it, or leave out ${asked} to use the classic builder` };
    }
    return { buildkit: true };
  }
  if (env === false) return { buildkit: false };
  return { buildkit: can === true };
}

/** Where the docker client looks for its plugins (docker's cli-plugins manager), after $DOCKER_CONFIG/cli-plugins. */
const PLUGIN_DIRS = ['/usr/local/lib/docker/cli-plugins', '/usr/local/libexec/docker/cli-plugins', '/usr/lib/docker/cli-plugins', '/usr/libexec/docker/cli-plugins'];

/**
 * Whether the client may have buildx: a docker-buildx where the client looks
 * for plugins, or a config that names folders of its own (cliPluginsExtraDirs).
 * When not, nobody asks `docker buildx inspect` (a process of its own, on every command).
 */
export function buildxMayBeThere(env: NodeJS.ProcessEnv, systemDirs: readonly string[] = PLUGIN_DIRS): boolean {
  const config = env.DOCKER_CONFIG || (env.HOME ? path.join(env.HOME, '.docker') : undefined);
  const dirs = [...(config ? [path.join(config, 'cli-plugins')] : []), ...systemDirs];
  if (dirs.some((d) => existsSync(path.join(d, 'docker-buildx')))) return true;
  try {
    return config !== undefined && readFileSync(path.join(config, 'config.json'), 'utf8').includes('cliPluginsExtraDirs');
  } catch {
    return false;
  }
}

/** Whether `chooseBuilder` needs to know about buildx for this ask (the client is then asked: one process more). */
export const needsBuildxProbe = (ask: BuilderAsk): boolean => ask.flag === true || envSwitch(ask.env) !== false;
