import type Dockerode from 'dockerode';
import type { ImageInfo } from '../containering/makeContainer.js';
import {
  enginePlatformOf,
  platformForEngine,
  type ImagePlatform,
} from '../containering/platform.js';
import { engineMessage } from '../engines/dockerApi.js';
import {
  DEFAULT_DOCKER_SOCKET,
  localDockerClient,
  openSshEngine,
  type DockerEngine,
} from '../engines/engine.js';
import {
  DockerUnavailableError,
  GpuUnavailableError,
  RemoteGpuUnavailableError,
} from '../engines/errors.js';
import {
  ImageShippingError,
  LayerCache,
  shipImage,
  type RegistryAuth,
  type ShipResult,
} from '../shipping/index.js';
import {
  SshConnection,
  SshDisconnectedError,
  SshError,
  diagnoseRemoteDocker,
  type SshConnectionOptions,
} from '../ssh/index.js';
import {
  DockerExecutor,
  type DockerExecutorFields,
  type ExecutorProgress,
  type PreparedImage,
} from './docker/dockerExecutor.js';
import { buildJobImage } from './docker/buildJobImage.js';
import { DockerJobRun } from './docker/dockerJobRun.js';
import { RunNotFoundError } from './errors.js';
import type {
  FollowLogsOptions,
  JobLogs,
  JobResult,
  JobRun,
  JobStatus,
  LogWindow,
} from './jobExecutor.js';
import type { DownloadOptions, DownloadedOutputs } from './results/artifacts.js';
import type { RunMetrics } from './results/metrics.js';
import type { ResultOptions, SerializedResult } from './results/runResults.js';

export type { RunInfo as RemoteRunInfo } from './jobExecutor.js';
export type { PruneImagesOptions, PruneImagesResult } from './docker/dockerExecutor.js';

/** What `execute()` reports while it connects, builds, ships and starts. */
export type RemoteProgress = ExecutorProgress;

export interface RemoteDockerExecutorFields extends DockerExecutorFields {
  /** How to reach the host over SSH and how to trust it. */
  readonly ssh: SshConnectionOptions;
  /** The Docker socket on the remote host. Default: `/var/run/docker.sock`. */
  readonly dockerSocketPath?: string;
  /** The engine images are built on. Default: `DOCKER_HOST`, else the local socket. */
  readonly localDocker?: Dockerode;
  /**
   * A registry (`host[:port][/path]`) to ship images through: pushed from here, pulled there.
   * Without one, images go over the SSH connection, only the layers the remote lacks.
   */
  readonly repository?: string;
  /** Credentials for the registry; sent in API headers only. */
  readonly registryAuth?: RegistryAuth;
  /** An open connection to use (the executor does not close it, and cannot reconnect it). */
  readonly connection?: SshConnection;
}

/** The SSH connection to the remote host and a dockerode client for its engine. */
export interface RemoteSession {
  readonly connection: SshConnection;
  readonly docker: Dockerode;
}

/**
 * Runs a job in a container on a remote host's Docker engine, reached over SSH (`routine.remote`):
 * images are built here and shipped (through a registry, or only the missing layers over SSH);
 * the connection is made on first use and made again after it was lost. Runs are detached by
 * default; any process that knows a run's id finds it again through `run(id)`. The Docker API is
 * spoken over the SSH connection; no remote shell runs a command line.
 */
export class RemoteDockerExecutor extends DockerExecutor {
  readonly kind = 'remote' as const;
  readonly localDocker: Dockerode;
  readonly dockerSocketPath: string;
  /** How the last `execute()` or `ship()` got the image there. */
  lastShipment: ShipResult | undefined;
  protected override readonly fields: RemoteDockerExecutorFields;
  private current: Promise<DockerEngine> | undefined;
  private settled: DockerEngine | undefined;

  constructor(fields: RemoteDockerExecutorFields) {
    // Remote runs are detached unless asked otherwise.
    super({ ...fields, wait: fields.wait ?? false });
    this.fields = fields;
    this.localDocker =
      fields.localDocker ?? localDockerClient({ ...(fields.env ? { env: fields.env } : {}) });
    this.dockerSocketPath = fields.dockerSocketPath ?? DEFAULT_DOCKER_SOCKET;
  }

