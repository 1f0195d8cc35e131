import path from 'node:path';
import type { FerryConfig } from '../config/schema.js';
import {
  applyAssignments,
  mergeParameters,
  readParametersFile,
  type JobParameters,
} from '../parameters/index.js';
import { stringsOption, type OptionSpecs, type ParsedArgs } from './command.js';

export const PARAMETER_OPTIONS: OptionSpecs = {
  param: {
    type: 'string',
    short: 'p',
    multiple: true,
    value: 'key=value',
    description:
      'a parameter for the job\'s run(); the value is JSON if it parses (3, true, [1,2], {"a":1}), else text, but one that starts with [, { or " must be JSON; a dotted key sets a nested value (inside an object, never replacing a number or text by one)',
  },
  params: {
    type: 'string',
    multiple: true,
    value: 'file.json',
    description: 'a JSON file holding an object of parameters (applied before --param)',
  },
};

/** The config's default parameters, then each `--params` file, then each `--param`. */
export async function parametersFromArgs(
  config: FerryConfig,
  args: ParsedArgs,
  cwd: string,
): Promise<JobParameters> {
  const files = await Promise.all(
    stringsOption(args, 'params').map((file) => readParametersFile(path.resolve(cwd, file))),
  );
  const merged = mergeParameters(config.defaults.parameters, ...files);
  return applyAssignments(merged, stringsOption(args, 'param'));
}
