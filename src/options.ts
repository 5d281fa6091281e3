// The command-line options of the commands that build (build, watch, publish)
// and of the project (-f, -C), each written once: its flags, help, default and
// how its value is read. cli/options.ts makes commander's options from this
// table; the quick no-op path (commands/quick.ts) reads the same names,
// defaults and values by hand, so this module imports nothing heavy.
import { ENGINE_CHOICES, type EngineChoice } from './engine/choice.js';

/** Where the standalone Dockerfile is written when --dockerfile does not say (against the context). */
export const DEFAULT_DOCKERFILE = 'Dockerfile';

export type BuildCommand = 'build' | 'watch' | 'publish';

/** The options as parsed, by commander's key (the long flag in camelCase). */
export interface BuildFlags {
  engine: EngineChoice;
  buildkit?: boolean;
  dockerfile: string;
  dryRun?: boolean;
  jobs: number;
  network?: string;
  cacheFrom?: string[];
  cacheTo?: string;
  json?: boolean;
  secret?: string[];
  /** false with --no-reproducible: the engine's image is kept as built. */
  reproducible?: boolean;
}

export interface ProjectFlags {
  /** Path of the Repfile (default: ./Repfile, else ./Repfile.yaml / .yml). */
  file?: string;
  /** Build context directory (default: the Repfile's directory). */
  context?: string;
}

export interface OptionSpec {
  key: string;
  /** -j */
  short?: string;
  /** --jobs */
  long: string;
  /** The value's name in help, `<n>`; none for a switch. Ends in ... when the option takes several. */
  value?: string;
  description: string;
  /** A switch spelled --no-X defaults to true, as commander has it. */
  default?: string | number | boolean;
  /** The only values taken. */
  choices?: readonly string[];
  /** Reads a value; undefined when it is not one (then `expected` says what is). */
  parse?: (text: string) => number | string | undefined;
  expected?: string;
}

export interface BuildOptionSpec extends OptionSpec {
  key: keyof BuildFlags;
  /** The commands that take it. */
  commands: readonly BuildCommand[];
}

/**
 * A network mode as docker and podman name one (none, host, bridge, a network's name,
 * container:NAME): it reaches the engine's command line, the provenance and REPRODUCE.md's commands.
 */
export const networkMode = (text: string): string | undefined =>
  text.length <= 256 && (/^[A-Za-z0-9][A-Za-z0-9_.-]*(?::[A-Za-z0-9][A-Za-z0-9_.-]*)?$/.test(text) || /^(?:slirp4netns|pasta|ns):[A-Za-z0-9_.,=:/+-]+$/.test(text)) ? text : undefined;
export const NETWORK_EXPECTED = "a network: none, host, bridge, a network name, container:NAME (letters, digits, _ . -), or podman's slirp4netns:, pasta: or ns: with their options (no blanks or shell characters)";

/** A whole number from 1 as a flag takes it: digits only (Number() also takes 0x10, 1e20, +2, 2.0 and blanks). */
export const WHOLE = /^[1-9]\d*$/;
/** The most a whole-number flag takes unless it says less: more is a slip, and past 2^53 not even exact. */
export const WHOLE_MAX = 1_000_000_000;
/** The most engine builds at once -j takes. */
export const MAX_JOBS = 1024;

/** `text` as a whole number from 1 to `max` (see WHOLE); undefined when it is not one. */
export function wholeNumber(text: string, max = WHOLE_MAX): number | undefined {
  return WHOLE.test(text) && Number(text) <= max ? Number(text) : undefined;
}

/** A path as -f and -C take it: an empty one is a slip (a variable that was not set), not the default. */
const somePath = (text: string): string | undefined => (text === '' ? undefined : text);

export const PROJECT_OPTIONS: readonly (OptionSpec & { key: keyof ProjectFlags })[] = [
  { key: 'file', short: '-f', long: '--file', value: '<path>', description: 'the Repfile (default: ./Repfile)', parse: somePath, expected: 'a path, not empty' },
  { key: 'context', short: '-C', long: '--context', value: '<dir>', description: "build context directory (default: the Repfile's directory)", parse: somePath, expected: 'a path, not empty' },
];

export const BUILD_OPTIONS: readonly BuildOptionSpec[] = [
  {
    key: 'engine',
    long: '--engine',
    value: '<name>',
    description: 'container engine: auto picks docker, then podman, then none',
    choices: ENGINE_CHOICES,
    default: 'auto',
    commands: ['build', 'watch', 'publish'],
  },
  { key: 'buildkit', long: '--buildkit', description: 'docker: build with BuildKit, and fail where the client cannot (BuildKit is the default wherever the client has it; DOCKER_BUILDKIT=0 asks for the classic builder)', commands: ['build', 'watch', 'publish'] },
  { key: 'dockerfile', long: '--dockerfile', value: '<path>', description: 'where to write the standalone Dockerfile', default: DEFAULT_DOCKERFILE, commands: ['build', 'watch'] },
  { key: 'dryRun', short: '-n', long: '--dry-run', description: 'say what would be built; build and write nothing', commands: ['build'] },
  { key: 'jobs', short: '-j', long: '--jobs', value: '<n>', description: 'engine builds at once', default: 4, parse: (text) => wholeNumber(text, MAX_JOBS), expected: `a whole number from 1 to ${MAX_JOBS}`, commands: ['build', 'watch'] },
  { key: 'network', long: '--network', value: '<mode>', description: 'network for RUN steps (e.g. host)', parse: networkMode, expected: NETWORK_EXPECTED, commands: ['build', 'watch', 'publish'] },
  { key: 'cacheFrom', long: '--cache-from', value: '<cache...>', description: 'also look for step images in registry://HOST/REPO or dir://PATH', commands: ['build'] },
  { key: 'cacheTo', long: '--cache-to', value: '<cache>', description: 'after the build, put every step image in registry://HOST/REPO or dir://PATH', commands: ['build'] },
  {
    key: 'secret',
    long: '--secret',
    value: '<grant...>',
    description: 'hand the build a secret the Repfile declares: ID (from where the Repfile says), or id=ID,src=FILE or id=ID,env=NAME; none from outside the project without it',
    commands: ['build', 'watch', 'publish'],
  },
  {
    key: 'reproducible',
    long: '--no-reproducible',
    description: "keep the engine's image as built, without the canonical rewrite (faster; its ID then changes with every build)",
    default: true,
    commands: ['build'],
  },
  { key: 'json', long: '--json', description: 'print build events, then the build record, as JSON lines', commands: ['build'] },
];

/** The engine option, which commands that do not build take too. */
export const ENGINE_OPTION = BUILD_OPTIONS.find((o) => o.key === 'engine')!;

/** The flags as commander spells them: `-j, --jobs <n>`. */
export function optionFlags(o: OptionSpec): string {
  return [o.short ? `${o.short}, ${o.long}` : o.long, o.value].filter(Boolean).join(' ');
}

/** The option that `flag` (-j or --jobs) names, if any. */
export function optionNamed<T extends OptionSpec>(options: readonly T[], flag: string): T | undefined {
  return options.find((o) => o.long === flag || o.short === flag);
}

/** A value as the option takes it, or undefined when it takes no such value. */
export function optionValue(o: OptionSpec, text: string): string | number | undefined {
  if (o.choices && !o.choices.includes(text)) return undefined;
  return o.parse ? o.parse(text) : text;
}
