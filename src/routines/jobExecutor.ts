/** The one interface every place a job runs implements (docs/design.md §7): attached, local, remote. */
import type { JobParameters } from '../parameters/index.js';

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

export interface FollowLogsOptions {
  /**
   * Called once per complete line, in order, for as long as the job runs. When it returns a promise,
   * the next lines wait until it settles (backpressure: a slow reader keeps memory bounded); any
   * other result is ignored.
   */
  readonly onLine: (line: string, stream: LogStream) => unknown;
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
  /** Extra labels for the run's container (Docker executors); Ferry's own run labels always win. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** A handle on one run of a job, wherever it runs. */
export interface JobRun {
  readonly id: string;
  status(): Promise<JobStatus>;
  getLogs(): Promise<JobLogs>;
  followLogs(options: FollowLogsOptions): Promise<void>;
  wait(): Promise<JobResult>;
  stop(): Promise<void>;
}

/** A place a job can run. `execute()` starts a run; the other calls act on a run by id (default: the last one). */
export interface JobExecutor {
  execute(options?: ExecuteOptions): Promise<JobRun>;
  run(runId?: string): Promise<JobRun>;
  status(runId?: string): Promise<JobStatus>;
  getLogs(runId?: string): Promise<JobLogs>;
  followLogs(options: FollowLogsOptions & { readonly runId?: string }): Promise<void>;
  wait(runId?: string): Promise<JobResult>;
  stop(runId?: string): Promise<void>;
}
