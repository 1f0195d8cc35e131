/**
 * The one Docker executor (docs/design.md §7): runs a job in a container on a Docker engine, and
 * finds, lists, removes and prunes what it ran there. Where the engine is and how an image gets to
 * it is a variant's business (`LocalDockerExecutor`, `RemoteDockerExecutor`); everything else is
 * here, so a run started from the API and one started from the CLI are the same kind of run, with
 * the same labels and the same record.
 */
import os from 'node:os';
import path from 'node:path';
import type Dockerode from 'dockerode';
import type { ContaineringTaskFields } from '../../containering/containeringTask.js';
import type { ContaineringProgress, ImageInfo } from '../../containering/makeContainer.js';
import { engineMessage, engineStatus } from '../../engines/dockerApi.js';
import type { DockerEngine } from '../../engines/engine.js';
import { cacheKeyOf } from '../../memo/key.js';
import { CACHE_KEY_LABEL } from '../../memo/lookup.js';
import { openCachedRun, planRun, type MemoTarget, type RunPlan } from '../../memo/memo.js';
import { makePackage, sha256File, type PackagingTask } from '../../packaging/index.js';
import { parametersEnvironment } from '../../parameters/index.js';
import {
  isFinal,
  statusOfState,
  type RunRecord,
  type RunStatus,
  type TargetKind,
} from '../../records/record.js';
import { RecordStore } from '../../records/store.js';
import type { ShipResult, ShippingProgress } from '../../shipping/index.js';
import {
  DockerOptions,
  resolveEnvironment,
  toHostConfig,
  type DockerOptionsFields,
  type MappedHostConfig,
} from '../dockerOptions.js';
import {
  InvalidPruneOptionsError,
  NoJobError,
  PackageNotAvailableError,
  RunNotFoundError,
} from '../errors.js';
import type {
  ExecuteOptions,
  TargetExecutor,
  JobRun,
  RemoveRunOptions,
  RemovedRun,
  RunInfo,
} from '../jobExecutor.js';
import { RecordedRun } from '../recordedRun.js';
import { newRunId } from '../runId.js';
import { RunLookupExecutor } from '../runLookupExecutor.js';
import { buildJobImage } from './buildJobImage.js';
import { recordFromContainer, toStatus, type ContainerFacts } from './containerState.js';
import { DockerJobRun, type SettledRun } from './dockerJobRun.js';
import { RUN_LABELS, containerName, labelFilter, runContainerLabels } from './labels.js';
import { defaultParallelism, enqueueSweep, gpuSlotsOf, type SweepRun } from '../../sweeps/queue.js';
import { demuxLogs } from './logs.js';
import { readPackageFolder } from './packageFolder.js';
import { startContainer } from './startContainer.js';
import { ContainerArtifacts, FolderArtifacts, type RunArtifacts } from '../results/artifacts.js';
import { OutputsNotKeptError } from '../results/errors.js';
import { runEnvironment } from '../results/layout.js';
import { summarize, workDirSources, type ResultSources } from '../results/runResults.js';
import {
  attemptsOfFile,
  dockerRestartPolicy,
  splitLogsByAttempt,
  mergePolicies,
  policyEnvironment,
  runPolicy,
  type RunPolicy,
  type RunPolicyInput,
} from '../attempts.js';

/** What `execute()` reports while it packages, builds, connects, ships and starts. */
export type ExecutorProgress =
  | ContaineringProgress
  | { readonly stage: 'connect'; readonly message: string }
  | { readonly stage: 'ship'; readonly message: string; readonly shipping: ShippingProgress }
  | { readonly stage: 'start'; readonly message: string }
  | { readonly stage: 'delivered'; readonly message: string; readonly prepared: PreparedImage };

export interface DockerExecutorFields {
  /**
   * What to package. It is read at every `execute()`, so a new task object means new source or
   * payload. Without one the executor still finds, lists, stops and removes runs.
   */
  readonly packagingTask?: PackagingTask | (() => PackagingTask);
  /** How the container runs: environment, mounts, limits, GPUs, removal. */
  readonly options?: DockerOptions | DockerOptionsFields;
  /** Wait for the job to end in `execute()`. Default: the options' `wait`. */
  readonly wait?: boolean;
  /** ContaineringTask fields besides the packaging task (image name, base image, templates…). */
  readonly containering?: Partial<Omit<ContaineringTaskFields, 'packagingTask'>>;
  /**
   * The project's work folder: packages are kept in `<workDir>/packages`, run records and saved
   * logs in `<workDir>/runs`. Default: packages not kept, runs not recorded.
   */
  readonly workDir?: string;
  /** Where run records go. Default: `<workDir>/runs` when there is a work folder. */
  readonly records?: RecordStore;
  /** The target's name, as runs are recorded and labelled. Default: the variant's kind. */
  readonly targetName?: string;
  /**
   * The job's package name, for finding its runs without packaging it (a config's `project`).
   * Default: the packaging task's name.
   */
  readonly jobName?: string;
  /** Ferry's cache root (installed npm dependencies). */
  readonly cacheDir?: string;
  /**
   * The caller's current source root, which runs' results are bound to by default. Default: the
   * packaging task's source root.
   */
  readonly resultSourceRoot?: string;
  readonly onProgress?: (progress: ExecutorProgress) => void;
  /** Where propagated variables are read at `execute()` time. Default: `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** `execute()` serves an earlier run with the same cache key unless told otherwise (src/memo/). */
  readonly cache?: boolean;
  /** Each run's `timeout` and `retries` unless `execute()` or the sweep says otherwise. */
  readonly policy?: RunPolicyInput;
}

/** An image on the engine runs start from. */
export interface PreparedImage {
  /** The image as built on the local engine. */
  readonly image: ImageInfo;
  /** What to run on this executor's engine: the image id there. */
  readonly reference: string;
  /** How it reached a remote engine. */
  readonly shipped?: ShipResult;
}

export interface PruneImagesOptions {
  /** How many of the newest images to keep. Default: 3. */
  readonly keep?: number;
  /** Whose images. Default: this executor's job (its package name). */
  readonly job?: string;
}

export interface PruneImagesResult {
  /** Ids of the images kept, newest first. */
  readonly kept: readonly string[];
  /** Ids of the images removed. */
  readonly removed: readonly string[];
  /** Images that could not be removed (used by a container), with the engine's reason. */
  readonly skipped: readonly { readonly imageId: string; readonly reason: string }[];
}

export interface PruneOptions {
  /** How many of the newest ended runs, and of the newest images, to keep. Default: 3. */
  readonly keep?: number;
  /** Say what would go; remove nothing. */
  readonly dryRun?: boolean;
  /** Prune images (default: true unless only `containers` is asked for). */
  readonly images?: boolean;
  /** Prune ended runs' containers (default: true unless only `images` is asked for). */
  readonly containers?: boolean;
  /** Prune runs whose outputs were never downloaded too (the outputs go with the container). */
  readonly force?: boolean;
}

