import { EnvironmentError } from '../errors.js';

/** Any failure to reach or use a host over SSH. */
export class SshError extends EnvironmentError {}

/** No SSH server answered at host:port (refused, unreachable, unresolvable, or no handshake in time). */
export class HostUnreachableError extends SshError {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `cannot reach the SSH server at ${host}:${port}: ${reason}; check the host name and port, that sshd runs there, and that no firewall is in the way`,
      options,
    );
  }
}

/** The TCP connection or the SSH handshake did not complete within readyTimeoutMs. */
export class SshHandshakeTimeoutError extends HostUnreachableError {
  constructor(
    host: string,
    port: number,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(
      host,
      port,
      `no SSH handshake within ${timeoutMs} ms (readyTimeoutMs); the server (or a jump host in between) accepted no connection or stopped answering`,
      options,
    );
  }
}

/** The ssh_config file (or a file it includes) cannot be read or holds a value Ferry cannot use. */
export class SshConfigError extends SshError {}

/** The server refused every key (or password) Ferry offered for this user. */
export class AuthenticationError extends SshError {
  constructor(
    readonly target: string,
    /** What was offered, e.g. `key /home/me/.ssh/id_ed25519 (ssh-ed25519 SHA256:…)`, `ssh-agent`. */
    readonly offered: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(
      `${target} refused authentication with ${offered.length === 0 ? 'no credentials (none were given, no ssh-agent, no ~/.ssh/id_* key)' : offered.join(', ')}; ` +
        `add the public key to that user's ~/.ssh/authorized_keys on the host, or pass the right user and privateKey/privateKeyPath`,
      options,
    );
  }
}

/** The host's key is not in known_hosts (and no fingerprint was pinned): Ferry will not trust it blindly. */
export class UnknownHostKeyError extends SshError {
  constructor(
    readonly host: string,
    readonly port: number,
    /** `SHA256:…` of the key the server offered. */
    readonly fingerprint: string,
    /** The known_hosts line that would pin the offered key. */
    readonly knownHostsLine: string,
    readonly knownHostsPath: string | undefined,
    otherTypes: readonly string[] = [],
  ) {
    const known =
      otherTypes.length > 0
        ? ` (known_hosts lists this host only with key types ${otherTypes.join(', ')})`
        : '';
    super(
      `the SSH host key of ${host}:${port} is not known${known}: it offered ${fingerprint}. ` +
        `Check that fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then either add this line to ${knownHostsPath ?? '~/.ssh/known_hosts'}:\n` +
        `  ${knownHostsLine}\n` +
        `or pin it with hostKeyFingerprint: '${fingerprint}'`,
    );
  }
}

/**
 * The host offered a key OTHER than the one known_hosts or the pinned fingerprint expects. Either the
 * host was reinstalled or re-keyed, or someone is intercepting the connection.
 */
export class HostKeyMismatchError extends SshError {
  constructor(
    readonly host: string,
    readonly port: number,
    /** `SHA256:…` of the key the server offered. */
    readonly offeredFingerprint: string,
    /** The fingerprints Ferry expected. */
    readonly expectedFingerprints: readonly string[],
    /** Where the expectation came from: `known_hosts file:line`, or `hostKeyFingerprint`. */
    readonly expectedFrom: string,
    readonly revoked = false,
  ) {
    super(
      revoked
        ? `@@@ REVOKED SSH HOST KEY @@@ ${host}:${port} offered ${offeredFingerprint}, which ${expectedFrom} marks @revoked. Ferry will not connect.`
        : `@@@ THE SSH HOST KEY OF ${host}:${port} HAS CHANGED @@@ It offered ${offeredFingerprint} but ${expectedFrom} expects ${expectedFingerprints.join(' or ')}. ` +
            `Someone could be intercepting the connection (man-in-the-middle), or the host was re-keyed. ` +
            `Ferry will not connect. If the change is legitimate, verify the new fingerprint on the host and replace the entry in ${expectedFrom}.`,
    );
  }
}

/** The SSH connection failed for a reason without a more specific error (protocol error, closed during handshake). */
export class SshConnectionError extends SshError {}

/** The connection to the host was lost while an operation used it. */
export class SshDisconnectedError extends SshError {}

/** The remote host has no Docker engine answering at the socket Ferry was told to use. */
export class RemoteDockerUnavailableError extends SshError {
  constructor(
    readonly target: string,
    readonly socketPath: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`no Docker engine answers on ${target} at ${socketPath}: ${reason}`, options);
  }
}

/** The SSH user may not use the remote Docker socket. */
export class RemoteDockerPermissionError extends SshError {
  constructor(
    readonly target: string,
    readonly socketPath: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${target} may not use the Docker socket ${socketPath} (${detail}); on the host, add the user to the socket's group (e.g. sudo usermod -aG docker <user>, then log in again), or connect as a user who may`,
      options,
    );
  }
}
