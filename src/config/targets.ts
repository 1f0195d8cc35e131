/**
 * From a config to the things that run jobs: packaging tasks, Docker options, engines and executors
 * per target. The CLI uses exactly these, so code that calls them behaves as `ferry` does.
 */
import path from 'node:path';
import type Dockerode from 'dockerode';
import {
  ContaineringTask,
  makeContainer,
  type ContaineringProgress,
  type ContaineringTaskFields,
  type ImageInfo,
} from '../containering/index.js';
import { PackagingTask } from '../packaging/index.js';
import { AttachedExecutor } from '../routines/attachedExecutor.js';
import { DockerOptions } from '../routines/dockerOptions.js';
import type { Job } from '../routines/job.js';
import type { JobExecutor } from '../routines/jobExecutor.js';
import { LocalDockerExecutor } from '../routines/localDockerExecutor.js';
import { RemoteDockerExecutor, type RemoteProgress } from '../routines/remoteDockerExecutor.js';
import { SSHDockerJobRoutine } from '../routines/sshDockerJobRoutine.js';
import type { RegistryAuth } from '../shipping/index.js';
import type { SshConnection } from '../ssh/sshConnection.js';
import { localDocker, sshOptionsFor } from './engines.js';
import { InputError } from '../errors.js';
import { UnknownTargetError } from './errors.js';
import { getTarget } from './loadConfig.js';
import type {
  DockerTargetConfig,
  FerryConfig,
  LocalTargetConfig,
  RemoteTargetConfig,
  TargetConfig,
} from './schema.js';

export {
  localDocker,
  localSocketPath,
  openEngine,
  sshOptionsFor,
  type TargetEngine,
} from './engines.js';

/** The packaging task for the config's project and this job object. */
export function packagingTaskFor(config: FerryConfig, job: Job): PackagingTask {
  return new PackagingTask({
    name: config.project,
    version: config.version,
    payload: { job },
    sourceRoot: config.sourceRoot,
    ...(config.exclude === undefined ? {} : { exclude: config.exclude }),
    ...(config.projectRoot === undefined ? {} : { projectRoot: config.projectRoot }),
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

/** Image settings of a target: image name and base image. */
export function containeringFor(
  config: FerryConfig,
  target: DockerTargetConfig,
): Partial<Omit<ContaineringTaskFields, 'packagingTask'>> {
  // A remote target's registry is applied when the image is shipped (`<repository>/<project>:<tag>`).
  return {
    imageName: target.imageName ?? `ferry/${config.project}`,
    ...(target.baseImage === undefined ? {} : { baseImage: target.baseImage }),
  };
}

/**
 * Packages the job and builds its image for a target on the local engine (reused when its content
 * was built before); the package is kept as `<workDir>/packages/<uid>.tar.gz`.
 */
export async function buildImage(
  config: FerryConfig,
  target: DockerTargetConfig,
  job: Job,
  options: {
    readonly docker: Dockerode;
    readonly onProgress?: (progress: ContaineringProgress) => void;
  },
): Promise<ImageInfo> {
  const task = new ContaineringTask({
    ...containeringFor(config, target),
    packagingTask: packagingTaskFor(config, job),
  });
  return makeContainer(task, {
    docker: options.docker,
    workDir: config.workDir,
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
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
  readonly job: Job;
  /** Told how packaging, image builds and (remote) shipping go. */
  readonly onProgress?: (progress: RemoteProgress) => void;
  /** Where propagated variables are read. Default: `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** For Docker targets: an engine already open (else one is made). */
  readonly docker?: Dockerode;
}

/** The executor that runs the job on the named target (default: the config's default target). */
export function createExecutor(
  config: FerryConfig,
  targetName: string | undefined,
  options: ExecutorOptions,
): JobExecutor {
  const target: TargetConfig = getTarget(config, targetName);
  if (target.type === 'attached') {
    return new AttachedExecutor({
      job: options.job,
      packagingTask: () => packagingTaskFor(config, options.job),
      workDir: config.workDir,
    });
  }
  if (target.type === 'local') return localExecutorFor(config, target, options);
  return remoteExecutorFor(config, target, options);
}

/** The registry password named by `registryAuth.passwordEnv` is not set. */
export class MissingRegistryPasswordError extends InputError {}

/** Registry credentials of a remote target, the password read from its environment variable. */
export function registryAuthFor(
  target: RemoteTargetConfig,
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

export interface RemoteExecutorOptions extends ExecutorOptions {
  /** An open SSH connection to the target (else the executor connects itself). */
  readonly connection?: SshConnection;
  /** The local engine images are built on. Default: the `local` target's. */
  readonly localDocker?: Dockerode;
}

/** A `RemoteDockerExecutor` configured from a remote target (detached runs). */
export function remoteExecutorFor(
  config: FerryConfig,
  target: RemoteTargetConfig,
  options: RemoteExecutorOptions,
): RemoteDockerExecutor {
  const registryAuth = registryAuthFor(target, options.env);
  return new RemoteDockerExecutor({
    packagingTask: () => packagingTaskFor(config, options.job),
    ssh: sshOptionsFor(target),
    dockerSocketPath: target.dockerSocket,
    options: dockerOptionsFor(target),
    containering: containeringFor(config, target),
    localDocker: options.localDocker ?? localDocker(buildTarget(config), options.env),
    workDir: config.workDir,
    ...(target.repository === undefined ? {} : { repository: target.repository }),
    ...(registryAuth === undefined ? {} : { registryAuth }),
    ...(options.connection === undefined ? {} : { connection: options.connection }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    ...(options.env === undefined ? {} : { env: options.env }),
  });
}

/** A `LocalDockerExecutor` configured from a local target. */
export function localExecutorFor(
  config: FerryConfig,
  target: LocalTargetConfig,
  options: ExecutorOptions,
): LocalDockerExecutor {
  return new LocalDockerExecutor({
    packagingTask: () => packagingTaskFor(config, options.job),
    options: dockerOptionsFor(target),
    containering: containeringFor(config, target),
    docker: options.docker ?? localDocker(target, options.env),
    workDir: config.workDir,
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    ...(options.env === undefined ? {} : { env: options.env }),
  });
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
    readonly onProgress?: (progress: RemoteProgress) => void;
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
    ...(dockerTarget === undefined
      ? {}
      : {
          options: dockerOptionsFor(dockerTarget, { wait: true }),
          containering: containeringFor(config, dockerTarget),
          docker: localDocker(dockerTarget, options.env),
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
