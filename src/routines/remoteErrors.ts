import { GpuUnavailableError } from '../containering/errors.js';

/** GPUs were asked for on a remote host whose Docker engine cannot give them. */
export class RemoteGpuUnavailableError extends GpuUnavailableError {
  constructor(
    /** `user@host:port`. */
    readonly target: string,
    /** The device requests the container was created with, as the remote engine reported them. */
    readonly deviceRequests: readonly unknown[],
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`on ${target}: ${detail}`, options);
    this.message = this.message.replace(
      'install the NVIDIA Container Toolkit on the host',
      `install the NVIDIA driver and the NVIDIA Container Toolkit on ${target} (then restart its dockerd; nvidia-smi must work there)`,
    );
  }
}
