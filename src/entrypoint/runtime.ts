/**
 * Ferry's runtime inside a container: bundled by esbuild into one `.mjs` (its dependencies inlined)
 * and imported by the generated entry file. It loads the installed package, runs the job with
 * `runJob`, and turns the outcome and signals into the process's exit code.
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RunAssets } from '../packaging/assetPaths.js';
import { loadInstalledPackage } from '../packaging/load.js';
import { PARAMETERS_ENV, decodeParameters } from '../parameters/index.js';
import { packageClassFinder } from '../packaging/resultDocument.js';
import {
  ATTEMPTS_FILE,
  attemptEndLine,
  attemptStartLine,
  nextAttempt,
  timeoutFromEnvironment,
} from '../routines/attempts.js';
import { CONTAINER_RUN_DIR, RUN_ENV } from '../routines/results/layout.js';
import { createRunContext, writeResult, type RunContext } from '../routines/results/runFolder.js';
import { exitWhenDrained } from './exitWhenDrained.js';
import { EXIT_JOB_FAILED, EXIT_NOT_A_JOB, EXIT_SIGTERM, describe, runJob } from './runJob.js';

export { runJob } from './runJob.js';

/** Set by the esbuild bundle (`define`); `undefined` when run from source. */
declare const FERRY_RUNTIME_VERSION: string | undefined;

/** 128 + SIGINT. */
const EXIT_SIGINT = 130;
/** How long output may take to drain when a signal ends the run (the engine kills soon after). */
const SIGNAL_DRAIN_MS = 1500;

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

/** A file not there yet (the first attempt) reads as none; any other failure is one. */
function ifMissing(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT') return undefined;
  throw error;
}

/** The run's context from the container's environment (set by the executor or a sweep's queue). */
function contextFromEnvironment(
  runDir: string,
  env: NodeJS.ProcessEnv,
  assets: RunAssets,
): RunContext {
  const sweepIndex = Number(env[RUN_ENV.sweepIndex]);
  return createRunContext({
    runId: env[RUN_ENV.runId] ?? 'unknown',
    ...(env[RUN_ENV.sweepId] === undefined ? {} : { sweepId: env[RUN_ENV.sweepId] }),
    ...(env[RUN_ENV.sweepIndex] !== undefined && Number.isInteger(sweepIndex)
      ? { sweepIndex }
      : {}),
    runDir,
    assets,
  });
}

/**
 * The container's main: never returns; exits 0 when the job completed, 1 when it threw (its stack on
 * stderr), 2 when the package holds no runnable job, 143 on SIGTERM (`docker stop`: the job's `stop()`
 * is called when it has one) and 130 on SIGINT.
 * Node running as PID 1 gets no default signal handling, so the handlers here are what make
 * `docker stop` end the job promptly instead of after the kill timeout. Every end waits for stdout
 * and stderr to drain first, so the job's output and the closing line all reach the logs.
 */
export async function runEntryPoint(options: RunEntryPointOptions): Promise<never> {
  process.setSourceMapsEnabled(true);
  const stopping = new AbortController();
  const graceMs = options.stopGraceMs ?? 8000;
  process.once('SIGTERM', () => {
    console.error('Received SIGTERM: stopping the job');
    stopping.abort();
    setTimeout(() => {
      console.error('The job did not stop in time; exiting');
      // What is left of `docker stop`'s 10 s goes to delivering the output before the engine kills.
      void exitWhenDrained(EXIT_SIGTERM, { withinMs: SIGNAL_DRAIN_MS });
    }, graceMs).unref();
  });
  process.once('SIGINT', () => {
    console.error('Received SIGINT: exiting');
    void exitWhenDrained(EXIT_SIGINT, { withinMs: SIGNAL_DRAIN_MS });
  });
  // A job's callback that throws after run() was called (a timer, a stream, a rejected promise no one
  // awaits) would otherwise end the process on the spot, dropping the output still queued.
  process.once('uncaughtException', (error) => {
    console.error(`Job failed: an uncaught error in the job's code:\n${describe(error)}`);
    void exitWhenDrained(EXIT_JOB_FAILED);
  });
  let parameters: unknown;
  try {
    // The run's parameters (JSON in FERRY_PARAMETERS), given to the job's run().
    parameters = decodeParameters(process.env[PARAMETERS_ENV]);
  } catch (error) {
    console.error(describe(error));
    return exitWhenDrained(EXIT_NOT_A_JOB);
  }
  const runDir =
    options.runDir ??
    (process.env[RUN_ENV.runId] === undefined
      ? path.join(os.tmpdir(), `ferry-run-${process.pid}`)
      : CONTAINER_RUN_DIR);
  // Each attempt (the engine restarts a failed run's container when it has retries) notes its start
  // and end in the run folder, which outlives the restart: the record's attempts are read from it.
  const attemptsFile = path.join(runDir, ATTEMPTS_FILE);
  const attempt = nextAttempt(await readFile(attemptsFile, 'utf8').catch(ifMissing));
  await mkdir(runDir, { recursive: true });
  await appendFile(attemptsFile, attemptStartLine(attempt, new Date()));
  const timeoutMs = timeoutFromEnvironment(process.env);
  let code: number;
  try {
    const entryPoint = await loadInstalledPackage(options.packageDir);
    let context: RunContext;
    try {
      context = contextFromEnvironment(runDir, process.env, entryPoint.assets);
    } catch (error) {
      console.error(`Could not make the run folder ${runDir}:\n${describe(error)}`);
      return exitWhenDrained(EXIT_NOT_A_JOB);
    }
    code = await runJob(entryPoint, {
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(options.resourceName === undefined ? {} : { resourceName: options.resourceName }),
      ferryVersion: typeof FERRY_RUNTIME_VERSION === 'undefined' ? 'dev' : FERRY_RUNTIME_VERSION,
      stopSignal: stopping.signal,
      parameters,
      context,
      deliverResult: (value) =>
        writeResult(runDir, value, packageClassFinder(entryPoint.dir, entryPoint.manifest)),
    });
  } catch (error) {
    console.error(`Could not load the package in ${options.packageDir}:\n${describe(error)}`);
    code = EXIT_NOT_A_JOB;
  }
  await appendFile(attemptsFile, attemptEndLine(attempt, code, new Date())).catch(
    (error: unknown) =>
      console.error(`Could not note the attempt's end in ${attemptsFile}: ${describe(error)}`),
  );
  // runJob's closing line was the last thing written; the run is over once it is delivered.
  return exitWhenDrained(code);
}
