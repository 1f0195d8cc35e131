import type Dockerode from 'dockerode';
import type { ContaineringTaskFields } from '../containering/containeringTask.js';
import { defaultDocker, toDockerUnavailable } from '../containering/dockerEngine.js';
import type { ContaineringProgress, ImageInfo } from '../containering/makeContainer.js';
import type { PackagingTask } from '../packaging/index.js';
import { parametersEnvironment } from '../parameters/index.js';
import { DockerJobRun } from './docker/dockerJobRun.js';
import { RUN_LABELS, containerName, labelFilter, runContainerLabels } from './docker/labels.js';
import { startContainer } from './docker/startContainer.js';
import { DockerOptions, resolveEnvironment, toHostConfig } from './dockerOptions.js';
import { RunNotFoundError } from './errors.js';
import type { ExecuteOptions, JobRun } from './jobExecutor.js';
import { buildJobImage } from './buildJobImage.js';
import { newRunId } from './runId.js';
import { RunLookupExecutor } from './runLookupExecutor.js';

export interface LocalDockerExecutorFields {
  /** What to package. It is read at every `execute()`, so a new task object means new source or payload. */
  readonly packagingTask: PackagingTask | (() => PackagingTask);
  readonly options?: DockerOptions;
  /** ContaineringTask fields besides the packaging task (image name, base image, templates…). */
  readonly containering?: Partial<Omit<ContaineringTaskFields, 'packagingTask'>>;
  /** The engine. Default: `DOCKER_HOST`, else the local socket. */
  readonly docker?: Dockerode;
  /** Where package archives are kept (`<workDir>/packages/<uid>.tar.gz`). Default: not kept. */
  readonly workDir?: string;
  /** Ferry's cache root (installed npm dependencies). */
  readonly cacheDir?: string;
  /** Told how packaging and the image build go. */
  readonly onProgress?: (progress: ContaineringProgress) => void;
  /** Where propagated variables are read at `execute()` time. Default: `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Runs a job in a container on the local Docker engine (`routine.local`): `execute()` packages the
 * job, builds (or reuses) its image and starts a container named `ferry-<job>-<runId>`, labelled with
 * the job, version, UID and run id, by which any executor finds the run again.
 */
export class LocalDockerExecutor extends RunLookupExecutor {
  readonly options: DockerOptions;
  readonly docker: Dockerode;
  /** The image of the last `execute()`. */
  lastImage: ImageInfo | undefined;
  private readonly fields: LocalDockerExecutorFields;
  private readonly runs = new Map<string, DockerJobRun>();
  private lastRunId: string | undefined;

  constructor(fields: LocalDockerExecutorFields) {
    super();
    this.fields = fields;
    this.options = fields.options ?? new DockerOptions();
    this.docker = fields.docker ?? defaultDocker();
  }

  /** The packaging task `execute()` would use now. */
  packagingTask(): PackagingTask {
    const task = this.fields.packagingTask;
    return typeof task === 'function' ? task() : task;
  }

  /** Packages and builds the image without running it. */
  async build(): Promise<ImageInfo> {
    const image = await buildJobImage(this.docker, this.packagingTask(), this.fields);
    this.lastImage = image;
    return image;
  }

  async execute(options: ExecuteOptions = {}): Promise<JobRun> {
    // Read the variables first: a missing one fails before anything is built.
    const env = [
      ...resolveEnvironment(this.options, this.fields.env ?? process.env),
      parametersEnvironment(options.parameters ?? {}),
    ];
    const hostConfig = toHostConfig(this.options);
    const image = await this.build();
    const manifest = image.packageInfo.manifest;
    const runId = options.runId ?? newRunId();
    const containerId = await startContainer(this.docker, {
      image: image.reference,
      name: containerName(manifest.name, runId),
      labels: runContainerLabels(manifest, runId, options.labels),
      env,
      hostConfig,
    });
    const run = new DockerJobRun({
      docker: this.docker,
      runId,
      containerId,
      removeContainer: this.options.removeContainer,
    });
    this.runs.set(runId, run);
    this.lastRunId = runId;
    if (options.wait ?? this.options.wait) await run.wait();
    return run;
  }

  /**
   * The run with this id: one this executor started, or any container labelled with it (started by
   * another executor or process). Without an id: this executor's last run, else the newest container
   * of this job.
   */
  async run(runId?: string): Promise<JobRun> {
    const id = runId ?? this.lastRunId;
    const known = id === undefined ? undefined : this.runs.get(id);
    if (known !== undefined) return known;
    const filter: Record<string, string> =
      id === undefined
        ? { [RUN_LABELS.job]: this.packagingTask().name }
        : { [RUN_LABELS.runId]: id };
    let found: Dockerode.ContainerInfo[];
    try {
      found = await this.docker.listContainers({ all: true, filters: labelFilter(filter) });
    } catch (error) {
      throw toDockerUnavailable(this.docker, error);
    }
    if (id !== undefined && found.length > 1) {
      throw new RunNotFoundError(
        `run ${id}: ${found.length} containers carry its label (${found.map((c) => c.Names.join(',')).join('; ')}); expected one`,
      );
    }
    const newest = [...found].sort((a, b) => b.Created - a.Created)[0];
    if (newest === undefined) {
      throw new RunNotFoundError(
        id === undefined
          ? `no container of job ${this.packagingTask().name} on this engine; call execute() first`
          : `no container with label ${RUN_LABELS.runId}=${id} on this engine (removed, or run elsewhere)`,
      );
    }
    const foundId = newest.Labels[RUN_LABELS.runId] ?? id ?? newest.Id;
    const run = new DockerJobRun({
      docker: this.docker,
      runId: foundId,
      containerId: newest.Id,
      removeContainer: this.options.removeContainer,
    });
    this.runs.set(foundId, run);
    return run;
  }
}
