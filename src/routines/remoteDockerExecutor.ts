import os from 'node:os';
import type Dockerode from 'dockerode';
import type { ContaineringTaskFields } from '../containering/containeringTask.js';
import { defaultDocker, engineMessage, engineStatus } from '../containering/dockerEngine.js';
import { DockerUnavailableError, GpuUnavailableError } from '../containering/errors.js';
import type { ContaineringProgress, ImageInfo } from '../containering/makeContainer.js';
import type { PackagingTask } from '../packaging/index.js';
import { parametersEnvironment } from '../parameters/index.js';
import {
  ImageShippingError,
  shipImage,
  type RegistryAuth,
  type ShipResult,
  type ShippingProgress,
} from '../shipping/index.js';
import { SshDisconnectedError, SshError } from '../ssh/errors.js';
import {
  DEFAULT_REMOTE_DOCKER_SOCKET,
  diagnoseRemoteDocker,
  ensureRemoteDocker,
  remoteDocker,
} from '../ssh/remoteDocker.js';
import { SshConnection, type SshConnectionOptions } from '../ssh/sshConnection.js';
import { DockerJobRun, toStatus } from './docker/dockerJobRun.js';
import { RUN_LABELS, containerName, runContainerLabels } from './docker/labels.js';
import { startContainer } from './docker/startContainer.js';
import {
  DockerOptions,
  resolveEnvironment,
  toHostConfig,
  type DockerOptionsFields,
} from './dockerOptions.js';
import { RunNotFoundError } from './errors.js';
import type {
  ExecuteOptions,
  FollowLogsOptions,
  JobLogs,
  JobResult,
  JobRun,
  JobState,
  JobStatus,
} from './jobExecutor.js';
import { RemoteGpuUnavailableError } from './remoteErrors.js';
import { buildJobImage } from './buildJobImage.js';
import { newRunId } from './runId.js';
import { RunLookupExecutor } from './runLookupExecutor.js';

/** What `execute()` reports while it connects, builds, ships and starts. */
export type RemoteProgress =
  | ContaineringProgress
  | { readonly stage: 'connect'; readonly message: string }
  | { readonly stage: 'ship'; readonly message: string; readonly shipping: ShippingProgress }
  | { readonly stage: 'start'; readonly message: string };

export interface RemoteDockerExecutorFields {
  /** What to package. It is read at every `execute()`, so a new task object means new source or payload. */
  readonly packagingTask: PackagingTask | (() => PackagingTask);
  /** How to reach the host over SSH and how to trust it. */
  readonly ssh: SshConnectionOptions;
  /** The Docker socket on the remote host. Default: `/var/run/docker.sock`. */
  readonly dockerSocketPath?: string;
  /**
   * How the container runs (environment, mounts, limits, GPUs), as for `local`. Its `wait` is not
   * used: remote runs are detached unless `wait` below or `execute({ wait: true })` says otherwise.
   */
  readonly options?: DockerOptions | DockerOptionsFields;
  /** Wait for the job to end in `execute()`. Default: false (detached). */
  readonly wait?: boolean;
  /** ContaineringTask fields besides the packaging task (image name, base image, templates…). */
  readonly containering?: Partial<Omit<ContaineringTaskFields, 'packagingTask'>>;
  /** The engine images are built on. Default: `DOCKER_HOST`, else the local socket. */
  readonly localDocker?: Dockerode;
  /**
   * A registry (`host[:port][/path]`) to ship images through: pushed from here, pulled there.
   * Without one, images go over the SSH connection, only the layers the remote lacks.
   */
  readonly repository?: string;
  /** Credentials for the registry; sent in API headers only. */
  readonly registryAuth?: RegistryAuth;
  /** Where package archives are kept. Default: not kept. */
  readonly workDir?: string;
  /** Ferry's cache root (installed npm dependencies). */
  readonly cacheDir?: string;
  readonly onProgress?: (progress: RemoteProgress) => void;
  /** Where propagated variables are read at `execute()` time. Default: `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** An open connection to use (the executor does not close it, and cannot reconnect it). */
  readonly connection?: SshConnection;
}

