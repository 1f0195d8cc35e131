/** A `SwarmExecutor` from a swarm target of the config (what `createExecutor` gives for one). */
import type { SwarmTargetConfig } from '../../config/schema.js';
import type { RegistryAuth } from '../../shipping/index.js';
import type { SshConnectionOptions } from '../../ssh/index.js';
import { MissingEnvironmentVariableError } from '../errors.js';
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
    readonly onWarning?: (message: string) => void;
  },
): SwarmExecutor {
  const { imageName, onWarning, ...fields } = base;
  const registryAuth = registryAuthOf(target, base.env ?? process.env);
  return new SwarmExecutor({
    ...fields,
    manager: {
      ...(target.dockerSocket === undefined ? {} : { socketPath: target.dockerSocket }),
      ...(target.host === undefined ? {} : { ssh: sshOptionsOf(target, target.host, onWarning) }),
    },
    registry: target.registry,
    ...(registryAuth === undefined ? {} : { registryAuth }),
    environment: target.environment,
    settings: {
      reservations: target.resources.reservations,
      limits: target.resources.limits,
      constraints: target.constraints,
    },
    startTimeoutMs: target.startTimeout * 1000,
    containering: {
      imageName,
      ...(target.baseImage === undefined ? {} : { baseImage: target.baseImage }),
    },
  });
}

function registryAuthOf(
  target: SwarmTargetConfig,
  env: NodeJS.ProcessEnv,
): RegistryAuth | undefined {
  if (target.registryAuth === undefined) return undefined;
  const password = env[target.registryAuth.passwordEnv];
  if (password === undefined)
    throw new MissingEnvironmentVariableError(target.registryAuth.passwordEnv);
  return { username: target.registryAuth.username, password };
}

function sshOptionsOf(
  target: SwarmTargetConfig,
  host: string,
  onWarning?: (message: string) => void,
): SshConnectionOptions {
  return {
    host,
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
