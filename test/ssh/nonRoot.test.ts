/**
 * A remote user that is not root (issue 12.6): a user in the `docker` group, a user with a
 * rootless Docker socket (`/run/user/<uid>/docker.sock`), and a socket path given in the config;
 * each works when it can and otherwise gets the error that says why. Users are made with useradd
 * for this test (and removed after it); they log in to an sshd of the test's own.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, chmodSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RemoteDockerPermissionError,
  RemoteDockerUnavailableError,
  SshConnection,
  ensureRemoteDocker,
  remoteDocker,
} from '../../src/ssh/index.js';
import { remoteSshOptions, requireTestbed, type Testbed } from '../support/testbed.js';
import { disposeOwnSshd, startOwnSshd, type OwnSshd } from './ownSshd.js';

const testbed = requireTestbed('remote');
const isRoot = process.getuid?.() === 0;

describe.skipIf(!testbed || !isRoot)('remote users that are not root', () => {
  const tb = testbed as Testbed;
  const tag = `fs${process.pid % 100000}`;
  /** rootless: has its own engine socket; plain: nothing; docker: in the docker group. */
  const users = { rootless: `${tag}r`, plain: `${tag}p`, docker: `${tag}d` } as const;
  const uid: Record<string, number> = {};
  let sshd: OwnSshd;
  let proxy: net.Server | undefined;
  let rootlessDir: string;

  beforeAll(async () => {
    for (const name of Object.values(users)) {
      // Password '*': no password login, but not a locked account ('!'), which sshd refuses.
      execFileSync('useradd', ['--no-create-home', '--shell', '/bin/sh', '--password', '*', name]);
      uid[name] = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    }
    execFileSync('usermod', ['-aG', 'docker', users.docker]);
    // The rootless user's "engine": a socket in its runtime folder, passed on to the test bed's
    // remote engine, owned by that user alone (as dockerd-rootless makes it).
    rootlessDir = `/run/user/${uid[users.rootless]}`;
    mkdirSync(rootlessDir, { recursive: true });
    chownSync(rootlessDir, uid[users.rootless]!, uid[users.rootless]!);
    chmodSync(rootlessDir, 0o700);
    const socketPath = `${rootlessDir}/docker.sock`;
    proxy = net.createServer((client) => {
      const engine = net.connect(tb.remote.dockerSocketPath);
      client.pipe(engine).pipe(client);
      client.on('error', () => engine.destroy());
      engine.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy!.listen(socketPath, resolve));
    chownSync(socketPath, uid[users.rootless]!, uid[users.rootless]!);
    chmodSync(socketPath, 0o600);
    sshd = await startOwnSshd(tb);
  });
  afterAll(async () => {
    await disposeOwnSshd(sshd);
    await new Promise<void>((resolve) =>
      proxy === undefined ? resolve() : proxy.close(() => resolve()),
    );
    if (rootlessDir !== undefined) rmSync(rootlessDir, { recursive: true, force: true });
    for (const name of Object.values(users)) {
      if (uid[name] !== undefined) execFileSync('userdel', [name]);
    }
  });

  async function check(username: string, socketPath: string): Promise<unknown> {
    const connection = await SshConnection.connect(
      remoteSshOptions(tb, {
        port: sshd.port,
        username,
        hostKeyFingerprint: tb.remote.hostKeyFingerprint,
        sshConfigPath: false,
      }),
    );
    try {
      const docker = remoteDocker(connection, { socketPath });
      await ensureRemoteDocker(connection, docker, socketPath);
      return (await docker.version()).ApiVersion;
    } catch (error) {
      return error;
    } finally {
      await connection.close();
    }
  }

  it('a user in the docker group uses the system socket', async () => {
    expect(await check(users.docker, tb.remote.dockerSocketPath)).toMatch(/^\d+\.\d+$/);
  });

  it('a user not in the group is told to join it', async () => {
    const error = await check(users.plain, tb.remote.dockerSocketPath);
    expect(error).toBeInstanceOf(RemoteDockerPermissionError);
    expect((error as Error).message).toContain(`${users.plain} is not in group docker`);
    expect((error as Error).message).toMatch(/usermod -aG docker/);
  });

  it('a rootless socket given in the config works for its user', async () => {
    expect(await check(users.rootless, `${rootlessDir}/docker.sock`)).toMatch(/^\d+\.\d+$/);
  });

  it('a socket path that is not there points to the rootless socket that is', async () => {
    const error = await check(users.rootless, '/run/ferry-no-such-docker.sock');
    expect(error).toBeInstanceOf(RemoteDockerUnavailableError);
    expect((error as Error).message).toContain(
      `a Docker socket exists at ${rootlessDir}/docker.sock (${users.rootless}'s rootless Docker): set the target's dockerSocket (dockerSocketPath in code) to it`,
    );
  });

  it('a rootless path whose engine is not running says how to start it', async () => {
    const error = await check(users.plain, `/run/user/${uid[users.plain]}/docker.sock`);
    expect(error).toBeInstanceOf(RemoteDockerUnavailableError);
    expect((error as Error).message).toMatch(/rootless Docker engine is not running/);
    expect((error as Error).message).toMatch(/systemctl --user start docker/);
  });

  it("another user's rootless socket is refused as a permission problem", async () => {
    const error = await check(users.plain, `${rootlessDir}/docker.sock`);
    expect(error).toBeInstanceOf(RemoteDockerPermissionError);
    expect((error as Error).message).toMatch(/a folder above the socket is not readable/);
  });
});
