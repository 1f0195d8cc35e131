/**
 * The test bed itself (scripts/testbed.sh up): real checks of the parts the Docker and SSH suites
 * rely on, so that a broken test bed shows up here first, by name.
 */
import { readFileSync } from 'node:fs';

import { Client, type ClientChannel } from 'ssh2';
import { afterAll, beforeAll, expect, it } from 'vitest';

import {
  dockerJson,
  httpRequest,
  knownHostKeys,
  remoteConnectConfig,
  requireTestbed,
  sshFingerprint,
  type Testbed,
} from './support/testbed.js';
import { describeWithTestbed } from './support/describeWithTestbed.js';

const testbed = requireTestbed('remote', 'registry', 'baseImage');

interface EngineInfo {
  ID: string;
  ServerVersion: string;
}
interface ImageInspect {
  Id: string;
  Config: { Env?: string[]; WorkingDir?: string };
}

function connect(tb: Testbed, hostVerifier?: (key: Buffer) => boolean): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client
      .on('ready', () => resolve(client))
      .on('error', reject)
      .connect(remoteConnectConfig(tb, hostVerifier ? { hostVerifier } : {}));
  });
}

function exec(
  client: Client,
  command: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, channel) => {
      if (error) return reject(error);
      let stdout = '';
      let stderr = '';
      channel.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      channel.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      channel.on('close', (code: number | null) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  });
}

/** A raw HTTP/1.0 request over an SSH channel forwarded to a unix socket on the remote host. */
function httpOverChannel(channel: ClientChannel, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    channel.on('data', (chunk: Buffer) => (answer += chunk.toString('utf8')));
    channel.on('close', () => resolve(answer));
    channel.on('error', reject);
    channel.end(`GET ${path} HTTP/1.0\r\nHost: docker\r\n\r\n`);
  });
}

describeWithTestbed(testbed, 'test bed', (tb) => {
  let localInfo: EngineInfo;
  let remoteInfo: EngineInfo;
  let client: Client | undefined;

  beforeAll(async () => {
    [localInfo, remoteInfo] = await Promise.all([
      dockerJson<EngineInfo>(tb.localDocker.socketPath, '/info'),
      dockerJson<EngineInfo>(tb.remote.dockerSocketPath, '/info'),
    ]);
  });

  afterAll(() => client?.end());

  it('the local engine answers /_ping on its socket', async () => {
    const answer = await httpRequest({ socketPath: tb.localDocker.socketPath, path: '/_ping' });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('OK');
    expect(answer.headers['api-version']).toBeTruthy();
  });

  it('the remote engine is a different engine from the local one', () => {
    expect(localInfo.ID).toBeTruthy();
    expect(remoteInfo.ID).toBeTruthy();
    expect(remoteInfo.ID).not.toBe(localInfo.ID);
  });

  it('sshd takes the client key, and its host key matches known_hosts and the JSON', async () => {
    const known = knownHostKeys(tb.remote.knownHostsPath, tb.remote.host, tb.remote.port);
    expect(known).toHaveLength(1);
    let offered: Buffer | undefined;
    client = await connect(tb, (key) => {
      offered = key;
      return known.some((k) => k.equals(key));
    });
    expect(offered).toBeDefined();
    expect(sshFingerprint(offered!)).toBe(tb.remote.hostKeyFingerprint);
    if (tb.remote.hostPublicKey) {
      expect(offered!.equals(Buffer.from(tb.remote.hostPublicKey.split(' ')[1]!, 'base64'))).toBe(
        true,
      );
    }
  });

  it('sshd refuses to go on when the host key does not match', async () => {
    await expect(connect(tb, () => false)).rejects.toThrow(/verification failed/i);
  });

  it('sshd refuses a key that is not authorized', async () => {
    const { utils } = await import('ssh2');
    const stranger = utils.generateKeyPairSync('ed25519');
    await expect(
      new Promise((resolve, reject) => {
        const c = new Client();
        c.on('ready', () => {
          c.end();
          resolve('logged in');
        })
          .on('error', reject)
          .connect(remoteConnectConfig(tb, { privateKey: stranger.private }));
      }),
    ).rejects.toThrow(/authentication/i);
  });

  it('an SSH session reaches the remote engine (DOCKER_HOST from sshd_config)', async () => {
    client ??= await connect(tb);
    const result = await exec(client, 'echo "$DOCKER_HOST"; docker info --format "{{.ID}}"');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [dockerHost, engineId] = result.stdout.trim().split('\n');
    expect(dockerHost).toBe(`unix://${tb.remote.dockerSocketPath}`);
    expect(engineId).toBe(remoteInfo.ID);
  });

  it('the remote engine socket can be reached through SSH stream-local forwarding', async () => {
    client ??= await connect(tb);
    const channel = await new Promise<ClientChannel>((resolve, reject) =>
      client!.openssh_forwardOutStreamLocal(tb.remote.dockerSocketPath, (error, ch) =>
        error ? reject(error) : resolve(ch),
      ),
    );
    const answer = await httpOverChannel(channel, '/info');
    expect(answer).toMatch(/^HTTP\/1\.[01] 200/);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).ID).toBe(remoteInfo.ID);
  });

  it('the registry answers GET /v2/', async () => {
    const answer = await httpRequest({ url: `http://${tb.registry.address}/v2/` });
    expect(answer.status).toBe(200);
    expect(answer.headers['docker-distribution-api-version']).toBe('registry/2.0');
  });

  it('the base image is on both engines, with the same ID', async () => {
    const path = `/images/${encodeURIComponent(tb.baseImage)}/json`;
    const [local, remote] = await Promise.all([
      dockerJson<ImageInspect>(tb.localDocker.socketPath, path),
      dockerJson<ImageInspect>(tb.remote.dockerSocketPath, path),
    ]);
    expect(remote.Id).toBe(local.Id);
    if (tb.baseImageId) expect(local.Id).toBe(tb.baseImageId);
    expect(local.Config.Env ?? []).toContainEqual(
      expect.stringMatching(/^PATH=.*\/usr\/local\/bin/),
    );
  });

  it('the client key and known_hosts are where the JSON says', () => {
    expect(readFileSync(tb.remote.privateKeyPath, 'utf8')).toMatch(/BEGIN OPENSSH PRIVATE KEY/);
    expect(readFileSync(tb.remote.knownHostsPath, 'utf8')).toContain(
      `[${tb.remote.host}]:${tb.remote.port} `,
    );
  });
});
