// The one table of build options (src/options.ts): build, watch and publish
// take its options from it, and the quick no-op path reads the same names,
// defaults and values.
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addBuildOptions } from '../../cli/options.js';
import { quickArgs } from '../../src/commands/quick.js';
import { BUILD_OPTIONS, optionFlags, type BuildCommand } from '../../src/options.js';
import { rep } from '../helpers.js';

const parsed = (command: BuildCommand, argv: string[]) => {
  const cmd = addBuildOptions(new Command(command).exitOverride().configureOutput({ writeErr: () => {} }), command);
  cmd.parse(argv, { from: 'user' });
  return cmd.opts();
};

/** A value each option takes, for a command line that names it. */
const SAMPLE: Record<string, string[]> = {
  engine: ['docker'],
  dockerfile: ['out/Dockerfile'],
  jobs: ['2'],
  network: ['host'],
  cacheFrom: ['dir:///tmp/c'],
  cacheTo: ['dir:///tmp/c'],
  secret: ['api'],
};

describe('build options', () => {
  it('are the options of build, watch and publish, as their help shows them', () => {
    for (const command of ['build', 'watch', 'publish'] as const) {
      // Help lines wrap at 80 columns: compare with runs of white space as one space.
      const help = rep(process.cwd(), [command, '--help']).stdout.replace(/\s+/g, ' ');
      for (const o of BUILD_OPTIONS) {
        if (!o.commands.includes(command)) {
          expect(help, `${command} ${o.long}`).not.toContain(` ${optionFlags(o)} `);
          continue;
        }
        expect(help, `${command} ${o.long}`).toContain(` ${optionFlags(o)} ${o.description}`);
        // commander shows no default for a --no-X switch (it is true)
        if (o.default !== undefined && !o.long.startsWith('--no-')) expect(help).toMatch(new RegExp(`${o.description}[^)]*default: ${JSON.stringify(o.default)}\\)`));
      }
    }
  });

  it('give commander and the quick path the same defaults, keys and values', () => {
    const defaults = parsed('build', []);
    const quick = quickArgs(['build'])!;
    for (const o of BUILD_OPTIONS) {
      expect(defaults[o.key], o.long).toBe(o.default);
      if (o.key in quick) expect(quick[o.key as keyof typeof quick], o.long).toBe(o.default);
      // Every option is taken by build's parser; the quick path takes it with the same value, or leaves the build to the full path.
      const argv = ['build', o.long, ...(SAMPLE[o.key] ?? [])];
      const value = parsed('build', argv.slice(1))[o.key];
      expect(value, o.long).toBeDefined();
      const q = quickArgs(argv);
      if (q && o.key in q) expect(q[o.key as keyof typeof q], o.long).toEqual(value);
    }
  });

  it('refuse the same values in commander and in the quick path', () => {
    for (const [flag, v] of [['-j', '0'], ['-j', 'x'], ['-j', '0x10'], ['-j', '1e20'], ['-j', '1025'], ['--engine', 'dockr']]) {
      expect(() => parsed('build', [flag!, v!])).toThrow(/is invalid/);
      expect(() => parsed('watch', [flag!, v!])).toThrow(/is invalid/);
      expect(quickArgs(['build', flag!, v!])).toBeUndefined();
    }
  });

  it('the quick path leaves an empty -f or -C to the full parser, which refuses it', () => {
    for (const flag of ['-f', '--file', '-C', '--context']) expect(quickArgs(['build', flag, '']), flag).toBeUndefined();
    expect(quickArgs(['build', '-j', '1024'])).toBeDefined();
  });

  it('the quick path takes build options only after `build`, as commander does', () => {
    expect(quickArgs(['--engine', 'docker', 'build'])).toBeUndefined();
    expect(quickArgs(['-j', '2', 'build'])).toBeUndefined();
    expect(rep(process.cwd(), ['--engine', 'docker', 'build']).code).toBe(2);
    expect(quickArgs(['-C', 'ctx', 'build', '-f', 'R'])).toEqual({ command: 'build', context: 'ctx', file: 'R', engine: 'auto', dockerfile: 'Dockerfile', reproducible: true });
  });
});
