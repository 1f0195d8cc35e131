import { stat } from 'node:fs/promises';
import type Dockerode from 'dockerode';
import { engineMessage, engineStatus, toDockerUnavailable } from '../../engines/dockerApi.js';
import { DockerEngineError } from '../../engines/errors.js';
import { RunNotFoundError } from '../errors.js';
import type {
  FollowLogsOptions,
  JobLogs,
  JobResult,
  JobRun,
  JobStatus,
  LogWindow,
} from '../jobExecutor.js';
import { replayLogs } from '../recordedRun.js';
import { toStatus } from './containerState.js';
import { NAME_SUFFIXES } from './labels.js';
import { demuxLogs, dockerLogWindow, followLogStream, windowLogs } from './logs.js';
import {
  ContainerArtifacts,
  FolderArtifacts,
  type DownloadOptions,
  type DownloadedOutputs,
  type RunArtifacts,
} from '../results/artifacts.js';
import type { RunMetrics } from '../results/metrics.js';
import {
  RunResults,
  type SerializedResult,
  type ResultOptions,
  type ResultSources,
} from '../results/runResults.js';

export interface DockerJobRunFields {
  readonly docker: Dockerode;
  readonly runId: string;
  /** Container id or name. */
  readonly containerId: string;
  /** Remove the container once its run has ended and its logs were read (in `wait()` and `stop()`). */
  readonly removeContainer?: boolean;
  /** Seconds `stop()` lets the job end after SIGTERM before the engine kills it. Default: 10. */
  readonly stopTimeoutSeconds?: number;
  /**
   * Told once `wait()` saw the run end, with its final status (and its logs when the container is
   * removed): where an executor records the run's end.
   */
  readonly onSettled?: (settled: SettledRun) => Promise<void>;
  /** Where the classes of the run's result come from. */
  readonly sources?: ResultSources;
  /**
   * Where the run folder is saved before the container is removed (beside the run's record):
   * what `result()`, `metrics()` and `downloadOutputs()` read once the container is gone.
   */
  readonly savedRunDir?: string;
  /** Told after the outputs were downloaded in full. */
  readonly onDownloaded?: (dir: string) => Promise<void>;
}

/** A run's end as `wait()` saw it. */
export interface SettledRun {
  readonly status: JobStatus;
  /** The logs, read before the container was removed (`removeContainer`). */
  readonly logs?: JobLogs;
  /** The run folder in the container (still there when this is told). */
  readonly artifacts: RunArtifacts;
}

/** A run in a container on a Docker engine (local, or remote through an SSH-tunnelled dockerode). */
export class DockerJobRun implements JobRun {
  readonly id: string;
  readonly containerId: string;
  private readonly docker: Dockerode;
  private readonly container: Dockerode.Container;
  private readonly removeContainer: boolean;
  private readonly stopTimeoutSeconds: number;
  private readonly onSettled: DockerJobRunFields['onSettled'];
  private finished: Promise<JobResult> | undefined;
  /** What was read before the container was removed. */
  private final: { status: JobStatus; logs: JobLogs } | undefined;
  private readonly inContainer: ContainerArtifacts;
  private readonly results: RunResults;

  constructor(fields: DockerJobRunFields) {
    this.id = fields.runId;
    this.containerId = fields.containerId;
    this.docker = fields.docker;
    this.container = fields.docker.getContainer(fields.containerId);
    this.removeContainer = fields.removeContainer ?? false;
    this.stopTimeoutSeconds = fields.stopTimeoutSeconds ?? 10;
    this.onSettled = fields.onSettled;
    this.inContainer = new ContainerArtifacts({ archive: (p) => this.archive(p) });
    const saved =
      fields.savedRunDir === undefined ? undefined : new FolderArtifacts(fields.savedRunDir);
    this.results = new RunResults({
      runId: this.id,
      status: () => this.status(),
      // A saved run folder exists only once the container was removed (by this handle, or by
      // another one: a handle re-bound after a reconnect never saw the removal).
      artifacts: async () =>
        saved !== undefined && (this.final !== undefined || (await isFolder(fields.savedRunDir!)))
          ? saved
          : this.inContainer,
      ...(fields.sources === undefined ? {} : { sources: fields.sources }),
      ...(fields.onDownloaded === undefined ? {} : { onDownloaded: fields.onDownloaded }),
    });
  }

  /** Waits for the run to end, then rebuilds what its `run()` returned. */
  async result(options?: ResultOptions): Promise<unknown> {
    await this.wait();
    return this.results.result(options);
  }

  async serializedResult(): Promise<SerializedResult> {
    await this.wait();
    return this.results.serializedResult();
  }

  metrics(): Promise<RunMetrics> {
    return this.results.metrics();
  }

  downloadOutputs(dir: string, options?: DownloadOptions): Promise<DownloadedOutputs> {
    return this.results.downloadOutputs(dir, options);
  }

