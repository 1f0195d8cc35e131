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
import {
  DependencyInstallError,
  DockerEngineError,
  DockerUnavailableError,
  GpuUnavailableError,
  ImageBuildError,
} from '../containering/errors.js';
import { FerryError } from '../errors.js';

export const EXIT = {
  ok: 0,
  jobFailed: 1,
  usage: 2,
  environment: 3,
  bug: 70,
  interrupted: 130,
} as const;

/** Names of error classes (besides the containering ones imported here) that mean the environment failed. */
const ENVIRONMENT_ERROR_NAMES =
  /^(Ssh|HostUnreachable|Authentication|UnknownHostKey|HostKeyMismatch|RemoteDocker|ImageShipping|ImageTransfer|Registry)/;

/** Whether an error is about the environment (exit 3) rather than the user's input (exit 2). */
export function isEnvironmentError(error: unknown): boolean {
  if (
    error instanceof DockerUnavailableError ||
    error instanceof DockerEngineError ||
    error instanceof GpuUnavailableError ||
    error instanceof ImageBuildError ||
    error instanceof DependencyInstallError
  ) {
    return true;
  }
  // SSH and shipping errors: matched by class name along the prototype chain, so this module does
  // not depend on how those modules are laid out.
  for (
    let proto: unknown = error;
    proto !== null && typeof proto === 'object';
    proto = Object.getPrototypeOf(proto)
  ) {
    const name = (proto as { constructor?: { name?: string } }).constructor?.name ?? '';
    if (ENVIRONMENT_ERROR_NAMES.test(name)) return true;
  }
  return false;
}

/** The exit code for an error that ended a command. */
export function exitCodeOf(error: unknown): number {
  if (!(error instanceof FerryError)) return EXIT.bug;
  return isEnvironmentError(error) ? EXIT.environment : EXIT.usage;
}
