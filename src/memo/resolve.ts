/**
 * Fetching what references point at, when the referring run starts: the upstream run's result
 * through its handle (the results machinery of src/routines/results/, on whatever target it ran),
 * and its cache key from the records, which the referring run's key covers.
 */
import { checkParameters, type JsonValue } from '../parameters/index.js';
import type { RunInput, RunRecord } from '../records/record.js';
import { RunNotFoundError } from '../routines/errors.js';
import type { JobRun } from '../routines/jobExecutor.js';
import { ResultNotAvailableError } from '../routines/results/errors.js';
import {
  InvalidReferenceError,
  ReferenceCycleError,
  UnknownUpstreamRunError,
  UpstreamRunFailedError,
} from './errors.js';
import { resultKeyOf } from './key.js';
import type { FoundRef, ResultRef } from './refs.js';

/** What resolving needs from where the referring run starts. */
export interface ResolveContext {
  /** The referring run's own id: a reference to it is a cycle. */
  readonly runId: string;
  /** Opens a run given by id (the executor the referring run starts on). */
  readonly openRun: (runId: string) => Promise<JobRun>;
  /** The record of a run, from the project's records. */
  readonly recordOf: (runId: string) => Promise<RunRecord | undefined>;
  /** Runs of pipeline steps already made, by step name. */
  readonly steps?: ReadonlyMap<string, JobRun>;
}

/** A reference resolved: the value to put in its place, and what the record keeps of it. */
export interface Resolved {
  readonly value: unknown;
  readonly input: RunInput;
}

/** Resolves one reference: `asParameter` values must be JSON (they travel as FERRY_PARAMETERS). */
export async function resolveRef(
  found: FoundRef,
  context: ResolveContext,
  asParameter: boolean,
): Promise<Resolved> {
  const run = await openUpstream(found, context);
  const ended = await run.wait();
  if (ended.state !== 'exited') {
    throw new UpstreamRunFailedError(
      `${found.name}: upstream run ${run.id} ${ended.state === 'stopped' ? 'was stopped' : `failed (exit code ${ended.exitCode})`}, so it has no result to give; fix it and run it again (\`ferry logs ${run.id}\` tells why)`,
    );
  }
  let stored;
  let value: unknown;
  try {
    stored = await run.serializedResult();
    value = await run.result();
  } catch (error) {
    if (!(error instanceof ResultNotAvailableError)) throw error;
    throw new UpstreamRunFailedError(
      `${found.name}: upstream run ${run.id} has no result to give (${error.message})`,
      { cause: error },
    );
  }
  const record = await context.recordOf(run.id);
  const input: RunInput = {
    name: found.name,
    runId: run.id,
    ...(record === undefined ? {} : { target: record.target }),
    cacheKey: record?.cacheKey ?? resultKeyOf(stored.document, stored.blobs),
  };
  if (!asParameter) return { value, input };
  return { value: asJson(value, found.name, run.id), input };
}

async function openUpstream(found: FoundRef, context: ResolveContext): Promise<JobRun> {
  const { ref } = found;
  if (ref.step !== undefined) {
    const made = context.steps?.get(ref.step);
    if (made === undefined) {
      throw new ReferenceCycleError(
        `${found.name}: step ${ref.step} has not run before this one (a step needs its own result, or the steps' references go round in a cycle)`,
      );
    }
    return made;
  }
  if (ref.run !== undefined) return ref.run;
  const id = ref.runId!;
  if (id === context.runId) {
    throw new ReferenceCycleError(`${found.name}: run ${id} refers to its own result`);
  }
  try {
    return await (ref.from === undefined ? context.openRun(id) : ref.from.run(id));
  } catch (error) {
    if (!(error instanceof RunNotFoundError)) throw error;
    throw new UnknownUpstreamRunError(
      `${found.name}: no run ${JSON.stringify(id)} to take a result from (${error.message}); \`ferry ls\` lists the runs`,
      { cause: error },
    );
  }
}

function asJson(value: unknown, name: string, runId: string): JsonValue {
  try {
    return checkParameters({ value }, name).value!;
  } catch (error) {
    throw new InvalidReferenceError(
      `${name}: the result of run ${runId} is not JSON, and a parameter carries JSON (${(error as Error).message}); put resultOf(run) in a field of the job object instead`,
      { cause: error },
    );
  }
}

export type { ResultRef };