  /** `user@host:port` of the remote host. */
  get target(): string {
    const ssh = this.fields.ssh;
    return `${ssh.username ?? process.env.USER ?? 'root'}@${ssh.host}:${ssh.port ?? 22}`;
  }

  get location(): string {
    return this.settled?.location ?? this.target;
  }

  /**
   * The remote engine over SSH, connecting (and checking that Docker answers there) on first use,
   * and again after the connection was lost.
   */
  async engine(): Promise<DockerEngine> {
    const given = this.fields.connection;
    if (given?.closed === true) {
      throw new SshDisconnectedError(
        `the SSH connection to ${given.target} given to this executor is closed`,
      );
    }
    const existing =
      this.current === undefined ? undefined : await this.current.catch(() => undefined);
    if (existing !== undefined && existing.connection?.closed !== true) return existing;
    const opening = openSshEngine({
      ssh: given ?? this.fields.ssh,
      socketPath: this.dockerSocketPath,
      onConnecting: () =>
        this.progress({ stage: 'connect', message: `Connecting to ${this.target}` }),
    });
    this.current = opening;
    opening.then(
      (engine) => {
        this.settled = engine;
      },
      () => {
        if (this.current === opening) this.current = undefined;
      },
    );
    return opening;
  }

  /** The SSH connection and the remote engine's client (connecting if needed). */
  async session(): Promise<RemoteSession> {
    const engine = await this.engine();
    return { connection: engine.connection!, docker: engine.docker };
  }

  /** The remote engine's dockerode client (connecting if needed). */
  async remoteDocker(): Promise<Dockerode> {
    return (await this.engine()).docker;
  }

  /** Closes the SSH connection (unless it was given). Runs go on on the remote host. */
  async close(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    this.settled = undefined;
    const engine = current === undefined ? undefined : await current.catch(() => undefined);
    await engine?.close();
  }

  /** Makes sure the remote engine has the image (built now when not given). */
  async ship(image?: ImageInfo): Promise<ShipResult> {
    const built = image ?? (await this.build());
    const { docker, location } = await this.engine();
    try {
      const shipped = await shipImage({
        local: this.localDocker,
        remote: docker,
        image: built.reference,
        imageId: built.imageId,
        target: location,
        ...(this.fields.repository === undefined ? {} : { repository: this.fields.repository }),
        ...(this.fields.registryAuth === undefined
          ? {}
          : { registryAuth: this.fields.registryAuth }),
        // The exported layers are kept under the executor's cache root, beside its npm installs.
        ...(this.fields.cacheDir === undefined
          ? {}
          : { layerCache: new LayerCache({ cacheDir: this.fields.cacheDir }) }),
        onProgress: (shipping) =>
          this.progress({ stage: 'ship', message: shipping.message, shipping }),
      });
      this.lastShipment = shipped;
      return shipped;
    } catch (error) {
      throw await this.translate(error, `ship ${built.reference} to`);
    }
  }

  /**
   * Builds for the remote engine's platform: the configured one once checked against the engine's
   * (`/version`), else the engine's own. So the image's npm packages are the remote host's, not
   * this machine's, and a mismatch fails before anything is built or shipped.
   */
  override async build(): Promise<ImageInfo> {
    const platform = await this.imagePlatform();
    const image = await buildJobImage(this.builder(), this.packagingTask(), {
      ...this.fields,
      containering: { ...this.fields.containering, platform },
    });
    this.lastImage = image;
    return image;
  }

  /** The platform images for this target are built for (connecting to ask the engine). */
  async imagePlatform(): Promise<ImagePlatform> {
    const engine = await this.engine();
    let version: { Os?: string; Arch?: string };
    try {
      version = await engine.docker.version();
    } catch (error) {
      throw await this.translate(error, 'read the engine version of');
    }
    return platformForEngine(
      this.fields.containering?.platform,
      enginePlatformOf(version),
      engine.location,
      `targets.${this.targetName}.platform`,
    );
  }

  protected builder(): Dockerode {
    return this.localDocker;
  }