/** A container or image `prune()` removed, or would remove, or kept and why. */
export interface PruneItem {
  readonly kind: 'container' | 'image';
  /** The container's or image's id. */
  readonly id: string;
  /** The container's name, or the image's tags (its id when it has none). */
  readonly name: string;
  /** Bytes: a container's writable layer, an image's size as `docker images` shows it. */
  readonly size: number;
  /** The run a container ran. */
  readonly runId?: string;
  /** The run's status (containers). */
  readonly status?: RunStatus;
  /** Why it is kept, or what removing it also did (`outputs never downloaded, dropped`). */
  readonly note?: string;
}

export interface PruneResult {
  readonly dryRun: boolean;
  /** Removed (with `dryRun`: what would be), containers first. */
  readonly removed: readonly PruneItem[];
  /** Kept, each with why: running or queued, one of the newest, used by a kept run, outputs. */
  readonly kept: readonly PruneItem[];
  /** What the engine refused to remove, with its reason. */
  readonly failed: readonly PruneItem[];
}

/** A sweep to queue on a target: its runs, and how many may run at once. */
export interface SweepPlan {
  readonly sweepId: string;
  readonly runs: readonly SweepRun[];
  /** At most this many at once. Default: one per GPU slot, else 1. */
  readonly maxParallel?: number;
  readonly createdAt?: Date;
  /** Told as each run is queued. */
  readonly onQueued?: (queued: number, total: number) => void;
  /** Each run's `timeout` and `retries`. Default: the target's. */
  readonly policy?: RunPolicyInput;
}

/** A sweep queued on a target. */
export interface QueuedSweep {
  readonly sweepId: string;
  readonly prepared: PreparedImage;
  /** What was asked for, and what the target's GPUs allow. */
  readonly maxParallel: number;
  readonly records: readonly RunRecord[];
}

/** How far a sweep has come, from its runs' containers. */
export interface SweepProgress {
  readonly total: number;
  readonly ended: number;
  readonly failed: number;
  readonly running: number;
  readonly queued: number;
}

export interface ListRunsOptions {
  /** Every Ferry run on the engine, not only this job's. */
  readonly allJobs?: boolean;
  /** Only the runs of this sweep. */
  readonly sweepId?: string;
}

export abstract class DockerExecutor extends RunLookupExecutor implements TargetExecutor {
  abstract readonly kind: Exclude<TargetKind, 'attached'>;
  readonly runsInProcess = false;
  readonly options: DockerOptions;
  /** Run records of this executor's runs (undefined: not recorded). */
  readonly records: RecordStore | undefined;
  /** The image of the last `execute()` or `build()`. */
  lastImage: ImageInfo | undefined;
  protected readonly fields: DockerExecutorFields;
  private readonly waitByDefault: boolean;
  private readonly runs = new Map<string, JobRun>();
  private lastRunId: string | undefined;

  constructor(fields: DockerExecutorFields) {
    super();
    this.fields = fields;
    this.options =
      fields.options instanceof DockerOptions
        ? fields.options
        : new DockerOptions(fields.options ?? {});
    this.waitByDefault = fields.wait ?? this.options.wait;
    this.records =
      fields.records ??
      (fields.workDir === undefined
        ? undefined
        : new RecordStore(path.join(path.resolve(fields.workDir), 'runs')));
  }

  /** The target's name runs are recorded under. */
  get targetName(): string {
    return this.fields.targetName ?? this.kind;
  }

  /** Where the engine is, for messages: a socket, or `user@host:port`. */
  abstract get location(): string;

  /** The engine runs start on (connecting to it when needed). */
  abstract engine(): Promise<DockerEngine>;

  /** The engine images are built on (the local one). */
  protected abstract builder(): Dockerode;

  /** Makes sure the run engine has `image`; gives what to run there. */
  protected abstract deliver(image: ImageInfo): Promise<PreparedImage>;

  /** Closes what the executor opened to reach its engine. Runs go on. */
  abstract close(): Promise<void>;

  /**
   * Turns a failure under an engine call into the error that says what happened (a variant that
   * reaches its engine over a connection says when the connection was lost).
   */
  async translate(error: unknown, _what: string): Promise<unknown> {
    return error;
  }

  /** The packaging task `execute()` would use now. */
  packagingTask(): PackagingTask {
    const task = this.fields.packagingTask;
    if (task === undefined) {
      throw new NoJobError(
        `this executor was made without a job (no packagingTask), so it can find and manage runs but not start one`,
      );
    }
    return typeof task === 'function' ? task() : task;
  }

  /** Packages the job and builds its image on the local engine (reused when nothing changed). */
  async build(): Promise<ImageInfo> {
    const image = await buildJobImage(this.builder(), this.packagingTask(), this.fields);
    this.lastImage = image;
    return image;
  }

  /** Builds the image and makes sure this executor's engine has it. */
  async prepare(): Promise<PreparedImage> {
    return this.delivered(await this.deliver(await this.build()));
  }

  /** Tells how the image reached the engine, when it had to travel. */
  protected delivered(prepared: PreparedImage): PreparedImage {
    if (prepared.shipped !== undefined) {
      this.progress({
        stage: 'delivered',
        message: `${prepared.image.reference} on ${this.targetName}`,
        prepared,
      });
    }
    return prepared;
  }

  async execute(options: ExecuteOptions = {}): Promise<JobRun> {
    const runId = options.runId ?? newRunId();
    const plan = await planRun(this.memoTarget(), {
      ...options,
      runId,
      cache: options.cache ?? this.fields.cache ?? false,
    });
    if (plan.cached !== undefined) return plan.cached;
    try {
      return await this.start(options, runId, plan);
    } finally {
      plan.restore();
    }
  }

  private async start(options: ExecuteOptions, runId: string, plan: RunPlan): Promise<JobRun> {
    // Read the variables first: a missing one fails before anything is built or sent.
    const parameters = plan.parameters;
    const env = [
      ...resolveEnvironment(this.options, this.fields.env ?? process.env),
      parametersEnvironment(parameters),
    ];
    const policy = this.policyOf(options);
    env.push(...policyEnvironment(policy));
    const hostConfig = withRestartPolicy(toHostConfig(this.options), policy);
    const prepared = await this.prepareForRun();
    const { docker } = await this.engine();
    const manifest = prepared.image.packageInfo.manifest;
    env.push(...runEnvironment({ runId }));
    const createdAt = new Date();
    const name = containerName(manifest.name, runId);
    this.progress({ stage: 'start', message: `Starting ${name} on ${this.location}` });
    let containerId: string;
    try {
      containerId = await startContainer(docker, {
        image: prepared.reference,
        name,
        labels: runContainerLabels(
          { name: manifest.name, version: manifest.version, uid: manifest.uid, runId },
          { target: this.targetName, parameters, createdAt },
          { ...options.labels, ...plan.labels(manifest) },
        ),
        env,
        hostConfig,
      });
    } catch (error) {
      throw await this.translate(error, 'start the job on');
    }
    await this.records?.put({
      ...this.newRecord(prepared, await sha256File(prepared.image.packageInfo.path)),
      id: runId,
      parameters,
      status: 'running',
      createdAt: createdAt.toISOString(),
      containerId,
      ...plan.recordFields(manifest),
      ...policyFields(policy),
    });
    const run = await this.handle(runId, containerId, options.removeContainer);
    this.lastRunId = runId;
    if (options.wait ?? this.waitByDefault) await run.wait();
    return run;
  }

