export {
  SshConnection,
  type SshConnectionOptions,
  type PresentedHostKey,
} from './sshConnection.js';
export {
  remoteDocker,
  ensureRemoteDocker,
  diagnoseRemoteDocker,
  SshUnixSocketAgent,
  DEFAULT_REMOTE_DOCKER_SOCKET,
  type RemoteDockerOptions,
} from './remoteDocker.js';
export {
  parseKnownHosts,
  checkKnownHost,
  fingerprintOf,
  knownHostsLine,
  hashKnownHostsName,
  type KnownHostEntry,
  type HostKeyVerdict,
} from './hostKeys.js';
export * from './errors.js';
