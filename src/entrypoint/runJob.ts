/**
 * The core of the container's entry point, free of process globals so it can be tested in-process:
 * given a loaded package, it runs the job it carries and says how the run ended as an exit code.
 */
import { EXIT_TIMED_OUT, deadlineSignal, formatDuration } from '../routines/attempts.js';

/** What the entry point needs of a loaded package (the packaging `EntryPoint` satisfies it). */
export interface LoadedJobPackage {
  readonly moduleName: string;
  readonly moduleVersion: string;
  readonly uid: string;
  readonly resources: readonly string[];
  loadResource(name: string): Promise<unknown>;
}

/** Where the entry point writes its own lines (the job writes wherever it likes). */
export interface EntryPointOutput {
  info(line: string): void;
  error(text: string): void;
}

export interface RunJobOptions {
  /** Default: `console.log` / `console.error`. */
  readonly output?: EntryPointOutput;
  /** The resource holding the job. Default: `job`. */
  readonly resourceName?: string;
  /** Shown in the welcome line. */
  readonly ferryVersion?: string;
  /**
   * Aborted to stop the job (the runtime aborts it on SIGTERM). The job's `stop()` is called when it
   * has one and the run is awaited; without `stop()` the run is abandoned. Either way the result is
   * `EXIT_SIGTERM`.
   */
  readonly stopSignal?: AbortSignal;
  /**
   * The attempt's time (routines/attempts.ts): once it is up the job is stopped as by `stopSignal`
   * and the result is `EXIT_TIMED_OUT`. Default: no limit.
   */
  readonly timeoutMs?: number;
  /** What `run()` receives as its argument (the run's parameters). Default: `{}`. */
  readonly parameters?: unknown;
  /** What `run()` receives as its second argument: the run's id, output folder, metrics. */
  readonly context?: unknown;
  /**
   * Keeps what `run()` returned (or resolved to), before `Job completed` is logged. When it throws,
   * the error's message is logged as `Result not delivered: …` and the run still ends as the job
   * did: the job's work is not lost for a value that cannot travel.
   */
  readonly deliverResult?: (value: unknown) => Promise<void>;
}

export const EXIT_OK = 0;
export const EXIT_JOB_FAILED = 1;
/** The package does not hold a runnable job: a delivery problem rather than the job's own failure. */
export const EXIT_NOT_A_JOB = 2;
/** 128 + SIGTERM, as a shell reports a process that SIGTERM ended. */
export const EXIT_SIGTERM = 143;
export { EXIT_TIMED_OUT };

const consoleOutput: EntryPointOutput = {
  info: (line) => console.log(line),
  error: (text) => console.error(text),
};

/**
 * Loads the job, logs a welcome line and `Executing job <name> version <version>`, runs `run()`
 * (sync or async) and logs `Job completed`. A thrown error's stack goes to `output.error` and the
 * result is a non-zero exit code; it never throws.
 */
export async function runJob(
  entry: LoadedJobPackage,
  options: RunJobOptions = {},
): Promise<number> {
  const output = options.output ?? consoleOutput;
  const resourceName = options.resourceName ?? 'job';
  output.info(
    `Welcome to Ferry${options.ferryVersion === undefined ? '' : ` ${options.ferryVersion}`}: ` +
      `package ${entry.moduleName} ${entry.moduleVersion} (${entry.uid}) on Node ${process.version}`,
  );
  if (!entry.resources.includes(resourceName)) {
    output.error(
      `The package holds no resource ${JSON.stringify(resourceName)} (it holds: ${entry.resources.join(', ') || 'nothing'}); ` +
        `package the job as payload { ${resourceName}: job }`,
    );
    return EXIT_NOT_A_JOB;
  }
  let job: unknown;
  try {
    job = await entry.loadResource(resourceName);
  } catch (error) {
    output.error(`Could not load the job from the package:\n${describe(error)}`);
    return EXIT_NOT_A_JOB;
  }
  const run = (job as { run?: unknown } | null)?.run;
  if (typeof run !== 'function') {
    output.error(
      `The ${JSON.stringify(resourceName)} resource is ${describeValue(job)}, which has no run() method`,
    );
    return EXIT_NOT_A_JOB;
  }
  output.info(`Executing job ${entry.moduleName} version ${entry.moduleVersion}`);
  const stop = (job as { stop?: unknown }).stop;
  let stopRequested = false;
  const deadline = deadlineSignal(options.timeoutMs, options.stopSignal);
  const stopSignal = deadline.signal;
  const ended = (code: number): number => {
    deadline.clear();
    return deadline.timedOut() && code === EXIT_SIGTERM ? EXIT_TIMED_OUT : code;
  };
  const abandoned = new Promise<void>((resolve) => {
    const onStop = (): void => {
      stopRequested = true;
      if (deadline.timedOut()) {
        output.info(`Timed out after ${formatDuration(options.timeoutMs ?? 0)}`);
      }
      if (typeof stop !== 'function') {
        output.info('Stopping: the job has no stop() method, so its run is abandoned');
        resolve();
        return;
      }
      output.info('Stopping: asking the job to stop()');
      Promise.resolve()
        .then(() => stop.call(job))
        .catch((error: unknown) => output.error(`The job's stop() failed: ${describe(error)}`));
    };
    if (stopSignal.aborted) onStop();
    else stopSignal.addEventListener('abort', onStop, { once: true });
  });
  let returned: unknown;
  try {
    returned = await Promise.race([
      Promise.resolve().then(() =>
        options.context === undefined
          ? run.call(job, options.parameters ?? {})
          : run.call(job, options.parameters ?? {}, options.context),
      ),
      abandoned,
    ]);
  } catch (error) {
    if (stopRequested) {
      output.error(`Job stopped: ${describe(error)}`);
      return ended(EXIT_SIGTERM);
    }
    output.error(`Job failed: ${describe(error)}`);
    return ended(EXIT_JOB_FAILED);
  }
  if (stopRequested) {
    output.info('Job stopped');
    return ended(EXIT_SIGTERM);
  }
  deadline.clear();
  if (options.deliverResult !== undefined) {
    try {
      await options.deliverResult(returned);
    } catch (error) {
      output.error(
        `Result not delivered: ${error instanceof Error ? error.message : describe(error)}`,
      );
    }
  }
  output.info('Job completed');
  return EXIT_OK;
}

/** An error's stack (which starts with its message), or what was thrown when it is not an Error. */
export function describe(error: unknown): string {
  if (error instanceof Error) {
    const stack = error.stack ?? `${error.name}: ${error.message}`;
    return error.cause === undefined ? stack : `${stack}\nCaused by: ${describe(error.cause)}`;
  }
  return `a non-Error value was thrown: ${describeValue(error)}`;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  if (typeof value === 'string') return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}
