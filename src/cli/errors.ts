import { InputError } from '../errors.js';

/** The command line is wrong: an unknown command or flag, a missing argument. Exit code 2. */
export class UsageError extends InputError {
  constructor(
    message: string,
    /** The command whose help explains the usage (`run`), or undefined for `ferry --help`. */
    readonly command?: string,
  ) {
    super(message);
  }
}
