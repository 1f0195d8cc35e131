import { EnvironmentError, InputError } from '../errors.js';

/** A `ferry ui` flag is wrong (`--host`, `--port`). */
export class UiOptionError extends InputError {}

/** The server could not listen (the port is taken, the address is not this machine's). */
export class UiListenError extends EnvironmentError {}

/** The front end could not be found or bundled. */
export class UiAssetsError extends EnvironmentError {}

/** A request names something that is not there (a run, a file of its outputs). */
export class UiNotFoundError extends InputError {}

/** A request is malformed (a bad body, a path that leaves the outputs folder). */
export class UiBadRequestError extends InputError {}
