/**
 * Root of Ferry's typed errors. Every error Ferry throws on purpose extends one of the four kinds
 * below, so a caller (or the CLI, for its exit code) can tell a user's mistake from an environment
 * problem, a failed job or a bug in Ferry, without knowing each class.
 */

/**
 * What kind of failure an error is, and so what the user does about it:
 * - `usage`: the input is wrong (a flag, a config key, a parameter, a job, a package); fix the input.
 * - `environment`: something Ferry needs is missing or failing (Docker, SSH, a registry, a GPU).
 * - `job`: the user's job ran and failed (or produced nothing usable).
 * - `bug`: Ferry broke a promise of its own; report it.
 */
export type ErrorKind = 'usage' | 'environment' | 'job' | 'bug';

export abstract class FerryError extends Error {
  abstract readonly kind: ErrorKind;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The input is wrong: a flag, a config key, a parameter, a job object or a package. */
export class InputError extends FerryError {
  override readonly kind = 'usage' as const;
}

/** Something Ferry needs is unavailable or failing: Docker, SSH, a registry, a GPU, the disk. */
export class EnvironmentError extends FerryError {
  override readonly kind = 'environment' as const;
}

/** The user's job ran and failed, or gave nothing that can be brought back. */
export class JobError extends FerryError {
  override readonly kind = 'job' as const;
}

/** Ferry itself went wrong (an invariant of its own broke). */
export class InternalError extends FerryError {
  override readonly kind = 'bug' as const;
}
