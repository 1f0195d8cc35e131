/**
 * From a config to the things that run jobs: packaging tasks, Docker options, engines and executors
 * per target. The CLI uses exactly these, so code that calls them behaves as `ferry` does.
 */
import type { RunPolicyInput } from '../routines/attempts.js';
import path from 'node:path';
import type Dockerode from 'dockerode';
import type { ContaineringTaskFields } from '../containering/index.js';
import { localDockerClient, type LocalEngineOptions } from '../engines/engine.js';
import { PackagingTask } from '../packaging/index.js';
import type { RecordStore } from '../records/store.js';
import { AttachedExecutor } from '../routines/attachedExecutor.js';
import type { ExecutorProgress } from '../routines/docker/dockerExecutor.js';
import { DockerOptions } from '../routines/dockerOptions.js';
import { NoJobError } from '../routines/errors.js';
import type { Job } from '../routines/job.js';
import type { TargetExecutor } from '../routines/jobExecutor.js';
import { LocalDockerExecutor } from '../routines/localDockerExecutor.js';
import { RemoteDockerExecutor } from '../routines/remoteDockerExecutor.js';
import { SSHDockerJobRoutine } from '../routines/sshDockerJobRoutine.js';
import { swarmExecutorFor } from '../routines/swarm/fromConfig.js';
import type { RegistryAuth } from '../shipping/index.js';
import type { SshConnection, SshConnectionOptions } from '../ssh/index.js';
import { MissingRegistryPasswordError, UnknownTargetError } from './errors.js';
import { cacheDefaultOf, getTarget } from './loadConfig.js';
import type {
  AttachedTargetConfig,
  DockerTargetConfig,
  FerryConfig,
  LocalTargetConfig,
  RemoteTargetConfig,
  SwarmTargetConfig,
  TargetConfig,
} from './schema.js';

/** The packaging task for the config's project and this job object. */
export function packagingTaskFor(config: FerryConfig, job: Job): PackagingTask {
  return new PackagingTask({
    name: config.project,
    version: config.version,
    payload: { job },
    sourceRoot: config.sourceRoot,
    ...(config.exclude === undefined ? {} : { exclude: config.exclude }),
    ...(config.projectRoot === undefined ? {} : { projectRoot: config.projectRoot }),
    ...(config.assets === undefined ? {} : { assets: config.assets }),
  });
}

/** How a Docker target's containers run. */
export function dockerOptionsFor(
  target: DockerTargetConfig,
  overrides: { readonly wait?: boolean; readonly removeContainer?: boolean } = {},
): DockerOptions {
  return new DockerOptions({
    propagatedEnvironmentVariables: target.environment,
    mounts: target.mounts,
    ...(target.limits.cpus === undefined ? {} : { cpuLimit: target.limits.cpus }),
    ...(target.limits.memory === undefined ? {} : { memoryLimit: target.limits.memory }),
    ...(target.gpus === undefined ? {} : { gpus: target.gpus }),
    wait: overrides.wait ?? false,
    removeContainer: overrides.removeContainer ?? target.removeContainer,
  });
}

/** Image settings of a target: image name, base image, platform and how npm packages are installed. */
export function containeringFor(
  config: FerryConfig,
  target: DockerTargetConfig,
): Partial<Omit<ContaineringTaskFields, 'packagingTask'>> {
  // A remote target's registry is applied when the image is shipped (`<repository>/<project>:<tag>`).
  return {
    imageName: target.imageName ?? `ferry/${config.project}`,
    ...(target.baseImage === undefined ? {} : { baseImage: target.baseImage }),
    ...(target.platform === undefined ? {} : { platform: target.platform }),
    ...(target.dependencies === undefined ? {} : { dependencies: target.dependencies }),
  };
}

