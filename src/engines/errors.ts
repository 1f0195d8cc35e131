import { EnvironmentError } from '../errors.js';

/** No Docker engine answers where Ferry looked for one. */
export class DockerUnavailableError extends EnvironmentError {}

/** GPUs were asked for, and the engine cannot give them. */
export class GpuUnavailableError extends EnvironmentError {
  constructor(
    /** What the engine said. */
    readonly detail: string,
    /** The device requests the container was created with, as the engine recorded them. */
    readonly deviceRequests: readonly unknown[] = [],
    options?: { cause?: unknown },
    /** Where the engine is and what to do there, when it is not this machine's. */
    where: { readonly on: string; readonly advice: string } = {
      on: 'the local Docker engine',
      advice: 'install the NVIDIA Container Toolkit on this machine and restart dockerd',
    },
  ) {
    super(
      `GPUs were requested (gpus) but ${where.on} has no NVIDIA runtime: ${where.advice}, or run without gpus (engine said: ${detail})`,
      options,
    );
  }
}

/** The Docker engine refused or failed an operation (other than a build, which is `ImageBuildError`). */
export class DockerEngineError extends EnvironmentError {
  constructor(
    message: string,
    /** The HTTP status the engine answered with, when it answered. */
    readonly statusCode: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** GPUs were asked for on a remote host whose Docker engine cannot give them. */
export class RemoteGpuUnavailableError extends GpuUnavailableError {
  constructor(
    /** `user@host:port`. */
    readonly target: string,
    deviceRequests: readonly unknown[],
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(detail, deviceRequests, options, {
      on: `the Docker engine on ${target}`,
      advice: `install the NVIDIA driver and the NVIDIA Container Toolkit there (nvidia-smi must work on ${target}), then restart its dockerd`,
    });
  }
}

/** The engine and Ferry share no Docker API version (one is too old for the other). */
export class DockerApiVersionError extends EnvironmentError {}
