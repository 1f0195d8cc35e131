import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { engineStatus, negotiateApiVersion } from '../engines/dockerApi.js';
import { ImageShippingError } from './errors.js';
import type { LayerCache } from './layerCache.js';
import type { ShippingProgressListener } from './progress.js';
import { shipThroughRegistry, splitReference, type RegistryAuth } from './registry.js';
import { lookUpRemote, type RemoteCopy } from './remoteLayers.js';
import { transferImage } from './transfer.js';

export interface ShipImageOptions {
  /** The engine the image was built on. */
  readonly local: Dockerode;
  /** The engine that must run it (e.g. `remoteDocker(connection)`). */
  readonly remote: Dockerode;
  /** Local image reference, `name:tag`. */
  readonly image: string;
  /**
   * The id the reference must name (what was built). When another build moved the tag meanwhile,
   * shipping refuses rather than send a different image than the one checked for.
   */
  readonly imageId?: string;
  /**
   * A registry (`host[:port][/path]`) to push to and pull from. Without one, the image goes over
   * the SSH connection, and only the layers the remote does not have.
   */
  readonly repository?: string;
  readonly registryAuth?: RegistryAuth;
  /** For messages, e.g. `root@gpu-box:22`. */
  readonly target?: string;
  readonly onProgress?: ShippingProgressListener;
  readonly signal?: AbortSignal;
  /** Where exported layers are kept (direct transfer). Default: `<Ferry's cache>/layers`. */
  readonly layerCache?: LayerCache;
  /** The local engine's save archive, when not `docker save` on `local` (see `transferImage`). */
  readonly saveArchive?: () => Promise<Readable>;
}

export interface ShipResult {
  /** `present`: the remote had the image already; `registry`: pushed and pulled; `transfer`: sent over SSH. */
  readonly method: 'present' | 'registry' | 'transfer';
  /** The reference to run on the remote engine (the local one; it is tagged there). */
  readonly reference: string;
  /** With a registry: where it was pushed. */
  readonly registryReference?: string;
  readonly imageId: string;
  readonly layersTotal: number;
  /** Layers sent over SSH (direct transfer only). */
  readonly layersSent: number;
  /** Archive bytes sent over SSH (direct transfer only). */
  readonly bytesSent: number;
  /** Bytes of the local engine's save archive read (direct transfer only; the rest was cached). */
  readonly bytesExported: number;
  readonly durationMs: number;
}

/** Makes sure the remote engine has `image` (same id), shipping it the cheapest way it can. */
export async function shipImage(options: ShipImageOptions): Promise<ShipResult> {
  const started = Date.now();
  const target = options.target ?? 'the remote engine';
  // Each client speaks the API version its engine and Ferry share (asked once per client).
  const [local] = await Promise.all([
    options.local.getImage(options.image).inspect(),
    negotiateApiVersion(options.local),
    negotiateApiVersion(options.remote, target),
  ]);
  if (options.imageId !== undefined && local.Id !== options.imageId) {
    throw new ImageShippingError(
      `${options.image} names ${local.Id} on this engine, not the ${options.imageId} that was built: another build moved the tag meanwhile; build again (an image tag of its own, imageTag, avoids this)`,
    );
  }
  const layersTotal = local.RootFS.Layers?.length ?? 0;
  // Over SSH, one question answers both whether the remote has the image and which layers it has.
  const lookup =
    options.repository === undefined
      ? await lookUpRemote(options.remote, local.Id, local.RootFS.Layers ?? [])
      : undefined;
  const remoteCopy =
    lookup === undefined ? await inspectOrUndefined(options.remote, local.Id) : lookup.present;
  if (remoteCopy !== undefined) {
    if (!remoteCopy.repoTags.includes(options.image)) {
      const { name, tag } = splitReference(options.image);
      await options.remote.getImage(local.Id).tag({ repo: name, tag });
    }
    options.onProgress?.({ phase: 'done', message: `${options.image} is already on ${target}` });
    return {
      method: 'present',
      reference: options.image,
      imageId: local.Id,
      layersTotal,
      layersSent: 0,
      bytesSent: 0,
      bytesExported: 0,
      durationMs: Date.now() - started,
    };
  }
  if (options.repository !== undefined) {
    const shipped = await shipThroughRegistry({
      local: options.local,
      remote: options.remote,
      image: options.image,
      repository: options.repository,
      target,
      ...(options.registryAuth === undefined ? {} : { auth: options.registryAuth }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
    return {
      method: 'registry',
      reference: options.image,
      registryReference: shipped.registryReference,
      imageId: shipped.imageId,
      layersTotal,
      layersSent: 0,
      bytesSent: 0,
      bytesExported: 0,
      durationMs: Date.now() - started,
    };
  }
  const sent = await transferImage({
    local: options.local,
    remote: options.remote,
    image: options.image,
    target,
    localImage: local,
    ...(lookup === undefined ? {} : { lookup }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.layerCache === undefined ? {} : { layerCache: options.layerCache }),
    ...(options.saveArchive === undefined ? {} : { saveArchive: options.saveArchive }),
  });
  return {
    method: 'transfer',
    reference: options.image,
    imageId: sent.imageId,
    layersTotal,
    layersSent: sent.layersSent,
    bytesSent: sent.bytesSent,
    bytesExported: sent.bytesExported,
    durationMs: Date.now() - started,
  };
}

async function inspectOrUndefined(docker: Dockerode, id: string): Promise<RemoteCopy | undefined> {
  try {
    return { repoTags: (await docker.getImage(id).inspect()).RepoTags ?? [] };
  } catch (error) {
    if (engineStatus(error) === 404) return undefined;
    throw error;
  }
}