/** One run on the remote host, as `listRuns()` reports it. */
export interface RemoteRunInfo {
  readonly runId: string;
  readonly job: string;
  readonly version: string;
  readonly uid: string;
  readonly containerId: string;
  readonly containerName: string;
  readonly image: string;
  readonly state: JobState;
  readonly exitCode?: number;
  readonly createdAt: Date;
  readonly startedAt?: Date;
  readonly finishedAt?: Date;
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

/** The SSH connection to the remote host and a dockerode client for its engine. */
export interface RemoteSession {
  readonly connection: SshConnection;
  readonly docker: Dockerode;
}

/**
 * Runs a job in a container on a remote host's Docker engine, reached over SSH (`routine.remote`):
 * `execute()` packages the job and builds its image here, ships it (through a registry, or only
 * the missing layers over SSH), and starts a container named and labelled as `local` does. Runs
 * are detached by default; any process that knows a run's id finds it again through `run(id)`.
 * The Docker API is spoken over the SSH connection; no remote shell runs a command line.
 */
export class RemoteDockerExecutor extends RunLookupExecutor {
  readonly options: DockerOptions;
  readonly localDocker: Dockerode;
  readonly dockerSocketPath: string;
  /** The image of the last `execute()` or `build()`. */
  lastImage: ImageInfo | undefined;
  /** How the last `execute()` or `ship()` got the image there. */
  lastShipment: ShipResult | undefined;
  private readonly fields: RemoteDockerExecutorFields;
  private readonly waitByDefault: boolean;
  private current: Promise<RemoteSession> | undefined;
  private readonly runs = new Map<string, RemoteJobRun>();
  private lastRunId: string | undefined;

  constructor(fields: RemoteDockerExecutorFields) {
    super();
    this.fields = fields;
    this.options =
      fields.options instanceof DockerOptions
        ? fields.options
        : new DockerOptions(fields.options ?? {});
    this.waitByDefault = fields.wait ?? false;
    this.localDocker = fields.localDocker ?? defaultDocker();
    this.dockerSocketPath = fields.dockerSocketPath ?? DEFAULT_REMOTE_DOCKER_SOCKET;
  }

  /** `user@host:port` of the remote host. */
  get target(): string {
    const ssh = this.fields.ssh;
    return `${ssh.username ?? os.userInfo().username}@${ssh.host}:${ssh.port ?? 22}`;
  }

  /** The packaging task `execute()` would use now. */
  packagingTask(): PackagingTask {
    const task = this.fields.packagingTask;
    return typeof task === 'function' ? task() : task;
  }

  /**
   * The SSH connection and the remote engine's client, connecting (and checking that Docker
   * answers there) on first use, and again after the connection was lost.
   */
  async session(): Promise<RemoteSession> {
    const given = this.fields.connection;
    if (given !== undefined) {
      if (given.closed) {
        throw new SshDisconnectedError(
          `the SSH connection to ${given.target} given to this executor is closed`,
        );
      }
      this.current ??= this.openOn(given);
      return this.current;
    }
    const existing =
      this.current === undefined ? undefined : await this.current.catch(() => undefined);
    if (existing !== undefined && !existing.connection.closed) return existing;
    const opening = (async (): Promise<RemoteSession> => {
      this.progress({ stage: 'connect', message: `Connecting to ${this.target}` });
      const connection = await SshConnection.connect(this.fields.ssh);
      try {
        return await this.openOn(connection);
      } catch (error) {
        await connection.close();
        throw error;
      }
    })();
    this.current = opening;
    opening.catch(() => {
      if (this.current === opening) this.current = undefined;
    });
    return opening;
  }

  private async openOn(connection: SshConnection): Promise<RemoteSession> {
    const docker = remoteDocker(connection, { socketPath: this.dockerSocketPath });
    await ensureRemoteDocker(connection, docker, this.dockerSocketPath);
    return { connection, docker };
  }

  /** The remote engine's dockerode client (connecting if needed). */
  async remoteDocker(): Promise<Dockerode> {
    return (await this.session()).docker;
  }

  /** Closes the SSH connection (unless it was given). Runs go on on the remote host. */
  async close(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (current === undefined || this.fields.connection !== undefined) return;
    const session = await current.catch(() => undefined);
    await session?.connection.close();
  }

  /** Packages the job and builds its image on the local engine, without shipping it. */
  async build(): Promise<ImageInfo> {
    const image = await buildJobImage(this.localDocker, this.packagingTask(), this.fields);
    this.lastImage = image;
    return image;
  }

  /** Makes sure the remote engine has the image (built now when not given). */
  async ship(image?: ImageInfo): Promise<ShipResult> {
    const built = image ?? (await this.build());
    const { connection, docker } = await this.session();
    try {
      const shipped = await shipImage({
        local: this.localDocker,
        remote: docker,
        image: built.reference,
        target: connection.target,
        ...(this.fields.repository === undefined ? {} : { repository: this.fields.repository }),
        ...(this.fields.registryAuth === undefined
          ? {}
          : { registryAuth: this.fields.registryAuth }),
        onProgress: (shipping) =>
          this.progress({ stage: 'ship', message: shipping.message, shipping }),
      });
      this.lastShipment = shipped;
      return shipped;
    } catch (error) {
      throw await this.translate(error, `ship ${built.reference} to`);
    }
  }

