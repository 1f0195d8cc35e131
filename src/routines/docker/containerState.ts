/**
 * What a run's container says about the run: its state as a `JobStatus`, and the whole run record
 * rebuilt from its labels, for runs this machine has no record of.
 */
import type Dockerode from 'dockerode';
import {
  InvalidParametersError,
  decodeParameters,
  type JobParameters,
} from '../../parameters/index.js';
import { statusOfState, type RunRecord, type TargetKind } from '../../records/record.js';
import type { JobState, JobStatus } from '../jobExecutor.js';
import { NAME_SUFFIXES, RUN_LABELS } from './labels.js';

/** Exit codes of a process ended by a signal that a stop sends: SIGTERM (143) and SIGKILL (137). */
const STOP_EXIT_CODES = new Set([143, 137]);
const NEVER = '0001-01-01T00:00:00Z';

/** The parts of a container's inspect data (or listing) the state is read from. */
export interface ContainerFacts {
  readonly State: Pick<
    Dockerode.ContainerInspectInfo['State'],
    'Status' | 'Running' | 'ExitCode' | 'OOMKilled' | 'StartedAt' | 'FinishedAt'
  >;
  /** The container's name (`/ferry-job-run`), which carries Ferry's name suffixes. */
  readonly Name: string;
}

/**
 * A run's status from its container. An exit by SIGTERM or SIGKILL is `stopped` only when Ferry
 * asked for the stop (its name carries the stop suffix); a job killed by anything else failed.
 */
export function toStatus(runId: string, container: ContainerFacts): JobStatus {
  const state = container.State;
  const startedAt =
    state.StartedAt && state.StartedAt !== NEVER ? new Date(state.StartedAt) : undefined;
  const finishedAt =
    !state.Running && state.FinishedAt && state.FinishedAt !== NEVER
      ? new Date(state.FinishedAt)
      : undefined;
  let jobState: JobState;
  let exitCode: number | undefined;
  if (state.Running || state.Status === 'restarting' || state.Status === 'paused') {
    jobState = 'running';
  } else if (state.Status === 'created') {
    // A sweep's queue runner renames a run it could not start (e.g. no GPU).
    jobState = container.Name.endsWith(NAME_SUFFIXES.startFailed) ? 'failed' : 'created';
  } else if (state.Status === 'exited' || state.Status === 'dead') {
    exitCode = state.ExitCode;
    const stopRequested = container.Name.endsWith(NAME_SUFFIXES.stopRequested);
    jobState =
      exitCode === 0
        ? 'exited'
        : stopRequested && STOP_EXIT_CODES.has(exitCode) && !state.OOMKilled
          ? 'stopped'
          : 'failed';
  } else {
    jobState = 'unknown';
  }
  return {
    runId,
    state: jobState,
    ...(exitCode === undefined ? {} : { exitCode }),
    ...(startedAt === undefined ? {} : { startedAt }),
    ...(finishedAt === undefined ? {} : { finishedAt }),
  };
}

/** Where a run ran, for a record rebuilt from its container. */
export interface RecordPlace {
  readonly targetKind: TargetKind;
  readonly targetName: string;
  /** `user@host:port` of a remote target. */
  readonly host?: string;
}

/**
 * A run record rebuilt from a container's inspect data (labels and state). Undefined for
 * containers that are not Ferry runs. Labels are untrusted: bad parameters become `{}`.
 */
export function recordFromContainer(
  info: Dockerode.ContainerInspectInfo,
  place: RecordPlace,
): RunRecord | undefined {
  const labels = info.Config.Labels ?? {};
  const id = labels[RUN_LABELS.runId];
  if (id === undefined) return undefined;
  const status = toStatus(id, info);
  const sweepIndex = Number(labels[RUN_LABELS.sweepIndex]);
  return {
    id,
    job: labels[RUN_LABELS.job] ?? '?',
    version: labels[RUN_LABELS.version] ?? '?',
    uid: labels[RUN_LABELS.uid] ?? '?',
    target: labels[RUN_LABELS.target] ?? place.targetName,
    targetKind: place.targetKind,
    ...(place.host === undefined ? {} : { host: place.host }),
    parameters: labelParameters(labels[RUN_LABELS.parameters]),
    status: statusOfState(status.state, status.exitCode),
    ...(status.exitCode === undefined ? {} : { exitCode: status.exitCode }),
    createdAt: labels[RUN_LABELS.createdAt] ?? info.Created,
    ...(status.startedAt === undefined ? {} : { startedAt: status.startedAt.toISOString() }),
    ...(status.finishedAt === undefined ? {} : { finishedAt: status.finishedAt.toISOString() }),
    ...(labels[RUN_LABELS.sweep] === undefined ? {} : { sweepId: labels[RUN_LABELS.sweep] }),
    ...(Number.isInteger(sweepIndex) ? { sweepIndex } : {}),
    image: info.Config.Image,
    imageId: info.Image,
    containerId: info.Id,
  };
}

function labelParameters(encoded: string | undefined): JobParameters {
  try {
    return decodeParameters(encoded);
  } catch (error) {
    // A label another tool wrote, or a newer Ferry's: the run is still listed, without parameters.
    if (error instanceof InvalidParametersError) return {};
    throw error;
  }
}
