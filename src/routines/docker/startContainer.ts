import type Dockerode from 'dockerode';
import { engineMessage, engineStatus, toDockerUnavailable } from '../../engines/dockerApi.js';
import { DockerEngineError, GpuUnavailableError } from '../../engines/errors.js';
import type { MappedHostConfig } from '../dockerOptions.js';
import { MountSourceMissingError } from '../errors.js';

export interface StartContainerOptions {
  /** Image reference or id. */
  readonly image: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** `NAME=value` pairs, given to this container only. */
  readonly env: readonly string[];
  readonly hostConfig: MappedHostConfig;
}

/**
 * Creates and starts a container (no TTY, so stdout and stderr stay apart in its logs). A container
 * that fails to start is removed, and a start refused for want of GPUs is a `GpuUnavailableError`.
 * Returns the container id.
 */
export async function startContainer(
  docker: Dockerode,
  options: StartContainerOptions,
): Promise<string> {
  let container: Dockerode.Container;
  try {
    container = await docker.createContainer({
      name: options.name,
      Image: options.image,
      Env: [...options.env],
      Labels: { ...options.labels },
      Tty: false,
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      OpenStdin: false,
      HostConfig: options.hostConfig as Dockerode.HostConfig,
    });
  } catch (error) {
    throw translate(
      docker,
      `could not create container ${options.name} from ${options.image}`,
      error,
      [],
      options.hostConfig,
    );
  }
  // What the engine recorded of a GPU request, read before a failed start removes the container.
  let deviceRequests: readonly unknown[] = [];
  try {
    if (options.hostConfig.DeviceRequests !== undefined) {
      deviceRequests = (await container.inspect()).HostConfig.DeviceRequests ?? [];
    }
    await container.start();
  } catch (error) {
    const removal = await container.remove({ force: true }).then(
      () => undefined,
      (removeError: unknown) => removeError,
    );
    const failure = translate(
      docker,
      `could not start container ${options.name}`,
      error,
      deviceRequests,
      options.hostConfig,
    );
    if (removal !== undefined && failure instanceof Error) {
      failure.message += ` (and removing the container failed too: ${engineMessage(removal)})`;
    }
    throw failure;
  }
  return container.id;
}

function translate(
  docker: Dockerode,
  what: string,
  error: unknown,
  deviceRequests: readonly unknown[] = [],
  hostConfig: MappedHostConfig = {},
): unknown {
  const unavailable = toDockerUnavailable(docker, error);
  if (unavailable !== error) return unavailable;
  const message = engineMessage(error);
  const missing = /bind source path does not exist: (.+?)\s*$/.exec(message);
  if (missing !== null) {
    const hostPath = missing[1]!;
    const index = (hostConfig.Mounts ?? []).findIndex((m) => m.Source === hostPath);
    return new MountSourceMissingError(index === -1 ? undefined : index, hostPath);
  }
  if (/could not select device driver .*capabilities: \[\[gpu\]\]|nvidia/i.test(message)) {
    return new GpuUnavailableError(message, deviceRequests, { cause: error });
  }
  return new DockerEngineError(`${what}: ${message}`, engineStatus(error), { cause: error });
}
