import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Dockerode from 'dockerode';
import { formatBytes } from '../units.js';
import { engineMessage } from '../engines/dockerApi.js';
import {
  ImageShippingError,
  ImageTransferInterruptedError,
  MissingRemoteLayerError,
} from './errors.js';
import { ArchiveIdentity } from './archiveIdentity.js';
import { chainIds, legacyLayerPosition, presentLayers } from './layers.js';
import { throttled, type ShippingProgressListener } from './progress.js';
import {
  forgetLayers,
  rememberLayers,
  rememberedChains,
  remoteLayerChains,
  type RemoteLookup,
} from './remoteLayers.js';
import { TarFilter } from './tarFilter.js';

/** What a direct transfer did. */
export interface TransferResult {
  /** `sha256:…` image id, the same on both engines. */
  readonly imageId: string;
  readonly layersTotal: number;
  /** Layers whose tarballs were sent (the others the remote engine already had). */
  readonly layersSent: number;
  /** Bytes of the (filtered) save archive sent to the remote engine. */
  readonly bytesSent: number;
  /** Bytes the full `docker save` archive has (headers and padding included): what sending everything costs. */
  readonly bytesFull: number;
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
    sent = await sendArchive(options, inspected.Id, target, diffIds, presentLayers(diffIds, known));
  } catch (error) {
    if (!(fromMemory && error instanceof MissingRemoteLayerError)) throw error;
    // What was remembered of the remote went stale (an image pruned since): ask, and send again.
    forgetLayers(remote);
    known = await remoteLayerChains(remote);
    sent = await sendArchive(options, inspected.Id, target, diffIds, presentLayers(diffIds, known));
  }

  // An archive checked on the way to be this image, loaded without error, is this image there;
  // otherwise the remote is asked.
  if (!sent.verified) {
    try {
      const loaded = await remote.getImage(inspected.Id).inspect();
      if (loaded.Id !== inspected.Id) throw new Error(`it names ${loaded.Id}`);
    } catch (error) {
      throw new ImageShippingError(
        `${target} reported a successful load, but has no image ${inspected.Id}`,
        { cause: error },
      );
    }
  }
  rememberLayers(remote, diffIds);
  options.onProgress?.({
    phase: 'done',
    message: `${image} is on ${target}: ${formatBytes(sent.bytesSent)} sent (${sent.toSend} of ${diffIds.length} layers)`,
    bytesSent: sent.bytesSent,
    layers: { total: diffIds.length, toSend: sent.toSend },
  });
  return {
    imageId: inspected.Id,
    layersTotal: diffIds.length,
    layersSent: sent.toSend,
    bytesSent: sent.bytesSent,
    bytesFull: sent.bytesFull,
  };
}

interface SentArchive {
  /** The archive was checked to be the image (its manifest and config) and loaded without error. */
  readonly verified: boolean;
  readonly toSend: number;
  readonly bytesSent: number;
  readonly bytesFull: number;
}

/** Streams `docker save` through the tar filter into `docker load`, leaving out the present layers. */
async function sendArchive(
  options: TransferImageOptions,
  imageId: string,
  target: string,
  diffIds: readonly string[],
  present: readonly boolean[],
): Promise<SentArchive> {
  const { local, remote, image } = options;
  const progress = throttled(options.onProgress ?? (() => undefined));
  const chains = chainIds(diffIds);
  const toSend = present.filter((p) => !p).length;
  const layers = { total: diffIds.length, toSend };
  options.onProgress?.({
    phase: 'transfer',
    message: `Sending ${toSend} of ${diffIds.length} layers of ${image} to ${target}`,
    bytesSent: 0,
    layers,
  });

  // Layer tarballs a save archive may leave out: by legacy folder (resolved from each folder's
  // `json`, which precedes its `layer.tar`), or by OCI blob digest (uncompressed layers' digests
  // are their diff ids).
  const positionOfFolder = new Map<string, number>();
  const droppableBlobs = new Set(
    diffIds.filter((diffId) => diffIds.every((d, i) => d !== diffId || present[i] === true)),
  );
  let bytesFull = 0;
  let bytesSent = 0;
  const identity = new ArchiveIdentity(imageId, image);
  const filter = new TarFilter({
    capture: (entry) =>
      (/^[0-9a-f]{64}\/json$/.test(entry.path) && entry.size < 1 << 20) ||
      identity.wants(entry.path, entry.size),
    onCaptured: (entry, contents) => {
      if (identity.wants(entry.path, entry.size)) {
        identity.see(entry.path, contents);
        return;
      }
      const folder = entry.path.slice(0, 64);
      const position = legacyLayerPosition(folder, contents, chains);
      if (position !== undefined) positionOfFolder.set(folder, position);
    },
    keep: (entry) => {
      bytesFull += 512 + Math.ceil(entry.size / 512) * 512;
      const legacy = /^([0-9a-f]{64})\/layer\.tar$/.exec(entry.path);
      if (legacy !== null) {
        const position = positionOfFolder.get(legacy[1] ?? '');
        return position === undefined || present[position] !== true;
      }
      const blob = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(entry.path);
      return blob === null || !droppableBlobs.has(`sha256:${blob[1]}`);
    },
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

  const abort = new AbortController();
  const onAbort = (): void => abort.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const saved = (await local.getImage(image).get()) as NodeJS.ReadableStream;
    const upload = pipeline(saved, filter, counter, { signal: abort.signal });
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
      bytesSent,
      layers,
    });
    const messages = await readJsonStream(answer);
    await upload;
    const failure = messages.find((m) => m.error !== undefined || m.errorDetail !== undefined);
    if (identity.error !== undefined) throw identity.error;
    if (failure !== undefined) {
      const reason = failure.errorDetail?.message ?? failure.error ?? 'unknown error';
      if (isMissingLayer(reason)) throw missingLayer(target, image, reason);
      throw new ImageShippingError(`${target} could not load ${image}: ${reason}`);
    }
  } catch (error) {
    if (identity.error !== undefined) throw identity.error;
    if (error instanceof ImageShippingError) throw error;
    const reason = engineMessage(error);
    if (isMissingLayer(reason)) throw missingLayer(target, image, reason, error);
    throw new ImageTransferInterruptedError(image, target, bytesSent, reason, { cause: error });
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  return { verified: identity.verified, toSend, bytesSent, bytesFull };
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
