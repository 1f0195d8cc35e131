/**
 * Every call over SSH settles when the connection dies: a `docker wait` and a followed log stream
 * over an own sshd that is killed, or SIGSTOPped (TCP stays up, nothing answers), end in
 * SshDisconnectedError within a bounded time; a handshake with a hung server times out with a
 * typed error; a new connection works once sshd is back.
 */
import type { Readable } from 'node:stream';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SshConnection,
  SshDisconnectedError,
  SshHandshakeTimeoutError,
  remoteDocker,
  type SshConnectionOptions,
} from '../../src/ssh/index.js';
import { remoteSshOptions, requireTestbed, type Testbed } from '../support/testbed.js';
import { disposeOwnSshd, startOwnSshd, type OwnSshd } from './ownSshd.js';

const testbed = requireTestbed('remote');

/** How long a dead connection may take to be noticed with the keep-alive settings below. */
const KEEPALIVE_MS = 400;
const KEEPALIVE_COUNT = 3;
const DETECTION_BOUND_MS = KEEPALIVE_MS * (KEEPALIVE_COUNT + 2) + 2_000;

describe.skipIf(!testbed)('a dying SSH connection settles every call', () => {
  const tb = testbed as Testbed;
  // The remote engine's socket is on this machine too: set-up and clean-up go to it directly.
  let engine: Dockerode;
  let sshd: OwnSshd;
  let containerId: string;
  const options = (): SshConnectionOptions =>
    remoteSshOptions(tb, {
      port: sshd.port,
      sshConfigPath: false,
      hostKeyFingerprint: tb.remote.hostKeyFingerprint,
      keepaliveIntervalMs: KEEPALIVE_MS,
      keepaliveCountMax: KEEPALIVE_COUNT,
    });

  beforeAll(async () => {
    engine = new Dockerode({ socketPath: tb.remote.dockerSocketPath });
    sshd = await startOwnSshd(tb);
    const container = await engine.createContainer({
      Image: tb.baseImage,
      // Prints a line a second for a minute: a long `wait`, and a log stream that keeps going.
      Cmd: [
        '/usr/bin/node',
        '-e',
        'setInterval(() => console.log(Date.now()), 1000); setTimeout(() => process.exit(0), 60000)',
      ],
      Labels: { 'ferry.test': 'ssh-disconnect' },
    });
    containerId = container.id;
    await container.start();
  });
  afterAll(async () => {
    sshd?.resume();
    await disposeOwnSshd(sshd);
    if (containerId !== undefined) await engine.getContainer(containerId).remove({ force: true });
  });

  /** Starts a `docker wait` and a followed log stream over a new connection. */
  async function waitAndFollow(): Promise<{
    connection: SshConnection;
    waited: Promise<unknown>;
    followed: Promise<unknown>;
  }> {
    const connection = await SshConnection.connect(options());
    const docker = remoteDocker(connection, { socketPath: tb.remote.dockerSocketPath });
    const container = docker.getContainer(containerId);
    const waited = container.wait().then(
      () => new Error('wait() returned although the container still runs'),
      (error: unknown) => error,
    );
    const stream = (await container.logs({
      follow: true,
      stdout: true,
      since: Math.floor(Date.now() / 1000),
    })) as unknown as Readable;
    const followed = new Promise<unknown>((resolve) => {
      stream.on('error', resolve);
      stream.on('close', () => resolve('closed'));
      stream.resume();
    });
    // Both requests are in flight (the log stream has its response; wait has its channel).
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { connection, waited, followed };
  }

  async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function newConnectionWorks(): Promise<void> {
    const connection = await SshConnection.connect(options());
    try {
      const docker = remoteDocker(connection, { socketPath: tb.remote.dockerSocketPath });
      const info = await docker.getContainer(containerId).inspect();
      expect(info.State.Running).toBe(true);
    } finally {
      await connection.close();
    }
  }

  it('sshd killed during docker wait: SshDisconnectedError, then a new connection works', async () => {
    const { connection, waited, followed } = await waitAndFollow();
    const killedAt = Date.now();
    await sshd.stop();
    const error = await settledWithin(waited, DETECTION_BOUND_MS);
    expect(error).toBeInstanceOf(SshDisconnectedError);
    expect((error as Error).message).toContain(connection.target);
    await settledWithin(followed, DETECTION_BOUND_MS);
    expect(connection.closed).toBe(true);
    console.log(`killed sshd: wait() failed after ${Date.now() - killedAt} ms`);
    await expect(connection.openUnixSocket(tb.remote.dockerSocketPath)).rejects.toBeInstanceOf(
      SshDisconnectedError,
    );
    await sshd.start();
    await newConnectionWorks();
  });

  it('sshd SIGSTOPped during docker wait: keep-alives notice, SshDisconnectedError', async () => {
    const { connection, waited, followed } = await waitAndFollow();
    const stoppedAt = Date.now();
    sshd.pause();
    try {
      const error = await settledWithin(waited, DETECTION_BOUND_MS);
      const took = Date.now() - stoppedAt;
      expect(error).toBeInstanceOf(SshDisconnectedError);
      expect((error as Error).message).toMatch(/stopped answering/);
      await settledWithin(followed, DETECTION_BOUND_MS);
      expect(connection.closed).toBe(true);
      // Not before the keep-alives had their chance: a slow answer is not a dead host.
      expect(took).toBeGreaterThanOrEqual(KEEPALIVE_MS * KEEPALIVE_COUNT);
      console.log(`SIGSTOPped sshd: wait() failed after ${took} ms`);

      // While it is stopped, the kernel still accepts the TCP connection: the handshake times out.
      const timedOut = await SshConnection.connect({ ...options(), readyTimeoutMs: 1_000 }).catch(
        (e: unknown) => e,
      );
      expect(timedOut).toBeInstanceOf(SshHandshakeTimeoutError);
      expect((timedOut as Error).message).toMatch(/within 1000 ms/);
    } finally {
      sshd.resume();
    }
    await newConnectionWorks();
  });

  it('a request on an idle connection to a hung sshd fails, typed, instead of waiting forever', async () => {
    const connection = await SshConnection.connect(options());
    const docker = remoteDocker(connection, { socketPath: tb.remote.dockerSocketPath });
    sshd.pause();
    try {
      // The channel open itself goes unanswered: the keep-alives started with it notice.
      const error = await settledWithin(
        docker.ping().then(
          () => new Error('ping answered by a stopped sshd'),
          (e: unknown) => e,
        ),
        DETECTION_BOUND_MS,
      );
      expect(error).toBeInstanceOf(SshDisconnectedError);
    } finally {
      sshd.resume();
    }
  });

  it('close() during a docker wait fails the wait, saying the connection was closed', async () => {
    const { connection, waited, followed } = await waitAndFollow();
    await connection.close();
    const error = await settledWithin(waited, 3_000);
    expect(error).toBeInstanceOf(SshDisconnectedError);
    expect((error as Error).message).toMatch(/closed by Ferry/);
    await settledWithin(followed, 3_000);
  });

  it('an idle connection that died is reported on its next use', async () => {
    const connection = await SshConnection.connect(options());
    await sshd.stop();
    await new Promise<void>((resolve) =>
      connection.closed ? resolve() : connection.onClose(() => resolve()),
    );
    const docker = remoteDocker(connection, { socketPath: tb.remote.dockerSocketPath });
    await expect(docker.ping()).rejects.toBeInstanceOf(SshDisconnectedError);
    await sshd.start();
  });
});
