/**
 * The Docker engine of a target: the local socket, or the remote engine over SSH. Kept apart from
 * the executors so that commands that only look at runs load little.
 */
import Dockerode from 'dockerode';
import { ensureDockerAvailable } from '../containering/dockerEngine.js';
import { ensureRemoteDocker, remoteDocker } from '../ssh/remoteDocker.js';
import { SshConnection } from '../ssh/sshConnection.js';
import type { DockerTargetConfig, LocalTargetConfig, RemoteTargetConfig } from './schema.js';

/** The local engine's socket path: the target's `dockerSocket`, else `DOCKER_HOST`'s, else the default. */
export function localSocketPath(
  target: LocalTargetConfig,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (target.dockerSocket !== undefined) return target.dockerSocket;
  const host = env.DOCKER_HOST;
  if (host?.startsWith('unix://')) return host.slice('unix://'.length);
  return '/var/run/docker.sock';
}

/** A dockerode client for a local target: its socket, else `DOCKER_HOST`, else the default socket. */
export function localDocker(
  target: LocalTargetConfig,
  env: NodeJS.ProcessEnv = process.env,
): Dockerode {
  const host = env.DOCKER_HOST;
  if (target.dockerSocket === undefined && host !== undefined && !host.startsWith('unix://')) {
    // tcp:// and the like: dockerode reads DOCKER_HOST (and the TLS variables) itself.
    return new Dockerode();
  }
  return new Dockerode({ socketPath: localSocketPath(target, env) });
}

/** The SSH connection options of a remote target. */
export function sshOptionsFor(
  target: RemoteTargetConfig,
  onWarning?: (message: string) => void,
): Parameters<typeof SshConnection.connect>[0] {
  return {
    host: target.host,
    port: target.port,
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

/** The Docker engine of a target, reached directly (local) or over SSH (remote). */
export interface TargetEngine {
  readonly target: DockerTargetConfig;
  readonly docker: Dockerode;
  /** The engine's socket on its own host (what a sweep's queue runner mounts). */
  readonly hostSocketPath: string;
  /** `user@host:port` for a remote target. */
  readonly host?: string;
  /** The SSH connection under a remote engine. */
  readonly connection?: SshConnection;
  close(): Promise<void>;
}

/** Connects to a target's engine and checks that it answers. */
export async function openEngine(
  target: DockerTargetConfig,
  options: {
    readonly env?: NodeJS.ProcessEnv;
    readonly onWarning?: (message: string) => void;
  } = {},
): Promise<TargetEngine> {
  if (target.type === 'local') {
    const docker = localDocker(target, options.env);
    await ensureDockerAvailable(docker);
    return {
      target,
      docker,
      hostSocketPath: localSocketPath(target, options.env),
      close: async () => undefined,
    };
  }
  const connection = await SshConnection.connect(sshOptionsFor(target, options.onWarning));
  try {
    const docker = remoteDocker(connection, { socketPath: target.dockerSocket });
    await ensureRemoteDocker(connection, docker, target.dockerSocket);
    return {
      target,
      docker,
      hostSocketPath: target.dockerSocket,
      host: connection.target,
      connection,
      close: () => connection.close(),
    };
  } catch (error) {
    await connection.close();
    throw error;
  }
}
