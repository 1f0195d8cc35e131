import http from 'node:http';
import type { Duplex } from 'node:stream';
import Dockerode from 'dockerode';
import type { SFTPWrapper, Stats } from 'ssh2';
import {
  RemoteDockerPermissionError,
  RemoteDockerUnavailableError,
  SshDisconnectedError,
} from './errors.js';
import type { SshConnection } from './sshConnection.js';

/** Idle channels kept per connection: enough for the calls Ferry makes at once (a comparison's inspects). */
const MAX_IDLE_CHANNELS = 8;

/** How long a kept channel waits for its next request before it is closed. */
const IDLE_CHANNEL_MS = 240_000;

/** Where Docker listens on a Linux host unless told otherwise. */
export const DEFAULT_REMOTE_DOCKER_SOCKET = '/var/run/docker.sock';

/**
 * An `http.Agent` whose connections are SSH channels to a Unix socket on the remote host (OpenSSH
 * direct-streamlocal). HTTP goes through it unchanged: no remote shell, no command line. Channels
 * are kept open between requests (HTTP keep-alive): opening one costs a round trip before the
 * request can go, which on a far link is as much as the request itself. A kept channel does not
 * keep the process alive; it closes with the connection.
 */
export class SshUnixSocketAgent extends http.Agent {
  /** SSH channels opened so far: each costs a round trip before its request can go (benchmarks count them). */
  channelsOpened = 0;
  /** Channels waiting for their next request. */
  private readonly idle = new WeakMap<Duplex, NodeJS.Timeout>();

  constructor(
    readonly connection: SshConnection,
    readonly socketPath: string,
  ) {
    super({ keepAlive: true, maxFreeSockets: MAX_IDLE_CHANNELS });
  }

  override keepSocketAlive(socket: Duplex): boolean {
    // Closed from this side before the engine's own idle timeout (dockerd 20.10 closes after
    // 300 s), so that a request never goes out on a channel the engine is closing at that moment.
    const timer = setTimeout(() => socket.destroy(), IDLE_CHANNEL_MS);
    timer.unref();
    this.idle.set(socket, timer);
    this.connection.setChannelIdle(socket, true);
    return true;
  }

  override reuseSocket(socket: Duplex, request: http.ClientRequest): void {
    clearTimeout(this.idle.get(socket));
    this.idle.delete(socket);
    this.connection.setChannelIdle(socket, false);
    super.reuseSocket(socket, request);
  }

  override createConnection(
    _options: unknown,
    callback?: (error: Error | null, socket: Duplex) => void,
  ): Duplex | undefined {
    this.channelsOpened += 1;
    this.connection.openUnixSocket(this.socketPath).then(
      (channel) => {
        // The engine closed its end of a kept connection (its idle timeout): a channel only half
        // open would take the next request and drop it, so it goes now, and the next request
        // opens another.
        channel.on('end', () => {
          if (this.idle.has(channel)) channel.destroy();
        });
        callback?.(null, asSocket(channel));
      },
      (error: unknown) =>
        callback?.(error instanceof Error ? error : new Error(String(error)), undefined as never),
    );
    return undefined;
  }
}

/** What `http` calls on a socket, which an SSH channel does not have. */
function asSocket(channel: Duplex): Duplex {
  const socket = channel as Duplex & Record<string, unknown>;
  const noop = (): Duplex => channel;
  socket.setKeepAlive = noop;
  socket.setNoDelay = noop;
  socket.setTimeout = noop;
  socket.ref = noop;
  socket.unref = noop;
  socket.destroySoon = () => channel.destroy();
  return channel;
}

export interface RemoteDockerOptions {
  /** The Docker socket on the remote host. Default: `/var/run/docker.sock`. */
  readonly socketPath?: string;
  /** Docker API version to speak, e.g. `v1.41`. Default: the engine's own. */
  readonly apiVersion?: string;
}

/** A dockerode client for the Docker engine on the other end of an SSH connection. */
export function remoteDocker(
  connection: SshConnection,
  options: RemoteDockerOptions = {},
): Dockerode {
  const socketPath = options.socketPath ?? DEFAULT_REMOTE_DOCKER_SOCKET;
  return new Dockerode({
    // A host (not a socketPath) so that docker-modem makes plain HTTP requests through our agent.
    host: 'remote-docker',
    port: 80,
    protocol: 'http',
    agent: new SshUnixSocketAgent(connection, socketPath),
    ...(options.apiVersion === undefined ? {} : { version: options.apiVersion }),
  } as Dockerode.DockerOptions);
}

