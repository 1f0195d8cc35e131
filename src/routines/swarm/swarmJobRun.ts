import { NotSupportedOnTargetError, RunNotFoundError } from '../errors.js';
import type { DownloadedOutputs } from '../results/artifacts.js';
import type { RunMetrics } from '../results/metrics.js';
import type { SerializedResult } from '../results/runResults.js';
import { demuxLogs, followLogStream, windowLogs } from '../docker/logs.js';
import type {
  FollowLogsOptions,
  JobLogs,
  JobResult,
  JobRun,
  JobStatus,
  LogWindow,
} from '../jobExecutor.js';
import { replayLogs } from '../recordedRun.js';
import type { SwarmExecutor } from './swarmExecutor.js';
import type { RunPolicy } from '../attempts.js';
import { POLL_MS, currentTask, isLost, statusOfRun, type TaskFacts } from './taskState.js';

/** How long logs may take to reach the manager after a task ended, before following stops. */
const LOG_DRAIN_MS = 1500;

/**
 * A run on a swarm: its service's task, read through the manager. Once the run has ended (seen by
 * `wait()`, `status()` or a stop), its logs and status are kept here and with its record, and its
 * service and secret are removed.
 */
export class SwarmJobRun implements JobRun {
  /** The node its task was placed on, once known. */
  node: string | undefined;
  private final: { status: JobStatus; logs: JobLogs } | undefined;
  private finished: Promise<JobResult> | undefined;
  /** Lost tasks this handle already started another attempt for. */
  private readonly replaced = new Set<string>();

  constructor(
    private readonly executor: SwarmExecutor,
    readonly id: string,
    readonly serviceId: string,
    /** Its retries: a failed task is not the run's end while another attempt is allowed. */
    readonly policy: RunPolicy = { retries: 0 },
  ) {}

  async status(): Promise<JobStatus> {
    if (this.final !== undefined) return this.final.status;
    const tasks = await this.executor.tasksOf(this.serviceId);
    if (tasks.length === 0 && !(await this.executor.serviceExists(this.serviceId))) {
      throw new RunNotFoundError(
        `run ${this.id}: its service ${this.serviceId} is gone from the swarm`,
      );
    }
    const status = statusOfRun(this.id, tasks, this.policy);
    await this.replaceLostAttempt(tasks, status);
    if (status.state === 'created' || status.state === 'running') return status;
    // Ended: seen to its end once, so its record and logs are kept and its service goes.
    await this.wait();
    return this.final === undefined ? status : (this.final as { status: JobStatus }).status;
  }

  async getLogs(window?: LogWindow): Promise<JobLogs> {
    const logs = this.final !== undefined ? this.final.logs : await this.readLogs();
    if (window === undefined || (window.tail === undefined && window.since === undefined)) {
      return logs;
    }
    const status = await this.status();
    return windowLogs(logs, window, {
      runId: this.id,
      ...(status.startedAt === undefined ? {} : { startedAt: status.startedAt }),
      ...(status.finishedAt === undefined ? {} : { finishedAt: status.finishedAt }),
    });
  }

  /** Follows the service's logs until its task has ended (a job service's log stream does not end by itself). */
  async followLogs(options: FollowLogsOptions): Promise<void> {
    if (this.final !== undefined) {
      await replayLogs(this.final.logs, options);
      return;
    }
    if (options.signal?.aborted === true) return;
    const stop = new AbortController();
    const abort = (): void => stop.abort();
    options.signal?.addEventListener('abort', abort, { once: true });
    const watching = (async () => {
      while (!stop.signal.aborted) {
        const status = statusOfRun(
          this.id,
          await this.executor.tasksOf(this.serviceId),
          this.policy,
        );
        if (status.state !== 'created' && status.state !== 'running') {
          await sleep(LOG_DRAIN_MS);
          stop.abort();
          return;
        }
        await sleep(POLL_MS);
      }
    })();
    try {
      const stream = await this.executor.serviceLogs(this.serviceId, true);
      if (Buffer.isBuffer(stream)) {
        await replayLogs(demuxLogs(stream), options);
      } else {
        await followLogStream(stream, options.onLine, stop.signal);
      }
    } finally {
      stop.abort();
      options.signal?.removeEventListener('abort', abort);
      await watching.catch(() => undefined);
    }
  }

  wait(): Promise<JobResult> {
    this.finished ??= this.waitAndSettle().catch((error: unknown) => {
      this.finished = undefined;
      throw error;
    });
    return this.finished;
  }

