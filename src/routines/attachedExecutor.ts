import path from 'node:path';
import { EXIT_OK, EXIT_SIGTERM, runJob } from '../entrypoint/runJob.js';
import {
  installPackageAndGetLoader,
  makePackage,
  packagePath,
  sha256File,
  type PackageInfo,
  type PackagingTask,
} from '../packaging/index.js';
import { openCachedRun, planRun, type MemoTarget, type RunPlan } from '../memo/memo.js';
import { statusOfState, type RunAttempt, type RunRecord } from '../records/record.js';
import {
  attemptStatus,
  mergePolicies,
  runPolicy,
  shouldRetry,
  type RunPolicy,
  type RunPolicyInput,
} from './attempts.js';
import { RecordStore } from '../records/store.js';
import { windowLogs } from './docker/logs.js';
import type {
  PreparedImage,
  PruneResult,
  QueuedSweep,
  SweepProgress,
} from './docker/dockerExecutor.js';
import { RecordedRun } from './recordedRun.js';
import { checkParameters, type JobParameters } from '../parameters/index.js';
import { ferryVersion } from '../version.js';
import { NotSupportedOnTargetError, RunNotFoundError, StopNotSupportedError } from './errors.js';
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
  LogWindow,
  RemoveRunOptions,
  RemovedRun,
  TargetExecutor,
} from './jobExecutor.js';
import { RunLookupExecutor } from './runLookupExecutor.js';
import { LineSplitter } from './lineSplitter.js';
import { captureOutput } from './outputCapture.js';
import { newRunId } from './runId.js';
import { collectAssets } from '../packaging/assets.js';
import type { RunAssets } from '../packaging/assetPaths.js';
import { findProjectRoot } from '../packaging/dependencies.js';
import { packageClassFinder } from '../packaging/resultDocument.js';
import { snapshotJob } from '../packaging/snapshot.js';
import type { ClassFinder } from '../packaging/serializeResource.js';
import { sourceClassFinder } from '../packaging/sourceClassFinder.js';
import {
  FolderArtifacts,
  type DownloadOptions,
  type DownloadedOutputs,
} from './results/artifacts.js';
import { OutputsNotKeptError } from './results/errors.js';
import type { RunMetrics } from './results/metrics.js';
import { createRunContext, writeResult } from './results/runFolder.js';
import {
  RunResults,
  type SerializedResult,
  summarize,
  workDirSources,
  type ResultOptions,
  type ResultSources,
} from './results/runResults.js';

export interface AttachedExecuteOptions extends ExecuteOptions {
  /**
   * Check deliverability without Docker: package the job, install the package, load the job back
   * from the package's own namespaced source and run that copy instead of the original.
   */
  readonly viaPackage?: boolean;
}

export interface AttachedExecutorSettings {
  /** The job object, or how to get it when a run starts (the CLI loads it on first use). */
  readonly job: Job | (() => Job);
  /** Builds the packaging task for `viaPackage` runs and recorded packages. */
  readonly packagingTask: () => PackagingTask;
  /** Where packages are written and installed, and runs recorded (`<workDir>/runs`). */
  readonly workDir: string;
  /** Where run records go. Default: `<workDir>/runs`; `false`: runs are not recorded. */
  readonly records?: RecordStore | false;
  /** The target's name, as runs are recorded. Default: `attached`. */
  readonly targetName?: string;
  /**
   * Package every run, so its record names the exact source it ran (`ferry get`). Default: only
   * `viaPackage` runs are packaged, keeping the debug loop fast.
   */
  readonly packageEveryRun?: boolean;
  /** Run the copy loaded back from the package, not the object itself (default: false). */
  readonly viaPackage?: boolean;
  /** The source root results are bound to by default. Default: the packaging task's. */
  readonly resultSourceRoot?: string;
  /** `execute()` serves an earlier run with the same cache key unless told otherwise (src/memo/). */
  readonly cache?: boolean;
  /** Each run's `timeout` and `retries` unless `execute()` says otherwise. */
  readonly policy?: RunPolicyInput;
}

