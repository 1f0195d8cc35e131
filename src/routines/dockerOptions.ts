import { InvalidDockerOptionsError, MissingEnvironmentVariableError } from './errors.js';

/** A folder or file of the host seen inside the container. */
export interface MountSpec {
  /** Absolute path on the Docker host. */
  readonly hostPath: string;
  /** Absolute path inside the container. */
  readonly containerPath: string;
  /** Default: false. */
  readonly readOnly?: boolean;
}

/** `'all'`, how many, or which (device ids or indexes as `nvidia-smi` lists them). */
export type GpuRequest = 'all' | number | readonly string[];

export interface DockerOptionsFields {
  /**
   * Names of environment variables read from `process.env` when `execute()` runs and passed to the
   * container; never written into the image. A name that is not set is an error naming it.
   */
  readonly propagatedEnvironmentVariables?: readonly string[];
  readonly mounts?: readonly MountSpec[];
  /** CPUs the container may use, e.g. `1.5`. */
  readonly cpuLimit?: number;
  /** Memory limit: bytes, or a size such as `'512m'`, `'2g'`. */
  readonly memoryLimit?: number | string;
  /** GPUs to give the container (needs the NVIDIA runtime on the engine). */
  readonly gpus?: GpuRequest;
  /** Wait for the job to end before `execute()` returns. Default: true. */
  readonly wait?: boolean;
  /**
   * Remove the container once its run has ended and its logs and exit code were read (by `wait()`,
   * which a waiting `execute()` calls). Default: false, so runs are found again by name and labels.
   */
  readonly removeContainer?: boolean;
}

/** How a job's container runs: a validated DTO; `toHostConfig` and `resolveEnvironment` map it. */
export class DockerOptions {
  readonly propagatedEnvironmentVariables: readonly string[];
  readonly mounts: readonly MountSpec[];
  readonly cpuLimit: number | undefined;
  /** In bytes. */
  readonly memoryLimit: number | undefined;
  readonly gpus: GpuRequest | undefined;
  readonly wait: boolean;
  readonly removeContainer: boolean;

  constructor(fields: DockerOptionsFields = {}) {
    this.propagatedEnvironmentVariables = [...(fields.propagatedEnvironmentVariables ?? [])];
    for (const name of this.propagatedEnvironmentVariables) {
      if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new InvalidDockerOptionsError(
          'propagatedEnvironmentVariables',
          `${JSON.stringify(name)} is not an environment variable name`,
        );
      }
    }
    this.mounts = (fields.mounts ?? []).map(checkMount);
    if (
      fields.cpuLimit !== undefined &&
      !(Number.isFinite(fields.cpuLimit) && fields.cpuLimit > 0)
    ) {
      throw new InvalidDockerOptionsError(
        'cpuLimit',
        `${fields.cpuLimit} is not a positive number of CPUs`,
      );
    }
    this.cpuLimit = fields.cpuLimit;
    this.memoryLimit =
      fields.memoryLimit === undefined ? undefined : parseMemory(fields.memoryLimit);
    this.gpus = fields.gpus === undefined ? undefined : checkGpus(fields.gpus);
    this.wait = fields.wait ?? true;
    this.removeContainer = fields.removeContainer ?? false;
  }
}

/** The subset of Docker's HostConfig that DockerOptions sets. */
export interface MappedHostConfig {
  Mounts?: { Type: 'bind'; Source: string; Target: string; ReadOnly: boolean }[];
  NanoCpus?: number;
  Memory?: number;
  DeviceRequests?: {
    Driver: string;
    Count?: number;
    DeviceIDs?: string[];
    Capabilities: string[][];
  }[];
  /** Retries: the engine starts a failed attempt again (routines/attempts.ts). */
  RestartPolicy?: { Name: 'on-failure'; MaximumRetryCount: number };
}

/** Maps the options to Docker's HostConfig (mounts, limits, GPU device requests). */
export function toHostConfig(options: DockerOptions): MappedHostConfig {
  const config: MappedHostConfig = {};
  if (options.mounts.length > 0) {
    config.Mounts = options.mounts.map((m) => ({
      Type: 'bind',
      Source: m.hostPath,
      Target: m.containerPath,
      ReadOnly: m.readOnly ?? false,
    }));
  }
  if (options.cpuLimit !== undefined) config.NanoCpus = Math.round(options.cpuLimit * 1e9);
  if (options.memoryLimit !== undefined) config.Memory = options.memoryLimit;
  if (options.gpus !== undefined) config.DeviceRequests = [toDeviceRequest(options.gpus)];
  return config;
}

function toDeviceRequest(
  gpus: GpuRequest,
): NonNullable<MappedHostConfig['DeviceRequests']>[number] {
  if (gpus === 'all') return { Driver: '', Count: -1, Capabilities: [['gpu']] };
  if (typeof gpus === 'number') return { Driver: '', Count: gpus, Capabilities: [['gpu']] };
  return { Driver: '', DeviceIDs: [...gpus], Capabilities: [['gpu']] };
}

/**
 * `NAME=value` for every propagated variable, read from `env` now. Throws
 * `MissingEnvironmentVariableError` naming the first variable that is not set.
 */
export function resolveEnvironment(
  options: DockerOptions,
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  return options.propagatedEnvironmentVariables.map((name) => {
    const value = env[name];
    if (value === undefined) throw new MissingEnvironmentVariableError(name);
    return `${name}=${value}`;
  });
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
};

/** Bytes from a number of bytes or a size such as `'512m'` or `'2g'` (binary units, as Docker reads them). */
export function parseMemory(value: number | string): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value > 0) return value;
    throw new InvalidDockerOptionsError(
      'memoryLimit',
      `${value} is not a positive whole number of bytes`,
    );
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = match?.[2]?.toLowerCase();
  const factor = unit === undefined ? undefined : UNITS[unit];
  if (match === null || factor === undefined || Number(match[1]) <= 0) {
    throw new InvalidDockerOptionsError(
      'memoryLimit',
      `${JSON.stringify(value)} is not a size; use bytes or a number with b, k, m, g or t, e.g. '2g'`,
    );
  }
  return Math.floor(Number(match[1]) * factor);
}

function checkMount(mount: MountSpec, index: number): MountSpec {
  const where = `mounts[${index}]`;
  if (typeof mount.hostPath !== 'string' || !mount.hostPath.startsWith('/')) {
    throw new InvalidDockerOptionsError(
      where,
      `hostPath ${JSON.stringify(mount.hostPath)} is not an absolute path`,
    );
  }
  if (typeof mount.containerPath !== 'string' || !mount.containerPath.startsWith('/')) {
    throw new InvalidDockerOptionsError(
      where,
      `containerPath ${JSON.stringify(mount.containerPath)} is not an absolute path`,
    );
  }
  return {
    hostPath: mount.hostPath,
    containerPath: mount.containerPath,
    readOnly: mount.readOnly ?? false,
  };
}

function checkGpus(gpus: GpuRequest): GpuRequest {
  if (gpus === 'all') return gpus;
  if (typeof gpus === 'number') {
    if (Number.isInteger(gpus) && gpus > 0) return gpus;
    throw new InvalidDockerOptionsError('gpus', `${gpus} is not a positive whole number of GPUs`);
  }
  if (
    Array.isArray(gpus) &&
    gpus.length > 0 &&
    gpus.every((g) => typeof g === 'string' && g !== '')
  ) {
    return [...gpus];
  }
  throw new InvalidDockerOptionsError('gpus', "expected 'all', a count, or a list of device ids");
}
