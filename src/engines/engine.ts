/**
 * How a Docker engine is reached: the local socket, `DOCKER_HOST`, or a socket on a host at the
 * other end of an SSH connection. Everything else in Ferry gets its engine from here.
 */
import Dockerode from 'dockerode';
import {
  DEFAULT_REMOTE_DOCKER_SOCKET,
  SshConnection,
  diagnoseRemoteDocker,
  remoteDocker,
  type SshConnectionOptions,
} from '../ssh/index.js';
import {
  describeEngine,
  ensureDockerAvailable,
  negotiateApiVersion,
  type EngineApiVersion,
} from './dockerApi.js';
import { DockerApiVersionError } from './errors.js';

/** Where Docker listens on a Linux host unless told otherwise (locally and on remote hosts). */
export const DEFAULT_DOCKER_SOCKET: string = DEFAULT_REMOTE_DOCKER_SOCKET;

/** A Docker engine Ferry talks to, however it is reached. */
export interface DockerEngine {
  readonly docker: Dockerode;
  /** Where it is, for messages: `unix:///var/run/docker.sock`, or `user@host:port` over SSH. */
  readonly location: string;
  /** The engine's socket on its own host (what a sweep's queue runner mounts). */
  readonly hostSocketPath: string;
  /** The SSH connection under an engine reached over SSH. */
  readonly connection?: SshConnection;
  /** The API version negotiated with it (engines opened with `open…Engine`). */
  readonly api?: EngineApiVersion;
  /** Closes what was opened to reach the engine (an SSH connection); the engine itself goes on. */
  close(): Promise<void>;
}

export interface LocalEngineOptions {
  /** The engine's socket. Default: `DOCKER_HOST`'s (`unix://…`), else `/var/run/docker.sock`. */
  readonly socketPath?: string;
  /** Where `DOCKER_HOST` is read. Default: `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

/** The local engine's socket path: the one given, else `DOCKER_HOST`'s, else the default. */
export function localSocketPath(options: LocalEngineOptions = {}): string {
  if (options.socketPath !== undefined) return options.socketPath;
  const host = (options.env ?? process.env).DOCKER_HOST;
  if (host?.startsWith('unix://')) return host.slice('unix://'.length);
  return DEFAULT_DOCKER_SOCKET;
}

/** A dockerode client for the local engine (not checked: see `openLocalEngine`). */
export function localDockerClient(options: LocalEngineOptions = {}): Dockerode {
  const host = (options.env ?? process.env).DOCKER_HOST;
  if (options.socketPath === undefined && host !== undefined && !host.startsWith('unix://')) {
    // tcp:// and the like: dockerode reads DOCKER_HOST (and the TLS variables) itself.
    return new Dockerode();
  }
  return new Dockerode({ socketPath: localSocketPath(options) });
}

/** The local engine as a `DockerEngine`, without asking it anything yet. */
export function localEngine(options: LocalEngineOptions = {}, docker?: Dockerode): DockerEngine {
  const client = docker ?? localDockerClient(options);
  return {
    docker: client,
    location: describeEngine(client),
    hostSocketPath: localSocketPath(options),
    close: async () => undefined,
  };
}

/**
 * The local engine, checked to answer (`DockerUnavailableError` saying where Ferry looked), its
 * client speaking the highest API version both sides know (`DockerApiVersionError` when none).
 */
export async function openLocalEngine(options: LocalEngineOptions = {}): Promise<DockerEngine> {
  const engine = localEngine(options);
  return { ...engine, api: await ensureDockerAvailable(engine.docker, engine.location) };
}

export interface SshEngineOptions {
  /** How to reach the host, or a connection already open (which `close()` then leaves open). */
  readonly ssh: SshConnectionOptions | SshConnection;
  /** The Docker socket on the remote host. Default: `/var/run/docker.sock`. */
  readonly socketPath?: string;
  /** Told before connecting. */
  readonly onConnecting?: (target: string) => void;
}

/**
 * The engine on a remote host, spoken to over SSH (no remote shell), checked to answer: when it
 * does not, the error says why (no socket, no permission, forwarding refused).
 */
export async function openSshEngine(options: SshEngineOptions): Promise<DockerEngine> {
  const socketPath = options.socketPath ?? DEFAULT_DOCKER_SOCKET;
  const given = options.ssh instanceof SshConnection ? options.ssh : undefined;
  const connection = given ?? (await connect(options.ssh as SshConnectionOptions, options));
  try {
    const docker = remoteDocker(connection, { socketPath });
    let api: EngineApiVersion;
    try {
      // Asking the version is also the check that the engine answers: no round trip more than a ping.
      api = await negotiateApiVersion(docker, connection.target);
    } catch (error) {
      if (error instanceof DockerApiVersionError) throw error;
      throw await diagnoseRemoteDocker(connection, socketPath, error);
    }
    return {
      docker,
      api,
      location: connection.target,
      hostSocketPath: socketPath,
      connection,
      close: given === undefined ? () => connection.close() : async () => undefined,
    };
  } catch (error) {
    if (given === undefined) await connection.close();
    throw error;
  }
}

function connect(ssh: SshConnectionOptions, options: SshEngineOptions): Promise<SshConnection> {
  options.onConnecting?.(
    `${ssh.username ?? ''}${ssh.username ? '@' : ''}${ssh.host}:${ssh.port ?? 22}`,
  );
  return SshConnection.connect(ssh);
}