/** Runs the job in this process, to debug it (Training Grounds' `routine.attached`). */
export class AttachedExecutor extends RunLookupExecutor implements TargetExecutor {
  readonly kind = 'attached' as const;
  readonly runsInProcess = true;
  readonly location = 'this process';
  readonly records: RecordStore | undefined;
  private readonly runs = new Map<string, AttachedRun>();
  private lastRunId: string | undefined;

  constructor(private readonly settings: AttachedExecutorSettings) {
    super();
    this.records =
      settings.records === false
        ? undefined
        : (settings.records ?? new RecordStore(path.join(path.resolve(settings.workDir), 'runs')));
  }

  get targetName(): string {
    return this.settings.targetName ?? 'attached';
  }

  async execute(options: AttachedExecuteOptions = {}): Promise<JobRun> {
    const runId = options.runId ?? newRunId();
    const cache = options.cache ?? this.settings.cache ?? false;
    const plan = await planRun(this.memoTarget(), { ...options, runId, cache });
    if (plan.cached !== undefined) return plan.cached;
    let run: AttachedRun;
    try {
      run = await this.start(options, runId, plan, cache);
    } catch (error) {
      plan.restore();
      throw error;
    }
    // The job object itself runs here: its resultOf() fields hold their values until it ended.
    // Whoever awaits the run sees how it ended; here it only puts the references back.
    const restore = (): void => plan.restore();
    run.wait().then(restore, restore);
    if (options.wait ?? true) await run.wait();
    return run;
  }

  private async start(
    options: AttachedExecuteOptions,
    runId: string,
    plan: RunPlan,
    cache: boolean,
  ): Promise<AttachedRun> {
    const parameters = checkParameters(plan.parameters);
    const viaPackage = options.viaPackage ?? this.settings.viaPackage ?? false;
    const packaged =
      viaPackage || this.settings.packageEveryRun === true || cache
        ? await this.package()
        : undefined;
    const delivered = viaPackage
      ? await this.loadThroughPackage(packaged!)
      : await this.asPackage();
    const policy = runPolicy(
      mergePolicies(this.settings.policy, {
        ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
        ...(options.retries === undefined ? {} : { retries: options.retries }),
      }),
    );
    const run = new AttachedRun(
      runId,
      delivered,
      parameters,
      policy,
      {
        runDir: this.runDir(runId),
        sources: this.resultSources(),
        onDownloaded: async (dir) => {
          if ((await this.records?.get(runId)) !== undefined) {
            await this.records!.update(runId, { outputsDownloadedTo: dir });
          }
        },
      },
      (ended) => this.recordEnd(ended),
    );
    this.runs.set(run.id, run);
    this.lastRunId = run.id;
    const createdAt = new Date().toISOString();
    await this.records?.put({
      id: run.id,
      job: delivered.name,
      version: delivered.version,
      uid: packaged?.uid ?? delivered.uid,
      target: this.targetName,
      targetKind: 'attached',
      parameters,
      status: 'running',
      createdAt,
      startedAt: createdAt,
      ...(policy.timeoutMs === undefined ? {} : { timeoutMs: policy.timeoutMs }),
      ...(policy.retries === 0 ? {} : { retries: policy.retries }),
      ...(packaged === undefined
        ? {}
        : {
            packageSha256: await sha256File(packaged.path),
            ...plan.recordFields(packaged.manifest),
          }),
    });
    run.start();
    return run;
  }

  /** What memoization needs of this executor (src/memo/memo.ts). */
  memoTarget(): MemoTarget {
    return {
      targetName: this.targetName,
      records: this.records,
      packageJob: () => this.package(),
      payload: () => ({ job: this.job() }),
      run: (id) => this.run(id),
      artifactsOf: async (id) =>
        (await this.records?.get(id)) === undefined
          ? undefined
          : new FolderArtifacts(this.runDir(id)),
    };
  }

