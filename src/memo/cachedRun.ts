/**
 * A run served from cache: a run of its own (its own id and record, `cachedFrom` the earlier run),
 * whose status, logs, result, metrics and outputs are the earlier run's.
 */
import type {
  FollowLogsOptions,
  JobLogs,
  JobResult,
  JobRun,
  JobStatus,
} from '../routines/jobExecutor.js';
import type { DownloadOptions, DownloadedOutputs } from '../routines/results/artifacts.js';
import type { RunMetrics } from '../routines/results/metrics.js';
import type { ResultOptions, SerializedResult } from '../routines/results/runResults.js';

export class CachedRun implements JobRun {
  constructor(
    readonly id: string,
    /** The earlier run this one stands for. */
    readonly cachedFrom: JobRun,
  ) {}

  async status(): Promise<JobStatus> {
    return { ...(await this.cachedFrom.status()), runId: this.id };
  }

  getLogs(): Promise<JobLogs> {
    return this.cachedFrom.getLogs();
  }

  followLogs(options: FollowLogsOptions): Promise<void> {
    return this.cachedFrom.followLogs(options);
  }

  async wait(): Promise<JobResult> {
    return { ...(await this.cachedFrom.wait()), runId: this.id };
  }

  /** Nothing runs: there is nothing to stop. */
  async stop(): Promise<void> {
    return undefined;
  }

  result(options?: ResultOptions): Promise<unknown> {
    return this.cachedFrom.result(options);
  }

  serializedResult(): Promise<SerializedResult> {
    return this.cachedFrom.serializedResult();
  }

  metrics(): Promise<RunMetrics> {
    return this.cachedFrom.metrics();
  }

  downloadOutputs(dir: string, options?: DownloadOptions): Promise<DownloadedOutputs> {
    return this.cachedFrom.downloadOutputs(dir, options);
  }
}
