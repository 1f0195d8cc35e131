/**
 * Shipping images whose local save archive is in the OCI image layout (Docker 25 to 29), built to
 * the specification from real images of the test bed (see ociLayouts.ts), into the test bed's
 * remote engine (Docker 20.10, which loads only the legacy layout) over SSH: the image runs there
 * with the same id and diff ids. And the local layer cache: a layer exported once is not read from
 * the engine's save again.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { negotiatedApiVersion } from '../../src/engines/dockerApi.js';
import { chainIds, shipImage, transferImage } from '../../src/shipping/index.js';
import { LayerCache } from '../../src/shipping/layerCache.js';
import { SshConnection, remoteDocker } from '../../src/ssh/index.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { remoteSshOptions, requireTestbed } from '../support/testbed.js';
import { ociFromLegacy } from './ociLayouts.js';
import { buildTinyImage, removeImage, runNode } from './tinyImages.js';

const testbed = requireTestbed('remote', 'baseImage');

describeWithTestbed(testbed, 'shipping OCI-layout save archives', (tb) => {
  const local = new Dockerode({ socketPath: tb.localDocker.socketPath });
  const nonce = randomBytes(4).toString('hex');
  const repo = `ferry-oci-test-${nonce}`;
  const created: string[] = [];
  let connection: SshConnection;
  let remote: Dockerode;
  let cacheDir: string;

  beforeAll(async () => {
    connection = await SshConnection.connect(
      remoteSshOptions(tb, { hostKeyFingerprint: tb.remote.hostKeyFingerprint }),
    );
    remote = remoteDocker(connection, { socketPath: tb.remote.dockerSocketPath });
    cacheDir = await mkdtemp(path.join(tmpdir(), 'ferry-oci-cache-'));
  });

  afterAll(async () => {
    for (const image of created) {
      await removeImage(local, image);
      if (remote !== undefined) await removeImage(remote, image);
    }
    await connection?.close();
    if (cacheDir !== undefined) await rm(cacheDir, { recursive: true, force: true });
  });

  async function build(tag: string): Promise<Dockerode.ImageInspectInfo> {
    const reference = `${repo}:${tag}`;
    created.push(reference);
    return buildTinyImage(local, reference, tb.baseImage, [
      { name: 'a.txt', contents: `${tag} a ${nonce}` },
      { name: 'b.txt', contents: `${tag} b ${nonce}` },
    ]);
  }

  async function saved(image: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of (await local.getImage(image).get()) as AsyncIterable<Buffer>) {
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  async function expectRunsThere(image: string, built: Dockerode.ImageInspectInfo, tag: string) {
    const there = await remote.getImage(image).inspect();
    expect(there.Id).toBe(built.Id);
    expect(there.RootFS.Layers).toEqual(built.RootFS.Layers);
    expect(
      await runNode(
        remote,
        image,
        "const fs=require('fs');process.stdout.write(fs.readFileSync('/data/a.txt','utf8')+'|'+fs.readFileSync('/data/b.txt','utf8'))",
      ),
    ).toBe(`${tag} a ${nonce}|${tag} b ${nonce}`);
  }

  it('ships an OCI layout with uncompressed layers (Docker 25) as a legacy archive the 20.10 engine loads', async () => {
    const built = await build('plain');
    const layout = await ociFromLegacy(await saved(`${repo}:plain`), {
      gzip: false,
      twoPlatforms: false,
    });
    expect(layout.configDigest).toBe(built.Id);
    const result = await shipImage({
      local,
      remote,
      image: `${repo}:plain`,
      target: connection.target,
      layerCache: new LayerCache({ cacheDir }),
      saveArchive: async () => Readable.from([layout.archive]),
    });
    expect(result.method).toBe('transfer');
    expect(result.layersSent).toBe(2);
    expect(result.bytesSent).toBeLessThan(64 * 1024);
    await expectRunsThere(`${repo}:plain`, built, 'plain');
    // Both clients were made to speak the version they share with their engines.
    expect(negotiatedApiVersion(remote)?.chosen).toBe(tb.dockerApiVersion ?? '1.41');
    expect(negotiatedApiVersion(local)?.chosen).toBe(tb.dockerApiVersion ?? '1.41');
  });

  it('ships gzip layers behind an index of two platforms (containerd store), picking the image platform', async () => {
    const built = await build('gzip');
    const layout = await ociFromLegacy(await saved(`${repo}:gzip`), {
      gzip: true,
      twoPlatforms: true,
      platform: { os: built.Os, architecture: built.Architecture },
    });
    // Every blob named by its digest is the compressed bytes: nothing is a diff id any more.
    expect(layout.layerDigests).not.toContain(built.RootFS.Layers![0]);
    const result = await transferImage({
      local,
      remote,
      image: `${repo}:gzip`,
      target: connection.target,
      layerCache: new LayerCache({ cacheDir }),
      saveArchive: async () => Readable.from([layout.archive]),
    });
    expect(result.layersSent).toBe(2);
    expect(result.imageId).toBe(built.Id);
    await expectRunsThere(`${repo}:gzip`, built, 'gzip');
  });

  it('with the containerd store id (the index digest), finds the image through index.json', async () => {
    const built = await build('containerd');
    const layout = await ociFromLegacy(await saved(`${repo}:containerd`), {
      gzip: true,
      twoPlatforms: true,
      platform: { os: built.Os, architecture: built.Architecture },
    });
    // Simulated: a containerd-store engine names the image by its index, not its config.
    const result = await transferImage({
      local,
      remote,
      image: `${repo}:containerd`,
      localImage: { ...built, Id: layout.rootDigest },
      layerCache: new LayerCache({ cacheDir }),
      saveArchive: async () => Readable.from([layout.archive]),
    });
    // On a classic engine the image's id is its config's digest.
    expect(result.imageId).toBe(built.Id);
    await expectRunsThere(`${repo}:containerd`, built, 'containerd');
  });

  it('never exports a layer again: the same image to a remote that lost it ships with no docker save', async () => {
    const built = await build('cached');
    const cache = new LayerCache({ cacheDir: path.join(cacheDir, 'fresh') });
    // Remote lacks the two small layers; the first ship exports and caches them. What the remote
    // has is known here (the base image only): no need to inspect all it holds.
    const lookup = {
      present: undefined,
      chains: new Set(chainIds(built.RootFS.Layers!).slice(0, 1)),
      remembered: false,
    };
    const first = await transferImage({
      local,
      remote,
      image: `${repo}:cached`,
      layerCache: cache,
      lookup,
    });
    expect(first.layersExported).toBe(2);
    const cachedLayers = await readdir(path.join(cache.dir, 'sha256'));
    expect(cachedLayers.sort()).toEqual(
      built.RootFS.Layers!.slice(1)
        .map((d) => d.slice(7))
        .sort(),
    );
    // Gone from the remote: sent again, from the cache, without asking the engine for a save.
    await removeImage(remote, `${repo}:cached`);
    const again = await transferImage({
      local,
      remote,
      image: `${repo}:cached`,
      layerCache: cache,
      lookup,
    });
    expect(again.layersSent).toBe(2);
    expect(again.layersExported).toBe(0);
    expect(again.bytesExported).toBe(0);
    await expectRunsThere(`${repo}:cached`, built, 'cached');
  });
});
