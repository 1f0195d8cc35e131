import type {
  ExecuteOptions,
  FollowLogsOptions,
  JobExecutor,
  JobLogs,
  JobResult,
  JobRun,
  JobStatus,
  LogWindow,
} from './jobExecutor.js';
import type { DownloadOptions, DownloadedOutputs } from './results/artifacts.js';
import type { RunMetrics } from './results/metrics.js';
import type { ResultOptions } from './results/runResults.js';

/**
 * What every executor shares: the calls on a run by id are the run's own calls. An executor says how
 * it starts a run (`execute`) and how it finds one (`run`); the rest follows.
 */
export abstract class RunLookupExecutor implements JobExecutor {
  abstract execute(options?: ExecuteOptions): Promise<JobRun>;

  /** The run with this id, or the last one when no id is given; throws RunNotFoundError. */
  abstract run(runId?: string): Promise<JobRun>;

  async status(runId?: string): Promise<JobStatus> {
    return (await this.run(runId)).status();
  }

  async getLogs(runId?: string, window?: LogWindow): Promise<JobLogs> {
    return (await this.run(runId)).getLogs(window);
  }

  async followLogs(options: FollowLogsOptions & { readonly runId?: string }): Promise<void> {
    return (await this.run(options.runId)).followLogs(options);
  }

  async wait(runId?: string): Promise<JobResult> {
    return (await this.run(runId)).wait();
  }

  async stop(runId?: string): Promise<void> {
    return (await this.run(runId)).stop();
  }

  async result(runId?: string, options?: ResultOptions): Promise<unknown> {
    return (await this.run(runId)).result(options);
  }

  async metrics(runId?: string): Promise<RunMetrics> {
    return (await this.run(runId)).metrics();
  }

  async downloadOutputs(
    runId: string,
    dir: string,
    options?: DownloadOptions,
  ): Promise<DownloadedOutputs> {
    return (await this.run(runId)).downloadOutputs(dir, options);
  }
}
