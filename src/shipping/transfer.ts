import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Dockerode from 'dockerode';
import { formatBytes } from '../units.js';
import { engineMessage } from '../engines/dockerApi.js';
import {
  ImageShippingError,
  ImageTransferInterruptedError,
  MissingRemoteLayerError,
  SaveArchiveError,
} from './errors.js';
import { LayerCache, type OpenedLayer } from './layerCache.js';
import { presentLayers } from './layers.js';
import { legacyArchive } from './legacyArchive.js';
import { throttled, type ShippingProgressListener } from './progress.js';
import {
  forgetLayers,
  rememberLayers,
  rememberedChains,
  remoteLayerChains,
  type RemoteLookup,
} from './remoteLayers.js';
import { readSaveArchive, type SaveReadResult } from './saveArchive.js';
import { configDiffIds, resolveSavedImage, type SavedImage } from './saveLayout.js';

/** What a direct transfer did. */
export interface TransferResult {
  /** `sha256:…` image id, the same on both engines. */
  readonly imageId: string;
  readonly layersTotal: number;
  /** Layers whose tarballs were sent (the others the remote engine already had). */
  readonly layersSent: number;
  /** Bytes of the (filtered) save archive sent to the remote engine. */
  readonly bytesSent: number;
  /** The image's size as the local engine reports it: about what sending everything costs. */
  readonly bytesFull: number;
  /** Bytes of the local engine's `docker save` archive read (it stops once the needed layers are seen). */
  readonly bytesExported: number;
  /** Layers taken from the local engine's archive into the layer cache (the others were cached). */
  readonly layersExported: number;
}

export interface TransferImageOptions {
  readonly local: Dockerode;
  readonly remote: Dockerode;
  /** Image reference (or id) on the local engine. Its tags come along. */
  readonly image: string;
  /** For messages: where the remote engine is, e.g. `root@gpu-box:22`. */
  readonly target?: string;
  readonly onProgress?: ShippingProgressListener;
  readonly signal?: AbortSignal;
  /** The local engine's inspection of `image`, when the caller has it (saves asking again). */
  readonly localImage?: Dockerode.ImageInspectInfo;
  /** What the caller found out about the remote (`lookUpRemote`): which layers it has. */
  readonly lookup?: RemoteLookup;
  /** Where exported layers are kept. Default: `<Ferry's cache>/layers`, 8 GiB. */
  readonly layerCache?: LayerCache;
  /**
   * The local engine's save archive of `image`, when it does not come from `docker save` on
   * `local` (tests give OCI-layout archives built to the spec this way).
   */
  readonly saveArchive?: () => Promise<Readable>;
  /** Read the whole save archive even when the needed layers were all seen (to measure). */
  readonly readWholeArchive?: boolean;
}

/**
 * Sends a local image to the remote engine through its API, leaving out the layer tarballs the
 * remote already has: streams `docker save` from the local engine through a tar filter into
 * `docker load` on the remote. Nothing touches the disk on either side beyond what the engines do.
 * Which layers the remote has is what this process remembers of it, else asked (`lookUpRemote`);
 * when remembered facts went stale, the engine refuses the load whole, and it is asked and sent again.
 */
export async function transferImage(options: TransferImageOptions): Promise<TransferResult> {
  const { local, remote, image } = options;
  const target = options.target ?? 'the remote engine';
  const inspected = options.localImage ?? (await local.getImage(image).inspect());
  const diffIds = inspected.RootFS.Layers ?? [];

  options.onProgress?.({
    phase: 'compare',
    message: `Comparing the ${diffIds.length} layers of ${image} with ${target}`,
  });
  let known = options.lookup?.chains ?? rememberedChains(remote);
  let fromMemory = options.lookup?.chains !== undefined ? options.lookup.remembered : true;
  if (known === undefined) {
    known = await remoteLayerChains(remote);
    fromMemory = false;
  }
  let sent: SentArchive;
  try {
    sent = await sendArchive(options, inspected, target, diffIds, presentLayers(diffIds, known));
  } catch (error) {
    if (!(fromMemory && error instanceof MissingRemoteLayerError)) throw error;
    // What was remembered of the remote went stale (an image pruned since): ask, and send again.
    forgetLayers(remote);
    known = await remoteLayerChains(remote);
    sent = await sendArchive(options, inspected, target, diffIds, presentLayers(diffIds, known));
  }
  // The archive was made from a config checked to be the image, and layers hashed to its diff ids,
  // which the remote engine checks again as it loads: loaded without error, it is this image there.
  await (options.layerCache ?? new LayerCache()).trim();
  rememberLayers(remote, diffIds);
  options.onProgress?.({
    phase: 'done',
    message: `${image} is on ${target}: ${formatBytes(sent.bytesSent)} sent (${sent.toSend} of ${diffIds.length} layers)`,
    bytesSent: sent.bytesSent,
    layers: { total: diffIds.length, toSend: sent.toSend },
  });
  return {
    imageId: sent.imageId,
    layersTotal: diffIds.length,
    layersSent: sent.toSend,
    bytesSent: sent.bytesSent,
    bytesFull: inspected.Size,
    bytesExported: sent.bytesExported,
    layersExported: sent.layersExported,
  };
}

