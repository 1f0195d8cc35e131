/** The one interface every place a job runs implements (docs/design.md §7): attached, local, remote. */
import type { CacheEvent, MemoTarget } from '../memo/memo.js';
import type { ResultRef } from '../memo/refs.js';
import type { JobParameters } from '../parameters/index.js';
import type { RunRecord, TargetKind } from '../records/record.js';
import type { RecordStore } from '../records/store.js';
import type { DownloadOptions, DownloadedOutputs } from './results/artifacts.js';
import type { RunMetrics } from './results/metrics.js';
import type { ResultOptions, SerializedResult } from './results/runResults.js';
import type {
  PreparedImage,
  PruneOptions,
  PruneResult,
  QueuedSweep,
  SweepPlan,
  SweepProgress,
} from './docker/dockerExecutor.js';

export type JobState = 'created' | 'running' | 'exited' | 'failed' | 'stopped' | 'unknown';

export interface JobStatus {
  readonly runId: string;
  readonly state: JobState;
  /** Present once the job has ended. */
  readonly exitCode?: number;
  readonly startedAt?: Date;
  readonly finishedAt?: Date;
}

export interface JobLogs {
  readonly stdout: string;
  readonly stderr: string;
}

export interface JobResult {
  readonly runId: string;
  readonly exitCode: number;
  readonly state: JobState;
}

export type LogStream = 'stdout' | 'stderr';

/**
 * How a line ended: `\n`, or a carriage return not followed by one (a progress bar redrawing its
 * line: what follows is drawn over it).
 */
export type LineEnding = '\n' | '\r';

/** Which part of a run's logs to read. */
export interface LogWindow {
  /**
   * Only the last this many lines (of both streams together on a live engine; of each stream for
   * logs saved with a record).
   */
  readonly tail?: number;
  /** Only lines written at or after this time. */
  readonly since?: Date;
}

export interface FollowLogsOptions extends LogWindow {
  /**
   * Called once per complete line, in order, for as long as the job runs. When it returns a promise,
   * the next lines wait until it settles (backpressure: a slow reader keeps memory bounded); any
   * other result is ignored. Where the run's engine streams its output, a line redrawn with a
   * carriage return is passed on at each `\r` (`ending` says which).
   */
  readonly onLine: (line: string, stream: LogStream, ending?: LineEnding) => unknown;
  readonly signal?: AbortSignal;
}

export interface ExecuteOptions {
  /** Wait for the job to end before returning (default: true for attached and local, false for remote). */
  readonly wait?: boolean;
  /**
   * What the job's `run()` receives as its argument: JSON values given at run time, without
   * rebuilding the image (in a container they travel as `FERRY_PARAMETERS`). Default: `{}`.
   */
  readonly parameters?: JobParameters;
  /** The run's id. Default: a new one (`newRunId()`). */
  readonly runId?: string;
  /**
   * Each attempt's time: seconds, or `"10m"`, `"1h30m"`; a run out of time is stopped and recorded
   * `timed-out`. Default: the target's `timeout`, else none (routines/attempts.ts).
   */
  readonly timeout?: number | string;
  /** How many times a failed or timed-out run is tried again. Default: the target's, else 0. */
  readonly retries?: number;
  /** Extra labels for the run's container (Docker executors); Ferry's own run labels always win. */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Docker executors: remove the container once the run ended, its logs saved with its record.
   * Default: the executor's options.
   */
  readonly removeContainer?: boolean;
  /**
   * Attached executors: run the copy loaded back from the package, not the object itself (Docker
   * runs always run what the package holds).
   */
  readonly viaPackage?: boolean;
  /**
   * Memoization (src/memo/): when a succeeded run on this target has the same cache key (package
   * content, resolved parameters, upstream keys) and its result is still there, return it (a new
   * run record with `cachedFrom`) instead of running. Default: the executor's `cache` setting.
   */
  readonly cache?: boolean;
  /** Run even when `cache` would serve an earlier run (the new run is keyed for later lookups). */
  readonly rerun?: boolean;
  /** Told whether the run was served from cache, and why not when it was not. */
  readonly onCache?: (event: CacheEvent) => void;
  /**
   * Parameters whose value is an earlier run's result (`resultOf(run)`, a run handle or a run id),
   * fetched when this run starts. A `{ "$resultOf": "<run id>" }` value inside `parameters` does
   * the same; so does a `resultOf(run)` in a field of the job object.
   */
  readonly inputs?: Readonly<Record<string, ResultRef | JobRun | string>>;
  /** Runs of pipeline steps made so far, for `stepResult(name)` references (pipeline.ts). */
  readonly steps?: ReadonlyMap<string, JobRun>;
}

