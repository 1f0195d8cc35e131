/**
 * Ferry's runtime inside a container: bundled by esbuild into one `.mjs` (its dependencies inlined)
 * and imported by the generated entry file. It loads the installed package, runs the job with
 * `runJob`, and turns the outcome and signals into the process's exit code.
 */
import os from 'node:os';
import path from 'node:path';
import { loadInstalledPackage } from '../packaging/installPackage.js';
import { PARAMETERS_ENV, decodeParameters } from '../parameters/index.js';
import { packageClassFinder } from '../packaging/resultDocument.js';
import { CONTAINER_RUN_DIR, RUN_ENV } from '../routines/results/layout.js';
import { createRunContext, writeResult, type RunContext } from '../routines/results/runFolder.js';
import { EXIT_NOT_A_JOB, EXIT_SIGTERM, describe, runJob } from './runJob.js';

export { runJob } from './runJob.js';

/** Set by the esbuild bundle (`define`); `undefined` when run from source. */
declare const FERRY_RUNTIME_VERSION: string | undefined;

export interface RunEntryPointOptions {
  /** The installed package's folder, e.g. `/app/packages/<uid>`. */
  readonly packageDir: string;
  /** The resource holding the job. Default: `job`. */
  readonly resourceName?: string;
  /** How long a job with a `stop()` method gets to end after SIGTERM. Default: 8 s (`docker stop` waits 10). */
  readonly stopGraceMs?: number;
  /**
   * The run folder (outputs, result, metrics). Default: `/ferry/run` in a run Ferry started
   * (`FERRY_RUN_ID` set); a temporary folder otherwise (an image run by hand, a test on a host).
   */
  readonly runDir?: string;
}

/** The run's context from the container's environment (set by the executor or a sweep's queue). */
function contextFromEnvironment(runDir: string, env: NodeJS.ProcessEnv): RunContext {
  const sweepIndex = Number(env[RUN_ENV.sweepIndex]);
  return createRunContext({
    runId: env[RUN_ENV.runId] ?? 'unknown',
    ...(env[RUN_ENV.sweepId] === undefined ? {} : { sweepId: env[RUN_ENV.sweepId] }),
    ...(env[RUN_ENV.sweepIndex] !== undefined && Number.isInteger(sweepIndex)
      ? { sweepIndex }
      : {}),
    runDir,
  });
}

/**
 * The container's main: never returns; exits 0 when the job completed, 1 when it threw (its stack on
 * stderr), 2 when the package holds no runnable job, 143 on SIGTERM (`docker stop`: the job's `stop()`
 * is called when it has one) and 130 on SIGINT.
 * Node running as PID 1 gets no default signal handling, so the handlers here are what make
 * `docker stop` end the job promptly instead of after the kill timeout.
 */
export async function runEntryPoint(options: RunEntryPointOptions): Promise<never> {
  process.setSourceMapsEnabled(true);
  const stopping = new AbortController();
  process.once('SIGTERM', () => {
    console.error('Received SIGTERM: stopping the job');
    stopping.abort();
    setTimeout(() => {
      console.error('The job did not stop in time; exiting');
      process.exit(EXIT_SIGTERM);
    }, options.stopGraceMs ?? 8000).unref();
  });
  process.once('SIGINT', () => {
    console.error('Received SIGINT: exiting');
    process.exit(130);
  });
  let code: number;
  let parameters: unknown;
  try {
    // The run's parameters (JSON in FERRY_PARAMETERS), given to the job's run().
    parameters = decodeParameters(process.env[PARAMETERS_ENV]);
  } catch (error) {
    console.error(describe(error));
    process.exit(EXIT_NOT_A_JOB);
  }
  const runDir =
    options.runDir ??
    (process.env[RUN_ENV.runId] === undefined
      ? path.join(os.tmpdir(), `ferry-run-${process.pid}`)
      : CONTAINER_RUN_DIR);
  let context: RunContext;
  try {
    context = contextFromEnvironment(runDir, process.env);
  } catch (error) {
    console.error(`Could not make the run folder ${runDir}:\n${describe(error)}`);
    process.exit(EXIT_NOT_A_JOB);
  }
  try {
    const entryPoint = await loadInstalledPackage(options.packageDir);
    code = await runJob(entryPoint, {
      context,
      deliverResult: (value) =>
        writeResult(runDir, value, packageClassFinder(entryPoint.dir, entryPoint.manifest)),
      ...(options.resourceName === undefined ? {} : { resourceName: options.resourceName }),
      ferryVersion: typeof FERRY_RUNTIME_VERSION === 'undefined' ? 'dev' : FERRY_RUNTIME_VERSION,
      stopSignal: stopping.signal,
      parameters,
    });
  } catch (error) {
    console.error(`Could not load the package in ${options.packageDir}:\n${describe(error)}`);
    code = EXIT_NOT_A_JOB;
  }
  // Exit even when the job left timers or sockets open: the run is over.
  process.exit(code);
}
