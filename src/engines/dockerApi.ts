/** Talking to a Docker engine's API: checking it answers, and reading the errors it gives. */
import type Dockerode from 'dockerode';
import { DockerUnavailableError } from './errors.js';

/** Where a dockerode client talks to, for messages. */
export function describeEngine(docker: Dockerode): string {
  const modem = docker.modem as {
    socketPath?: unknown;
    host?: unknown;
    port?: unknown;
    protocol?: unknown;
  };
  if (typeof modem.socketPath === 'string') return `unix://${modem.socketPath}`;
  if (typeof modem.host === 'string') {
    return `${typeof modem.protocol === 'string' ? modem.protocol : 'http'}://${modem.host}${modem.port === undefined ? '' : `:${String(modem.port)}`}`;
  }
  return 'the Docker engine';
}

/** Pings the engine; a `DockerUnavailableError` saying where Ferry looked when nothing answers. */
export async function ensureDockerAvailable(docker: Dockerode): Promise<void> {
  try {
    await docker.ping();
  } catch (error) {
    throw toDockerUnavailable(docker, error);
  }
}

/** True for the errors a client gets when no engine listens where it connects. */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    [
      'ECONNREFUSED',
      'ENOENT',
      'EACCES',
      'ECONNRESET',
      'EPIPE',
      'EHOSTUNREACH',
      'ETIMEDOUT',
    ].includes(code)
  );
}

/** Wraps a connection failure as `DockerUnavailableError`; returns any other error unchanged. */
export function toDockerUnavailable(docker: Dockerode, error: unknown): unknown {
  if (
    !isConnectionError(error) &&
    !(error instanceof Error && /socket hang up/.test(error.message))
  ) {
    return error;
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new DockerUnavailableError(
    `no Docker engine answers at ${describeEngine(docker)} (${reason}); start the Docker engine (sudo systemctl start docker, or Docker Desktop), or point DOCKER_HOST (or the target's dockerSocket) at a running one`,
    { cause: error },
  );
}

/** The message of an error dockerode got from the engine's API (its JSON `message`), else the error's message. */
export function engineMessage(error: unknown): string {
  const json = (error as { json?: unknown } | null)?.json;
  if (
    json !== null &&
    typeof json === 'object' &&
    typeof (json as { message?: unknown }).message === 'string'
  ) {
    return (json as { message: string }).message;
  }
  if (typeof json === 'string' && json.trim() !== '') return json.trim();
  return error instanceof Error ? error.message : String(error);
}

/** The HTTP status an engine API error carries, if any. */
export function engineStatus(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}
