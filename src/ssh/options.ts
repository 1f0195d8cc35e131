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
  /** How long to wait for the TCP connection and the SSH handshake (per hop). Default: 20 s. */
  readonly readyTimeoutMs?: number;
  /**
   * How often to ask the server whether it is still there while a channel is open (0: never).
   * Default: 10 s. After `keepaliveCountMax` unanswered asks in a row, the connection is declared
   * dead and every open channel fails with `SshDisconnectedError`. No keep-alive runs while the
   * connection is idle, so an idle connection does not keep a script from exiting.
   */
  readonly keepaliveIntervalMs?: number;
  /** Unanswered keep-alives before the connection is declared dead. Default: 3. */
  readonly keepaliveCountMax?: number;
  /**
   * The OpenSSH client config file to read `Host` sections from (HostName, User, Port,
   * IdentityFile, IdentitiesOnly, ProxyJump, Include). Options given here take precedence over it.
   * Default: `~/.ssh/config` (a missing file is fine); `false`: do not read one.
   */
  readonly sshConfigPath?: string | false;
  /**
   * Jump hosts to go through, `[user@]host[:port]`, comma-separated, as OpenSSH's `ProxyJump`.
   * Overrides ssh_config's ProxyJump for this host; `'none'` goes direct.
   */
  readonly proxyJump?: string;
  /**
   * Turn off Nagle's algorithm on the SSH TCP socket. Default: true (small Docker API requests are
   * sent at once instead of waiting for the previous segment's acknowledgement).
   */
  readonly noDelay?: boolean;
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
