import type { Duplex } from 'node:stream';
import ssh2, { type ConnectConfig } from 'ssh2';
import { loadCredentials } from './credentials.js';
import {
  AuthenticationError,
  HostUnreachableError,
  SshConnectionError,
  SshError,
  SshHandshakeTimeoutError,
} from './errors.js';
import {
  loadHostKeyPolicy,
  preferredHostKeyAlgorithms,
  verifyHostKey,
  type HostKeyOutcome,
} from './hostKeyPolicy.js';
import type { PresentedHostKey } from './options.js';
import type { Hop } from './route.js';

/** One SSH handshake: TCP (or a stream through a jump host), host key check, authentication. */

const { Client } = ssh2;
export type Ssh2Client = InstanceType<typeof Client>;

export interface HandshakeSettings {
  readonly readyTimeoutMs: number;
  readonly noDelay: boolean;
  readonly onWarning: (message: string) => void;
}

export async function handshake(
  hop: Hop,
  settings: HandshakeSettings,
  /** A stream to the server through a jump host; undefined: a TCP connection of its own. */
  sock?: Duplex,
): Promise<{ client: Ssh2Client; hostKey: PresentedHostKey }> {
  const { host, port, username } = hop;
  const target = `${username}@${host}:${port}`;
  const keyName = hop.knownHostsName;
  const policy = await loadHostKeyPolicy(hop.hostKeys, keyName, port);
  const credentials = await loadCredentials(hop.credentials);
  if (policy.kind === 'skip') {
    settings.onWarning(
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
    ...(sock === undefined ? {} : { sock }),
    readyTimeout: settings.readyTimeoutMs,
    hostVerifier: (key: Buffer): boolean => {
      outcome = verifyHostKey(policy, keyName, port, key);
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
  const first = preferredHostKeyAlgorithms(policy, keyName, port);
  if (first.length > 0) {
    // remove, then prepend: moves them to the front of ssh2's list.
    config.algorithms = { serverHostKey: { remove: first, prepend: first } as never };
  }

  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const onReady = (): void => {
      settled = true;
      client.off('error', onError);
      client.off('close', onClose);
      resolve();
    };
    const onError = (error: Error & { level?: string; code?: string }): void => {
      // After a failure, ssh2 may report the same end again (e.g. "Connection lost before
      // handshake" once the timed-out socket closes): the first error is the one reported.
      if (settled) return;
      settled = true;
      client.end();
      reject(toConnectError(error, { host, port, target, outcome, tried, settings }));
    };
    const onClose = (): void => {
      if (settled) return;
      settled = true;
      reject(
        outcome !== undefined && !outcome.ok
          ? outcome.error
          : new SshConnectionError(`${target} closed the connection during the SSH handshake`),
      );
    };
    client.once('ready', onReady);
    client.on('error', onError);
    client.once('close', onClose);
    client.connect(config);
    // The socket exists once connect() was called. Small requests (a Docker API call is a few
    // hundred bytes) must not wait for the previous segment's ACK (Nagle + delayed ACK: ~40 ms).
    if (sock === undefined) client.setNoDelay(settings.noDelay);
  });
  if (outcome === undefined || !outcome.ok) {
    client.end();
    throw new SshConnectionError(`${target}: the connection came up without a host key check`);
  }
  return { client, hostKey: outcome.key };
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
    settings: HandshakeSettings;
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
    return new SshHandshakeTimeoutError(host, port, context.settings.readyTimeoutMs, {
      cause: error,
    });
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