/**
 * Pings the remote engine. When it does not answer, finds out why (without a shell: SFTP looks at
 * the socket, `/etc/passwd` and `/etc/group`) and throws `RemoteDockerUnavailableError` or
 * `RemoteDockerPermissionError`.
 */
export async function ensureRemoteDocker(
  connection: SshConnection,
  docker: Dockerode,
  socketPath: string = DEFAULT_REMOTE_DOCKER_SOCKET,
): Promise<void> {
  try {
    await docker.ping();
  } catch (error) {
    throw await diagnoseRemoteDocker(connection, socketPath, error);
  }
}

/** Turns a failure to talk to the remote engine into the error that says why. */
export async function diagnoseRemoteDocker(
  connection: SshConnection,
  socketPath: string,
  error: unknown,
): Promise<Error> {
  if (error instanceof SshDisconnectedError) return error;
  const reason = (error as { reason?: unknown } | null)?.reason;
  const message = error instanceof Error ? error.message : String(error);
  if (reason === 1) {
    return new RemoteDockerUnavailableError(
      connection.target,
      socketPath,
      `the SSH server refuses to forward to Unix sockets (${message}); set "AllowStreamLocalForwarding yes" in its sshd_config`,
      { cause: error },
    );
  }
  if (reason !== 2 && !/Channel open failure/.test(message)) {
    return new RemoteDockerUnavailableError(connection.target, socketPath, message, {
      cause: error,
    });
  }
  let facts: SocketFacts;
  try {
    facts = await socketFacts(connection, socketPath);
  } catch (diagnosis) {
    return new RemoteDockerUnavailableError(
      connection.target,
      socketPath,
      `cannot connect to it (${message}), and looking at it over SFTP failed too (${(diagnosis as Error).message})`,
      { cause: error },
    );
  }
  if (facts.kind === 'missing') {
    return new RemoteDockerUnavailableError(
      connection.target,
      socketPath,
      `there is no such socket; ${missingSocketAdvice(connection.username, socketPath, facts.elsewhere)}`,
      { cause: error },
    );
  }
  if (facts.kind === 'not-socket') {
    return new RemoteDockerUnavailableError(
      connection.target,
      socketPath,
      `${socketPath} is not a socket; set the target's dockerSocket (dockerSocketPath in code) to the Docker engine's socket`,
      { cause: error },
    );
  }
  if (facts.kind === 'socket' && facts.allowed === false) {
    return new RemoteDockerPermissionError(connection.target, socketPath, facts.detail, {
      cause: error,
    });
  }
  // The SSH server answers "open failed" both when nothing listens on the socket and when its
  // configuration forbids forwarding to Unix sockets; the user may use the socket, so it is one of those.
  return new RemoteDockerUnavailableError(
    connection.target,
    socketPath,
    `the socket exists (${facts.detail}) but the SSH server could not connect to it: either dockerd is not running (sudo systemctl start docker), or sshd forbids forwarding to Unix sockets (set "AllowStreamLocalForwarding yes" in its sshd_config)`,
    { cause: error },
  );
}

