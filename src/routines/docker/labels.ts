/**
 * The one table of labels Ferry puts on containers and images (docs/design.md §10): every run's
 * container carries its identity and the target's copy of its record, so any process that reaches
 * the engine finds runs, their parameters and sweeps without the local records folder.
 */
import { encodeParameters, type JobParameters } from '../../parameters/index.js';

export const RUN_LABELS = {
  job: 'ferry.job',
  version: 'ferry.version',
  uid: 'ferry.uid',
  runId: 'ferry.run-id',
  target: 'ferry.target',
  parameters: 'ferry.parameters',
  createdAt: 'ferry.created-at',
  sweep: 'ferry.sweep',
  sweepIndex: 'ferry.sweep-index',
  /** What a container is: a job's `run`, a sweep's `sweep-runner`, or a short-lived `get`. */
  role: 'ferry.role',
  /** The GPU slot a sweep run waits for (its GPU), when the target has GPUs. */
  slot: 'ferry.slot',
} as const;

export type ContainerRole = 'run' | 'sweep-runner' | 'get';

/**
 * What a container's name gets when something happened to it that its state cannot say: a sweep's
 * queue runner could not start it, or Ferry itself asked it to stop (so an exit by SIGTERM or
 * SIGKILL is `stopped`, not `failed`). Names change on a running container; labels cannot.
 */
export const NAME_SUFFIXES = {
  startFailed: '.start-failed',
  stopRequested: '.stop-requested',
} as const;

export interface RunIdentity {
  /** Package (job) name. */
  readonly name: string;
  readonly version: string;
  readonly uid: string;
  readonly runId: string;
}

export interface RunRecordLabelFields {
  readonly target: string;
  readonly parameters: JobParameters;
  readonly createdAt: Date;
  readonly sweepId?: string;
  readonly sweepIndex?: number;
}

/** A run container's labels: the caller's extra labels, then Ferry's own, which win. */
export function runContainerLabels(
  identity: RunIdentity,
  record: RunRecordLabelFields,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return {
    ...extra,
    [RUN_LABELS.role]: 'run',
    [RUN_LABELS.target]: record.target,
    [RUN_LABELS.parameters]: encodeParameters(record.parameters),
    [RUN_LABELS.createdAt]: record.createdAt.toISOString(),
    ...(record.sweepId === undefined ? {} : { [RUN_LABELS.sweep]: record.sweepId }),
    ...(record.sweepIndex === undefined
      ? {}
      : { [RUN_LABELS.sweepIndex]: String(record.sweepIndex) }),
    ...jobLabels(identity),
    [RUN_LABELS.runId]: identity.runId,
  };
}

/** The labels naming a job's package: on its runs, its sweep runners and its images. */
export function jobLabels(job: Omit<RunIdentity, 'runId'>): Record<string, string> {
  return {
    [RUN_LABELS.job]: job.name,
    [RUN_LABELS.version]: job.version,
    [RUN_LABELS.uid]: job.uid,
  };
}

/** `ferry-<job>-<runId>`, with what a container name cannot hold replaced by `-`. */
export function containerName(jobName: string, runId: string): string {
  return `ferry-${jobName}-${runId}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

/** A Docker `filters` value selecting containers (or images) by label: `key=value`, or `key` alone. */
export function labelFilter(labels: Readonly<Record<string, string | true>>): string {
  return JSON.stringify({
    label: Object.entries(labels).map(([k, v]) => (v === true ? k : `${k}=${v}`)),
  });
}
