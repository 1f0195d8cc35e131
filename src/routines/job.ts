import { InvalidJobError } from './errors.js';
import type { JobParameters } from '../parameters/index.js';
import type { RunContext } from './results/runFolder.js';

/** What Ferry delivers: an object whose class has a `run()` method (sync or async). */
export interface Job {
  /**
   * Runs the job; receives the run's parameters (`{}` when none were given) and its context (run
   * id, output folder, `logMetric`). What it returns (or resolves to) is the run's result.
   */
  run(parameters?: JobParameters, context?: RunContext): unknown;
  /** Optional: asked to end a running job early (on `stop()` or SIGTERM). */
  stop?(): unknown;
}

/** Checks that a value is a job, naming what is wrong when it is not. */
export function assertJob(value: unknown, where = 'job'): asserts value is Job {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidJobError(
      `${where}: expected an instance of a class with a run() method, got ${value === null ? 'null' : typeof value}`,
    );
  }
  if (typeof (value as Partial<Job>).run !== 'function') {
    const className = Object.getPrototypeOf(value)?.constructor?.name ?? 'Object';
    throw new InvalidJobError(
      `${where}: ${className} has no run() method; a job is an instance of a class with a run() method`,
    );
  }
}