  protected async deliver(image: ImageInfo): Promise<PreparedImage> {
    const shipped = await this.ship(image);
    // By id: a tag another build moves meanwhile cannot change what this run starts from.
    return { image, reference: shipped.imageId, shipped };
  }

  /** Builds here and connects there at the same time; reports a failure of either once both ended. */
  protected override async prepareForRun(): Promise<PreparedImage> {
    const [built, connected] = await Promise.allSettled([this.build(), this.engine()]);
    if (built.status === 'rejected') throw built.reason;
    if (connected.status === 'rejected') throw connected.reason;
    return this.delivered(await this.deliver(built.value));
  }

  protected override recordPlace(): { readonly host?: string } {
    return { host: this.location };
  }

  protected override makeRun(
    runId: string,
    containerId: string,
    _docker: Dockerode,
    removeContainer: boolean,
  ): JobRun {
    // Bound to the connection of each call, so the handle outlives a reconnect.
    return new RemoteJobRun(this, runId, containerId, (docker) =>
      super.makeRun(runId, containerId, docker, removeContainer),
    );
  }

  /** Turns a failure under a remote call into the error that says what happened to the connection. */
  override async translate(error: unknown, what: string): Promise<unknown> {
    if (error instanceof GpuUnavailableError && !(error instanceof RemoteGpuUnavailableError)) {
      return new RemoteGpuUnavailableError(this.location, error.deviceRequests, error.detail, {
        cause: error,
      });
    }
    // Errors that already say what happened stay as they are.
    if (
      error instanceof SshError ||
      error instanceof ImageShippingError ||
      error instanceof GpuUnavailableError ||
      error instanceof RunNotFoundError
    ) {
      return error;
    }
    const engine =
      this.current === undefined ? undefined : await this.current.catch(() => undefined);
    if (engine?.connection?.closed === true) {
      return new SshDisconnectedError(
        `lost the SSH connection to ${this.target} while trying to ${what} it (${engineMessage(error)}); runs go on there, call again to reconnect`,
        { cause: error },
      );
    }
    if (error instanceof DockerUnavailableError && engine?.connection !== undefined) {
      return diagnoseRemoteDocker(engine.connection, this.dockerSocketPath, error.cause ?? error);
    }
    return error;
  }
}

/**
 * A run on the remote host. Each call goes through the executor's current connection, so a handle
 * keeps working after the connection was lost and made again; `wait()` rides over one such loss.
 */
class RemoteJobRun implements JobRun {
  private bound: { docker: Dockerode; run: JobRun } | undefined;

  constructor(
    private readonly executor: RemoteDockerExecutor,
    readonly id: string,
    readonly containerId: string,
    private readonly bind: (docker: Dockerode) => JobRun,
  ) {}

  async status(): Promise<JobStatus> {
    return this.call('inspect the run on', (run) => run.status());
  }

  async getLogs(window?: LogWindow): Promise<JobLogs> {
    return this.call('read the logs of the run on', (run) => run.getLogs(window));
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

  async result(options?: ResultOptions): Promise<unknown> {
    // Waits over one lost connection, as wait() does; reading the result again is safe too.
    await this.wait();
    return this.call('read the result of the run on', (run) => run.result(options));
  }

  async serializedResult(): Promise<SerializedResult> {
    await this.wait();
    return this.call('read the result of the run on', (run) => run.serializedResult());
  }

  async metrics(): Promise<RunMetrics> {
    return this.call('read the metrics of the run on', (run) => run.metrics());
  }

  /** A cut connection fails the download (a typed error, its partial folder left aside); call again. */
  async downloadOutputs(dir: string, options?: DownloadOptions): Promise<DownloadedOutputs> {
    return this.call('download the outputs of the run on', (run) =>
      run.downloadOutputs(dir, options),
    );
  }

  private async call<T>(what: string, action: (run: JobRun) => Promise<T>): Promise<T> {
    const docker = (await this.executor.call(what, () => this.executor.engine())).docker;
    if (this.bound?.docker !== docker) this.bound = { docker, run: this.bind(docker) };
    return this.executor.call(what, () => action(this.bound!.run));
  }
}

export { DockerJobRun };
