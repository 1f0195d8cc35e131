import type { JobParameters } from '../parameters/index.js';
import type { JobState } from '../routines/jobExecutor.js';

/**
 * How a run stands. `queued`: created and waiting for its turn (a sweep's queue); `succeeded`: exit
 * code 0; `failed`: any other exit code; `stopped`: ended by `stop` (SIGTERM/SIGKILL); `cancelled`:
 * taken off a queue before it started; `timed-out`: its (last) attempt ran out of its `timeout`;
 * `unknown`: its container is gone and its end was never seen.
 */
export type RunStatus =
  'queued' | 'running' | 'succeeded' | 'failed' | 'timed-out' | 'stopped' | 'cancelled' | 'unknown';

/** Every status, in the order a run goes through them. */
export const RUN_STATUSES: readonly RunStatus[] = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'timed-out',
  'stopped',
  'cancelled',
  'unknown',
];

/** Statuses a run does not leave. */
export const FINAL_STATUSES: ReadonlySet<RunStatus> = new Set([
  'succeeded',
  'failed',
  'timed-out',
  'stopped',
  'cancelled',
]);

/** One attempt of a run (a run with `retries` may have several; see routines/attempts.ts). */
export interface RunAttempt {
  /** 1-based. */
  readonly attempt: number;
  readonly status: RunStatus;
  readonly exitCode?: number;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** Where it ran: a swarm node (`<hostname> (<node id>, …)`), a remote host, `local`. */
  readonly where?: string;
  /** Swarm: the task of this attempt (its logs are read by it). */
  readonly taskId?: string;
  /** Why it ended, when the engine said (a node that went down, an image it could not get). */
  readonly reason?: string;
}

export type TargetKind = 'attached' | 'local' | 'remote' | 'swarm';

/** Everything Ferry keeps about one run of a job. Times are ISO strings. */
export interface RunRecord {
  readonly id: string;
  /** The job's package name (the config's `project`). */
  readonly job: string;
  readonly version: string;
  /** The package UID: `<name>-<version>-<content hash>`. */
  readonly uid: string;
  /** The target's name in the config. */
  readonly target: string;
  readonly targetKind: TargetKind;
  /** `user@host:port` of a remote target. */
  readonly host?: string;
  /** Swarm targets: the node that ran the run's task, `<hostname> (<node id>)`. */
  readonly node?: string;
  readonly parameters: JobParameters;
  readonly status: RunStatus;
  readonly exitCode?: number;
  readonly createdAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** The sweep this run belongs to, and its place in it. */
  readonly sweepId?: string;
  readonly sweepIndex?: number;
  /** Image reference and id (Docker targets). */
  readonly image?: string;
  readonly imageId?: string;
  readonly containerId?: string;
  /** SHA-256 of the package archive the run used (kept in `<workDir>/packages/<uid>.tar.gz`). */
  readonly packageSha256?: string;
  /** The last value of each metric the run logged (set when the run ended). */
  readonly metrics?: Readonly<Record<string, number>>;
  /** Whether the run left a result (set when the run ended). */
  readonly hasResult?: boolean;
  /** Whether the run's outputs folder holds files (set when the run ended). */
  readonly hasOutputs?: boolean;
  /** Where the outputs were last downloaded to, in full. */
  readonly outputsDownloadedTo?: string;
  /** When Ferry removed the run's container (`ferry prune`); its logs were saved with the record. */
  readonly containerRemovedAt?: string;
  /** The run folder (result, metrics, outputs) is saved beside the record (`<id>/`). */
  readonly savedRunFolder?: boolean;
  /** Each attempt's timeout (ms) and the retries the run was given, when it was given any. */
  readonly timeoutMs?: number;
  readonly retries?: number;
  /** Every attempt, oldest first (set once known; a run with no retries may have none). */
  readonly attempts?: readonly RunAttempt[];
  /** The run's cache key (src/memo/key.ts): package content, parameters, upstream keys. */
  readonly cacheKey?: string;
  /** Served from cache: the earlier run whose result, metrics and outputs this one gives. */
  readonly cachedFrom?: string;
  /** Upstream results this run took as inputs, and where each came from. */
  readonly inputs?: readonly RunInput[];
}

/** An upstream result a run took as an input. */
export interface RunInput {
  /** Where the value went: `parameters.model`, `job.features`. */
  readonly name: string;
  /** The run whose result it is, and the target it ran on (when recorded). */
  readonly runId: string;
  readonly target?: string;
  /** That run's cache key (or its result's digest), which this run's key covers. */
  readonly cacheKey: string;
}

/** The exit code an attempt that ran out of time ends with (routines/attempts.ts). */
const EXIT_TIMED_OUT = 124;

/** A run's status from an executor's state (and its exit code: a timed-out run failed with 124). */
export function statusOfState(state: JobState, exitCode?: number): RunStatus {
  if (state === 'failed' && exitCode === EXIT_TIMED_OUT) return 'timed-out';
  switch (state) {
    case 'created':
      return 'queued';
    case 'running':
      return 'running';
    case 'exited':
      return 'succeeded';
    case 'failed':
      return 'failed';
    case 'stopped':
      return 'stopped';
    default:
      return 'unknown';
  }
}

export function isFinal(status: RunStatus): boolean {
  return FINAL_STATUSES.has(status);
}