  async execute(options: ExecuteOptions = {}): Promise<JobRun> {
    // Read the variables first: a missing one fails before anything is built or sent.
    const env = [
      ...resolveEnvironment(this.options, this.fields.env ?? process.env),
      parametersEnvironment(options.parameters ?? {}),
    ];
    const hostConfig = toHostConfig(this.options);
    // Build here and connect there at the same time; report a failure of either once both ended.
    const [built, connected] = await Promise.allSettled([this.build(), this.session()]);
    if (built.status === 'rejected') throw built.reason;
    if (connected.status === 'rejected') throw connected.reason;
    const image = built.value;
    await this.ship(image);
    const { connection, docker } = await this.session();
    const manifest = image.packageInfo.manifest;
    const runId = options.runId ?? newRunId();
    const name = containerName(manifest.name, runId);
    this.progress({ stage: 'start', message: `Starting ${name} on ${connection.target}` });
    let deviceRequests: readonly unknown[] = [];
    let containerId: string;
    try {
      containerId = await startContainer(docker, {
        image: image.reference,
        name,
        labels: runContainerLabels(manifest, runId, options.labels),
        env,
        hostConfig,
        onCreated: async (container) => {
          if (hostConfig.DeviceRequests === undefined) return;
          deviceRequests = (await container.inspect()).HostConfig.DeviceRequests ?? [];
        },
      });
    } catch (error) {
      if (error instanceof GpuUnavailableError) {
        throw new RemoteGpuUnavailableError(
          connection.target,
          deviceRequests,
          engineMessage(error.cause ?? error),
          {
            cause: error,
          },
        );
      }
      throw await this.translate(error, 'start the job on');
    }
    const run = new RemoteJobRun(this, runId, containerId);
    this.runs.set(runId, run);
    this.lastRunId = runId;
    if (options.wait ?? this.waitByDefault) await run.wait();
    return run;
  }

  /**
   * The run with this id, found on the remote host by its label (it may have been started by
   * another process). Without an id: this executor's last run, else the newest run of this job.
   */
  async run(runId?: string): Promise<JobRun> {
    const id = runId ?? this.lastRunId;
    const known = id === undefined ? undefined : this.runs.get(id);
    if (known !== undefined) return known;
    const docker = await this.remoteDocker();
    const labels =
      id === undefined
        ? [`${RUN_LABELS.job}=${this.packagingTask().name}`]
        : [`${RUN_LABELS.runId}=${id}`];
    let found: Dockerode.ContainerInfo[];
    try {
      found = await docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: labels }),
      });
    } catch (error) {
      throw await this.translate(error, 'list the runs on');
    }
    if (id !== undefined && found.length > 1) {
      throw new RunNotFoundError(
        `run ${id}: ${found.length} containers on ${this.target} carry its label (${found.map((c) => c.Names.join(',')).join('; ')}); expected one`,
      );
    }
    const newest = [...found].sort((a, b) => b.Created - a.Created)[0];
    if (newest === undefined) {
      throw new RunNotFoundError(
        id === undefined
          ? `no run of job ${this.packagingTask().name} on ${this.target}; call execute() first`
          : `no container with label ${RUN_LABELS.runId}=${id} on ${this.target} (removed, or run elsewhere)`,
      );
    }
    const foundId = newest.Labels[RUN_LABELS.runId] ?? id ?? newest.Id;
    const run = new RemoteJobRun(this, foundId, newest.Id);
    this.runs.set(foundId, run);
    return run;
  }

  /** The runs on the remote host, newest first: this job's, or (`allJobs`) every Ferry run there. */
  async listRuns(options: { readonly allJobs?: boolean } = {}): Promise<RemoteRunInfo[]> {
    const docker = await this.remoteDocker();
    const labels =
      options.allJobs === true
        ? [RUN_LABELS.runId]
        : [RUN_LABELS.runId, `${RUN_LABELS.job}=${this.packagingTask().name}`];
    try {
      const containers = await docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: labels }),
      });
      const runs = await Promise.all(
        containers.map(async (c): Promise<RemoteRunInfo | undefined> => {
          const runId = c.Labels[RUN_LABELS.runId] ?? c.Id;
          let status: JobStatus;
          try {
            status = toStatus(runId, (await docker.getContainer(c.Id).inspect()).State);
          } catch (error) {
            if (engineStatus(error) === 404) return undefined; // removed since the listing
            throw error;
          }
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
            ...(status.startedAt === undefined ? {} : { startedAt: status.startedAt }),
            ...(status.finishedAt === undefined ? {} : { finishedAt: status.finishedAt }),
          };
        }),
      );
      return runs
        .filter((r): r is RemoteRunInfo => r !== undefined)
        .sort(
          (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.runId.localeCompare(a.runId),
        );
    } catch (error) {
      throw await this.translate(error, 'list the runs on');
    }
  }

  /**
   * Removes old images of a job from the remote engine, keeping the `keep` newest. An image a
   * container still uses (even a stopped one) is skipped, with the engine's reason.
   */
  async pruneImages(options: PruneImagesOptions = {}): Promise<PruneImagesResult> {
    const keep = options.keep ?? 3;
    if (!Number.isInteger(keep) || keep < 0) {
      throw new RangeError(`pruneImages: keep must be a whole number >= 0, not ${keep}`);
    }
    const job = options.job ?? this.packagingTask().name;
    const docker = await this.remoteDocker();
    try {
      const images = await docker.listImages({
        filters: JSON.stringify({ label: [`${RUN_LABELS.job}=${job}`] }),
      });
      // The listing's Created is in whole seconds; the image's own creation time is finer.
      const created = new Map<string, number>();
      for (const image of images) {
        const inspected = await docker.getImage(image.Id).inspect();
        created.set(image.Id, Date.parse(inspected.Created) || image.Created * 1000);
      }
      const newestFirst = [...images].sort(
        (a, b) => (created.get(b.Id) ?? 0) - (created.get(a.Id) ?? 0) || b.Id.localeCompare(a.Id),
      );
      const kept = newestFirst.slice(0, keep).map((i) => i.Id);
      const removed: string[] = [];
      const skipped: { imageId: string; reason: string }[] = [];
      for (const image of newestFirst.slice(keep)) {
        const names = (image.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
        try {
          // One name at a time: removing the last one deletes the image (by id, Docker refuses
          // an image with several names without force, and force would untag images in use).
          for (const name of names.length === 0 ? [image.Id] : names)
            await docker.getImage(name).remove();
          removed.push(image.Id);
        } catch (error) {
          if (engineStatus(error) !== 409) throw error;
          skipped.push({ imageId: image.Id, reason: engineMessage(error) });
        }
      }
      return { kept, removed, skipped };
    } catch (error) {
      throw await this.translate(error, 'prune images on');
    }
  }

  /** Turns a failure under a remote call into the error that says what happened to the connection. */
  async translate(error: unknown, what: string): Promise<unknown> {
    // Errors that already say what happened stay as they are.
    if (
      error instanceof SshError ||
      error instanceof ImageShippingError ||
      error instanceof GpuUnavailableError ||
      error instanceof RunNotFoundError
    ) {
      return error;
    }
    const session =
      this.current === undefined ? undefined : await this.current.catch(() => undefined);
    if (session?.connection.closed === true) {
      return new SshDisconnectedError(
        `lost the SSH connection to ${this.target} while trying to ${what} it (${engineMessage(error)}); runs go on there, call again to reconnect`,
        { cause: error },
      );
    }
    if (error instanceof DockerUnavailableError && session !== undefined) {
      return diagnoseRemoteDocker(session.connection, this.dockerSocketPath, error.cause ?? error);
    }
    return error;
  }

  private progress(progress: RemoteProgress): void {
    this.fields.onProgress?.(progress);
  }
}

