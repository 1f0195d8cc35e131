import { InputError } from '../errors.js';

/** A parameter is not JSON, a parameters file is malformed, or the parameters are too large. */
export class InvalidParametersError extends InputError {}