/** What to do when the socket is not there, given the Docker sockets that are (`elsewhere`). */
export function missingSocketAdvice(
  username: string,
  socketPath: string,
  elsewhere: readonly string[],
): string {
  const advice: string[] = [];
  if (isRootlessPath(socketPath)) {
    advice.push(
      `${username}'s rootless Docker engine is not running: on the host, as ${username}, start it (systemctl --user start docker; set it up once with dockerd-rootless-setuptool.sh install)`,
    );
  }
  const found = elsewhere.find((candidate) => candidate !== socketPath);
  if (found !== undefined) {
    advice.push(
      `a Docker socket exists at ${found}${isRootlessPath(found) ? ` (${username}'s rootless Docker)` : ''}: set the target's dockerSocket (dockerSocketPath in code) to it`,
    );
  }
  if (advice.length === 0) {
    advice.push(
      `install Docker on the host and start it (sudo systemctl start docker), or set the target's dockerSocket (dockerSocketPath in code) to where its socket is (a rootless engine's is $XDG_RUNTIME_DIR/docker.sock, usually /run/user/<uid>/docker.sock)`,
    );
  }
  return advice.join('; or ');
}

function isRootlessPath(socketPath: string): boolean {
  return /^\/run\/user\/\d+\//.test(socketPath);
}

type SocketFacts =
  | { readonly kind: 'missing'; readonly elsewhere: readonly string[] }
  | { readonly kind: 'not-socket' }
  | { readonly kind: 'socket'; readonly allowed: boolean | undefined; readonly detail: string };

async function socketFacts(connection: SshConnection, socketPath: string): Promise<SocketFacts> {
  const sftp = await connection.sftp();
  try {
    let stats: Stats;
    try {
      stats = await new Promise<Stats>((resolve, reject) =>
        sftp.stat(socketPath, (error, result) => (error ? reject(error) : resolve(result))),
      );
    } catch (error) {
      // SFTP status 2: no such file; 3: permission denied (on a folder above it).
      const code = (error as { code?: unknown }).code;
      if (code === 2) return { kind: 'missing', elsewhere: await otherSockets(connection, sftp) };
      if (code === 3) {
        return {
          kind: 'socket',
          allowed: false,
          detail: 'a folder above the socket is not readable by the user',
        };
      }
      throw error;
    }
    if (!stats.isSocket()) return { kind: 'not-socket' };
    const mode = stats.mode & 0o777;
    const passwd = parseColonFile(await readText(sftp, '/etc/passwd'));
    const groups = parseColonFile(await readText(sftp, '/etc/group'));
    const user = passwd.find((fields) => fields[0] === connection.username);
    const ownerName =
      passwd.find((fields) => Number(fields[2]) === stats.uid)?.[0] ?? String(stats.uid);
    const groupName =
      groups.find((fields) => Number(fields[2]) === stats.gid)?.[0] ?? String(stats.gid);
    const detail = `${socketPath} is ${ownerName}:${groupName} mode ${mode.toString(8).padStart(3, '0')}`;
    if (user === undefined) return { kind: 'socket', allowed: undefined, detail };
    const uid = Number(user[2]);
    const gid = Number(user[3]);
    const memberOf = new Set(
      groups
        .filter(
          (g) => Number(g[2]) === gid || (g[3] ?? '').split(',').includes(connection.username),
        )
        .map((g) => Number(g[2])),
    );
    const allowed =
      uid === 0 ||
      (uid === stats.uid && (mode & 0o600) === 0o600) ||
      (memberOf.has(stats.gid) && (mode & 0o060) === 0o060) ||
      (mode & 0o006) === 0o006;
    if (uid === 0) return { kind: 'socket', allowed, detail };
    const membership = memberOf.has(stats.gid)
      ? `${connection.username} is in group ${groupName}`
      : `${connection.username} is not in group ${groupName}`;
    return { kind: 'socket', allowed, detail: `${detail}; ${membership}` };
  } finally {
    sftp.end();
  }
}

/** Docker sockets that exist where one usually is: the system one and the user's rootless one. */
async function otherSockets(connection: SshConnection, sftp: SFTPWrapper): Promise<string[]> {
  const passwd = parseColonFile(await readText(sftp, '/etc/passwd'));
  const uid = passwd.find((fields) => fields[0] === connection.username)?.[2];
  const candidates = [
    ...(uid === undefined || uid === '0' ? [] : [`/run/user/${uid}/docker.sock`]),
    DEFAULT_REMOTE_DOCKER_SOCKET,
  ];
  const found: string[] = [];
  for (const candidate of candidates) {
    const stats = await new Promise<Stats | undefined>((resolve, reject) =>
      sftp.stat(candidate, (error, result) => {
        const code = (error as { code?: unknown } | undefined)?.code;
        // 2: no such file, 3: a folder above is not readable; either way not one to suggest.
        if (error && (code === 2 || code === 3)) resolve(undefined);
        else if (error) reject(error);
        else resolve(result);
      }),
    );
    if (stats?.isSocket() === true) found.push(candidate);
  }
  return found;
}

async function readText(sftp: SFTPWrapper, file: string): Promise<string> {
  return new Promise<string>((resolve, reject) =>
    sftp.readFile(file, 'utf8', (error, data) =>
      error ? reject(error) : resolve(typeof data === 'string' ? data : data.toString('utf8')),
    ),
  );
}

function parseColonFile(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split(':'));
}
