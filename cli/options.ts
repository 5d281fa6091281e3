// Commander's options made from the one table of options (src/options.ts):
// the same flags, help, defaults and checks for build, watch and publish.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { BUILD_OPTIONS, optionFlags, type BuildCommand, type OptionSpec } from '../src/options.js';

export function commanderOption(o: OptionSpec): Option {
  const option = new Option(optionFlags(o), o.description);
  if (o.choices) option.choices(o.choices);
  const parse = o.parse;
  if (parse) {
    option.argParser((text: string) => {
      const v = parse(text);
      if (v === undefined) throw new InvalidArgumentError(o.expected ?? 'not a value this option takes');
      return v;
    });
  }
  if (o.default !== undefined) option.default(o.default);
  return option;
}

/** Adds to `cmd` the options of the table that `command` takes, in the table's order. */
export function addBuildOptions(cmd: Command, command: BuildCommand): Command {
  for (const o of BUILD_OPTIONS) if (o.commands.includes(command)) cmd.addOption(commanderOption(o));
  return cmd;
}
