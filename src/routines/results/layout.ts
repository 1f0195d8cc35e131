/**
 * Where a run keeps what it brings home, the same on every target (docs/metrics.md): a run folder
 * holding `outputs/` (the job's files), `result/` (what `run()` returned, serialized) and
 * `metrics.jsonl` (one metric point per line). In a container the run folder is `/ferry/run`;
 * attached runs and runs whose container was removed keep theirs at `<workDir>/runs/<runId>/`.
 */

/** The run folder inside a run's container. */
export const CONTAINER_RUN_DIR = '/ferry/run';

export const OUTPUTS_FOLDER = 'outputs';
export const RESULT_FOLDER = 'result';
export const METRICS_FILE = 'metrics.jsonl';

/** Inside `result/`: the serialized document, its side-car bytes, or why there is no result. */
export const RESULT_DOCUMENT_FILE = 'result.json';
export const RESULT_BLOBS_FILE = 'result.bin';
export const RESULT_ERROR_FILE = 'error.json';

/** Environment variables a run's container (and an attached run's context) gets. */
export const RUN_ENV = {
  runId: 'FERRY_RUN_ID',
  outputDir: 'FERRY_OUTPUT_DIR',
  sweepId: 'FERRY_SWEEP_ID',
  sweepIndex: 'FERRY_SWEEP_INDEX',
} as const;

/** The `NAME=value` variables of a run's container. */
export function runEnvironment(run: {
  readonly runId: string;
  readonly sweepId?: string;
  readonly sweepIndex?: number;
}): string[] {
  return [
    `${RUN_ENV.runId}=${run.runId}`,
    `${RUN_ENV.outputDir}=${CONTAINER_RUN_DIR}/${OUTPUTS_FOLDER}`,
    ...(run.sweepId === undefined ? [] : [`${RUN_ENV.sweepId}=${run.sweepId}`]),
    ...(run.sweepIndex === undefined ? [] : [`${RUN_ENV.sweepIndex}=${run.sweepIndex}`]),
  ];
}

/** Why a run has no result, as the run wrote it in `result/error.json`. */
export interface ResultErrorFile {
  readonly message: string;
}
