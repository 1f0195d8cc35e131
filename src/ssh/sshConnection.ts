import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import ssh2, {
  type ClientChannel,
  type ConnectConfig,
  type ParsedKey,
  type SFTPWrapper,
} from 'ssh2';
import {
  AuthenticationError,
  HostKeyMismatchError,
  HostUnreachableError,
  SshConnectionError,
  SshDisconnectedError,
  SshError,
  UnknownHostKeyError,
} from './errors.js';
import {
  algorithmsForKeyType,
  checkKnownHost,
  fingerprintOf,
  keyTypeOf,
  knownHostsLine,
  knownKeyTypes,
  normalizeFingerprint,
  parseKnownHosts,
  type KnownHostEntry,
} from './hostKeys.js';

const { Client, utils } = ssh2;

/** How to reach a host over SSH and how to trust it. */
export interface SshConnectionOptions {
  readonly host: string;
  /** Default: 22. */
  readonly port?: number;
  /** Default: the local user's name. */
  readonly username?: string;
  /** A private key (OpenSSH or PEM text). */
  readonly privateKey?: string | Buffer;
  /** A private key file. */
  readonly privateKeyPath?: string;
  /** For an encrypted private key. Never logged. */
  readonly passphrase?: string;
  /** Password authentication, when the server allows it. Never logged. */
  readonly password?: string;
  /**
   * The ssh-agent socket to authenticate with; `false` to not use an agent. Default: `SSH_AUTH_SOCK`.
   * When no key, password or agent is given, `~/.ssh/id_ed25519`, `id_ecdsa` and `id_rsa` are tried.
   */
  readonly agent?: string | false;
  /** known_hosts file to check the host key against. Default: `~/.ssh/known_hosts`. */
  readonly knownHostsPath?: string;
  /**
   * Pinned host key fingerprint(s), `SHA256:…` as `ssh-keygen -lf` prints them. When given, the
   * host key must match one of them and known_hosts is not read.
   */
  readonly hostKeyFingerprint?: string | readonly string[];
  /**
   * `'strict'` (default): an unknown host key is refused. `'skip'`: any host key is accepted, and a
   * warning says so on every connection. Use only on networks you trust.
   */
  readonly hostKeyCheck?: 'strict' | 'skip';
  /** How long to wait for the SSH handshake. Default: 20 s. */
  readonly readyTimeoutMs?: number;
  /**
   * SSH-level keep-alive interval (0: off, the default). ssh2's keep-alive timer holds the process
   * open until `close()`; without it, the TCP connection has OS keep-alive (after 15 s idle), and an
   * idle connection does not keep a script from exiting.
   */
  readonly keepaliveIntervalMs?: number;
  /** Where warnings go (skipped host key check). Default: `process.emitWarning`. */
  readonly onWarning?: (message: string) => void;
}

/** The host key the server presented, once the connection is up. */
export interface PresentedHostKey {
  readonly type: string;
  /** `SHA256:…` */
  readonly fingerprint: string;
  /** How it was trusted: `known_hosts <file>:<line>`, `hostKeyFingerprint`, or `not checked`. */
  readonly trustedBy: string;
}

interface Credential {
  readonly description: string;
  readonly method:
    | { readonly type: 'publickey'; readonly key: ParsedKey }
    | { readonly type: 'agent'; readonly agent: string }
    | { readonly type: 'password'; readonly password: string };
}

type HostKeyPolicy =
  | { readonly kind: 'pinned'; readonly fingerprints: readonly string[] }
  | {
      readonly kind: 'known-hosts';
      readonly path: string;
      readonly entries: readonly KnownHostEntry[];
    }
  | { readonly kind: 'skip' };

type HostKeyOutcome =
  | { readonly ok: true; readonly key: PresentedHostKey }
  | { readonly ok: false; readonly error: SshError };

/**
 * One authenticated SSH connection (ssh2). Channels opened through it (Unix socket forwards, SFTP)
 * keep the process alive while open; an idle connection does not, so a script that forgets
 * `close()` still exits.
 */
