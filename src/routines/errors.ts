import { InputError } from '../errors.js';

/** No run with the given id is known to this executor. */
export class RunNotFoundError extends InputError {}

/** The part of a run's logs asked for cannot be told apart (saved logs without times, for `since`). */
export class LogWindowNotAvailableError extends InputError {}

/** The job cannot be stopped the way it was asked to. */
export class StopNotSupportedError extends InputError {}

/** `routine.remote` was used on a routine that names no remote host. */
export class RemoteNotConfiguredError extends InputError {}

/** An executor made without a job was asked to start or build one. */
export class NoJobError extends InputError {}

/** What was asked cannot be done on this kind of target (a sweep attached, an image for attached). */
export class NotSupportedOnTargetError extends InputError {}

/** The package a run used cannot be found, or what was found does not match its manifest. */
export class PackageNotAvailableError extends InputError {}

/** A DockerOptions field is malformed. */
export class InvalidDockerOptionsError extends InputError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`DockerOptions.${field}: ${message}`);
  }
}

/** A variable named for propagation is not set where `execute()` runs. */
export class MissingEnvironmentVariableError extends InputError {
  constructor(readonly variable: string) {
    super(
      `environment variable ${variable} is to be passed to the job (a target's environment in the config, DockerOptions.propagatedEnvironmentVariables in code) but is not set here; set it before running, or stop passing it`,
    );
  }
}

export class InvalidJobError extends InputError {}

/**
 * A mount's host folder does not exist where the container runs (the remote host for a remote
 * target): Docker's `bind source path does not exist`, said with the mount's key and path.
 */
export class MountSourceMissingError extends InputError {
  constructor(
    /** The mount's index among the target's mounts. */
    readonly index: number | undefined,
    readonly hostPath: string,
  ) {
    super(
      `${index === undefined ? 'a mount' : `mounts[${index}]`}: the host folder ${hostPath} does not exist on the Docker host the container runs on (for a remote target, the remote host); create it there, or fix the target's mounts (targets.<name>.mounts in ferry.config.json, DockerOptions.mounts in code)`,
    );
  }
}
/** A `timeout` or `retries` that does not hold (config, `execute()` or a flag). */
export class InvalidRunPolicyError extends InputError {}

/** A prune's `keep` that is not a whole number >= 0. */
export class InvalidPruneOptionsError extends InputError {}