/** A handle on one run of a job, wherever it runs. */
export interface JobRun {
  readonly id: string;
  status(): Promise<JobStatus>;
  getLogs(window?: LogWindow): Promise<JobLogs>;
  followLogs(options: FollowLogsOptions): Promise<void>;
  wait(): Promise<JobResult>;
  stop(): Promise<void>;
  /**
   * What the job's `run()` returned, rebuilt as live objects (by default bound to the caller's
   * current source; `{ bind: 'package' }`: to the run's own package). Waits for the run to end.
   * A typed error (`ResultNotAvailableError` and subclasses) when there is none: the run failed
   * (`RunFailedError`), the value could not be serialized (`ResultNotSerializableError`), …
   */
  result(options?: ResultOptions): Promise<unknown>;
  /** The result as stored (the serializer's document and side-car bytes), not rebuilt. */
  serializedResult(): Promise<SerializedResult>;
  /** Every metric point the run logged so far, and the last value of each. */
  metrics(): Promise<RunMetrics>;
  /**
   * Copies the run's output folder to `dir` (which must not exist yet): into `<dir>.partial-…`
   * first, renamed when complete, so a cut download leaves nothing that looks whole.
   */
  downloadOutputs(dir: string, options?: DownloadOptions): Promise<DownloadedOutputs>;
}

/** A place a job can run. `execute()` starts a run; the other calls act on a run by id (default: the last one). */
export interface JobExecutor {
  execute(options?: ExecuteOptions): Promise<JobRun>;
  run(runId?: string): Promise<JobRun>;
  status(runId?: string): Promise<JobStatus>;
  getLogs(runId?: string, window?: LogWindow): Promise<JobLogs>;
  followLogs(options: FollowLogsOptions & { readonly runId?: string }): Promise<void>;
  wait(runId?: string): Promise<JobResult>;
  stop(runId?: string): Promise<void>;
  result(runId?: string, options?: ResultOptions): Promise<unknown>;
  metrics(runId?: string): Promise<RunMetrics>;
  downloadOutputs(
    runId: string,
    dir: string,
    options?: DownloadOptions,
  ): Promise<DownloadedOutputs>;
}

/** One run on a target, as a listing reports it. */
export interface RunInfo {
  readonly runId: string;
  readonly job: string;
  readonly version: string;
  readonly uid: string;
  readonly containerId: string;
  readonly containerName: string;
  readonly image: string;
  readonly state: JobState;
  readonly exitCode?: number;
  readonly createdAt: Date;
  readonly sweepId?: string;
  readonly sweepIndex?: number;
}

export interface RemoveRunOptions {
  /** Remove a run that is still queued or running (killing it). */
  readonly force?: boolean;
  /**
   * What becomes of outputs never downloaded: `keep` saves the run folder (result, metrics,
   * outputs) beside its record first and keeps the record; `drop` removes them. Without either,
   * removing a run whose outputs were never downloaded is refused (`OutputsNotKeptError`).
   */
  readonly outputs?: 'keep' | 'drop';
}

/** What `removeRun` did. */
export interface RemovedRun {
  /** What was removed, for messages (`container 3fa2…`, `record`, `saved logs`). */
  readonly removed: readonly string[];
  /** Where the run folder was saved (`outputs: 'keep'`): its record is kept to serve it. */
  readonly keptIn?: string;
}

/**
 * An executor as a configured target gives it: what the CLI (and any tool over targets) does with
 * runs, whatever kind of target it is. What a kind cannot do is a `NotSupportedOnTargetError` from
 * the executor, never a branch in its caller.
 */
export interface TargetExecutor extends JobExecutor {
  readonly kind: TargetKind;
  /** The target's name in the config, as runs are recorded. */
  readonly targetName: string;
  /** Where runs go, for messages: `this process`, a socket, `user@host:port`. */
  readonly location: string;
  /** Where this executor records its runs. */
  readonly records: RecordStore | undefined;
  /** Runs live in this process: Ctrl-C stops them, rather than detaching from them. */
  readonly runsInProcess: boolean;
  /** Builds the job's image and makes sure the target has it. */
  prepare(): Promise<PreparedImage>;
  /** Records of runs that had not ended, brought up to date with the target. */
  syncRecords(records: readonly RunRecord[]): Promise<RunRecord[]>;
  /** Records of this job's runs on the target that are not in `known` (started elsewhere). */
  discoverRuns(known: ReadonlySet<string>): Promise<RunRecord[]>;
  /** The record of run `id` rebuilt from the target, when it holds the run. */
  discoverRun(id: string): Promise<RunRecord | undefined>;
  removeRun(runId: string, options?: RemoveRunOptions): Promise<RemovedRun>;
  /** Removes this job's old containers and images from the target (see `DockerExecutor.prune`). */
  prune(options?: PruneOptions): Promise<PruneResult>;
  /** The package files a run used, read from the target. */
  packageFiles(record: RunRecord): Promise<Map<string, Buffer>>;
  startSweep(plan: SweepPlan): Promise<QueuedSweep>;
  sweepProgress(sweepId: string, total: number): Promise<SweepProgress>;
  /** The sweep's queue runner, as a run (for its logs). */
  sweepRunner(sweepId: string): Promise<JobRun>;
  sweepStartFailure(sweepId: string): Promise<string | undefined>;
  stopSweepRunner(sweepId: string): Promise<void>;
  removeSweepRunner(sweepId: string): Promise<void>;
  /** Closes what the executor opened (an SSH connection). Runs go on. */
  close(): Promise<void>;
  /** What memoization needs of the executor (src/memo/), where it has it. */
  memoTarget?(): MemoTarget;
}