interface SentArchive {
  /** The remote engine's id for the image (the config's digest). */
  readonly imageId: string;
  readonly toSend: number;
  readonly bytesSent: number;
  readonly bytesExported: number;
  readonly layersExported: number;
}

/**
 * Takes the image from the local engine's `docker save` (only the layers the remote lacks that
 * are not cached locally, stopping as soon as they have streamed by) and streams a legacy-layout
 * archive of the config and those layers into `docker load` on the remote.
 */
async function sendArchive(
  options: TransferImageOptions,
  inspected: Dockerode.ImageInspectInfo,
  target: string,
  diffIds: readonly string[],
  present: readonly boolean[],
): Promise<SentArchive> {
  const { local, image } = options;
  const progress = throttled(options.onProgress ?? (() => undefined));
  const cache = options.layerCache ?? new LayerCache();
  const missing = [...new Set(diffIds.filter((_, i) => present[i] !== true))];
  const layers = { total: diffIds.length, toSend: missing.length };
  const opened = new Map<string, OpenedLayer>();
  let bytesSent = 0;
  try {
    // Cached layers are opened first: an open file outlives a concurrent trim.
    for (const diffId of missing) {
      const layer = await cache.open(diffId);
      if (layer !== undefined) opened.set(diffId, layer);
    }
    const needed = new Set(missing.filter((diffId) => !opened.has(diffId)));
    options.onProgress?.({
      phase: 'export',
      message: `Exporting ${needed.size} of ${diffIds.length} layers of ${image} (${opened.size} cached)`,
      layers,
    });
    // Every layer cached and the config kept: no export at all (another remote, a pruned one).
    const keptConfig = needed.size === 0 ? await cache.config(inspected.Id) : undefined;
    let saved: Pick<SavedImage, 'config' | 'configDigest' | 'diffIds' | 'repoTags'>;
    let bytesExported = 0;
    let layersExported = 0;
    if (keptConfig !== undefined) {
      saved = {
        config: keptConfig,
        configDigest: inspected.Id,
        diffIds: configDiffIds(keptConfig, 'the cached image config'),
        repoTags: [],
      };
    } else {
      const read = await readSaveArchive(
        options.saveArchive === undefined
          ? ((await local.getImage(image).get()) as Readable)
          : await options.saveArchive(),
        {
          imageId: inspected.Id,
          diffIds,
          needed,
          cache,
          ...(options.readWholeArchive === true ? { readAll: true } : {}),
        },
      );
      saved = savedImage(read, inspected);
      bytesExported = read.bytesRead;
      layersExported = read.cached.size;
      if (saved.configDigest === inspected.Id) await cache.keepConfig(inspected.Id, saved.config);
    }
    if (!sameList(saved.diffIds, diffIds)) {
      throw new ImageShippingError(
        `the archive the local engine saved for ${image} has layers ${saved.diffIds.join(', ')}, not the ${diffIds.join(', ')} inspected: another build moved the tag meanwhile; build again (an image tag of its own, imageTag, avoids this)`,
      );
    }
    for (const diffId of needed) {
      const layer = await cache.open(diffId);
      if (layer === undefined) {
        throw new SaveArchiveError(`it does not hold layer ${diffId} of ${image}`);
      }
      opened.set(diffId, layer);
    }

    options.onProgress?.({
      phase: 'transfer',
      message: `Sending ${missing.length} of ${diffIds.length} layers of ${image} to ${target}`,
      bytesSent: 0,
      layers,
    });
    const archive = legacyArchive({
      config: saved.config,
      configDigest: saved.configDigest,
      diffIds,
      layers: opened,
      repoTags: repoTagsFor(image, saved.repoTags),
    });
    const counter = new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
        bytesSent += chunk.length;
        progress({
          phase: 'transfer',
          message: `Sent ${formatBytes(bytesSent)} of ${image} to ${target}`,
          bytesSent,
          layers,
        });
        callback(null, chunk);
      },
    });
    await loadArchive(options, archive, counter, target, () => bytesSent);
    return {
      imageId: saved.configDigest,
      toSend: missing.length,
      bytesSent,
      bytesExported,
      layersExported,
    };
  } finally {
    await Promise.all([...opened.values()].map((layer) => layer.handle.close()));
  }
}