  /**
   * A run of this process, else (by id) one recorded by another process: its record and saved
   * logs, read-only.
   */
  async run(runId?: string): Promise<JobRun> {
    const id = runId ?? this.lastRunId;
    const run = id === undefined ? undefined : this.runs.get(id);
    if (run !== undefined) return run;
    const cached = await openCachedRun(this.records, id, (from) => this.run(from));
    if (cached !== undefined) return cached;
    const record = id === undefined ? undefined : await this.records?.get(id);
    if (record !== undefined && this.records !== undefined) {
      return new RecordedRun(record, this.records, this.resultSources());
    }
    throw new RunNotFoundError(
      id === undefined
        ? 'no job has been executed attached yet; call execute() first'
        : `no attached run '${id}' in this process; attached runs live only in the process that started them`,
    );
  }

  async prepare(): Promise<PreparedImage> {
    throw new NotSupportedOnTargetError(
      `target ${this.targetName} runs the job in this process and needs no image; pick a Docker target (--target local)`,
    );
  }

  /** Attached runs live in their process: their records say what is known. */
  async syncRecords(records: readonly RunRecord[]): Promise<RunRecord[]> {
    return [...records];
  }

  async discoverRuns(): Promise<RunRecord[]> {
    return [];
  }

  async discoverRun(): Promise<RunRecord | undefined> {
    return undefined;
  }

  /**
   * Removes an attached run's record, saved logs and run folder. Outputs never downloaded are kept
   * (`outputs: 'keep'`: the record stays to serve them) or dropped only when told.
   */
  async removeRun(runId: string, options: RemoveRunOptions = {}): Promise<RemovedRun> {
    const live = this.runs.get(runId);
    if (live !== undefined && (await live.status()).state === 'running') {
      if (options.force !== true) {
        throw new RunNotFoundError(`run ${runId} is running in this process; stop it first`);
      }
      await live.stop();
    }
    const record = await this.records?.get(runId);
    const runDir = this.runDir(runId);
    if (options.outputs === 'keep' && record !== undefined) {
      return { removed: [], keptIn: runDir };
    }
    if (
      options.outputs !== 'drop' &&
      record?.outputsDownloadedTo === undefined &&
      (await new FolderArtifacts(runDir).hasOutputs())
    ) {
      throw new OutputsNotKeptError(
        `run ${runId} has outputs in ${runDir} that were never downloaded; keep them (outputs: 'keep', \`ferry rm --keep-outputs\`) or drop them (outputs: 'drop', \`--drop-outputs\`)`,
      );
    }
    this.runs.delete(runId);
    await this.records?.remove(runId);
    return { removed: record === undefined ? [] : ['record, saved logs and run folder'] };
  }

  /** An attached run's folder: beside its record (`<workDir>/runs/<id>/`). */
  private runDir(runId: string): string {
    return (
      this.records?.runDir(runId) ?? path.join(path.resolve(this.settings.workDir), 'runs', runId)
    );
  }

  private resultSources(): ResultSources {
    return workDirSources({
      workDir: path.resolve(this.settings.workDir),
      sourceRoot: () => this.settings.resultSourceRoot ?? this.settings.packagingTask().sourceRoot,
      uidOf: async (runId) => (await this.records?.get(runId))?.uid,
    });
  }

  async prune(): Promise<PruneResult> {
    throw new NotSupportedOnTargetError(
      `target ${this.targetName} runs jobs in this process: it has no images or containers to prune; remove old runs' records with ferry rm <run id>`,
    );
  }

  async packageFiles(record: RunRecord): Promise<Map<string, Buffer>> {
    throw new NotSupportedOnTargetError(
      `run ${record.id} ran attached: no image holds its package; only ${packagePath(this.settings.workDir, record.uid)} could`,
    );
  }

