/** A `SwarmExecutor` from a swarm target of the config (what `createExecutor` gives for one). */
import type { SwarmTargetConfig } from '../../config/schema.js';
import type { RegistryAuth } from '../../shipping/index.js';
import type { SshConnectionOptions } from '../../ssh/index.js';
import { SwarmExecutor, type SwarmExecutorFields } from './swarmExecutor.js';

export type SwarmExecutorBase = Omit<
  SwarmExecutorFields,
  | 'manager'
  | 'registry'
  | 'registryAuth'
  | 'environment'
  | 'settings'
  | 'startTimeoutMs'
  | 'containering'
>;

export function swarmExecutorFor(
  target: SwarmTargetConfig,
  base: SwarmExecutorBase & {
    readonly imageName: string;
    /** How to reach the manager over SSH (from the target's SSH keys), when it has a `host`. */
    readonly ssh?: SshConnectionOptions;
    readonly registryAuth?: RegistryAuth;
  },
): SwarmExecutor {
  const { imageName, ssh, registryAuth, ...fields } = base;
  return new SwarmExecutor({
    ...fields,
    manager: {
      ...(target.dockerSocket === undefined ? {} : { socketPath: target.dockerSocket }),
      ...(ssh === undefined ? {} : { ssh }),
    },
    registry: target.registry,
    ...(registryAuth === undefined ? {} : { registryAuth }),
    environment: target.environment,
    settings: {
      reservations: target.resources.reservations,
      limits: target.resources.limits,
      constraints: target.constraints,
      ...(target.gpus === undefined
        ? {}
        : { genericResources: [{ kind: target.gpuResource, count: target.gpus }] }),
    },
    startTimeoutMs: target.startTimeout * 1000,
    containering: {
      imageName,
      ...(target.baseImage === undefined ? {} : { baseImage: target.baseImage }),
    },
  });
}