/**
 * A run on the remote host. Each call goes through the executor's current connection, so a handle
 * keeps working after the connection was lost and made again; `wait()` rides over one such loss.
 */
class RemoteJobRun implements JobRun {
  private bound: { docker: Dockerode; run: DockerJobRun } | undefined;

  constructor(
    private readonly executor: RemoteDockerExecutor,
    readonly id: string,
    readonly containerId: string,
  ) {}

  async status(): Promise<JobStatus> {
    return this.call('inspect the run on', (run) => run.status());
  }

  async getLogs(): Promise<JobLogs> {
    return this.call('read the logs of the run on', (run) => run.getLogs());
  }

  async followLogs(options: FollowLogsOptions): Promise<void> {
    return this.call('follow the logs of the run on', (run) => run.followLogs(options));
  }

  async wait(): Promise<JobResult> {
    try {
      return await this.call('wait for the run on', (run) => run.wait());
    } catch (error) {
      if (!(error instanceof SshDisconnectedError)) throw error;
      // Waiting is safe to repeat: the next call reconnects; wait once more.
      return this.call('wait for the run on', (run) => run.wait());
    }
  }

  async stop(): Promise<void> {
    return this.call('stop the run on', (run) => run.stop());
  }

  private async call<T>(what: string, action: (run: DockerJobRun) => Promise<T>): Promise<T> {
    let docker: Dockerode;
    try {
      docker = await this.executor.remoteDocker();
    } catch (error) {
      throw await this.executor.translate(error, what);
    }
    if (this.bound?.docker !== docker) {
      this.bound = {
        docker,
        run: new DockerJobRun({
          docker,
          runId: this.id,
          containerId: this.containerId,
          removeContainer: this.executor.options.removeContainer,
        }),
      };
    }
    try {
      return await action(this.bound.run);
    } catch (error) {
      throw await this.executor.translate(error, what);
    }
  }
}
