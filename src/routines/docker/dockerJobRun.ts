import type Dockerode from 'dockerode';
import {
  engineMessage,
  engineStatus,
  toDockerUnavailable,
} from '../../containering/dockerEngine.js';
import { DockerEngineError } from '../../containering/errors.js';
import { RunNotFoundError } from '../errors.js';
import type {
  FollowLogsOptions,
  JobLogs,
  JobResult,
  JobRun,
  JobState,
  JobStatus,
} from '../jobExecutor.js';
import { demuxLogs, followLogStream } from './logs.js';

/** Exit codes that mean the run was stopped: SIGTERM as the entry point reports it, and SIGKILL. */
const STOPPED_EXIT_CODES = new Set([143, 137]);
const NEVER = '0001-01-01T00:00:00Z';

export interface DockerJobRunFields {
  readonly docker: Dockerode;
  readonly runId: string;
  /** Container id or name. */
  readonly containerId: string;
  /** Remove the container once its run has ended and its logs were read (in `wait()` and `stop()`). */
  readonly removeContainer?: boolean;
  /** Seconds `stop()` lets the job end after SIGTERM before the engine kills it. Default: 10. */
  readonly stopTimeoutSeconds?: number;
}

/** A run in a container on a Docker engine (local, or remote through an SSH-tunnelled dockerode). */
export class DockerJobRun implements JobRun {
  readonly id: string;
  readonly containerId: string;
  private readonly docker: Dockerode;
  private readonly container: Dockerode.Container;
  private readonly removeContainer: boolean;
  private readonly stopTimeoutSeconds: number;
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
  }

  async status(): Promise<JobStatus> {
    if (this.final !== undefined) return this.final.status;
    const info = await this.call('inspect', () => this.container.inspect());
    return toStatus(this.id, info.State);
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
      await replay(this.final.logs, options);
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

  async stop(): Promise<void> {
    if (this.final === undefined) {
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
      this.final = { status, logs };
      await this.call('remove', () => this.container.remove({ force: true }));
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

/** Maps the engine's container state to a run's. */
export function toStatus(runId: string, state: Dockerode.ContainerInspectInfo['State']): JobStatus {
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
    jobState = 'created';
  } else if (state.Status === 'exited' || state.Status === 'dead') {
    exitCode = state.ExitCode;
    jobState =
      exitCode === 0
        ? 'exited'
        : STOPPED_EXIT_CODES.has(exitCode) && !state.OOMKilled
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

/** The kept logs, line by line, waiting for `onLine` as following does. */
async function replay(logs: JobLogs, options: FollowLogsOptions): Promise<void> {
  for (const stream of ['stdout', 'stderr'] as const) {
    const text = logs[stream];
    if (text === '') continue;
    const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
    for (const line of lines) await options.onLine(line, stream);
  }
}