  async startSweep(): Promise<QueuedSweep> {
    throw this.noSweeps();
  }

  async sweepProgress(): Promise<SweepProgress> {
    throw this.noSweeps();
  }

  async sweepRunner(): Promise<JobRun> {
    throw this.noSweeps();
  }

  async sweepStartFailure(): Promise<string | undefined> {
    throw this.noSweeps();
  }

  async stopSweepRunner(): Promise<void> {
    throw this.noSweeps();
  }

  async removeSweepRunner(): Promise<void> {
    throw this.noSweeps();
  }

  async close(): Promise<void> {
    return undefined;
  }

  private noSweeps(): NotSupportedOnTargetError {
    return new NotSupportedOnTargetError(
      `runs of a sweep are queued on a Docker target; ${this.targetName} runs in this process (use --target local)`,
    );
  }

  private job(): Job {
    const { job } = this.settings;
    return typeof job === 'function' ? job() : job;
  }

  /** Records a run's end and keeps its output beside the record. */
  private async recordEnd(ended: {
    id: string;
    status: JobStatus;
    logs: JobLogs;
    attempts: readonly RunAttempt[];
    attemptLogs: readonly JobLogs[];
  }): Promise<void> {
    const store = this.records;
    if (store === undefined || (await store.get(ended.id)) === undefined) return;
    await store.saveLogs(ended.id, ended.logs);
    if (ended.attempts.length > 1) {
      for (const [i, logs] of ended.attemptLogs.entries()) {
        await store.saveAttemptLogs(ended.id, i + 1, logs);
      }
    }
    await store.update(ended.id, {
      ...(await summarize(new FolderArtifacts(this.runDir(ended.id)))),
      savedRunFolder: true,
      ...(ended.attempts.length > 1 ? { attempts: ended.attempts } : {}),
      status: statusOfState(ended.status.state, ended.status.exitCode),
      ...(ended.status.exitCode === undefined ? {} : { exitCode: ended.status.exitCode }),
      ...(ended.status.finishedAt === undefined
        ? {}
        : { finishedAt: ended.status.finishedAt.toISOString() }),
    });
  }

  /**
   * The job seen as a package that holds it: a copy of the job object made with the package
   * serializer (so a run's changes to its job never reach the next run, or what local and remote
   * runs deliver), with its assets read from the project.
   */
  private async asPackage(): Promise<AttachedJob> {
    const task = this.settings.packagingTask();
    // The project root is looked for only when there are assets: a job without any needs no
    // package.json to run attached.
    const projectRoot =
      task.projectRoot ??
      (task.assets.length === 0 ? task.sourceRoot : await findProjectRoot(task.sourceRoot));
    const assets = await collectAssets(projectRoot, task.assets);
    return {
      job: snapshotJob(this.job()).copy(),
      name: task.name,
      version: task.version,
      uid: 'attached',
      classes: sourceClassFinder(task.sourceRoot, task.exclude),
      assets: { root: projectRoot, files: assets.map((asset) => asset.path) },
    };
  }

  private package(): Promise<PackageInfo> {
    return makePackage(this.settings.packagingTask(), {
      outputDir: path.join(this.settings.workDir, 'packages'),
    });
  }

  private async loadThroughPackage(info: PackageInfo): Promise<AttachedJob> {
    const entryPoint = await installPackageAndGetLoader(info.path, {
      installRoot: path.join(this.settings.workDir, 'installed'),
    });
    const job = await entryPoint.loadResource('job');
    assertJob(job, `${info.uid}: resource 'job'`);
    return {
      job,
      name: info.name,
      version: info.version,
      uid: info.uid,
      classes: packageClassFinder(entryPoint.dir, entryPoint.manifest),
      assets: entryPoint.assets,
    };
  }
}

