import type { Duplex } from 'node:stream';
import { InternalError } from '../errors.js';
import type { ClientChannel, SFTPWrapper } from 'ssh2';
import { HostUnreachableError, SshConnectionError, SshDisconnectedError } from './errors.js';
import { handshake, type HandshakeSettings, type Ssh2Client } from './handshake.js';
import type { PresentedHostKey, SshConnectionOptions } from './options.js';
import { resolveRoute, type Hop } from './route.js';

export type { PresentedHostKey, SshConnectionOptions } from './options.js';

const DEFAULT_READY_TIMEOUT_MS = 20_000;
const DEFAULT_KEEPALIVE_INTERVAL_MS = 10_000;
const DEFAULT_KEEPALIVE_COUNT_MAX = 3;

interface Liveness {
  readonly intervalMs: number;
  readonly countMax: number;
}

/**
 * One authenticated SSH connection (ssh2), possibly through jump hosts. Channels opened through it
 * (Unix socket forwards, SFTP) keep the process alive while open; an idle connection does not, so
 * a script that forgets `close()` still exits. When the connection dies — closed, reset, or no
 * answer to keep-alives while a channel is open — every open channel is destroyed with
 * `SshDisconnectedError`, so nothing that waits on one hangs.
 */
export class SshConnection {
  /** `user@host:port`, for messages. */
  readonly target: string;
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly hostKey: PresentedHostKey;
  /** The jump hosts gone through, `user@host:port`, first to last (empty: direct). */
  readonly via: readonly string[];
  private readonly client: Ssh2Client;
  private readonly jumps: readonly Ssh2Client[];
  private readonly liveness: Liveness;
  private readonly channels = new Set<Duplex | SFTPWrapper>();
  /** Open channels kept for reuse (HTTP keep-alive): they neither hold the process nor need keep-alives. */
  private readonly idleChannels = new Set<Duplex>();
  private active = 0;
  private closedReason: string | undefined;
  private readonly closeListeners = new Set<(reason: string) => void>();
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private unanswered = 0;
  private probeOutstanding = false;

  private constructor(
    client: Ssh2Client,
    hop: Hop,
    hostKey: PresentedHostKey,
    jumps: readonly { client: Ssh2Client; hop: Hop }[],
    liveness: Liveness,
  ) {
    this.client = client;
    this.host = hop.host;
    this.port = hop.port;
    this.username = hop.username;
    this.target = `${hop.username}@${hop.host}:${hop.port}`;
    this.hostKey = hostKey;
    this.via = jumps.map((j) => `${j.hop.username}@${j.hop.host}:${j.hop.port}`);
    this.jumps = jumps.map((j) => j.client);
    this.liveness = liveness;
    // OS keep-alive too, so a dead peer is noticed even while no channel is open.
    (
      this.socket() as { setKeepAlive?: (on: boolean, delayMs: number) => void } | undefined
    )?.setKeepAlive?.(true, 15_000);
    for (const [index, hopClient] of [client, ...this.jumps].entries()) {
      const name = index === 0 ? 'the host' : `the jump host ${this.via[index - 1]}`;
      hopClient.on('close', () => this.die(`${name} closed the SSH connection`));
      hopClient.on('end', () => this.die(`${name} ended the SSH connection`));
      hopClient.on('error', (error: Error) =>
        this.die(`the SSH connection to ${name} failed: ${error.message}`),
      );
    }
    this.refresh();
  }

  /**
   * Resolves the host through ssh_config (aliases, HostName, User, Port, IdentityFile, ProxyJump),
   * then connects through each jump host, checking each host key and authenticating; typed errors
   * for each way this fails.
   */
  static async connect(options: SshConnectionOptions): Promise<SshConnection> {
    const hops = await resolveRoute(options);
    const settings: HandshakeSettings = {
      readyTimeoutMs: options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
      noDelay: options.noDelay ?? true,
      onWarning: options.onWarning ?? defaultWarning,
    };
    const opened: { client: Ssh2Client; hop: Hop }[] = [];
    let jumpFailure: { readonly jump: Hop; readonly error: Error } | undefined;
    const listeners = new Map<Ssh2Client, (error: Error) => void>();
    try {
      let sock: Duplex | undefined;
      for (const [index, hop] of hops.entries()) {
        const previous = opened[index - 1];
        if (previous !== undefined) {
          sock = await forwardThrough(previous, hop, settings.readyTimeoutMs);
        }
        const { client, hostKey } = await handshake(hop, settings, sock);
        if (index === hops.length - 1) {
          for (const [jump, listener] of listeners) jump.off('error', listener);
          return new SshConnection(client, hop, hostKey, opened, {
            intervalMs: options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS,
            countMax: options.keepaliveCountMax ?? DEFAULT_KEEPALIVE_COUNT_MAX,
          });
        }
        // Until the connection object listens, a jump host's failure shows as the next hop's
        // handshake failing (its stream closes); ssh2 must not throw it as an unhandled 'error'.
        const onJumpError = (error: Error): void => {
          jumpFailure ??= { jump: hop, error };
        };
        listeners.set(client, onJumpError);
        client.on('error', onJumpError);
        opened.push({ client, hop });
      }
      throw new InternalError('resolveRoute returned no hop to connect to');
    } catch (error) {
      for (const { client } of opened.reverse()) client.end();
      if (jumpFailure === undefined) throw error;
      const { jump, error: cause } = jumpFailure;
      throw new SshConnectionError(
        `the connection to the jump host ${jump.username}@${jump.host}:${jump.port} failed (${cause.message}) while going through it: ${(error as Error).message}`,
        { cause },
      );
    }
  }