  /** Builds and delivers the image for `execute()`; a variant may overlap the two with connecting. */
  protected async prepareForRun(): Promise<PreparedImage> {
    return this.prepare();
  }

  /**
   * The run with this id: one this executor started, or any container labelled with it (started
   * by another executor or process); when its container is gone, its record and saved logs. Without
   * an id: this executor's last run, else the newest container of this job.
   */
  async run(runId?: string): Promise<JobRun> {
    const id = runId ?? this.lastRunId;
    const known = id === undefined ? undefined : this.runs.get(id);
    if (known !== undefined) return known;
    const cached = await openCachedRun(this.records, id, (from) => this.run(from));
    if (cached !== undefined) return cached;
    const filter: Record<string, string> =
      id === undefined ? { [RUN_LABELS.job]: this.jobName() } : { [RUN_LABELS.runId]: id };
    const found = await this.listContainers(filter, 'find the run on');
    if (id !== undefined && found.length > 1) {
      throw new RunNotFoundError(
        `run ${id}: ${found.length} containers on ${this.location} carry its label (${found.map((c) => c.Names.join(',')).join('; ')}); expected one`,
      );
    }
    const newest = [...found].sort((a, b) => b.Created - a.Created)[0];
    if (newest === undefined) {
      const recorded = id === undefined ? undefined : await this.recordedRun(id);
      if (recorded !== undefined) return recorded;
      throw new RunNotFoundError(
        id === undefined
          ? `no run of job ${this.jobName()} on ${this.location}; call execute() first`
          : `no container with label ${RUN_LABELS.runId}=${id} on ${this.location} (removed, or run elsewhere)`,
      );
    }
    return this.handle(newest.Labels[RUN_LABELS.runId] ?? id ?? newest.Id, newest.Id);
  }