/** The local target (where images are built), as configured or by default. */
export function buildTarget(config: FerryConfig): LocalTargetConfig {
  const local = config.targets.local;
  return local !== undefined && local.type === 'local'
    ? local
    : {
        name: 'local',
        type: 'local',
        environment: [],
        mounts: [],
        limits: {},
        removeContainer: false,
      };
}

export interface ExecutorOptions {
  /**
   * The job object, or how to get it when a run starts (loaded on first use). Without one, the
   * executor finds, lists, stops and removes runs but cannot start one.
   */
  readonly job?: Job | (() => Job);
  /** Told how packaging, image builds and (remote) connecting and shipping go. */
  readonly onProgress?: (progress: ExecutorProgress) => void;
  /** Where propagated variables and `DOCKER_HOST` are read. Default: `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Where runs are recorded. Default: `<workDir>/runs`. */
  readonly records?: RecordStore;
  /** Told of SSH warnings (an unverified host key that was accepted on purpose). */
  readonly onWarning?: (message: string) => void;
  /** Remote targets: an open SSH connection (else the executor connects itself). */
  readonly connection?: SshConnection;
  /** Remote targets: the local engine images are built on. Default: the `local` target's. */
  readonly localDocker?: Dockerode;
}

/**
 * The executor of a configured target: the one place a target's kind decides what runs where, so
 * everything above (the CLI, user code) works through `TargetExecutor` alone.
 */