  /** A tar stream of a path in the container; undefined when the container lacks the path. */
  private async archive(file: string): Promise<NodeJS.ReadableStream | undefined> {
    try {
      return await this.container.getArchive({ path: file });
    } catch (error) {
      if (engineStatus(error) !== 404) throw this.translate(`read ${file} from`, error);
      // 404 means either: the container is gone (an error), or it has no such path (none).
      await this.call('inspect', () => this.container.inspect());
      return undefined;
    }
  }

  async status(): Promise<JobStatus> {
    if (this.final !== undefined) return this.final.status;
    const info = await this.call('inspect', () => this.container.inspect());
    return toStatus(this.id, info);
  }

  async getLogs(window: LogWindow = {}): Promise<JobLogs> {
    if (this.final !== undefined) return windowLogs(this.final.logs, window, this.span());
    const raw = await this.call('read the logs of', () =>
      this.container.logs({
        stdout: true,
        stderr: true,
        follow: false,
        ...dockerLogWindow(window),
      }),
    );
    return demuxLogs(Buffer.isBuffer(raw) ? raw : Buffer.from(raw as unknown as string, 'binary'));
  }

  async followLogs(options: FollowLogsOptions): Promise<void> {
    if (this.final !== undefined) {
      await replayLogs(windowLogs(this.final.logs, options, this.span()), options);
      return;
    }
    if (options.signal?.aborted === true) return;
    const stream = (await this.call('follow the logs of', () =>
      this.container.logs({
        stdout: true,
        stderr: true,
        follow: true,
        ...dockerLogWindow(options),
      }),
    )) as NodeJS.ReadableStream;
    await followLogStream(stream, options.onLine, options.signal);
  }

  /** When the run ran, as its last status says (for windows over logs read before removal). */
  private span(): { runId: string; startedAt?: Date; finishedAt?: Date } {
    const status = this.final?.status;
    return {
      runId: this.id,
      ...(status?.startedAt === undefined ? {} : { startedAt: status.startedAt }),
      ...(status?.finishedAt === undefined ? {} : { finishedAt: status.finishedAt }),
    };
  }

  /** Waits for the container to exit; removes it afterwards when asked, keeping its logs and status. */
  wait(): Promise<JobResult> {
    this.finished ??= this.waitAndSettle().catch((error: unknown) => {
      this.finished = undefined;
      throw error;
    });
    return this.finished;
  }

  /**
   * SIGTERM (the entry point calls the job's `stop()`), then SIGKILL after the timeout. The
   * container is first renamed with the stop suffix, so that its end reads as a stop Ferry asked
   * for, from any process; an exit by a signal nobody asked Ferry for is a failure.
   */
  async stop(): Promise<void> {
    if (this.final === undefined) {
      const info = await this.call('inspect', () => this.container.inspect());
      if (info.State.Running && !info.Name.endsWith(NAME_SUFFIXES.stopRequested)) {
        const name = `${info.Name.replace(/^\//, '')}${NAME_SUFFIXES.stopRequested}`;
        await this.call('rename', () => this.container.rename({ name }));
      }
      try {
        await this.container.stop({ t: this.stopTimeoutSeconds });
      } catch (error) {
        // 304: the container had already stopped, which is what was asked.
        if (engineStatus(error) !== 304) throw this.translate('stop', error);
      }
    }
    if (this.removeContainer) await this.wait();
  }

  private async waitAndSettle(): Promise<JobResult> {
    if (this.final === undefined) {
      await this.call('wait for', () => this.container.wait());
    }
    let status = await this.status();
    // A container with retries (a restart policy) is `running` again after a failed attempt: the
    // run has ended only once the engine leaves it exited.
    while (this.final === undefined && status.state === 'running') {
      await new Promise((resolve) => setTimeout(resolve, 200));
      await this.call('wait for', () => this.container.wait());
      status = await this.status();
    }
    if (this.removeContainer && this.final === undefined) {
      const logs = await this.getLogs();
      // Recorded (and its run folder saved) before the container goes, so nothing is lost with it.
      await this.onSettled?.({ status, logs, artifacts: this.inContainer });
      this.final = { status, logs };
      await this.call('remove', () => this.container.remove({ force: true }));
    } else {
      await this.onSettled?.({ status, artifacts: this.inContainer });
    }
    return { runId: this.id, exitCode: status.exitCode ?? -1, state: status.state };
  }

  private async call<T>(what: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw this.translate(what, error);
    }
  }

  private translate(what: string, error: unknown): unknown {
    if (engineStatus(error) === 404) {
      return new RunNotFoundError(
        `run ${this.id}: its container ${this.containerId} no longer exists (removed?); could not ${what} it`,
        { cause: error },
      );
    }
    const unavailable = toDockerUnavailable(this.docker, error);
    if (unavailable !== error) return unavailable;
    return new DockerEngineError(
      `run ${this.id}: could not ${what} container ${this.containerId}: ${engineMessage(error)}`,
      engineStatus(error),
      { cause: error },
    );
  }
}

async function isFolder(dir: string): Promise<boolean> {
  return stat(dir).then(
    (stats) => stats.isDirectory(),
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
}
