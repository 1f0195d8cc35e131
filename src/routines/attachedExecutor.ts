import path from 'node:path';
import { EXIT_OK, EXIT_SIGTERM, runJob } from '../entrypoint/runJob.js';
import { installPackageAndGetLoader, makePackage, type PackagingTask } from '../packaging/index.js';
import { checkParameters, type JobParameters } from '../parameters/index.js';
import { ferryVersion } from '../version.js';
import { RunNotFoundError, StopNotSupportedError } from './errors.js';
import { assertJob, type Job } from './job.js';
import type {
  ExecuteOptions,
  FollowLogsOptions,
  JobLogs,
  JobResult,
  JobRun,
  JobState,
  JobStatus,
  LogStream,
} from './jobExecutor.js';
import { RunLookupExecutor } from './runLookupExecutor.js';
import { LineSplitter } from './lineSplitter.js';
import { captureOutput } from './outputCapture.js';
import { newRunId } from './runId.js';

export interface AttachedExecuteOptions extends ExecuteOptions {
  /**
   * Check deliverability without Docker: package the job, install the package, load the job back
   * from the package's own namespaced source and run that copy instead of the original.
   */
  readonly viaPackage?: boolean;
}

export interface AttachedExecutorSettings {
  readonly job: Job;
  /** Builds the packaging task for `viaPackage` runs. */
  readonly packagingTask: () => PackagingTask;
  /** Where `viaPackage` runs write packages and install them (default `.ferry`). */
  readonly workDir: string;
}

/** Runs the job in this process, to debug it (Training Grounds' `routine.attached`). */
export class AttachedExecutor extends RunLookupExecutor {
  private readonly runs = new Map<string, AttachedRun>();
  private lastRunId: string | undefined;

  constructor(private readonly settings: AttachedExecutorSettings) {
    super();
  }

  async execute(options: AttachedExecuteOptions = {}): Promise<JobRun> {
    const delivered = options.viaPackage ? await this.loadThroughPackage() : this.asPackage();
    const parameters = checkParameters(options.parameters ?? {});
    const run = new AttachedRun(options.runId ?? newRunId(), delivered, parameters);
    this.runs.set(run.id, run);
    this.lastRunId = run.id;
    run.start();
    if (options.wait ?? true) await run.wait();
    return run;
  }

  async run(runId?: string): Promise<JobRun> {
    const id = runId ?? this.lastRunId;
    const run = id === undefined ? undefined : this.runs.get(id);
    if (run === undefined) {
      throw new RunNotFoundError(
        id === undefined
          ? 'no job has been executed attached yet; call execute() first'
          : `no attached run '${id}' in this process; attached runs live only in the process that started them`,
      );
    }
    return run;
  }

  /** The job object itself, seen as a package that holds it. */
  private asPackage(): AttachedJob {
    const { job, packagingTask } = this.settings;
    return { job, name: packagingTask().name, version: packagingTask().version, uid: 'attached' };
  }

  private async loadThroughPackage(): Promise<AttachedJob> {
    const task = this.settings.packagingTask();
    const info = await makePackage(task, {
      outputDir: path.join(this.settings.workDir, 'packages'),
    });
    const entryPoint = await installPackageAndGetLoader(info.path, {
      installRoot: path.join(this.settings.workDir, 'installed'),
    });
    const job = await entryPoint.loadResource('job');
    assertJob(job, `${info.uid}: resource 'job'`);
    return { job, name: info.name, version: info.version, uid: info.uid };
  }
}

/** A job ready to run attached, with the identity the entry point's log lines show. */
interface AttachedJob {
  readonly job: Job;
  readonly name: string;
  readonly version: string;
  readonly uid: string;
}

interface LineListener {
  (line: string, stream: LogStream): void;
}

/**
 * One run in this process, through the container entry point's own `runJob`, so the log lines, the
 * exit codes (0, 1, 143) and the stop behaviour are the same as in a container.
 */
class AttachedRun implements JobRun {
  private state: JobState = 'created';
  private exitCode: number | undefined;
  private startedAt: Date | undefined;
  private finishedAt: Date | undefined;
  private readonly output: Record<LogStream, string> = { stdout: '', stderr: '' };
  private readonly lines: Array<{ line: string; stream: LogStream }> = [];
  private readonly lineListeners = new Set<LineListener>();
  private readonly stopping = new AbortController();
  private finished: Promise<JobResult> | undefined;

  constructor(
    readonly id: string,
    private readonly delivered: AttachedJob,
    private readonly parameters: JobParameters = {},
  ) {}

  start(): void {
    this.state = 'running';
    this.startedAt = new Date();
    const splitters = {
      stdout: new LineSplitter((line) => this.emitLine(line, 'stdout')),
      stderr: new LineSplitter((line) => this.emitLine(line, 'stderr')),
    };
    const release = captureOutput((chunk, stream) => {
      this.output[stream] += chunk;
      splitters[stream].push(chunk);
    });
    const { job, name, version, uid } = this.delivered;
    this.finished = runJob(
      {
        moduleName: name,
        moduleVersion: version,
        uid,
        resources: ['job'],
        loadResource: async () => job,
      },
      { parameters: this.parameters, stopSignal: this.stopping.signal, ferryVersion },
    )
      .then((exitCode) => {
        this.state = stateOf(exitCode);
        this.exitCode = exitCode;
        this.finishedAt = new Date();
        return { runId: this.id, exitCode, state: this.state };
      })
      .finally(() => {
        release();
        splitters.stdout.flush();
        splitters.stderr.flush();
      });
  }

  async status(): Promise<JobStatus> {
    return {
      runId: this.id,
      state: this.state,
      ...(this.exitCode === undefined ? {} : { exitCode: this.exitCode }),
      ...(this.startedAt === undefined ? {} : { startedAt: this.startedAt }),
      ...(this.finishedAt === undefined ? {} : { finishedAt: this.finishedAt }),
    };
  }

  async getLogs(): Promise<JobLogs> {
    return { stdout: this.output.stdout, stderr: this.output.stderr };
  }

  async followLogs(options: FollowLogsOptions): Promise<void> {
    for (const { line, stream } of this.lines) options.onLine(line, stream);
    if (this.finished === undefined || this.finishedAt !== undefined) return;
    this.lineListeners.add(options.onLine);
    const aborted = new Promise<void>((resolve) =>
      options.signal?.addEventListener('abort', () => resolve(), { once: true }),
    );
    try {
      await Promise.race([this.finished, aborted]);
    } finally {
      this.lineListeners.delete(options.onLine);
    }
  }

  async wait(): Promise<JobResult> {
    if (this.finished === undefined) throw new RunNotFoundError(`run ${this.id} was never started`);
    return this.finished;
  }

  async stop(): Promise<void> {
    if (this.finishedAt !== undefined) return;
    // In a container a job without stop() is abandoned with its process; here it would keep running.
    if (typeof this.delivered.job.stop !== 'function') {
      throw new StopNotSupportedError(
        `run ${this.id}: an attached job runs in this process and can only stop itself; give its class a stop() method, or run it with routine.local`,
      );
    }
    this.stopping.abort();
    await this.wait();
  }

  private emitLine(line: string, stream: LogStream): void {
    this.lines.push({ line, stream });
    for (const listener of this.lineListeners) listener(line, stream);
  }
}

function stateOf(exitCode: number): JobState {
  if (exitCode === EXIT_OK) return 'exited';
  return exitCode === EXIT_SIGTERM ? 'stopped' : 'failed';
}