export function createExecutor(
  config: FerryConfig,
  target: string | TargetConfig | undefined,
  options: ExecutorOptions = {},
): TargetExecutor {
  const resolved = typeof target === 'object' ? target : getTarget(config, target);
  if (resolved.type === 'attached') return attachedExecutorFor(config, resolved, options);
  if (resolved.type === 'local') return localExecutorFor(config, resolved, options);
  if (resolved.type === 'swarm') {
    const packagingTask = packagingTaskOf(config, options);
    const registryAuth = registryAuthFor(resolved, options.env);
    const host = resolved.host;
    return swarmExecutorFor(resolved, {
      ...commonFields(config, resolved, options),
      ...(packagingTask === undefined ? {} : { packagingTask }),
      imageName: resolved.imageName ?? `ferry/${config.project}`,
      ...(host === undefined
        ? {}
        : { ssh: sshOptionsFor({ ...resolved, host }, options.onWarning) }),
      ...(registryAuth === undefined ? {} : { registryAuth }),
      ...(options.localDocker === undefined ? {} : { localDocker: options.localDocker }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
  }
  return remoteExecutorFor(config, resolved, options);
}

/** The packaging task of the job an executor was given, read when a run starts. */
function packagingTaskOf(
  config: FerryConfig,
  options: ExecutorOptions,
): (() => PackagingTask) | undefined {
  const { job } = options;
  if (job === undefined) return undefined;
  return () => packagingTaskFor(config, typeof job === 'function' ? job() : job);
}

/** Fields every executor made from a config shares. */
function commonFields(
  config: FerryConfig,
  target: TargetConfig,
  options: ExecutorOptions,
): {
  readonly workDir: string;
  readonly targetName: string;
  readonly jobName: string;
  readonly records?: RecordStore;
  readonly env?: NodeJS.ProcessEnv;
  readonly resultSourceRoot: string;
  readonly policy: RunPolicyInput;
  readonly cache?: boolean;
} {
  const cache = cacheDefaultOf(config, target);
  return {
    policy: policyOf(target),
    ...(cache === undefined ? {} : { cache }),
    workDir: config.workDir,
    resultSourceRoot: config.sourceRoot,
    targetName: target.name,
    jobName: config.project,
    ...(options.records === undefined ? {} : { records: options.records }),
    ...(options.env === undefined ? {} : { env: options.env }),
  };
}

/** A target's `timeout` and `retries` (every kind has them). */
function policyOf(target: TargetConfig): RunPolicyInput {
  return {
    ...(target.timeout === undefined ? {} : { timeout: target.timeout }),
    ...(target.retries === undefined ? {} : { retries: target.retries }),
  };
}

/** An `AttachedExecutor` from an attached target: every run packaged, so its record names its source. */
export function attachedExecutorFor(
  config: FerryConfig,
  target: AttachedTargetConfig,
  options: ExecutorOptions,
): AttachedExecutor {
  const packagingTask = packagingTaskOf(config, options);
  const job = options.job;
  const cache = cacheDefaultOf(config, target);
  return new AttachedExecutor({
    job: () => {
      if (job === undefined) throw new NoJobError(`target ${target.name}: no job was given`);
      return typeof job === 'function' ? job() : job;
    },
    packagingTask: () => {
      if (packagingTask === undefined) {
        throw new NoJobError(`target ${target.name}: no job was given`);
      }
      return packagingTask();
    },
    workDir: config.workDir,
    targetName: target.name,
    packageEveryRun: true,
    viaPackage: target.viaPackage,
    policy: policyOf(target),
    ...(cache === undefined ? {} : { cache }),
    resultSourceRoot: config.sourceRoot,
    ...(options.records === undefined ? {} : { records: options.records }),
  });
}

/** Registry credentials of a remote target, the password read from its environment variable. */
export function registryAuthFor(
  target: Pick<RemoteTargetConfig | SwarmTargetConfig, 'name' | 'registryAuth'>,
  env: NodeJS.ProcessEnv = process.env,
): RegistryAuth | undefined {
  if (target.registryAuth === undefined) return undefined;
  const password = env[target.registryAuth.passwordEnv];
  if (password === undefined) {
    throw new MissingRegistryPasswordError(
      `targets.${target.name}.registryAuth.passwordEnv names ${target.registryAuth.passwordEnv}, which is not set; export it before shipping`,
    );
  }
  return { username: target.registryAuth.username, password };
}

/** A `RemoteDockerExecutor` configured from a remote target (detached runs). */
export function remoteExecutorFor(
  config: FerryConfig,
  target: RemoteTargetConfig,
  options: ExecutorOptions,
): RemoteDockerExecutor {
  const registryAuth = registryAuthFor(target, options.env);
  const packagingTask = packagingTaskOf(config, options);
  return new RemoteDockerExecutor({
    ...commonFields(config, target, options),
    ...(packagingTask === undefined ? {} : { packagingTask }),
    ssh: sshOptionsFor(target, options.onWarning),
    dockerSocketPath: target.dockerSocket,
    options: dockerOptionsFor(target),
    containering: containeringFor(config, target),
    localDocker:
      options.localDocker ??
      localDockerClient(localEngineOptionsFor(buildTarget(config), options.env)),
    ...(target.repository === undefined ? {} : { repository: target.repository }),
    ...(registryAuth === undefined ? {} : { registryAuth }),
    ...(options.connection === undefined ? {} : { connection: options.connection }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
}

/** A `LocalDockerExecutor` configured from a local target. */
export function localExecutorFor(
  config: FerryConfig,
  target: LocalTargetConfig,
  options: ExecutorOptions,
): LocalDockerExecutor {
  const packagingTask = packagingTaskOf(config, options);
  return new LocalDockerExecutor({
    ...commonFields(config, target, options),
    ...(packagingTask === undefined ? {} : { packagingTask }),
    options: dockerOptionsFor(target),
    containering: containeringFor(config, target),
    engine: localEngineOptionsFor(target, options.env),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
}

/** Where a local target's engine is: its `dockerSocket`, else `DOCKER_HOST`, else the default. */
export function localEngineOptionsFor(
  target: LocalTargetConfig,
  env?: NodeJS.ProcessEnv,
): LocalEngineOptions {
  return {
    ...(target.dockerSocket === undefined ? {} : { socketPath: target.dockerSocket }),
    ...(env === undefined ? {} : { env }),
  };
}

/** The keys a remote or swarm target reaches its host over SSH with. */
type SshTargetKeys = Pick<
  RemoteTargetConfig,
  | 'port'
  | 'sshConfig'
  | 'proxyJump'
  | 'user'
  | 'key'
  | 'knownHosts'
  | 'hostKeyFingerprints'
  | 'hostKeyCheck'
>;

/** The SSH connection options of a remote target (or of a swarm's manager reached over SSH). */
export function sshOptionsFor(
  target: SshTargetKeys & { readonly host: string },
  onWarning?: (message: string) => void,
): SshConnectionOptions {
  return {
    host: target.host,
    ...(target.port === undefined ? {} : { port: target.port }),
    ...(target.sshConfig === undefined ? {} : { sshConfigPath: target.sshConfig }),
    ...(target.proxyJump === undefined ? {} : { proxyJump: target.proxyJump }),
    ...(target.user === undefined ? {} : { username: target.user }),
    ...(target.key === undefined ? {} : { privateKeyPath: target.key }),
    ...(target.knownHosts === undefined ? {} : { knownHostsPath: target.knownHosts }),
    ...(target.hostKeyFingerprints === undefined
      ? {}
      : { hostKeyFingerprint: target.hostKeyFingerprints }),
    hostKeyCheck: target.hostKeyCheck,
    ...(onWarning === undefined ? {} : { onWarning }),
  };
}

/**
 * An `SSHDockerJobRoutine` for the job as the config describes it: `routine.attached`,
 * `routine.local` with the `local` target's settings, and `routine.remote` on the remote target
 * named by `remote` (default: the config's default target when it is remote, else the first remote
 * target). The routine has one set of Docker options, the `local` target's; `createExecutor` gives
 * each target its own.
 */
export function routineFromConfig(
  config: FerryConfig,
  job: Job,
  options: {
    readonly onProgress?: (progress: ExecutorProgress) => void;
    /** The remote target `routine.remote` runs on. */
    readonly remote?: string;
    readonly env?: NodeJS.ProcessEnv;
  } = {},
): SSHDockerJobRoutine {
  const local = getTarget(config, 'local');
  const dockerTarget = local.type === 'local' ? local : undefined;
  const byDefault = config.targets[config.defaults.target];
  const remoteTarget =
    options.remote !== undefined
      ? getTarget(config, options.remote)
      : byDefault?.type === 'remote'
        ? byDefault
        : Object.values(config.targets).find((t) => t.type === 'remote');
  if (remoteTarget !== undefined && remoteTarget.type !== 'remote') {
    throw new UnknownTargetError(
      `target ${remoteTarget.name} is ${remoteTarget.type}, not a remote target`,
    );
  }
  const registryAuth =
    remoteTarget === undefined ? undefined : registryAuthFor(remoteTarget, options.env);
  return new SSHDockerJobRoutine({
    job,
    name: config.project,
    version: config.version,
    sourceRoot: config.sourceRoot,
    workDir: path.resolve(config.workDir),
    ...(config.exclude === undefined ? {} : { exclude: config.exclude }),
    ...(config.projectRoot === undefined ? {} : { projectRoot: config.projectRoot }),
    ...(config.assets === undefined ? {} : { assets: config.assets }),
    ...(dockerTarget === undefined
      ? {}
      : {
          options: dockerOptionsFor(dockerTarget, { wait: true }),
          containering: containeringFor(config, dockerTarget),
          docker: localDockerClient(localEngineOptionsFor(dockerTarget, options.env)),
        }),
    ...(remoteTarget === undefined
      ? {}
      : {
          remote: {
            ssh: sshOptionsFor(remoteTarget),
            dockerSocketPath: remoteTarget.dockerSocket,
            ...(remoteTarget.repository === undefined
              ? {}
              : { repository: remoteTarget.repository }),
            ...(registryAuth === undefined ? {} : { registryAuth }),
          },
        }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
}
