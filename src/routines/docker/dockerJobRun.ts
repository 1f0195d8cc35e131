import type Dockerode from 'dockerode';
import { engineMessage, engineStatus, toDockerUnavailable } from '../../engines/dockerApi.js';
import { DockerEngineError } from '../../engines/errors.js';
import { RunNotFoundError } from '../errors.js';
import type { FollowLogsOptions, JobLogs, JobResult, JobRun, JobStatus } from '../jobExecutor.js';
import { replayLogs } from '../recordedRun.js';
import { toStatus } from './containerState.js';
import { NAME_SUFFIXES } from './labels.js';
import { demuxLogs, followLogStream } from './logs.js';

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
}

/** A run's end as `wait()` saw it. */
export interface SettledRun {
  readonly status: JobStatus;
  /** The logs, read before the container was removed (`removeContainer`). */
  readonly logs?: JobLogs;
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

  constructor(fields: DockerJobRunFields) {
    this.id = fields.runId;
    this.containerId = fields.containerId;
    this.docker = fields.docker;
    this.container = fields.docker.getContainer(fields.containerId);
    this.removeContainer = fields.removeContainer ?? false;
    this.stopTimeoutSeconds = fields.stopTimeoutSeconds ?? 10;
    this.onSettled = fields.onSettled;
  }

  async status(): Promise<JobStatus> {
    if (this.final !== undefined) return this.final.status;
    const info = await this.call('inspect', () => this.container.inspect());
    return toStatus(this.id, info);
  }

  async getLogs(): Promise<JobLogs> {
    if (this.final !== undefined) return this.final.logs;
    const raw = await this.call('read the logs of', () =>
      this.container.logs({ stdout: true, stderr: true, follow: false }),
    );
    return demuxLogs(Buffer.isBuffer(raw) ? raw : Buffer.from(raw as unknown as string, 'binary'));
  }

  async followLogs(options: FollowLogsOptions): Promise<void> {
    if (this.final !== undefined) {
      await replayLogs(this.final.logs, options);
      return;
    }
    if (options.signal?.aborted === true) return;
    const stream = (await this.call('follow the logs of', () =>
      this.container.logs({ stdout: true, stderr: true, follow: true }),
    )) as NodeJS.ReadableStream;
    await followLogStream(stream, options.onLine, options.signal);
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
    const status = await this.status();
    if (this.removeContainer && this.final === undefined) {
      const logs = await this.getLogs();
      // Recorded before the container goes, so its logs are never lost with it.
      await this.onSettled?.({ status, logs });
      this.final = { status, logs };
      await this.call('remove', () => this.container.remove({ force: true }));
    } else {
      await this.onSettled?.({ status });
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
