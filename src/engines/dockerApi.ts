/** Talking to a Docker engine's API: checking it answers, and reading the errors it gives. */
import type Dockerode from 'dockerode';
import { DockerApiVersionError, DockerUnavailableError } from './errors.js';

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

/**
 * Checks that the engine answers, and makes the client speak the API version negotiated with it
 * (`negotiateApiVersion`, once per client); a `DockerUnavailableError` saying where Ferry looked
 * when nothing answers, a `DockerApiVersionError` when the two share no version.
 */
export async function ensureDockerAvailable(
  docker: Dockerode,
  where: string = describeEngine(docker),
): Promise<EngineApiVersion> {
  try {
    return await negotiateApiVersion(docker, where);
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

/**
 * The Docker API versions Ferry speaks: 1.41 (Docker 20.10, the oldest it is tried with) to 1.52
 * (Docker 29). Docker 29 refuses clients below 1.44, so a client pinned to one version cannot
 * talk to both ends of the range: each engine is asked, and the highest version both speak is used.
 */
export const FERRY_API_VERSIONS = { min: '1.41', max: '1.52' } as const;

/** What an engine's `/version` says about its API, and the version chosen to speak to it. */
export interface EngineApiVersion {
  /** The engine's release, e.g. `20.10.24`. */
  readonly engineVersion: string;
  /** The highest API version the engine speaks. */
  readonly apiVersion: string;
  /** The lowest it accepts. */
  readonly minApiVersion: string;
  /** The one Ferry uses with it. */
  readonly chosen: string;
}

/** Compares `major.minor` API versions. */
export function compareApiVersions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split('.').map(Number);
  const [bMajor = 0, bMinor = 0] = b.split('.').map(Number);
  return aMajor - bMajor || aMinor - bMinor;
}

/**
 * The highest API version both the engine and Ferry speak (pure). A `DockerApiVersionError`
 * naming the engine and both ranges when there is none.
 */
export function chooseApiVersion(
  engine: { readonly apiVersion: string; readonly minApiVersion: string; readonly version: string },
  where: string,
  ferry: { readonly min: string; readonly max: string } = FERRY_API_VERSIONS,
): string {
  const chosen =
    compareApiVersions(engine.apiVersion, ferry.max) < 0 ? engine.apiVersion : ferry.max;
  if (compareApiVersions(chosen, ferry.min) < 0) {
    throw new DockerApiVersionError(
      `the Docker engine at ${where} (Docker ${engine.version}) speaks API ${engine.minApiVersion} to ${engine.apiVersion}; Ferry needs API ${ferry.min} (Docker 20.10) or newer: upgrade Docker there`,
    );
  }
  if (compareApiVersions(chosen, engine.minApiVersion) < 0) {
    throw new DockerApiVersionError(
      `the Docker engine at ${where} (Docker ${engine.version}) accepts API ${engine.minApiVersion} or newer; this Ferry speaks up to ${ferry.max}: upgrade Ferry`,
    );
  }
  return chosen;
}

const API_VERSION = /^\d{1,3}\.\d{1,3}$/;
const negotiated = new WeakMap<Dockerode, EngineApiVersion>();

/** What was negotiated with this client's engine, if it was. */
export function negotiatedApiVersion(docker: Dockerode): EngineApiVersion | undefined {
  return negotiated.get(docker);
}

/**
 * Asks the engine its API versions (`GET /version`, unversioned, which every engine answers) and
 * makes the client speak the highest one both sides know. Once per client: the answer is kept.
 * Errors reaching the engine are thrown as they come (callers know how to diagnose them).
 */
export async function negotiateApiVersion(
  docker: Dockerode,
  where: string = describeEngine(docker),
): Promise<EngineApiVersion> {
  const known = negotiated.get(docker);
  if (known !== undefined) return known;
  const modem = docker.modem as { version?: string };
  const pinned = modem.version;
  modem.version = undefined;
  let answer: Dockerode.DockerVersion;
  try {
    answer = await docker.version();
  } finally {
    modem.version = pinned;
  }
  const apiVersion = String(answer.ApiVersion ?? '');
  const minApiVersion = String(answer.MinAPIVersion ?? apiVersion);
  const version = String(answer.Version ?? 'of an unknown version');
  if (!API_VERSION.test(apiVersion) || !API_VERSION.test(minApiVersion)) {
    throw new DockerApiVersionError(
      `the Docker engine at ${where} answered /version without a readable API version (${JSON.stringify(apiVersion)}, ${JSON.stringify(minApiVersion)}); is it a Docker engine?`,
    );
  }
  const chosen = chooseApiVersion({ apiVersion, minApiVersion, version }, where);
  modem.version = `v${chosen}`;
  const result = { engineVersion: version, apiVersion, minApiVersion, chosen };
  negotiated.set(docker, result);
  return result;
}