export class SshConnection {
  /** `user@host:port`, for messages. */
  readonly target: string;
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly hostKey: PresentedHostKey;
  private readonly client: InstanceType<typeof Client>;
  private active = 0;
  private closedReason: string | undefined;
  private readonly closeListeners = new Set<(reason: string) => void>();

  private constructor(
    client: InstanceType<typeof Client>,
    host: string,
    port: number,
    username: string,
    hostKey: PresentedHostKey,
  ) {
    this.client = client;
    this.host = host;
    this.port = port;
    this.username = username;
    this.target = `${username}@${host}:${port}`;
    this.hostKey = hostKey;
    (
      this.socket() as { setKeepAlive?: (on: boolean, delayMs: number) => void } | undefined
    )?.setKeepAlive?.(true, 15_000);
    client.on('close', () => this.markClosed('the SSH connection closed'));
    client.on('end', () => this.markClosed('the SSH connection ended'));
    client.on('error', (error: Error) =>
      this.markClosed(`the SSH connection failed: ${error.message}`),
    );
    this.refresh();
  }

  /** Connects, checks the host key and authenticates; typed errors for each way this fails. */
  static async connect(options: SshConnectionOptions): Promise<SshConnection> {
    const host = options.host;
    const port = options.port ?? 22;
    const username = options.username ?? os.userInfo().username;
    const target = `${username}@${host}:${port}`;
    const policy = await hostKeyPolicy(options, host, port);
    const credentials = await loadCredentials(options);
    if (policy.kind === 'skip') {
      (options.onWarning ?? defaultWarning)(
        `Ferry is NOT checking the SSH host key of ${host}:${port} (hostKeyCheck: 'skip'); anyone on the network path could impersonate it. Pin it with hostKeyFingerprint or known_hosts instead.`,
      );
    }

    const client = new Client();
    let outcome: HostKeyOutcome | undefined;
    const tried: string[] = [];
    const config: ConnectConfig = {
      host,
      port,
      username,
      readyTimeout: options.readyTimeoutMs ?? 20_000,
      keepaliveInterval: options.keepaliveIntervalMs ?? 0,
      keepaliveCountMax: 4,
      hostVerifier: (key: Buffer): boolean => {
        outcome = verifyHostKey(policy, host, port, key);
        return outcome.ok;
      },
      authHandler: (_methodsLeft, _partial, next) => {
        const credential = credentials[tried.length];
        if (credential === undefined) {
          next(false as never);
          return;
        }
        tried.push(credential.description);
        next({ ...credential.method, username } as never);
      },
    };
    const preferred =
      policy.kind === 'known-hosts' ? knownKeyTypes(policy.entries, host, port) : [];
    if (preferred.length > 0) {
      // Offer the algorithms of the key types known_hosts lists first, as OpenSSH does, so a host
      // with several keys presents the one that is pinned. (remove, then prepend: moves them first.)
      const first = preferred.flatMap(algorithmsForKeyType);
      if (first.length > 0) {
        config.algorithms = { serverHostKey: { remove: first, prepend: first } as never };
      }
    }

    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        client.off('error', onError);
        client.off('close', onClose);
        resolve();
      };
      const onError = (error: Error & { level?: string; code?: string }): void => {
        client.off('ready', onReady);
        client.off('close', onClose);
        client.end();
        reject(toConnectError(error, { host, port, target, outcome, tried }));
      };
      const onClose = (): void => {
        client.off('ready', onReady);
        client.off('error', onError);
        reject(
          outcome !== undefined && !outcome.ok
            ? outcome.error
            : new SshConnectionError(`${target} closed the connection during the SSH handshake`),
        );
      };
      client.once('ready', onReady);
      client.once('error', onError);
      client.once('close', onClose);
      client.connect(config);
    });
    if (outcome === undefined || !outcome.ok) {
      client.end();
      throw new SshConnectionError(`${target}: the connection came up without a host key check`);
    }
    return new SshConnection(client, host, port, username, outcome.key);
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

  private socket(): { bytesWritten?: number; bytesRead?: number } | undefined {
    return (this.client as unknown as { _sock?: { bytesWritten?: number; bytesRead?: number } })
      ._sock;
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

  /** An SFTP session (used to read files and look at paths without a shell). Close it with `end()`. */
  async sftp(): Promise<SFTPWrapper> {
    return this.track((callback) => this.client.sftp(callback), 'start SFTP');
  }

  /** Closes the connection and every channel on it. */
  async close(): Promise<void> {
    if (this.closed) return;
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
    this.markClosed('closed by Ferry');
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
      channel.once('close', release);
      return channel;
    } catch (error) {
      release();
      if (this.closedReason !== undefined) {
        throw new SshDisconnectedError(`cannot ${what} on ${this.target}: ${this.closedReason}`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  /** Keeps the process alive while channels are open, and lets it exit while the connection is idle. */
  private refresh(): void {
    const socket = (this.client as unknown as { _sock?: { ref?: () => void; unref?: () => void } })
      ._sock;
    if (this.active > 0) socket?.ref?.();
    else socket?.unref?.();
  }

  private markClosed(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    for (const listener of this.closeListeners) listener(reason);
    this.closeListeners.clear();
  }
}

function defaultWarning(message: string): void {
  process.emitWarning(message, { type: 'FerryWarning', code: 'FERRY_SSH_HOST_KEY_NOT_CHECKED' });
}

async function hostKeyPolicy(
  options: SshConnectionOptions,
  host: string,
  port: number,
): Promise<HostKeyPolicy> {
  if (options.hostKeyCheck === 'skip') return { kind: 'skip' };
  if (options.hostKeyCheck !== undefined && options.hostKeyCheck !== 'strict') {
    throw new SshError(
      `hostKeyCheck must be 'strict' or 'skip', not ${JSON.stringify(options.hostKeyCheck)}`,
    );
  }
  if (options.hostKeyFingerprint !== undefined) {
    const given =
      typeof options.hostKeyFingerprint === 'string'
        ? [options.hostKeyFingerprint]
        : options.hostKeyFingerprint;
    const fingerprints = given.map((f) => {
      const normalized = normalizeFingerprint(f);
      if (normalized === undefined) {
        throw new SshError(
          `hostKeyFingerprint ${JSON.stringify(f)} is not a SHA-256 fingerprint; expected SHA256:<43 base64 characters>, as ssh-keygen -lf prints it`,
        );
      }
      return normalized;
    });
    if (fingerprints.length === 0)
      throw new SshError(`hostKeyFingerprint for ${host}:${port} is an empty list`);
    return { kind: 'pinned', fingerprints };
  }
  const file = options.knownHostsPath ?? path.join(os.homedir(), '.ssh', 'known_hosts');
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SshError(`cannot read known_hosts file ${file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  return { kind: 'known-hosts', path: file, entries: parseKnownHosts(text) };
}

function verifyHostKey(
  policy: HostKeyPolicy,
  host: string,
  port: number,
  key: Buffer,
): HostKeyOutcome {
  const fingerprint = fingerprintOf(key);
  const type = keyTypeOf(key);
  if (policy.kind === 'skip')
    return { ok: true, key: { type, fingerprint, trustedBy: 'not checked' } };
  if (policy.kind === 'pinned') {
    if (policy.fingerprints.includes(fingerprint)) {
      return { ok: true, key: { type, fingerprint, trustedBy: 'hostKeyFingerprint' } };
    }
    return {
      ok: false,
      error: new HostKeyMismatchError(
        host,
        port,
        fingerprint,
        policy.fingerprints,
        'hostKeyFingerprint',
      ),
    };
  }
  const verdict = checkKnownHost(policy.entries, host, port, key);
  switch (verdict.kind) {
    case 'known':
      return {
        ok: true,
        key: { type, fingerprint, trustedBy: `known_hosts ${policy.path}:${verdict.entry.line}` },
      };
    case 'revoked':
      return {
        ok: false,
        error: new HostKeyMismatchError(
          host,
          port,
          fingerprint,
          [],
          `${policy.path}:${verdict.entry.line}`,
          true,
        ),
      };
    case 'changed':
      return {
        ok: false,
        error: new HostKeyMismatchError(
          host,
          port,
          fingerprint,
          verdict.entries.map((e) => fingerprintOf(e.key)),
          `${policy.path}:${verdict.entries.map((e) => e.line).join(',')}`,
        ),
      };
    case 'unknown':
      return {
        ok: false,
        error: new UnknownHostKeyError(
          host,
          port,
          fingerprint,
          knownHostsLine(host, port, key),
          policy.path,
          verdict.otherTypes,
        ),
      };
  }
}

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

async function loadCredentials(options: SshConnectionOptions): Promise<Credential[]> {
  const credentials: Credential[] = [];
  const explicitKey = options.privateKey !== undefined || options.privateKeyPath !== undefined;
  if (options.privateKey !== undefined) {
    credentials.push(keyCredential(options.privateKey, 'the given privateKey', options.passphrase));
  }
  if (options.privateKeyPath !== undefined) {
    const file = path.resolve(options.privateKeyPath);
    let text: Buffer;
    try {
      text = await readFile(file);
    } catch (error) {
      throw new SshError(`cannot read privateKeyPath ${file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    credentials.push(keyCredential(text, `key ${file}`, options.passphrase));
  }
  const agent = options.agent === undefined ? process.env.SSH_AUTH_SOCK : options.agent;
  if (typeof agent === 'string' && agent !== '') {
    credentials.push({ description: `ssh-agent (${agent})`, method: { type: 'agent', agent } });
  }
  if (options.password !== undefined) {
    credentials.push({
      description: 'a password',
      method: { type: 'password', password: options.password },
    });
  }
  if (!explicitKey && credentials.length === 0) {
    for (const name of DEFAULT_IDENTITIES) {
      const file = path.join(os.homedir(), '.ssh', name);
      if (!existsSync(file)) continue;
      const parsed = utils.parseKey(await readFile(file), options.passphrase);
      // An encrypted default key without a passphrase is skipped, as ssh would prompt for it.
      if (parsed instanceof Error) continue;
      const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
      credentials.push({
        description: describeKey(`key ${file}`, key),
        method: { type: 'publickey', key },
      });
    }
  }
  return credentials;
}

function keyCredential(
  text: string | Buffer,
  where: string,
  passphrase: string | undefined,
): Credential {
  const parsed = utils.parseKey(text, passphrase);
  if (parsed instanceof Error) {
    const encrypted = /encrypted|passphrase/i.test(parsed.message);
    throw new SshError(
      encrypted
        ? `${where} is encrypted: pass its passphrase (passphrase option), or use ssh-agent`
        : `${where} is not a private key Ferry can read: ${parsed.message}`,
      { cause: parsed },
    );
  }
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
  if (key.getPrivatePEM() === null && !key.isPrivateKey?.()) {
    throw new SshError(`${where} holds a public key; give the private key`);
  }
  return { description: describeKey(where, key), method: { type: 'publickey', key } };
}

function describeKey(where: string, key: ParsedKey): string {
  const blob = key.getPublicSSH();
  return `${where} (${key.type} ${fingerprintOf(Buffer.isBuffer(blob) ? blob : Buffer.from(blob))})`;
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ECONNRESET',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

function toConnectError(
  error: Error & { level?: string; code?: string },
  context: {
    host: string;
    port: number;
    target: string;
    outcome: HostKeyOutcome | undefined;
    tried: readonly string[];
  },
): SshError {
  if (context.outcome !== undefined && !context.outcome.ok) return context.outcome.error;
  const { host, port } = context;
  if (error.level === 'client-authentication') {
    return new AuthenticationError(context.target, context.tried, { cause: error });
  }
  if (error.level === 'client-dns') {
    return new HostUnreachableError(host, port, `cannot resolve ${host} (${error.message})`, {
      cause: error,
    });
  }
  if (error.level === 'client-timeout') {
    return new HostUnreachableError(
      host,
      port,
      `no SSH handshake within the timeout (${error.message})`,
      {
        cause: error,
      },
    );
  }
  if (
    error.level === 'client-socket' ||
    (error.code !== undefined && UNREACHABLE_CODES.has(error.code))
  ) {
    const reason = error.code === 'ECONNREFUSED' ? 'connection refused' : error.message;
    return new HostUnreachableError(host, port, reason, { cause: error });
  }
  return new SshConnectionError(`SSH connection to ${context.target} failed: ${error.message}`, {
    cause: error,
  });
}
