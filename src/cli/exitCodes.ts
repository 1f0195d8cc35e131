/**
 * What `ferry` exits with. Scripts can rely on these:
 *
 * | code | meaning |
 * | ---- | ------- |
 * | 0    | success (for `run`: the job completed; for `sweep`: every run succeeded) |
 * | 1    | the job failed (non-zero exit, stopped), or some runs of a sweep did |
 * | 2    | usage or configuration error: a bad flag, a bad config key, an unknown run id, invalid parameters |
 * | 3    | environment problem: Docker, SSH, the registry or GPUs unavailable; an image build failed |
 * | 70   | a bug in Ferry (an unexpected error; its stack is printed) |
 * | 130  | interrupted (Ctrl-C); a detached run or a sweep's queue goes on without the CLI |
 */
import { FerryError, type ErrorKind } from '../errors.js';

export const EXIT = {
  ok: 0,
  jobFailed: 1,
  usage: 2,
  environment: 3,
  bug: 70,
  interrupted: 130,
} as const;

/** The exit code of each kind of error (see `ErrorKind`). */
const EXIT_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  usage: EXIT.usage,
  environment: EXIT.environment,
  job: EXIT.jobFailed,
  bug: EXIT.bug,
};

/** The exit code for an error that ended a command: read from its kind; anything untyped is a bug. */
export function exitCodeOf(error: unknown): number {
  return error instanceof FerryError ? EXIT_OF_KIND[error.kind] : EXIT.bug;
}
