import { InputError } from '../errors.js';

/** No run with the given id is known to this executor. */
export class RunNotFoundError extends InputError {}

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
