import { configAsFile, targetAsFile } from '../../config/configAsFile.js';
import { stringOption, type Command } from '../command.js';
import { EXIT } from '../exitCodes.js';

export const configCommand: Command = {
  name: 'config',
  summary: 'print the resolved config as JSON: defaults filled in, paths absolute, secrets by name',
  usage: 'ferry config [--target <name>]',
  description: `
Prints what Ferry will use: the config file after its defaults are filled in (the built-in
attached and local targets included), ~ and relative paths resolved from the config's folder, each
target's type decided. The keys are the config file's own, so the output is itself a valid
ferry.config.json. Secrets appear as where they come from, never as values: registryAuth shows the
name of the variable in passwordEnv, environment lists variable names. With --target, only that
target.`,
  options: {
    target: {
      type: 'string',
      short: 't',
      value: 'name',
      description: 'print only this target (attached, local, or a target of the config)',
    },
  },
  examples: [
    'ferry config',
    'ferry config --target gpu-box',
    'ferry config -c other/ferry.config.json',
  ],
  async run(context, args) {
    const config = await context.config();
    const name = stringOption(args, 'target');
    context.note(`ferry: ${config.file} (relative paths resolved from ${config.root})`);
    const shown =
      name === undefined ? configAsFile(config) : targetAsFile(await context.target(name));
    context.out(JSON.stringify(shown, null, 2));
    return EXIT.ok;
  },
};
