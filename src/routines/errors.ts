import { InputError } from '../errors.js';

/** No run with the given id is known to this executor. */
export class RunNotFoundError extends InputError {}

/** The job cannot be stopped the way it was asked to. */
export class StopNotSupportedError extends InputError {}

/** `routine.remote` was used on a routine that names no remote host. */
export class RemoteNotConfiguredError extends InputError {}