/** A job ready to run attached, with the identity the entry point's log lines show. */
interface AttachedJob {
  readonly job: Job;
  readonly name: string;
  readonly version: string;
  readonly uid: string;
  /** Where the result's classes are exported (the source it runs from). */
  readonly classes: ClassFinder;
  /** Where its assets are: the project attached, the installed package through a package. */
  readonly assets: RunAssets;
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
  private readonly attempts: RunAttempt[] = [];
  private readonly attemptLogs: JobLogs[] = [];
  private finished: Promise<JobResult> | undefined;
  private readonly results: RunResults;

  constructor(
    readonly id: string,
    private readonly delivered: AttachedJob,
    private readonly parameters: JobParameters,
    private readonly policy: RunPolicy,
    private readonly folder: {
      readonly runDir: string;
      readonly sources: ResultSources;
      readonly onDownloaded: (dir: string) => Promise<void>;
    },
    /** Told when the run ended, before `wait()` resolves. */
    private readonly onEnded?: (ended: {
      id: string;
      status: JobStatus;
      logs: JobLogs;
      attempts: readonly RunAttempt[];
      attemptLogs: readonly JobLogs[];
    }) => Promise<void>,
  ) {
    const artifacts = new FolderArtifacts(folder.runDir);
    this.results = new RunResults({
      runId: id,
      status: () => this.status(),
      artifacts: async () => artifacts,
      sources: folder.sources,
      onDownloaded: folder.onDownloaded,
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
    const { job, name, version, uid, classes } = this.delivered;
    const { runDir } = this.folder;
    const context = createRunContext({ runId: this.id, runDir, assets: this.delivered.assets });
    const attempt = (n: number): Promise<number> => {
      const startedAt = new Date();
      const from = { stdout: this.output.stdout.length, stderr: this.output.stderr.length };
      return runJob(
        {
          moduleName: name,
          moduleVersion: version,
          uid,
          resources: ['job'],
          loadResource: async () => job,
        },
        {
          parameters: this.parameters,
          context,
          deliverResult: (value) => writeResult(runDir, value, classes),
          stopSignal: this.stopping.signal,
          ...(this.policy.timeoutMs === undefined ? {} : { timeoutMs: this.policy.timeoutMs }),
          ferryVersion,
        },
      ).then(async (exitCode) => {
        this.attempts.push({
          attempt: n,
          status: attemptStatus(exitCode, this.stopping.signal.aborted),
          exitCode,
          startedAt: startedAt.toISOString(),
          finishedAt: new Date().toISOString(),
          where: 'this process',
        });
        this.attemptLogs.push({
          stdout: this.output.stdout.slice(from.stdout),
          stderr: this.output.stderr.slice(from.stderr),
        });
        if (this.stopping.signal.aborted || !shouldRetry(this.policy, n, exitCode)) return exitCode;
        console.error(
          `Attempt ${n} ended with exit code ${exitCode}; trying again (attempt ${n + 1})`,
        );
        return attempt(n + 1);
      });
    };
    this.finished = attempt(1)
      .finally(() => {
        release();
        splitters.stdout.flush();
        splitters.stderr.flush();
      })
      .then(async (exitCode) => {
        this.state = stateOf(exitCode);
        this.exitCode = exitCode;
        this.finishedAt = new Date();
        await this.onEnded?.({
          id: this.id,
          status: await this.status(),
          logs: await this.getLogs(),
          attempts: this.attempts,
          attemptLogs: this.attemptLogs,
        });
        return { runId: this.id, exitCode, state: this.state };
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

  async getLogs(window?: LogWindow): Promise<JobLogs> {
    const logs = { stdout: this.output.stdout, stderr: this.output.stderr };
    if (window === undefined || (window.tail === undefined && window.since === undefined)) {
      return logs;
    }
    return windowLogs(logs, window, await this.status());
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
  // A timed-out run is `failed` with its exit code, which the record reads as `timed-out`.
  return exitCode === EXIT_SIGTERM ? 'stopped' : 'failed';
}