  /** Whether the connection is gone (closed by us, the server, or the network). */
  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Bytes this connection has written to the network so far (encrypted, SSH framing included). */
  get bytesSent(): number {
    return this.socket()?.bytesWritten ?? 0;
  }

  /** Bytes this connection has read from the network so far. */
  get bytesReceived(): number {
    return this.socket()?.bytesRead ?? 0;
  }

  /** The TCP socket (the first jump host's when going through jump hosts). */
  private socket():
    | { bytesWritten?: number; bytesRead?: number; ref?: () => void; unref?: () => void }
    | undefined {
    // ssh2 keeps its socket private; reading byte counts and ref/unref from it needs no API.
    const first = this.jumps[0] ?? this.client;
    return (first as unknown as { _sock?: ReturnType<SshConnection['socket']> })._sock;
  }

  /** Calls `listener` once when the connection goes away. Returns a function that removes it. */
  onClose(listener: (reason: string) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /**
   * Opens a stream to a Unix socket on the host (OpenSSH `direct-streamlocal@openssh.com`; the
   * server needs `AllowStreamLocalForwarding yes`, OpenSSH's default). No remote shell is involved.
   */
  async openUnixSocket(socketPath: string): Promise<ClientChannel> {
    return this.track(
      (callback) => this.client.openssh_forwardOutStreamLocal(socketPath, callback),
      `open ${socketPath}`,
    );
  }

  /**
   * Marks an open channel as idle (kept for the next request, as an HTTP keep-alive socket is) or
   * busy again. While idle it does not keep the process alive, as an idle connection does not.
   */
  setChannelIdle(channel: Duplex, idle: boolean): void {
    if (!this.channels.has(channel) || this.idleChannels.has(channel) === idle) return;
    if (idle) this.idleChannels.add(channel);
    else this.idleChannels.delete(channel);
    this.active += idle ? -1 : 1;
    this.refresh();
  }

  /** An SFTP session (used to read files and look at paths without a shell). Close it with `end()`. */
  async sftp(): Promise<SFTPWrapper> {
    return this.track((callback) => this.client.sftp(callback), 'start SFTP');
  }

  /** Closes the connection, every channel on it and the jump hosts' connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.markClosed('closed by Ferry');
    this.failChannels();
    // The socket may be unref'd (an idle connection must not keep a script alive), so the fallback
    // timer stays ref'd: it is what keeps the process running until the close is seen.
    await new Promise<void>((resolve) => {
      const fallback = setTimeout(resolve, 2_000);
      this.client.once('close', () => {
        clearTimeout(fallback);
        resolve();
      });
      this.client.end();
    });
    for (const jump of [...this.jumps].reverse()) jump.end();
  }

  private async track<T extends Duplex | SFTPWrapper>(
    open: (callback: (error: Error | undefined, channel: T) => void) => void,
    what: string,
  ): Promise<T> {
    if (this.closedReason !== undefined) {
      throw new SshDisconnectedError(`cannot ${what} on ${this.target}: ${this.closedReason}`);
    }
    this.active += 1;
    this.refresh();
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.active -= 1;
      this.refresh();
    };
    try {
      const channel = await new Promise<T>((resolve, reject) => {
        try {
          open((error, opened) => (error ? reject(error) : resolve(opened)));
        } catch (error) {
          reject(error);
        }
      });
      if (this.closedReason !== undefined) {
        destroyChannel(channel, this.disconnected(what));
        throw this.disconnected(what);
      }
      this.channels.add(channel);
      channel.once('close', () => {
        this.channels.delete(channel);
        // An idle channel was already left out of the count.
        if (this.idleChannels.delete(channel as Duplex)) this.active += 1;
        release();
      });
      return channel;
    } catch (error) {
      release();
      if (this.closedReason !== undefined && !(error instanceof SshDisconnectedError)) {
        throw this.disconnected(what, error);
      }
      throw error;
    }
  }

  private disconnected(what: string, cause?: unknown): SshDisconnectedError {
    return new SshDisconnectedError(
      `${what} on ${this.target} failed: ${this.closedReason ?? 'the connection is gone'}; check that the host is up and reachable, then run again`,
      cause === undefined ? undefined : { cause },
    );
  }

  /** Keeps the process alive and the keep-alive running while channels are open; neither while idle. */
  private refresh(): void {
    const socket = this.socket();
    if (this.active > 0 && !this.closed) {
      socket?.ref?.();
      this.startKeepalive();
    } else {
      socket?.unref?.();
      this.stopKeepalive();
    }
  }

  private startKeepalive(): void {
    if (this.keepaliveTimer !== undefined || this.liveness.intervalMs <= 0) return;
    this.unanswered = 0;
    this.probeOutstanding = false;
    this.keepaliveTimer = setInterval(() => this.probe(), this.liveness.intervalMs);
    // The socket's ref holds the process while channels are open; the timer need not.
    this.keepaliveTimer.unref();
  }

  private stopKeepalive(): void {
    if (this.keepaliveTimer === undefined) return;
    clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
  }

  /**
   * Asks the server for an answer. ssh2's own keepaliveInterval runs a ref'd timer for the whole
   * connection (an idle connection would keep every script alive), so Ferry sends its own probe:
   * a global request the server must answer — cancel-tcpip-forward for a forward that does not
   * exist, answered with a failure, the same round trip as OpenSSH's ServerAliveInterval.
   */
  private probe(): void {
    if (this.probeOutstanding) {
      this.unanswered += 1;
      if (this.unanswered >= this.liveness.countMax) {
        const seconds = (this.liveness.intervalMs * (this.unanswered + 1)) / 1000;
        this.die(`the host stopped answering (no reply to keep-alives for ${seconds} s)`);
      }
      return;
    }
    this.probeOutstanding = true;
    try {
      this.client.unforwardIn('127.0.0.1', 0, () => {
        this.probeOutstanding = false;
        this.unanswered = 0;
      });
    } catch (error) {
      this.die(`the SSH connection is not writable: ${(error as Error).message}`);
    }
  }

  /** The connection is gone: fail every open channel with a typed error, then tear it down. */
  private die(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.markClosed(reason);
    this.failChannels();
    this.client.destroy();
    for (const jump of this.jumps) jump.destroy();
  }

  /** Whoever still uses a channel learns why it ends (a pending `docker wait`, a log stream). */
  private failChannels(): void {
    for (const channel of [...this.channels]) {
      destroyChannel(channel, this.disconnected('a request'));
    }
    this.channels.clear();
  }

  private markClosed(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.stopKeepalive();
    for (const listener of this.closeListeners) listener(reason);
    this.closeListeners.clear();
  }
}

/**
 * Fails whoever reads or writes the channel. ssh2's `Channel.destroy()` ignores an error argument
 * and only sends a close the dead peer will never answer, so the error is emitted here (an http
 * request over the channel turns it into its own 'error'); with no listener there is nobody to tell.
 */
function destroyChannel(channel: Duplex | SFTPWrapper, error: SshDisconnectedError): void {
  if (channel.listenerCount('error') > 0) channel.emit('error', error);
  channel.destroy();
}

/** A stream to `hop` through the jump host before it (OpenSSH `direct-tcpip`, as `ssh -J` uses). */
async function forwardThrough(
  jump: { client: Ssh2Client; hop: Hop },
  hop: Hop,
  timeoutMs: number,
): Promise<ClientChannel> {
  const jumpName = `${jump.hop.username}@${jump.hop.host}:${jump.hop.port}`;
  return new Promise<ClientChannel>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new HostUnreachableError(
          hop.host,
          hop.port,
          `the jump host ${jumpName} did not open a connection to it within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    jump.client.forwardOut('127.0.0.1', 0, hop.host, hop.port, (error, channel) => {
      clearTimeout(timer);
      if (error) {
        reject(
          new HostUnreachableError(
            hop.host,
            hop.port,
            `the jump host ${jumpName} could not connect to it (${error.message}); its sshd must allow forwarding there (AllowTcpForwarding, PermitOpen)`,
            { cause: error },
          ),
        );
        return;
      }
      resolve(channel);
    });
  });
}

function defaultWarning(message: string): void {
  process.emitWarning(message, { type: 'FerryWarning', code: 'FERRY_SSH_HOST_KEY_NOT_CHECKED' });
}
