/** `--timeout` and `--retries`, which `ferry run` and `ferry sweep` share (routines/attempts.ts). */
import { runPolicy, type RunPolicyInput } from '../routines/attempts.js';
import { InvalidRunPolicyError } from '../routines/errors.js';
import { stringOption, type ParsedArgs } from './command.js';
import { UsageError } from './errors.js';

export const POLICY_OPTIONS = {
  timeout: {
    type: 'string',
    value: 'duration',
    description:
      "stop each attempt after this long and record it timed-out: seconds, or 90s, 10m, 1h30m (default: the target's timeout, else none)",
  },
  retries: {
    type: 'string',
    value: 'n',
    description:
      "try a failed or timed-out run again up to n times, keeping each attempt (default: the target's retries, else 0)",
  },
} as const;

/** The policy the flags give (checked here, so a bad flag is a usage error naming it). */
export function policyFromArgs(args: ParsedArgs, command: string): RunPolicyInput {
  const timeout = stringOption(args, 'timeout');
  const retriesText = stringOption(args, 'retries');
  const input: RunPolicyInput = {
    ...(timeout === undefined ? {} : { timeout }),
    ...(retriesText === undefined ? {} : { retries: Number(retriesText) }),
  };
  try {
    runPolicy(input, '--');
  } catch (error) {
    if (error instanceof InvalidRunPolicyError) {
      throw new UsageError(`${command}: ${error.message}`, command);
    }
    throw error;
  }
  return input;
}