/** The image the read found: the whole layout checked when it was read to the end, else the config. */
function savedImage(
  read: SaveReadResult,
  inspected: Dockerode.ImageInspectInfo,
): Pick<SavedImage, 'config' | 'configDigest' | 'diffIds' | 'repoTags'> {
  if (read.complete) {
    return resolveSavedImage(read.entries, {
      imageId: inspected.Id,
      platform: {
        os: inspected.Os,
        architecture: inspected.Architecture,
        ...(typeof inspected.Variant === 'string' && inspected.Variant !== ''
          ? { variant: inspected.Variant }
          : {}),
      },
    });
  }
  // Stopped early: the config was found by the image id and hashes to it (see saveArchive.ts).
  const config = read.config!;
  return {
    config,
    configDigest: inspected.Id,
    diffIds: configDiffIds(config, 'the image config'),
    repoTags: [],
  };
}

/** The tags to load the image under: the reference shipped when it is a name, else what the archive had. */
function repoTagsFor(image: string, saved: readonly string[]): string[] {
  // An id, or a digest reference (`name@sha256:…`), is no tag: keep what the archive named.
  if (/^(sha256:)?[0-9a-f]{12,64}$/.test(image) || image.includes('@')) return [...saved];
  return [image.includes(':', image.lastIndexOf('/') + 1) ? image : `${image}:latest`];
}

async function loadArchive(
  options: TransferImageOptions,
  archive: Readable,
  counter: Transform,
  target: string,
  sent: () => number,
): Promise<void> {
  const { remote, image } = options;
  const abort = new AbortController();
  const onAbort = (): void => abort.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  // An aborted pipeline destroys its streams with an AbortError that they emit after the pipeline
  // has let go of them; that failure is the one `upload` and the load's answer report below.
  let streamError: unknown;
  const noteError = (error: unknown): void => {
    streamError ??= error;
  };
  archive.on('error', noteError);
  counter.on('error', noteError);
  try {
    const upload = pipeline(archive, counter, { signal: abort.signal });
    upload.catch(() => undefined);
    let answer: NodeJS.ReadableStream;
    try {
      answer = await remote.loadImage(counter, {
        quiet: true,
        abortSignal: abort.signal,
      } as object);
    } catch (error) {
      abort.abort(error);
      throw error;
    }
    options.onProgress?.({
      phase: 'load',
      message: `${target} is loading ${image}`,
      bytesSent: sent(),
    });
    const messages = await readJsonStream(answer);
    await upload;
    const failure = messages.find((m) => m.error !== undefined || m.errorDetail !== undefined);
    if (failure !== undefined) {
      const reason = failure.errorDetail?.message ?? failure.error ?? 'unknown error';
      if (isMissingLayer(reason)) throw missingLayer(target, image, reason);
      throw new ImageShippingError(`${target} could not load ${image}: ${reason}`);
    }
  } catch (error) {
    if (error instanceof ImageShippingError) throw error;
    const reason = engineMessage(error);
    if (isMissingLayer(reason)) throw missingLayer(target, image, reason, error);
    throw new ImageTransferInterruptedError(image, target, sent(), reason, {
      cause: streamError === undefined ? error : new AggregateError([error, streamError]),
    });
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/** The engine's answer when an archive leaves out a layer it does not have. */
function isMissingLayer(reason: string): boolean {
  return /no such file or directory/.test(reason) && /layer\.tar|blobs\/sha256/.test(reason);
}

function missingLayer(
  target: string,
  image: string,
  reason: string,
  cause?: unknown,
): MissingRemoteLayerError {
  // The remote lost a layer between the comparison and the load (pruned meanwhile): say so.
  return new MissingRemoteLayerError(
    `${target} refused ${image}: it no longer has a layer Ferry left out (${reason}); run again`,
    cause === undefined ? undefined : { cause },
  );
}

interface JsonMessage {
  readonly stream?: string;
  readonly status?: string;
  readonly error?: string;
  readonly errorDetail?: { readonly message?: string };
}

async function readJsonStream(stream: NodeJS.ReadableStream): Promise<JsonMessage[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  const messages: JsonMessage[] = [];
  for (const line of Buffer.concat(chunks).toString('utf8').split(/\r?\n/)) {
    if (line.trim() === '') continue;
    messages.push(
      line.trimStart().startsWith('{') ? (JSON.parse(line) as JsonMessage) : { stream: line },
    );
  }
  return messages;
}
