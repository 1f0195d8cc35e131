/**
 * The SSH connection and Docker over it, against the test bed's "remote host": host key checks
 * (known_hosts, hashed known_hosts, pinned fingerprint, skip), each failure's own error, and the
 * remote engine reached through its socket without a shell.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  AuthenticationError,
  HostKeyMismatchError,
  HostUnreachableError,
  RemoteDockerPermissionError,
  RemoteDockerUnavailableError,
  SshConnection,
  SshDisconnectedError,
  SshUnixSocketAgent,
  UnknownHostKeyError,
  ensureRemoteDocker,
  remoteDocker,
  type SshConnectionOptions,
} from '../../src/ssh/index.js';
import { remoteSshOptions, requireTestbed } from '../support/testbed.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { disposeOwnSshd, startOwnSshd, type OwnSshd } from './ownSshd.js';

const testbed = requireTestbed('remote');

describeWithTestbed(testbed, 'SshConnection against the test bed', (tb) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-ssh-test-'));
  const base = (): SshConnectionOptions => remoteSshOptions(tb);
  // A function, not a value: the describe body runs (to collect) even when the suite is skipped.
  const hostLine = (): string =>
    `[${tb.remote.host}]:${tb.remote.port} ${tb.remote.hostPublicKey ?? readFileSync(tb.remote.knownHostsPath, 'utf8').trim().split(/\s+/).slice(1).join(' ')}`;
  const otherKeyFile = path.join(dir, 'other_ed25519');
  let otherPublicKey: string;

  beforeAll(() => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKeyFile]);
    otherPublicKey = readFileSync(`${otherKeyFile}.pub`, 'utf8')
      .trim()
      .split(/\s+/)
      .slice(0, 2)
      .join(' ');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('connects when known_hosts lists the key, and says how it trusted it', async () => {
    const connection = await SshConnection.connect(base());
    try {
      expect(connection.target).toBe(`root@${tb.remote.host}:${tb.remote.port}`);
      expect(connection.hostKey.fingerprint).toBe(tb.remote.hostKeyFingerprint);
      expect(connection.hostKey.trustedBy).toBe(`known_hosts ${tb.remote.knownHostsPath}:1`);
    } finally {
      await connection.close();
    }
    expect(connection.closed).toBe(true);
  });

  it('connects with a hashed known_hosts entry (ssh-keygen -H)', async () => {
    const file = path.join(dir, 'hashed_known_hosts');
    writeFileSync(file, `${hostLine()}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    expect(readFileSync(file, 'utf8')).toMatch(/^\|1\|/);
    const connection = await SshConnection.connect({ ...base(), knownHostsPath: file });
    expect(connection.hostKey.trustedBy).toBe(`known_hosts ${file}:1`);
    await connection.close();
  });

  it('connects with a pinned fingerprint and no known_hosts at all', async () => {
    const connection = await SshConnection.connect({
      ...base(),
      knownHostsPath: path.join(dir, 'does-not-exist'),
      hostKeyFingerprint: tb.remote.hostKeyFingerprint,
    });
    expect(connection.hostKey.trustedBy).toBe('hostKeyFingerprint');
    await connection.close();
  });

  it('refuses an unknown host key, showing its fingerprint and the line that pins it', async () => {
    const empty = path.join(dir, 'empty_known_hosts');
    writeFileSync(empty, '');
    const error = await SshConnection.connect({ ...base(), knownHostsPath: empty }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UnknownHostKeyError);
    const unknown = error as UnknownHostKeyError;
    expect(unknown.fingerprint).toBe(tb.remote.hostKeyFingerprint);
    expect(unknown.message).toContain(tb.remote.hostKeyFingerprint);
    expect(unknown.message).toContain(empty);
    expect(unknown.knownHostsLine).toBe(hostLine());
  });

  it('refuses a CHANGED host key loudly, with a distinct error (known_hosts)', async () => {
    const file = path.join(dir, 'wrong_known_hosts');
    writeFileSync(file, `# stale entry\n[${tb.remote.host}]:${tb.remote.port} ${otherPublicKey}\n`);
    const error = await SshConnection.connect({ ...base(), knownHostsPath: file }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HostKeyMismatchError);
    expect(error).not.toBeInstanceOf(UnknownHostKeyError);
    const mismatch = error as HostKeyMismatchError;
    expect(mismatch.message).toMatch(/HAS CHANGED/);
    expect(mismatch.offeredFingerprint).toBe(tb.remote.hostKeyFingerprint);
    expect(mismatch.expectedFrom).toBe(`${file}:2`);
    expect(mismatch.message).toContain(`${file}:2`);
  });

  it('refuses a host key that does not match the pinned fingerprint', async () => {
    const pinned = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${otherKeyFile}.pub`], {
      encoding: 'utf8',
    }).split(' ')[1]!;
    const error = await SshConnection.connect({ ...base(), hostKeyFingerprint: pinned }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HostKeyMismatchError);
    expect((error as HostKeyMismatchError).expectedFingerprints).toEqual([pinned]);
  });

  it("with hostKeyCheck: 'skip', connects and warns on every connection", async () => {
    const warnings: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      const connection = await SshConnection.connect({
        ...base(),
        knownHostsPath: path.join(dir, 'does-not-exist'),
        hostKeyCheck: 'skip',
        onWarning: (message) => warnings.push(message),
      });
      expect(connection.hostKey.trustedBy).toBe('not checked');
      await connection.close();
    }
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/NOT checking the SSH host key/);
  });

  it('authenticates through an ssh-agent (own agent, key added to it)', async () => {
    const socket = path.join(dir, 'agent.sock');
    // -D: the agent stays in the foreground as this child, so the test ends exactly it.
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      const deadline = Date.now() + 5_000;
      while (!existsSync(socket)) {
        if (Date.now() > deadline) throw new Error('ssh-agent did not start');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      execFileSync('ssh-add', ['-q', tb.remote.privateKeyPath], {
        env: { ...process.env, SSH_AUTH_SOCK: socket },
      });
      const { privateKeyPath: _unused, ...withoutKey } = base();
      const connection = await SshConnection.connect({ ...withoutKey, agent: socket });
      expect(connection.target).toBe(`root@${tb.remote.host}:${tb.remote.port}`);
      await connection.close();

      // An agent holding only a key the host does not accept: refused, naming the agent.
      execFileSync('ssh-add', ['-q', '-D'], {
        env: { ...process.env, SSH_AUTH_SOCK: socket },
        stdio: 'ignore',
      });
      execFileSync('ssh-add', ['-q', otherKeyFile], {
        env: { ...process.env, SSH_AUTH_SOCK: socket },
      });
      const error = await SshConnection.connect({ ...withoutKey, agent: socket }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AuthenticationError);
      expect((error as Error).message).toContain(`ssh-agent (${socket})`);
    } finally {
      agent.kill('SIGTERM');
    }
  });

  it('names the refused key when the client key is wrong', async () => {
    const error = await SshConnection.connect({ ...base(), privateKeyPath: otherKeyFile }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as Error).message).toContain(otherKeyFile);
    expect((error as Error).message).toContain(`root@${tb.remote.host}:${tb.remote.port}`);
  });

  it('says the host is unreachable when no sshd listens (own sshd, stopped)', async () => {
    const sshd = await startOwnSshd(tb);
    try {
      const up = await SshConnection.connect({
        ...base(),
        port: sshd.port,
        hostKeyFingerprint: tb.remote.hostKeyFingerprint,
      });
      await up.close();
      await sshd.stop();
      const error = await SshConnection.connect({
        ...base(),
        port: sshd.port,
        hostKeyFingerprint: tb.remote.hostKeyFingerprint,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HostUnreachableError);
      expect((error as HostUnreachableError).port).toBe(sshd.port);
      expect((error as Error).message).toMatch(/connection refused/);
    } finally {
      await disposeOwnSshd(sshd);
    }
  });

  it('reports a dropped connection as SshDisconnectedError on the next use', async () => {
    const sshd = await startOwnSshd(tb);
    try {
      const connection = await SshConnection.connect({
        ...base(),
        port: sshd.port,
        hostKeyFingerprint: tb.remote.hostKeyFingerprint,
      });
      const closed = new Promise<string>((resolve) => connection.onClose(resolve));
      await sshd.stop();
      await closed;
      expect(connection.closed).toBe(true);
      await expect(connection.openUnixSocket(tb.remote.dockerSocketPath)).rejects.toBeInstanceOf(
        SshDisconnectedError,
      );
    } finally {
      await disposeOwnSshd(sshd);
    }
  });
});

describeWithTestbed(testbed, 'Docker over SSH against the test bed', (tb) => {
  let connection: SshConnection;
  const options = (): SshConnectionOptions => remoteSshOptions(tb);

  beforeAll(async () => {
    connection = await SshConnection.connect(options());
  });
  afterAll(async () => {
    await connection?.close();
  });

  it('lets a script exit that used the connection and never closed it', () => {
    const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
    const script = `(async () => {
      const ssh = await import(${JSON.stringify(pathToFileURL(path.join(repo, 'src/ssh/index.ts')).href)});
      const connection = await ssh.SshConnection.connect(JSON.parse(process.env.FERRY_TEST_SSH));
      const docker = ssh.remoteDocker(connection, { socketPath: ${JSON.stringify(tb.remote.dockerSocketPath)} });
      console.log('engine ' + (await docker.version()).ApiVersion);
    })().catch((error) => { console.error(error); process.exit(1); });`;
    const started = Date.now();
    const child = spawnSync(path.join(repo, 'node_modules/.bin/tsx'), ['-e', script], {
      cwd: repo,
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, FERRY_TEST_SSH: JSON.stringify(options()) },
    });
    expect(child.status, child.stderr).toBe(0);
    expect(child.stdout).toMatch(/^engine \d/);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('reaches the remote engine (not the local one) through its socket', async () => {
    const docker = remoteDocker(connection, { socketPath: tb.remote.dockerSocketPath });
    await ensureRemoteDocker(connection, docker, tb.remote.dockerSocketPath);
    const info = await docker.info();
    if (tb.remote.engineId !== undefined) expect(info.ID).toBe(tb.remote.engineId);
    expect(info.ID).not.toBe(tb.localDocker.engineId);
    // Several requests at once: one SSH channel each.
    const answers = await Promise.all([
      docker.version(),
      docker.listImages(),
      docker.listContainers({ all: true }),
    ]);
    expect(answers[0].ApiVersion).toBeDefined();
  });

  it('keeps one channel open for requests made one after another (HTTP keep-alive)', async () => {
    const docker = remoteDocker(connection, { socketPath: tb.remote.dockerSocketPath });
    for (let i = 0; i < 5; i += 1) await docker.ping();
    const agent = (docker.modem as unknown as { agent: SshUnixSocketAgent }).agent;
    expect(agent.channelsOpened).toBe(1);
  });

  it('says when there is no Docker socket where it was told to look', async () => {
    const socketPath = '/run/ferry-no-such-docker.sock';
    const error = await ensureRemoteDocker(
      connection,
      remoteDocker(connection, { socketPath }),
      socketPath,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteDockerUnavailableError);
    expect((error as Error).message).toMatch(/no such socket.*dockerSocketPath/);
  });

  it('says when the path is not a socket', async () => {
    const socketPath = tb.remote.sshdConfigPath;
    const error = await ensureRemoteDocker(
      connection,
      remoteDocker(connection, { socketPath }),
      socketPath,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteDockerUnavailableError);
    expect((error as Error).message).toMatch(/is not a socket/);
  });

  it('says when sshd forbids forwarding to Unix sockets (own sshd)', async () => {
    let sshd: OwnSshd | undefined;
    try {
      sshd = await startOwnSshd(tb, { AllowStreamLocalForwarding: 'no' });
      const own = await SshConnection.connect({
        ...options(),
        port: sshd.port,
        hostKeyFingerprint: tb.remote.hostKeyFingerprint,
      });
      const socketPath = tb.remote.dockerSocketPath;
      const error = await ensureRemoteDocker(
        own,
        remoteDocker(own, { socketPath }),
        socketPath,
      ).catch((e: unknown) => e);
      await own.close();
      expect(error).toBeInstanceOf(RemoteDockerUnavailableError);
      expect((error as Error).message).toMatch(/AllowStreamLocalForwarding yes/);
    } finally {
      await disposeOwnSshd(sshd);
    }
  });

  it('says when the user may not use the socket (own sshd, logged in as nobody)', async () => {
    let sshd: OwnSshd | undefined;
    try {
      sshd = await startOwnSshd(tb);
      const own = await SshConnection.connect({
        ...options(),
        port: sshd.port,
        username: 'nobody',
        hostKeyFingerprint: tb.remote.hostKeyFingerprint,
      });
      const socketPath = tb.remote.dockerSocketPath;
      const error = await ensureRemoteDocker(
        own,
        remoteDocker(own, { socketPath }),
        socketPath,
      ).catch((e: unknown) => e);
      await own.close();
      expect(error).toBeInstanceOf(RemoteDockerPermissionError);
      expect((error as Error).message).toMatch(
        /nobody@127\.0\.0\.1:\d+ may not use the Docker socket/,
      );
      expect((error as Error).message).toMatch(/usermod -aG docker/);
    } finally {
      await disposeOwnSshd(sshd);
    }
  });
});
