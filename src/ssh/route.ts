import os from 'node:os';
import path from 'node:path';
import type { CredentialSources } from './credentials.js';
import { SshConfigError } from './errors.js';
import type { HostKeySettings } from './hostKeyPolicy.js';
import type { SshConnectionOptions } from './options.js';
import {
  expandTokens,
  loadSshConfig,
  lookupSshConfig,
  parseProxyJump,
  type SshConfigEntry,
} from './sshConfig.js';

/**
 * From the options and the user's ssh_config to the hops to connect through: zero or more jump
 * hosts, then the host itself. Explicit options win over ssh_config; ssh_config over defaults.
 */

/** One SSH server to authenticate to, with everything the handshake needs. */
export interface Hop {
  /** The name the user gave (an ssh_config alias, or the host itself). */
  readonly alias: string;
  /** The address connected to, and the name known_hosts is searched for. */
  readonly host: string;
  readonly port: number;
  readonly username: string;
  /** The name its key is looked up by in known_hosts: ssh_config's HostKeyAlias, else `host`. */
  readonly knownHostsName: string;
  readonly credentials: CredentialSources;
  readonly hostKeys: HostKeySettings;
}

/** OpenSSH's limit on chained jump hosts is far higher; more than this is a config mistake. */
const MAX_JUMPS = 8;

export async function resolveRoute(
  options: SshConnectionOptions,
  local: { readonly user: string; readonly home: string } = {
    user: os.userInfo().username,
    home: os.homedir(),
  },
): Promise<Hop[]> {
  const file =
    options.sshConfigPath === false
      ? undefined
      : (options.sshConfigPath ?? path.join(local.home, '.ssh', 'config'));
  const config =
    file === undefined ? undefined : await loadSshConfig(file, options.sshConfigPath === undefined);
  const lookup = (alias: string): SshConfigEntry =>
    config === undefined || file === undefined
      ? { identityFiles: [] }
      : lookupSshConfig(config, alias, file);

  const entry = lookup(options.host);
  const final = hopFrom(options.host, entry, file, local, {
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.username === undefined ? {} : { user: options.username }),
    credentials: {
      ...pick(options, ['privateKey', 'privateKeyPath', 'passphrase', 'password', 'agent']),
    },
    hostKeys: pick(options, ['knownHostsPath', 'hostKeyFingerprint', 'hostKeyCheck']),
  });

  const jumpText = options.proxyJump ?? entry.proxyJump;
  const where = options.proxyJump !== undefined ? 'proxyJump' : `${file} (Host ${options.host})`;
  const jumps = jumpText === undefined ? [] : parseProxyJump(jumpText, where);
  if (jumps.length > MAX_JUMPS) {
    throw new SshConfigError(`${where}: ${jumps.length} jump hosts; at most ${MAX_JUMPS}`);
  }
  // Jump hosts use the same keys and agent as the host, plus their own ssh_config IdentityFiles,
  // and are always checked against known_hosts: a pinned fingerprint or 'skip' is the final host's.
  const inherited = pick(options, ['privateKey', 'privateKeyPath', 'passphrase', 'agent']);
  const hops = jumps.map((jump) =>
    hopFrom(jump.alias, lookup(jump.alias), file, local, {
      ...(jump.port === undefined ? {} : { port: jump.port }),
      ...(jump.user === undefined ? {} : { user: jump.user }),
      credentials: inherited,
      hostKeys: pick(options, ['knownHostsPath']),
    }),
  );
  return [...hops, final];
}

function hopFrom(
  alias: string,
  entry: SshConfigEntry,
  file: string | undefined,
  local: { readonly user: string; readonly home: string },
  given: {
    readonly port?: number;
    readonly user?: string;
    readonly credentials: CredentialSources;
    readonly hostKeys: HostKeySettings;
  },
): Hop {
  const port = given.port ?? entry.port ?? 22;
  const username = given.user ?? entry.user ?? local.user;
  const tokens = {
    alias,
    host: alias,
    port,
    remoteUser: username,
    localUser: local.user,
    home: local.home,
  };
  const where = `${file ?? 'ssh_config'} (Host ${alias})`;
  // HostName may itself hold %h (e.g. `HostName %h.example.org`).
  const host =
    entry.hostName === undefined
      ? alias
      : expandTokens(entry.hostName, tokens, `${where} HostName`);
  const identityFiles = entry.identityFiles.map((f) =>
    expandTokens(f, { ...tokens, host }, `${where} IdentityFile`),
  );
  // known_hosts given to Ferry wins over ssh_config's UserKnownHostsFile.
  const knownHostsPath =
    given.hostKeys.knownHostsPath ??
    (entry.userKnownHostsFile === undefined
      ? undefined
      : expandTokens(entry.userKnownHostsFile, { ...tokens, host }, `${where} UserKnownHostsFile`));
  return {
    alias,
    host,
    port,
    username,
    knownHostsName: entry.hostKeyAlias ?? host,
    credentials: {
      ...given.credentials,
      identityFiles,
      ...(entry.identitiesOnly === undefined ? {} : { identitiesOnly: entry.identitiesOnly }),
    },
    hostKeys: {
      ...given.hostKeys,
      ...(knownHostsPath === undefined ? {} : { knownHostsPath }),
    },
  };
}

/** The fields of `source` named in `keys` that are set (so `exactOptionalPropertyTypes` holds). */
function pick<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Pick<T, K> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) picked[key] = source[key];
  return picked as Pick<T, K>;
}
