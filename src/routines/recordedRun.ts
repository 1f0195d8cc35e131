/**
 * A run whose container (or process) is gone, as its record and saved logs tell it: what a target
 * gives for a run it no longer holds, so `status`, `logs` and `wait` still answer.
 */
import { isFinal, type RunRecord } from '../records/record.js';
import type { RecordStore } from '../records/store.js';
import { RunNotFoundError } from './errors.js';
import type {
  FollowLogsOptions,
  JobLogs,
  JobResult,
  JobRun,
  JobState,
  JobStatus,
  LogWindow,
} from './jobExecutor.js';
import {
  FolderArtifacts,
  type DownloadOptions,
  type DownloadedOutputs,
} from './results/artifacts.js';
import type { RunMetrics } from './results/metrics.js';
import {
  RunResults,
  type SerializedResult,
  type ResultOptions,
  type ResultSources,
} from './results/runResults.js';

/** A run whose container is gone: what its record, saved logs and saved run folder say, read-only. */
export class RecordedRun implements JobRun {
  private readonly results: RunResults;

  constructor(
    private readonly record: RunRecord,
    private readonly store: RecordStore,
    sources?: ResultSources,
  ) {
    const artifacts = new FolderArtifacts(store.runDir(record.id));
    this.results = new RunResults({
      runId: record.id,
      status: () => this.status(),
      artifacts: async () => artifacts,
      ...(sources === undefined ? {} : { sources }),
      onDownloaded: async (dir) => {
        await store.update(record.id, { outputsDownloadedTo: dir });
      },
    });
  }

  result(options?: ResultOptions): Promise<unknown> {
    return this.results.result(options);
  }

  serializedResult(): Promise<SerializedResult> {
    return this.results.serializedResult();
  }

  metrics(): Promise<RunMetrics> {
    return this.results.metrics();
  }

  downloadOutputs(dir: string, options?: DownloadOptions): Promise<DownloadedOutputs> {
    return this.results.downloadOutputs(dir, options);
  }

  get id(): string {
    return this.record.id;
  }

  async status(): Promise<JobStatus> {
    const r = this.record;
    return {
      runId: r.id,
      state: stateOfRecord(r),
      ...(r.exitCode === undefined ? {} : { exitCode: r.exitCode }),
      ...(r.startedAt === undefined ? {} : { startedAt: new Date(r.startedAt) }),
      ...(r.finishedAt === undefined ? {} : { finishedAt: new Date(r.finishedAt) }),
    };
  }

  async getLogs(window: LogWindow = {}): Promise<JobLogs> {
    const r = this.record;
    const logs = await this.store.readLogs(r.id, window, {
      runId: r.id,
      ...(r.startedAt === undefined ? {} : { startedAt: new Date(r.startedAt) }),
      ...(r.finishedAt === undefined ? {} : { finishedAt: new Date(r.finishedAt) }),
    });
    if (logs === undefined) {
      throw new RunNotFoundError(
        `run ${this.record.id}: its container is gone from target ${this.record.target} and no logs were saved`,
      );
    }
    return logs;
  }

  async followLogs(options: FollowLogsOptions): Promise<void> {
    await replayLogs(await this.getLogs(options), options);
  }

  async wait(): Promise<JobResult> {
    const status = await this.status();
    return { runId: this.record.id, exitCode: status.exitCode ?? -1, state: status.state };
  }

  async stop(): Promise<void> {
    if (isFinal(this.record.status)) return;
    throw new RunNotFoundError(
      `run ${this.record.id}: its container is gone from target ${this.record.target}; there is nothing to stop`,
    );
  }
}

function stateOfRecord(record: RunRecord): JobState {
  switch (record.status) {
    case 'queued':
      return 'created';
    case 'running':
      return 'running';
    case 'succeeded':
      return 'exited';
    case 'failed':
    case 'cancelled':
      return 'failed';
    case 'stopped':
      return 'stopped';
    default:
      return 'unknown';
  }
}

/** Calls `onLine` for every line of logs already read, stdout first, waiting when it asks to. */
export async function replayLogs(
  logs: JobLogs,
  options: Pick<FollowLogsOptions, 'onLine'>,
): Promise<void> {
  for (const stream of ['stdout', 'stderr'] as const) {
    const text = logs[stream];
    if (text === '') continue;
    const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
    for (const line of lines) await options.onLine(line, stream);
  }
}