  /** The runs on the engine, newest first: this job's, every Ferry run's, or a sweep's. */
  async listRuns(options: ListRunsOptions = {}): Promise<RunInfo[]> {
    const filter: Record<string, string | true> = {
      [RUN_LABELS.runId]: true,
      [RUN_LABELS.role]: 'run',
      ...(options.sweepId === undefined ? {} : { [RUN_LABELS.sweep]: options.sweepId }),
      ...(options.allJobs === true || options.sweepId !== undefined
        ? {}
        : { [RUN_LABELS.job]: this.jobName() }),
    };
    const containers = await this.listContainers(filter, 'list the runs on');
    const runs = containers.map((c) => runInfoOf(c));
    return runs.sort(
      (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.runId.localeCompare(a.runId),
    );
  }

  /**
   * Brings records that had not ended up to date with their containers (one list call), writing
   * what changed back to the records. A record whose container is gone becomes `unknown`.
   */
  async syncRecords(records: readonly RunRecord[]): Promise<RunRecord[]> {
    const store = this.records;
    const stale = records.filter((r) => !isFinal(r.status));
    if (store === undefined || stale.length === 0) return [...records];
    const { docker } = await this.engine();
    const byRun = new Map(
      (await this.listContainers({ [RUN_LABELS.runId]: true }, 'list the runs on')).map((c) => [
        c.Labels[RUN_LABELS.runId],
        c,
      ]),
    );
    const updated = new Map<string, RunRecord>();
    for (const record of stale) {
      const container = byRun.get(record.id);
      if (container === undefined) {
        if (record.status !== 'unknown') {
          updated.set(record.id, await store.update(record.id, { status: 'unknown' }));
        }
        continue;
      }
      const listed = runInfoOf(container);
      const same = statusOfState(listed.state, listed.exitCode) === record.status;
      if (same && (record.status === 'queued' || record.startedAt !== undefined)) continue;
      const info = await this.call('inspect the run on', () =>
        docker.getContainer(container.Id).inspect(),
      );
      const fresh = recordFromContainer(info, {
        targetKind: this.kind,
        targetName: this.targetName,
      });
      if (fresh === undefined) continue;
      const summary = isFinal(fresh.status)
        ? await this.call('read the results of', () =>
            this.endSummary(this.containerArtifacts(docker, info.Id), {
              ...fresh,
              containerId: info.Id,
            }),
          )
        : {};
      updated.set(
        record.id,
        await store.update(record.id, {
          ...summary,
          status: fresh.status,
          ...(fresh.exitCode === undefined ? {} : { exitCode: fresh.exitCode }),
          ...(fresh.startedAt === undefined ? {} : { startedAt: fresh.startedAt }),
          ...(fresh.finishedAt === undefined ? {} : { finishedAt: fresh.finishedAt }),
          containerId: info.Id,
        }),
      );
    }
    return records.map((r) => updated.get(r.id) ?? r);
  }

  /**
   * Records of this job's runs on the engine that the records folder does not hold (started by
   * another machine or process), rebuilt from their labels and added to the records.
   */
  async discoverRuns(known: ReadonlySet<string>): Promise<RunRecord[]> {
    const { docker } = await this.engine();
    const containers = await this.listContainers(
      { [RUN_LABELS.job]: this.jobName(), [RUN_LABELS.role]: 'run' },
      'list the runs on',
    );
    const found: RunRecord[] = [];
    for (const container of containers) {
      const id = container.Labels[RUN_LABELS.runId];
      if (id === undefined || known.has(id)) continue;
      const record = await this.recordOfContainer(docker, container.Id);
      if (record !== undefined) found.push(record);
    }
    return found;
  }

  /** The record of run `id` rebuilt from its container's labels (and added to the records). */
  async discoverRun(id: string): Promise<RunRecord | undefined> {
    const { docker } = await this.engine();
    const [first] = await this.listContainers({ [RUN_LABELS.runId]: id }, 'find the run on');
    return first === undefined ? undefined : this.recordOfContainer(docker, first.Id);
  }

  /**
   * Removes a run: its container (killed first with `force`; else a live run is refused), its record
   * and its saved logs. Outputs never downloaded are not removed silently: `outputs: 'keep'` saves
   * the run folder beside the record first (and keeps the record to serve it), `outputs: 'drop'`
   * removes them; without either such a run is refused.
   */
  async removeRun(runId: string, options: RemoveRunOptions = {}): Promise<RemovedRun> {
    const { docker } = await this.engine();
    const containers = await this.listContainers({ [RUN_LABELS.runId]: runId }, 'find the run on');
    const record = await this.records?.get(runId);
    for (const container of containers) {
      if (container.State === 'running' && options.force !== true) {
        throw new RunNotFoundError(
          `run ${runId} is running on ${this.location}; stop it first or remove it with force`,
        );
      }
    }
    const removed: string[] = [];
    let keptIn: string | undefined;
    for (const container of containers) {
      const artifacts = this.containerArtifacts(docker, container.Id);
      if (options.outputs === 'keep' && this.records !== undefined && record !== undefined) {
        if (container.State === 'running') await docker.getContainer(container.Id).kill();
        keptIn = this.records.runDir(runId);
        await this.call('save the run folder of', () => artifacts.saveTo(keptIn!));
        await this.records.update(runId, {
          ...(await summarize(artifacts)),
          savedRunFolder: true,
        });
      } else if (options.outputs !== 'drop' && record?.outputsDownloadedTo === undefined) {
        const hasOutputs = await this.call('look at the outputs of', () => artifacts.hasOutputs());
        if (hasOutputs) {
          throw new OutputsNotKeptError(
            `run ${runId} has outputs that were never downloaded; keep them (outputs: 'keep', \`ferry rm --keep-outputs\`: saved beside its record) or drop them (outputs: 'drop', \`--drop-outputs\`)`,
          );
        }
      }
      await this.removeContainer(docker, container.Id);
      removed.push(`container ${container.Id.slice(0, 12)} on ${this.location}`);
    }
    if (containers.length === 0 && record?.savedRunFolder === true && record.hasOutputs === true) {
      // The container went earlier (--rm); its outputs are beside the record.
      if (options.outputs === 'keep') keptIn = this.records!.runDir(runId);
      else if (options.outputs !== 'drop' && record.outputsDownloadedTo === undefined) {
        throw new OutputsNotKeptError(
          `run ${runId} has outputs saved in ${this.records!.runDir(runId)} that were never downloaded; keep them (outputs: 'keep', \`ferry rm --keep-outputs\`) or drop them (outputs: 'drop', \`--drop-outputs\`)`,
        );
      }
    }
    this.runs.delete(runId);
    if (keptIn === undefined && record !== undefined) {
      await this.records?.remove(runId);
      removed.push(
        record.savedRunFolder === true
          ? 'record, saved logs and run folder'
          : 'record and saved logs',
      );
    }
    return { removed, ...(keptIn === undefined ? {} : { keptIn }) };
  }

  /**
   * Removes old images of a job from the engine, keeping the `keep` newest. An image a container
   * still uses (even a stopped one) is skipped, with the engine's reason.
   */
  async pruneImages(options: PruneImagesOptions = {}): Promise<PruneImagesResult> {
    const keep = keepCount(options.keep, 'pruneImages');
    const { docker } = await this.engine();
    const newestFirst = await this.imagesNewestFirst(docker, options.job ?? this.jobName());
    const removed: string[] = [];
    const skipped: { imageId: string; reason: string }[] = [];
    for (const image of newestFirst.slice(keep)) {
      const refused = await this.removeImage(docker, image);
      if (refused === undefined) removed.push(image.Id);
      else skipped.push({ imageId: image.Id, reason: refused });
    }
    return { kept: newestFirst.slice(0, keep).map((i) => i.Id), removed, skipped };
  }

  /**
   * Removes this job's ended runs' containers and its images from the engine, keeping the `keep`
   * newest of each and whatever a kept run needs: running and queued runs, their images, the image
   * of every kept container, and (unless `force`) every run whose outputs were never downloaded.
   * A removed run's logs are saved with its record first, and its record says when its container
   * went (`containerRemovedAt`), so `ferry logs`/`status` still answer for it. `dryRun` plans only.
   */
  async prune(options: PruneOptions = {}): Promise<PruneResult> {
    const keep = keepCount(options.keep, 'prune');
    const onlyOne = options.images === true ? options.containers !== true : false;
    const pruneContainers = options.containers ?? !onlyOne;
    const pruneImages = options.images ?? options.containers !== true;
    const { docker } = await this.engine();
    const job = this.jobName();
    const containers = await this.call('list the runs on', () =>
      docker.listContainers({
        all: true,
        size: true,
        filters: labelFilter({ [RUN_LABELS.job]: job }),
      }),
    );
    const records = new Map<string, RunRecord>();
    for (const c of containers) {
      const id = c.Labels[RUN_LABELS.runId];
      const record = id === undefined ? undefined : await this.records?.get(id);
      if (record !== undefined) records.set(record.id, record);
    }
    // Records that had not seen their run end get its end first: what is pruned is recorded right.
    for (const fresh of await this.syncRecords([...records.values()])) records.set(fresh.id, fresh);

    const removed: PruneItem[] = [];
    const kept: PruneItem[] = [];
    const liveSweeps = new Set<string>();
    const runs = containers
      .filter((c) => c.Labels[RUN_LABELS.role] === 'run')
      .sort((a, b) => b.Created - a.Created || b.Id.localeCompare(a.Id));
    let endedSeen = 0;
    for (const c of runs) {
      const runId = c.Labels[RUN_LABELS.runId] ?? c.Id;
      const record = records.get(runId);
      const status = record?.status ?? statusOfState(runInfoOf(c).state);
      const item: PruneItem = {
        kind: 'container',
        id: c.Id,
        name: (c.Names[0] ?? c.Id).replace(/^\//, ''),
        size: containerSize(c),
        runId,
        status,
      };
      const live = ['created', 'running', 'restarting', 'paused'].includes(c.State);
      if (live) {
        const sweep = c.Labels[RUN_LABELS.sweep];
        if (sweep !== undefined) liveSweeps.add(sweep);
        kept.push({ ...item, note: c.State === 'created' ? 'queued' : 'running' });
      } else if (!pruneContainers) {
        kept.push({ ...item, note: 'containers not pruned (--images)' });
      } else if (endedSeen++ < keep) {
        kept.push({
          ...item,
          note: keep === 1 ? 'the newest ended run' : `one of the ${keep} newest ended runs`,
        });
      } else if (await this.hasUndownloadedOutputs(docker, c.Id, record)) {
        if (options.force === true) {
          removed.push({ ...item, note: 'its outputs were never downloaded: dropped (--force)' });
        } else {
          kept.push({
            ...item,
            note: `its outputs were never downloaded (ferry outputs ${runId}; or --force drops them)`,
          });
        }
      } else {
        removed.push(item);
      }
    }
    const removedIds = new Set(removed.map((i) => i.id));
    for (const c of containers) {
      const role = c.Labels[RUN_LABELS.role];
      if (role === 'run' || !pruneContainers) continue;
      const item: PruneItem = {
        kind: 'container',
        id: c.Id,
        name: (c.Names[0] ?? c.Id).replace(/^\//, ''),
        size: containerSize(c),
      };
      const sweep = c.Labels[RUN_LABELS.sweep];
      const sweepKept =
        sweep !== undefined &&
        runs.some((r) => r.Labels[RUN_LABELS.sweep] === sweep && !removedIds.has(r.Id));
      if (c.State === 'running' || (sweep !== undefined && liveSweeps.has(sweep))) {
        kept.push({ ...item, note: 'the queue runner of a sweep still going' });
      } else if (role === 'sweep-runner' && sweepKept) {
        kept.push({ ...item, note: `the queue runner of ${sweep}, whose runs are kept` });
      } else {
        removed.push({
          ...item,
          note: role === 'sweep-runner' ? `queue runner of ${sweep}` : role,
        });
      }
    }
    for (const item of removed) removedIds.add(item.id);

    const usedBy = new Map<string, string>();
    for (const c of containers) {
      if (removedIds.has(c.Id) || usedBy.has(c.ImageID)) continue;
      usedBy.set(c.ImageID, c.Labels[RUN_LABELS.runId] ?? (c.Names[0] ?? c.Id).replace(/^\//, ''));
    }
    const imageItems: PruneItem[] = [];
    if (pruneImages) {
      // An image is as new as its last use: one built long ago that the latest run used is kept.
      const lastUsed = new Map<string, number>();
      for (const c of containers) {
        lastUsed.set(c.ImageID, Math.max(lastUsed.get(c.ImageID) ?? 0, c.Created * 1000));
      }
      const images = await this.imagesNewestFirst(docker, job, lastUsed);
      for (const [i, image] of images.entries()) {
        const item: PruneItem = {
          kind: 'image',
          id: image.Id,
          name: imageNames(image).join(', ') || image.Id,
          size: image.Size,
        };
        const user = usedBy.get(image.Id);
        if (i < keep) {
          kept.push({
            ...item,
            note: keep === 1 ? 'the newest image' : `one of the ${keep} newest images`,
          });
        } else if (user !== undefined) {
          kept.push({ ...item, note: `used by ${user}, which is kept` });
        } else {
          imageItems.push(item);
        }
      }
    }
    removed.push(...imageItems);
    if (options.dryRun === true) return { dryRun: true, removed, kept, failed: [] };

    const done: PruneItem[] = [];
    const failed: PruneItem[] = [];
    for (const item of removed) {
      if (item.kind === 'container') {
        await this.pruneContainer(docker, item, records.get(item.runId ?? ''));
        done.push(item);
        continue;
      }
      const image = { Id: item.id, RepoTags: item.name === item.id ? [] : item.name.split(', ') };
      const refused = await this.removeImage(docker, image);
      if (refused === undefined) done.push(item);
      else failed.push({ ...item, note: refused });
    }
    return { dryRun: false, removed: done, kept, failed };
  }

  /** Whether a run's container holds outputs its record does not say were downloaded. */
  private async hasUndownloadedOutputs(
    docker: Dockerode,
    containerId: string,
    record: RunRecord | undefined,
  ): Promise<boolean> {
    if (record?.outputsDownloadedTo !== undefined) return false;
    if (record?.hasOutputs !== undefined) return record.hasOutputs;
    return this.call('look at the outputs of', () =>
      this.containerArtifacts(docker, containerId).hasOutputs(),
    );
  }

  /** Removes a pruned run's container, its logs saved with its record first. */
  private async pruneContainer(
    docker: Dockerode,
    item: PruneItem,
    record: RunRecord | undefined,
  ): Promise<void> {
    const store = this.records;
    if (store !== undefined && record !== undefined) {
      if ((await store.readLogs(record.id)) === undefined) {
        const run = new DockerJobRun({ docker, runId: record.id, containerId: item.id });
        const timed = await this.call('read the logs of', () =>
          docker
            .getContainer(item.id)
            .logs({ stdout: true, stderr: true, follow: false, timestamps: true }),
        );
        await store.saveLogs(record.id, await run.getLogs(), demuxLogs(timed));
      }
      // Result and metrics are small and stay served from beside the record; outputs (downloaded
      // already, or dropped with --force) are not copied home again.
      const saved =
        record.hasOutputs !== true &&
        (await this.call('save the run folder of', () =>
          this.containerArtifacts(docker, item.id).saveTo(store.runDir(record.id)),
        ));
      await store.update(record.id, {
        containerRemovedAt: new Date().toISOString(),
        ...(saved ? { savedRunFolder: true } : {}),
      });
    }
    await this.removeContainer(docker, item.id);
    if (item.runId !== undefined) this.runs.delete(item.runId);
  }

  /**
   * A job's images on the engine, newest first: by their own creation time (finer than a
   * listing's), or by when a container last used them when that is later (`lastUsed`, ms).
   */
  private async imagesNewestFirst(
    docker: Dockerode,
    job: string,
    lastUsed: ReadonlyMap<string, number> = new Map(),
  ): Promise<Dockerode.ImageInfo[]> {
    return this.call('list the images on', async () => {
      const images = await docker.listImages({ filters: labelFilter({ [RUN_LABELS.job]: job }) });
      const created = new Map<string, number>();
      for (const image of images) {
        const inspected = await docker.getImage(image.Id).inspect();
        const built = Date.parse(inspected.Created) || image.Created * 1000;
        created.set(image.Id, Math.max(built, lastUsed.get(image.Id) ?? 0));
      }
      return [...images].sort(
        (a, b) => (created.get(b.Id) ?? 0) - (created.get(a.Id) ?? 0) || b.Id.localeCompare(a.Id),
      );
    });
  }

  /** Removes an image, one name at a time; the engine's reason when it refuses (in use), else undefined. */
  private async removeImage(
    docker: Dockerode,
    image: Pick<Dockerode.ImageInfo, 'Id' | 'RepoTags'>,
  ): Promise<string | undefined> {
    const names = imageNames(image);
    try {
      // One name at a time: removing the last one deletes the image (by id, Docker refuses an
      // image with several names without force, and force would untag images in use).
      for (const name of names.length === 0 ? [image.Id] : names) {
        await docker.getImage(name).remove();
      }
      return undefined;
    } catch (error) {
      if (engineStatus(error) === 409) return engineMessage(error);
      throw await this.translate(error, 'remove an image on');
    }
  }

  /**
   * Stops run `runId` (default: the last one): SIGTERM, then SIGKILL after the timeout; a run still
   * waiting in a sweep's queue is taken off it (its container removed, its record `cancelled`).
   */
  override async stop(runId?: string): Promise<void> {
    if (runId !== undefined) {
      const [queued] = (
        await this.listContainers({ [RUN_LABELS.runId]: runId }, 'find the run on')
      ).filter((c) => c.State === 'created');
      if (queued !== undefined) {
        await this.removeContainer((await this.engine()).docker, queued.Id);
        if ((await this.records?.get(runId)) !== undefined) {
          await this.records!.update(runId, {
            status: 'cancelled',
            finishedAt: new Date().toISOString(),
          });
        }
        return;
      }
    }
    const run = await this.run(runId);
    await run.stop();
    // Seen to its end, so its record says how it ended.
    await run.wait();
  }

  /**
   * Queues a sweep on the engine: builds and delivers the image once, creates every run's container
   * (queued) and starts the sweep's queue runner there, which starts at most `maxParallel` at once.
   * The queue lives on the engine: it goes on when this process ends.
   */
  async startSweep(plan: SweepPlan): Promise<QueuedSweep> {
    const policy = this.policyOf(plan.policy ?? {});
    const env = [
      ...resolveEnvironment(this.options, this.fields.env ?? process.env),
      ...policyEnvironment(policy),
    ];
    const slots = gpuSlotsOf(this.options.gpus);
    const maxParallel = defaultParallelism(plan.maxParallel, slots);
    const prepared = await this.prepareForRun();
    const engine = await this.engine();
    const manifest = prepared.image.packageInfo.manifest;
    const createdAt = plan.createdAt ?? new Date();
    await this.call('queue the sweep on', () =>
      enqueueSweep({
        docker: engine.docker,
        image: prepared.reference,
        sweepId: plan.sweepId,
        job: { name: manifest.name, version: manifest.version, uid: manifest.uid },
        target: this.targetName,
        runs: plan.runs,
        maxParallel,
        env,
        hostConfig: withRestartPolicy(toHostConfig(this.options), policy),
        ...(slots.length > 0 ? { gpuSlots: slots } : {}),
        hostSocketPath: engine.hostSocketPath,
        createdAt,
        ...(plan.onQueued === undefined ? {} : { onProgress: plan.onQueued }),
      }),
    );
    const packageSha256 = await sha256File(prepared.image.packageInfo.path);
    const records: RunRecord[] = [];
    for (const run of plan.runs) {
      const record: RunRecord = {
        ...this.newRecord(prepared, packageSha256),
        id: run.runId,
        parameters: run.parameters,
        status: 'queued',
        createdAt: createdAt.toISOString(),
        sweepId: plan.sweepId,
        sweepIndex: run.index,
        cacheKey: cacheKeyOf({ manifest, parameters: run.parameters }),
        ...policyFields(policy),
      };
      records.push(this.records === undefined ? record : await this.records.put(record));
    }
    return { sweepId: plan.sweepId, prepared, maxParallel, records };
  }

  /** How far a sweep has come. Runs taken off the queue (removed) count as ended. */
  async sweepProgress(sweepId: string, total: number): Promise<SweepProgress> {
    const runs = await this.listRuns({ sweepId });
    const ended = runs.filter((r) => !['created', 'running'].includes(r.state));
    const running = runs.filter((r) => r.state === 'running').length;
    return {
      total,
      ended: total - runs.length + ended.length,
      failed: ended.filter((r) => r.state !== 'exited').length,
      running,
      queued: runs.length - ended.length - running,
    };
  }

  /** The sweep's queue runner, as a run (its logs say which run started when). */
  async sweepRunner(sweepId: string): Promise<JobRun> {
    const [runner] = await this.listContainers(
      { [RUN_LABELS.sweep]: sweepId, [RUN_LABELS.role]: 'sweep-runner' },
      'find the queue runner on',
    );
    if (runner === undefined) {
      throw new RunNotFoundError(
        `sweep ${sweepId}: its queue runner container is gone from ${this.location}`,
      );
    }
    return new DockerJobRun({
      docker: (await this.engine()).docker,
      runId: sweepId,
      containerId: runner.Id,
    });
  }

  /** Why the queue runner could not start some of a sweep's runs, from its log. */
  async sweepStartFailure(sweepId: string): Promise<string | undefined> {
    const logs = await (await this.sweepRunner(sweepId)).getLogs();
    const line = logs.stdout.split('\n').find((l) => l.includes('could not start run'));
    return line?.replace(/^\S+ could not start run \S+ \(#\d+\): /, '');
  }

  /** Stops a sweep's queue runner, so no further run of it starts; its runs are left as they are. */
  async stopSweepRunner(sweepId: string): Promise<void> {
    const { docker } = await this.engine();
    const runners = await this.listContainers(
      { [RUN_LABELS.sweep]: sweepId, [RUN_LABELS.role]: 'sweep-runner' },
      'find the queue runner on',
    );
    for (const runner of runners) {
      try {
        await docker.getContainer(runner.Id).stop({ t: 5 });
      } catch (error) {
        // 304: stopped already; 404: removed meanwhile.
        const status = engineStatus(error);
        if (status !== 304 && status !== 404)
          throw await this.translate(error, 'stop the queue runner on');
      }
    }
  }

  /** Removes a sweep's queue runner container. */
  async removeSweepRunner(sweepId: string): Promise<void> {
    const { docker } = await this.engine();
    const runners = await this.listContainers(
      { [RUN_LABELS.sweep]: sweepId, [RUN_LABELS.role]: 'sweep-runner' },
      'find the queue runner on',
    );
    for (const runner of runners) await this.removeContainer(docker, runner.Id);
  }

  /**
   * The files of the package a run used, from its container, else from its image (a container
   * created and removed again, never started, to read them): by path relative to the package folder.
   */
  async packageFiles(record: RunRecord): Promise<Map<string, Buffer>> {
    const { docker } = await this.engine();
    const [container] = await this.listContainers(
      { [RUN_LABELS.runId]: record.id },
      'find the run on',
    );
    if (container !== undefined) {
      return readPackageFolder(docker.getContainer(container.Id));
    }
    const image = record.imageId ?? record.image;
    if (image === undefined) {
      throw new PackageNotAvailableError(
        `run ${record.id}: its container is gone and its record names no image`,
      );
    }
    let temporary: Dockerode.Container;
    try {
      temporary = await docker.createContainer({
        Image: image,
        Labels: { [RUN_LABELS.role]: 'get' },
      });
    } catch (error) {
      throw new PackageNotAvailableError(
        `run ${record.id}: its container is gone and its image ${image} is not on ${this.location} (${engineMessage(error)})`,
        { cause: error },
      );
    }
    try {
      return await readPackageFolder(temporary);
    } finally {
      await this.removeContainer(docker, temporary.id);
    }
  }

  /** What memoization needs of this executor (src/memo/memo.ts). */
  memoTarget(): MemoTarget {
    return {
      targetName: this.targetName,
      records: this.records,
      packageJob: () =>
        makePackage(this.packagingTask(), {
          outputDir:
            this.fields.workDir === undefined
              ? path.join(os.tmpdir(), 'ferry-packages')
              : path.join(this.fields.workDir, 'packages'),
        }),
      payload: () =>
        this.fields.packagingTask === undefined ? undefined : this.packagingTask().payload,
      run: (id) => this.run(id),
      artifactsOf: async (id) => {
        const [container] = await this.listContainers(
          { [RUN_LABELS.runId]: id },
          'find the run on',
        );
        if (container !== undefined) {
          return this.containerArtifacts((await this.engine()).docker, container.Id);
        }
        const record = await this.records?.get(id);
        return record?.savedRunFolder === true && this.records !== undefined
          ? new FolderArtifacts(this.records.runDir(id))
          : undefined;
      },
      runsWithKey: async (key, known) => {
        const containers = await this.listContainers(
          { [CACHE_KEY_LABEL]: key, [RUN_LABELS.role]: 'run' },
          'look the cache key up on',
        );
        const found: RunRecord[] = [];
        for (const c of containers) {
          const id = c.Labels[RUN_LABELS.runId];
          if (id === undefined || known.has(id)) continue;
          const record = await this.discoverRun(id);
          if (record === undefined) continue;
          found.push(
            this.records === undefined
              ? { ...record, cacheKey: key }
              : await this.records.update(id, { cacheKey: key }),
          );
        }
        return found;
      },
      syncRecords: (records) => this.syncRecords(records),
    };
  }

  /** The containers carrying these labels, on this executor's engine. */
  async listContainers(
    labels: Readonly<Record<string, string | true>>,
    what: string,
  ): Promise<Dockerode.ContainerInfo[]> {
    const { docker } = await this.engine();
    return this.call(what, () =>
      docker.listContainers({ all: true, filters: labelFilter(labels) }),
    );
  }

  /** Runs an engine call, turning its failure into the error that says what happened. */
  async call<T>(what: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw await this.translate(error, what);
    }
  }

  /** A handle on run `runId` in container `containerId`; a variant may wrap it (reconnecting). */
  protected makeRun(
    runId: string,
    containerId: string,
    docker: Dockerode,
    removeContainer: boolean,
  ): JobRun {
    const store = this.records;
    return new DockerJobRun({
      docker,
      runId,
      containerId,
      removeContainer,
      onSettled: (settled) => this.recordEnd(runId, settled),
      sources: this.resultSources(),
      ...(store === undefined
        ? {}
        : {
            savedRunDir: store.runDir(runId),
            onDownloaded: async (dir: string) => {
              if ((await store.get(runId)) !== undefined) {
                await store.update(runId, { outputsDownloadedTo: dir });
              }
            },
          }),
    });
  }

  /** Where runs' results get their classes: this executor's source root, else the kept package. */
  protected resultSources(): ResultSources {
    return workDirSources({
      workDir: this.fields.workDir === undefined ? undefined : path.resolve(this.fields.workDir),
      sourceRoot: () => {
        if (this.fields.resultSourceRoot !== undefined) return this.fields.resultSourceRoot;
        const task = this.fields.packagingTask;
        if (task === undefined) return undefined;
        return (typeof task === 'function' ? task() : task).sourceRoot;
      },
      uidOf: async (runId) => {
        const recorded = await this.records?.get(runId);
        if (recorded !== undefined) return recorded.uid;
        const [container] = await this.listContainers(
          { [RUN_LABELS.runId]: runId },
          'find the run on',
        );
        return container?.Labels[RUN_LABELS.uid];
      },
    });
  }

  /** The run folder in a container on this executor's engine. */
  protected containerArtifacts(docker: Dockerode, containerId: string): RunArtifacts {
    const container = docker.getContainer(containerId);
    return new ContainerArtifacts({
      archive: async (file) => {
        try {
          return await container.getArchive({ path: file });
        } catch (error) {
          if (engineStatus(error) === 404) return undefined;
          throw await this.translate(error, `read ${file} of a run on`);
        }
      },
    });
  }

  /** The run's policy: the target's, then what `execute()` or the sweep says. */
  private policyOf(input: RunPolicyInput): RunPolicy {
    return runPolicy(
      mergePolicies(this.fields.policy, {
        ...(input.timeout === undefined ? {} : { timeout: input.timeout }),
        ...(input.retries === undefined ? {} : { retries: input.retries }),
      }),
    );
  }

  /**
   * What an ended run's record gets from its run folder: results, metrics and its attempts. With
   * more than one attempt, each one's output is saved beside the record (`ferry logs --attempt n`):
   * the container's one log is split at the attempts' start times.
   */
  private async endSummary(
    artifacts: RunArtifacts,
    last: Pick<RunRecord, 'id' | 'status' | 'exitCode' | 'finishedAt' | 'containerId'>,
  ): Promise<Partial<RunRecord>> {
    const attempts = attemptsOfFile(
      await artifacts.readAttempts(),
      this.recordPlace().host ?? this.location,
      {
        ...(last.exitCode === undefined ? {} : { exitCode: last.exitCode }),
        ...(last.finishedAt === undefined ? {} : { finishedAt: last.finishedAt }),
        stopped: last.status === 'stopped',
      },
    );
    if (attempts.length > 1 && last.containerId !== undefined && this.records !== undefined) {
      const { docker } = await this.engine();
      const raw = await this.call('read the logs of', () =>
        docker
          .getContainer(last.containerId!)
          .logs({ stdout: true, stderr: true, follow: false, timestamps: true }),
      );
      const split = splitLogsByAttempt(
        demuxLogs(Buffer.isBuffer(raw) ? raw : Buffer.from(raw as unknown as string, 'binary')),
        attempts,
      );
      for (const [attempt, logs] of split) {
        await this.records.saveAttemptLogs(last.id, attempt, logs);
      }
    }
    return { ...(await summarize(artifacts)), ...(attempts.length === 0 ? {} : { attempts }) };
  }

  /** What every record of a run started from `prepared` holds. */
  private newRecord(
    prepared: PreparedImage,
    packageSha256: string,
  ): Omit<RunRecord, 'id' | 'parameters' | 'status' | 'createdAt'> {
    const manifest = prepared.image.packageInfo.manifest;
    return {
      job: manifest.name,
      version: manifest.version,
      uid: manifest.uid,
      target: this.targetName,
      targetKind: this.kind,
      ...this.recordPlace(),
      image: prepared.shipped?.reference ?? prepared.image.reference,
      imageId: prepared.image.imageId,
      packageSha256,
    };
  }

  /** Where runs of a variant are, in their records (a remote host). */
  protected recordPlace(): { readonly host?: string } {
    return {};
  }

  protected progress(progress: ExecutorProgress): void {
    this.fields.onProgress?.(progress);
  }

  /** Records a run's end (and its logs, when its container is about to be removed). */
  protected async recordEnd(runId: string, settled: SettledRun): Promise<void> {
    const store = this.records;
    const known = await store?.get(runId);
    if (store === undefined || known === undefined) return;
    if (settled.logs !== undefined) await store.saveLogs(runId, settled.logs);
    const { status } = settled;
    const runStatus = statusOfState(status.state, status.exitCode);
    const ended = isFinal(runStatus);
    const summary = ended
      ? await this.endSummary(settled.artifacts, {
          id: runId,
          ...(known.containerId === undefined ? {} : { containerId: known.containerId }),
          status: runStatus,
          ...(status.exitCode === undefined ? {} : { exitCode: status.exitCode }),
          ...(status.finishedAt === undefined
            ? {}
            : { finishedAt: status.finishedAt.toISOString() }),
        })
      : {};
    // The container is about to be removed: its run folder is kept beside the record first.
    const saved =
      settled.logs !== undefined && (await settled.artifacts.saveTo(store.runDir(runId)));
    await store.update(runId, {
      ...summary,
      ...(saved ? { savedRunFolder: true } : {}),
      status: runStatus,
      ...(status.exitCode === undefined ? {} : { exitCode: status.exitCode }),
      ...(status.startedAt === undefined ? {} : { startedAt: status.startedAt.toISOString() }),
      ...(status.finishedAt === undefined ? {} : { finishedAt: status.finishedAt.toISOString() }),
    });
  }

  private async handle(
    runId: string,
    containerId: string,
    removeContainer: boolean = this.options.removeContainer,
  ): Promise<JobRun> {
    const known = this.runs.get(runId);
    if (known !== undefined) return known;
    const run = this.makeRun(runId, containerId, (await this.engine()).docker, removeContainer);
    this.runs.set(runId, run);
    return run;
  }

  private jobName(): string {
    return this.fields.jobName ?? this.packagingTask().name;
  }

  private async recordOfContainer(
    docker: Dockerode,
    containerId: string,
  ): Promise<RunRecord | undefined> {
    const info = await this.call('inspect the run on', () =>
      docker.getContainer(containerId).inspect(),
    );
    const record = recordFromContainer(info, {
      targetKind: this.kind,
      targetName: this.targetName,
      ...this.recordPlace(),
    });
    if (record === undefined) return undefined;
    // A run that ended elsewhere: its record gets what it left, as the records of runs seen here do.
    const found = isFinal(record.status)
      ? {
          ...record,
          ...(await this.call('read the results of', () =>
            this.endSummary(this.containerArtifacts(docker, containerId), record),
          )),
        }
      : record;
    return this.records === undefined ? found : this.records.put(found);
  }

  /** A run whose container is gone, as its record and saved logs tell it. */
  private async recordedRun(id: string): Promise<JobRun | undefined> {
    const record = await this.records?.get(id);
    return record === undefined || this.records === undefined
      ? undefined
      : new RecordedRun(record, this.records, this.resultSources());
  }

  protected async removeContainer(docker: Dockerode, containerId: string): Promise<void> {
    try {
      await docker.getContainer(containerId).remove({ force: true });
    } catch (error) {
      // 404: removed meanwhile, which is what was asked.
      if (engineStatus(error) !== 404) throw await this.translate(error, 'remove a container on');
    }
  }
}

/** The record's copy of a run's policy (nothing when it has none). */
function policyFields(policy: RunPolicy): Pick<RunRecord, 'timeoutMs' | 'retries'> {
  return {
    ...(policy.timeoutMs === undefined ? {} : { timeoutMs: policy.timeoutMs }),
    ...(policy.retries === 0 ? {} : { retries: policy.retries }),
  };
}

/** A container's host config with the policy's restart policy (retries), when it has one. */
function withRestartPolicy(hostConfig: MappedHostConfig, policy: RunPolicy): MappedHostConfig {
  const restart = dockerRestartPolicy(policy);
  return restart === undefined ? hostConfig : { ...hostConfig, RestartPolicy: restart };
}

/** A whole number of things to keep, >= 0 (default 3). */
function keepCount(keep: number | undefined, what: string): number {
  const value = keep ?? 3;
  if (!Number.isInteger(value) || value < 0) {
    throw new InvalidPruneOptionsError(
      `${what}: keep must be a whole number >= 0 (0 keeps none), not ${value}`,
    );
  }
  return value;
}

/** An image's names, without Docker's `<none>:<none>`. */
function imageNames(image: Pick<Dockerode.ImageInfo, 'RepoTags'>): string[] {
  return (image.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
}

/** A listed container's writable layer (listed with `size: true`). */
function containerSize(c: Dockerode.ContainerInfo): number {
  const size = (c as Dockerode.ContainerInfo & { SizeRw?: number }).SizeRw;
  return typeof size === 'number' && size > 0 ? size : 0;
}

/** A listed container as a run. */
function runInfoOf(c: Dockerode.ContainerInfo): RunInfo {
  const runId = c.Labels[RUN_LABELS.runId] ?? c.Id;
  const status = toStatus(runId, {
    State: listedState(c),
    Name: c.Names[0] ?? '',
  });
  const sweepIndex = Number(c.Labels[RUN_LABELS.sweepIndex]);
  return {
    runId,
    job: c.Labels[RUN_LABELS.job] ?? '',
    version: c.Labels[RUN_LABELS.version] ?? '',
    uid: c.Labels[RUN_LABELS.uid] ?? '',
    containerId: c.Id,
    containerName: (c.Names[0] ?? '').replace(/^\//, ''),
    image: c.Image,
    state: status.state,
    ...(status.exitCode === undefined ? {} : { exitCode: status.exitCode }),
    createdAt: new Date(c.Created * 1000),
    ...(c.Labels[RUN_LABELS.sweep] === undefined ? {} : { sweepId: c.Labels[RUN_LABELS.sweep] }),
    ...(Number.isInteger(sweepIndex) ? { sweepIndex } : {}),
  };
}

/**
 * A listing's container state in the form an inspect gives it. The exit code is in the listing's
 * status text only (`Exited (137) 3 seconds ago`); OOM kills and times need an inspect.
 */
function listedState(c: Dockerode.ContainerInfo): ContainerFacts['State'] {
  const exited = /^Exited \((-?\d+)\)/.exec(c.Status);
  return {
    Status: c.State as Dockerode.ContainerInspectInfo['State']['Status'],
    Running: c.State === 'running',
    ExitCode: exited === null ? 0 : Number(exited[1]),
    OOMKilled: false,
    StartedAt: '',
    FinishedAt: '',
  };
}
