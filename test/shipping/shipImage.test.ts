/**
 * Shipping images to the test bed's remote engine over SSH: only the missing layers, through the
 * registry, already present; an interrupted transfer (own sshd, stopped half way) changes nothing
 * and a retry completes it.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  ImageTransferInterruptedError,
  RegistryError,
  shipImage,
  transferImage,
  type ShippingProgress,
} from '../../src/shipping/index.js';
import { SshConnection, remoteDocker, type SshConnectionOptions } from '../../src/ssh/index.js';
import { disposeOwnSshd, startOwnSshd, type OwnSshd } from '../ssh/ownSshd.js';
import { remoteSshOptions, requireTestbed } from '../support/testbed.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { buildTinyImage, hasImage, removeImage, runNode } from './tinyImages.js';

const testbed = requireTestbed('remote', 'registry', 'baseImage');

describeWithTestbed(testbed, 'shipping an image to the remote engine', (tb) => {
  const local = new Dockerode({ socketPath: tb.localDocker.socketPath });
  const nonce = randomBytes(4).toString('hex');
  const repo = `ferry-ship-test-${nonce}`;
  const created: string[] = [];
  let connection: SshConnection;
  let remote: Dockerode;
  // A pinned fingerprint: when given, known_hosts is not read.
  const sshOptions = (port = tb.remote.port): SshConnectionOptions =>
    remoteSshOptions(tb, { port, hostKeyFingerprint: tb.remote.hostKeyFingerprint });

  beforeAll(async () => {
    connection = await SshConnection.connect(sshOptions());
    remote = remoteDocker(connection, { socketPath: tb.remote.dockerSocketPath });
  });

  afterAll(async () => {
    for (const image of created) {
      await removeImage(local, image);
      if (remote !== undefined) await removeImage(remote, image);
    }
    await connection?.close();
  });

  async function build(
    tag: string,
    files: { name: string; contents: string | Buffer }[],
  ): Promise<string> {
    const reference = `${repo}:${tag}`;
    created.push(reference);
    await buildTinyImage(local, reference, tb.baseImage, files);
    return reference;
  }

  it('sends only the layers the remote lacks, and the image runs there', async () => {
    const image = await build('one', [
      { name: 'stable.txt', contents: `stable ${nonce}` },
      { name: 'changing.txt', contents: `first ${nonce}` },
    ]);
    expect(await hasImage(remote, image)).toBe(false);
    const events: ShippingProgress[] = [];
    const result = await shipImage({
      local,
      remote,
      image,
      target: connection.target,
      onProgress: (p) => events.push(p),
    });
    expect(result.method).toBe('transfer');
    expect(result.layersTotal).toBe(3);
    expect(result.layersSent).toBe(2);
    // The base image's ~100 MB layer stays home: a few KiB of small layers and metadata go.
    expect(result.bytesSent).toBeLessThan(64 * 1024);
    expect(events.map((e) => e.phase)).toEqual(
      expect.arrayContaining(['compare', 'transfer', 'load', 'done']),
    );
    const localId = (await local.getImage(image).inspect()).Id;
    expect((await remote.getImage(image).inspect()).Id).toBe(localId);
    expect(
      await runNode(
        remote,
        image,
        "process.stdout.write(require('fs').readFileSync('/data/changing.txt','utf8'))",
      ),
    ).toBe(`first ${nonce}`);
  });

  it('after a change in the last layer, sends that layer only', async () => {
    const image = await build('two', [
      { name: 'stable.txt', contents: `stable ${nonce}` },
      { name: 'changing.txt', contents: `second ${nonce}` },
    ]);
    const result = await transferImage({ local, remote, image, target: connection.target });
    expect(result.layersTotal).toBe(3);
    expect(result.layersSent).toBe(1);
    expect(result.bytesFull).toBeGreaterThan(50 * 1024 * 1024);
    expect(result.bytesSent).toBeLessThan(32 * 1024);
    expect(
      await runNode(
        remote,
        image,
        "process.stdout.write(require('fs').readFileSync('/data/changing.txt','utf8'))",
      ),
    ).toBe(`second ${nonce}`);
  });

  it('sends nothing when the remote already has the image, and tags it there', async () => {
    const image = `${repo}:one`;
    const alias = `${repo}:alias`;
    created.push(alias);
    await local.getImage(image).tag({ repo, tag: 'alias' });
    const result = await shipImage({ local, remote, image: alias });
    expect(result.method).toBe('present');
    expect(result.bytesSent).toBe(0);
    expect(await hasImage(remote, alias)).toBe(true);
  });

  it('goes through the registry when given a repository', async () => {
    const image = await build('registry', [
      { name: 'via-registry.txt', contents: `registry ${nonce}` },
    ]);
    const result = await shipImage({
      local,
      remote,
      image,
      repository: `${tb.registry.address}/ferry-tests`,
      registryAuth: { username: 'ferry', password: 'not-needed-here' },
    });
    expect(result.method).toBe('registry');
    expect(result.registryReference).toBe(`${tb.registry.address}/ferry-tests/${repo}:registry`);
    created.push(result.registryReference!);
    const localId = (await local.getImage(image).inspect()).Id;
    expect((await remote.getImage(image).inspect()).Id).toBe(localId);
    expect((await remote.getImage(result.registryReference!).inspect()).Id).toBe(localId);
  });

  it('says when the registry cannot be reached', async () => {
    const image = await build('noregistry', [{ name: 'x.txt', contents: `x ${nonce}` }]);
    const error = await shipImage({
      local,
      remote,
      image,
      repository: '127.0.0.1:1/ferry-tests',
    }).catch((e: unknown) => e);
    created.push(`127.0.0.1:1/ferry-tests/${repo}:noregistry`);
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).operation).toBe('push');
    expect((error as Error).message).toMatch(/must reach the registry/);
  });

  it('after shipping, the next image over the same connection asks nothing before it sends', async () => {
    const image = await build('three', [
      { name: 'stable.txt', contents: `stable ${nonce}` },
      { name: 'changing.txt', contents: `third ${nonce}` },
    ]);
    const calls: string[] = [];
    const modem = remote.modem as unknown as { dial: (o: { path?: string }, c: unknown) => void };
    const dial = modem.dial.bind(modem);
    modem.dial = (o, c) => {
      calls.push(o.path ?? '');
      dial(o, c);
    };
    try {
      const result = await shipImage({ local, remote, image });
      expect(result.method).toBe('transfer');
      expect(result.layersSent).toBe(1);
      expect(result.imageId).toBe((await local.getImage(image).inspect()).Id);
    } finally {
      modem.dial = dial;
    }
    // The load only: the archive was checked on its way to be the image built (manifest, config).
    expect(calls.map((c) => c.replace(/\?.*$/, ''))).toEqual(['/images/load']);
    expect((await remote.getImage(image).inspect()).Id).toBe(
      (await local.getImage(image).inspect()).Id,
    );
  });

  it('when a layer it remembered was removed from the remote meanwhile, compares again and completes', async () => {
    const lower = await build('lower', [{ name: 'lower.txt', contents: `lower ${nonce}` }]);
    expect((await shipImage({ local, remote, image: lower })).method).toBe('transfer');
    const upper = await build('upper', [
      { name: 'lower.txt', contents: `lower ${nonce}` },
      { name: 'upper.txt', contents: `upper ${nonce}` },
    ]);
    // Removed behind this client's back (another process, a prune): its layer goes with it.
    const direct = new Dockerode({ socketPath: tb.remote.dockerSocketPath });
    await direct.getImage(lower).remove({ force: true });
    const result = await shipImage({ local, remote, image: upper });
    expect(result.method).toBe('transfer');
    expect(result.layersSent).toBe(2);
    expect(
      await runNode(
        remote,
        upper,
        "const fs=require('fs');process.stdout.write(fs.readFileSync('/data/lower.txt','utf8')+' '+fs.readFileSync('/data/upper.txt','utf8'))",
      ),
    ).toBe(`lower ${nonce} upper ${nonce}`);
  });

  it('leaves the remote as it was when the transfer is cut half way, and a retry completes it', async () => {
    // 48 MiB of noise in its own layer, so the transfer takes long enough to be cut.
    const image = await build('big', [
      { name: 'noise.bin', contents: randomBytes(48 * 1024 * 1024) },
    ]);
    const imageId = (await local.getImage(image).inspect()).Id;
    const tmpDir = path.join(tb.stateDir ?? '/var/lib/ferry-testbed', 'remote-docker', 'tmp');
    const importsBefore = dockerImports(tmpDir);
    let sshd: OwnSshd | undefined;
    try {
      sshd = await startOwnSshd(tb);
      const own = await SshConnection.connect(sshOptions(sshd.port));
      const ownRemote = remoteDocker(own, { socketPath: tb.remote.dockerSocketPath });
      let cut = false;
      const stopped = sshd;
      const error = await transferImage({
        local,
        remote: ownRemote,
        image,
        target: own.target,
        onProgress: (p) => {
          if (!cut && (p.bytesSent ?? 0) > 12 * 1024 * 1024) {
            cut = true;
            void stopped.stop();
          }
        },
      }).catch((e: unknown) => e);
      expect(cut).toBe(true);
      expect(error).toBeInstanceOf(ImageTransferInterruptedError);
      expect((error as ImageTransferInterruptedError).bytesSent).toBeGreaterThan(12 * 1024 * 1024);
      expect((error as Error).message).toMatch(/run again to retry/);

      // Nothing half-loaded on the remote: no image, and the engine cleaned its unpacking folder.
      expect(await hasImage(remote, imageId)).toBe(false);
      await eventually(() => expect(dockerImports(tmpDir)).toEqual(importsBefore));

      await sshd.start();
      const again = await SshConnection.connect(sshOptions(sshd.port));
      try {
        const retried = await shipImage({
          local,
          remote: remoteDocker(again, { socketPath: tb.remote.dockerSocketPath }),
          image,
        });
        expect(retried.method).toBe('transfer');
        expect(retried.layersSent).toBe(1);
        expect(retried.bytesSent).toBeGreaterThan(48 * 1024 * 1024);
      } finally {
        await again.close();
      }
      expect((await remote.getImage(image).inspect()).Id).toBe(imageId);
      expect(
        await runNode(
          remote,
          image,
          "process.stdout.write(String(require('fs').statSync('/data/noise.bin').size))",
        ),
      ).toBe(String(48 * 1024 * 1024));
    } finally {
      await disposeOwnSshd(sshd);
    }
  });
});

function dockerImports(tmpDir: string): string[] {
  try {
    return readdirSync(tmpDir).filter((name) => name.startsWith('docker-import-'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

async function eventually(check: () => void, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
