/**
 * Labels a run's container carries besides the executors' own (`ferry.job`, `ferry.version`,
 * `ferry.uid`, `ferry.run-id`): the target's copy of the run record, so any process that reaches
 * the engine finds runs, their parameters and sweeps without the local records folder.
 */
import type Dockerode from 'dockerode';
import { RUN_LABELS } from '../routines/docker/labels.js';
import { decodeParameters, encodeParameters, type JobParameters } from '../parameters/index.js';
import type { RunRecord, RunStatus, TargetKind } from './record.js';

export const RECORD_LABELS = {
  ...RUN_LABELS,
  target: 'ferry.target',
  parameters: 'ferry.parameters',
  createdAt: 'ferry.created-at',
  sweep: 'ferry.sweep',
  sweepIndex: 'ferry.sweep-index',
  /** `run` on a job's container, `sweep-runner` on a sweep's queue runner. */
  role: 'ferry.role',
  /** The GPU slot a sweep run waits for (its GPU), when the target has GPUs. */
  slot: 'ferry.slot',
} as const;

export interface RecordLabelFields {
  readonly target: string;
  readonly parameters: JobParameters;
  readonly createdAt: Date;
  readonly sweepId?: string;
  readonly sweepIndex?: number;
}

/** Labels for a run's container beyond the executors' own. */
export function recordLabels(fields: RecordLabelFields): Record<string, string> {
  return {
    [RECORD_LABELS.role]: 'run',
    [RECORD_LABELS.target]: fields.target,
    [RECORD_LABELS.parameters]: encodeParameters(fields.parameters),
    [RECORD_LABELS.createdAt]: fields.createdAt.toISOString(),
    ...(fields.sweepId === undefined ? {} : { [RECORD_LABELS.sweep]: fields.sweepId }),
    ...(fields.sweepIndex === undefined
      ? {}
      : { [RECORD_LABELS.sweepIndex]: String(fields.sweepIndex) }),
  };
}

const NEVER = '0001-01-01T00:00:00Z';

/** What a sweep's queue runner appends to the name of a run it could not start. */
export const START_FAILED_SUFFIX = '.start-failed';

/**
 * A run record rebuilt from a container's inspect data (labels and state), for runs this machine
 * has no record of. Undefined for containers that are not Ferry runs.
 */
export function recordFromContainer(
  info: Dockerode.ContainerInspectInfo,
  targetKind: TargetKind,
  targetName: string,
  host?: string,
): RunRecord | undefined {
  const labels = info.Config.Labels ?? {};
  const id = labels[RECORD_LABELS.runId];
  if (id === undefined) return undefined;
  let parameters: JobParameters = {};
  try {
    parameters = decodeParameters(labels[RECORD_LABELS.parameters]);
  } catch {
    parameters = {};
  }
  const state = info.State;
  let status: RunStatus;
  let exitCode: number | undefined;
  if (state.Running || state.Status === 'restarting' || state.Status === 'paused') {
    status = 'running';
  } else if (state.Status === 'created') {
    // A sweep's queue runner renames a run it could not start (e.g. no GPU) to `<name>.start-failed`.
    status = info.Name.endsWith(START_FAILED_SUFFIX) ? 'failed' : 'queued';
  } else if (state.Status === 'exited' || state.Status === 'dead') {
    exitCode = state.ExitCode;
    status =
      exitCode === 0
        ? 'succeeded'
        : (exitCode === 143 || exitCode === 137) && !state.OOMKilled
          ? 'stopped'
          : 'failed';
  } else {
    status = 'unknown';
  }
  const sweepIndex = labels[RECORD_LABELS.sweepIndex];
  return {
    id,
    job: labels[RECORD_LABELS.job] ?? '?',
    version: labels[RECORD_LABELS.version] ?? '?',
    uid: labels[RECORD_LABELS.uid] ?? '?',
    target: labels[RECORD_LABELS.target] ?? targetName,
    targetKind,
    ...(host === undefined ? {} : { host }),
    parameters,
    status,
    ...(exitCode === undefined ? {} : { exitCode }),
    createdAt: labels[RECORD_LABELS.createdAt] ?? info.Created,
    ...(state.StartedAt && state.StartedAt !== NEVER ? { startedAt: state.StartedAt } : {}),
    ...(!state.Running && state.FinishedAt && state.FinishedAt !== NEVER
      ? { finishedAt: state.FinishedAt }
      : {}),
    ...(labels[RECORD_LABELS.sweep] === undefined ? {} : { sweepId: labels[RECORD_LABELS.sweep] }),
    ...(sweepIndex === undefined ? {} : { sweepIndex: Number(sweepIndex) }),
    image: info.Config.Image,
    imageId: info.Image,
    containerId: info.Id,
  };
}