  /**
   * Stops the run: what it printed so far is kept with its record as `stopped`, then its service
   * is removed, which ends its task (SIGTERM, then SIGKILL after the grace period), and its secret.
   */
  async stop(): Promise<void> {
    if (this.final !== undefined) return;
    const tasks = await this.executor.tasksOf(this.serviceId);
    const task = currentTask(tasks);
    const status = statusOfRun(this.id, tasks, this.policy);
    this.node ??= await this.executor.nodeOf(task);
    const ended = status.state !== 'created' && status.state !== 'running';
    const logs = await this.readLogs();
    const final: JobStatus = ended
      ? status
      : {
          runId: this.id,
          state: 'stopped',
          exitCode: 143,
          finishedAt: new Date(),
          ...(status.startedAt ? { startedAt: status.startedAt } : {}),
        };
    await this.executor.settle(this.id, this.serviceId, final, logs, this.node);
    this.final = { status: final, logs };
  }

  /** Ends a run that never started (its image missing on its node, or no node in time). */
  async fail(node: string | undefined): Promise<void> {
    this.node = node;
    const logs = await this.readLogs().catch(() => ({ stdout: '', stderr: '' }));
    const status: JobStatus = {
      runId: this.id,
      state: 'failed',
      exitCode: -1,
      finishedAt: new Date(),
    };
    await this.executor.settle(this.id, this.serviceId, status, logs, node);
    this.final = { status, logs };
  }

  private async waitAndSettle(): Promise<JobResult> {
    if (this.final === undefined) {
      for (;;) {
        const tasks = await this.executor.tasksOf(this.serviceId);
        const task = currentTask(tasks);
        if (task === undefined && !(await this.executor.serviceExists(this.serviceId))) {
          throw new RunNotFoundError(
            `run ${this.id}: its service ${this.serviceId} was removed before it ended`,
          );
        }
        const status = statusOfRun(this.id, tasks, this.policy);
        await this.replaceLostAttempt(tasks, status);
        if (status.state !== 'created' && status.state !== 'running') {
          // The node of the attempt that ended the run.
          this.node = await this.executor.nodeOf(task);
          const logs = await this.settledLogs();
          await this.executor.settle(this.id, this.serviceId, status, logs, this.node);
          this.final = { status, logs };
          break;
        }
        await sleep(POLL_MS);
      }
    }
    const { status } = this.final;
    return { runId: this.id, exitCode: status.exitCode ?? -1, state: status.state };
  }

  /**
   * A run whose newest task was lost with its node, and that has retries left, gets its next
   * attempt here: the swarm starts none by itself for a node that went down (routines/attempts.ts).
   */
  private async replaceLostAttempt(tasks: readonly TaskFacts[], status: JobStatus): Promise<void> {
    const lost = currentTask(tasks);
    if (status.state !== 'running' || !isLost(lost) || this.replaced.has(lost!.ID)) return;
    // Once per lost task: the swarm takes a moment to list the new one.
    this.replaced.add(lost!.ID);
    await this.executor.retryLostAttempt(this.serviceId);
  }

  /**
   * The logs of an ended task, read until two reads agree: the manager gathers a task's logs from
   * its node, and a read right after the task ended can come back short.
   */
  private async settledLogs(): Promise<JobLogs> {
    let last = await this.readLogs();
    for (let attempt = 0; attempt < 5; attempt++) {
      await sleep(POLL_MS);
      const next = await this.readLogs();
      if (next.stdout === last.stdout && next.stderr === last.stderr) return next;
      last = next;
    }
    return last;
  }

  /**
   * Results, metrics and outputs live in the task's container on the node that ran it; bringing
   * them home from a worker is the next slice of the swarm target (issue 16).
   */
  async result(): Promise<unknown> {
    throw this.notYet('its result');
  }

  async serializedResult(): Promise<SerializedResult> {
    throw this.notYet('its result');
  }

  async metrics(): Promise<RunMetrics> {
    throw this.notYet('its metrics');
  }

  async downloadOutputs(): Promise<DownloadedOutputs> {
    throw this.notYet('its outputs');
  }

  private notYet(what: string): NotSupportedOnTargetError {
    return new NotSupportedOnTargetError(
      `run ${this.id} ran on a swarm: bringing ${what} home from the node that ran it is not built yet; its logs are kept (ferry logs ${this.id})`,
    );
  }

  private async readLogs(): Promise<JobLogs> {
    const raw = await this.executor.serviceLogs(this.serviceId, false);
    if (Buffer.isBuffer(raw)) return demuxLogs(raw);
    const chunks: Buffer[] = [];
    for await (const chunk of raw) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    return demuxLogs(Buffer.concat(chunks));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
