/**
 * What a remote engine holds, asked with as few round trips as the question allows: on a far link
 * every serial API call costs a round trip, which is more than the few kilobytes a one-line change
 * sends. What this process learnt about an engine (chain ids seen there, or put there by a load) is
 * remembered per client, so the next shipment over the same connection asks nothing before it
 * sends. Remembered facts can go stale (an image pruned meanwhile); they can only make Ferry leave
 * out a layer the engine no longer has, which `docker load` refuses as a whole, and the transfer
 * then asks again and sends once more (see transfer.ts).
 */
import type Dockerode from 'dockerode';
import { engineStatus } from '../engines/dockerApi.js';
import { chainIds } from './layers.js';

/** Chain ids known to be on each engine (keyed by its client: one per connection). */
const remembered = new WeakMap<Dockerode, Set<string>>();

/** The chain ids this process knows `docker`'s engine has; undefined when it knows nothing. */
export function rememberedChains(docker: Dockerode): ReadonlySet<string> | undefined {
  return remembered.get(docker);
}

/** Notes that the engine has every layer of an image (it was loaded or found there). */
export function rememberLayers(docker: Dockerode, diffIds: readonly string[]): void {
  const chains = remembered.get(docker) ?? new Set<string>();
  for (const chain of chainIds(diffIds)) chains.add(chain);
  remembered.set(docker, chains);
}

/** Drops what is remembered of an engine (it turned out stale). */
export function forgetLayers(docker: Dockerode): void {
  remembered.delete(docker);
}

/** The remote engine's copy of an image, found by id. */
export interface RemoteCopy {
  readonly repoTags: readonly string[];
}

/** How shipping starts: whether the remote has the image, and which of its layers it has. */
export interface RemoteLookup {
  readonly present: RemoteCopy | undefined;
  /** Chain ids the engine has, as far as known (undefined when the image is present: not needed). */
  readonly chains: ReadonlySet<string> | undefined;
  /** From this process's memory rather than asked just now: may be stale. */
  readonly remembered: boolean;
}

/**
 * Finds out whether the remote engine has image `imageId` (layers `diffIds`) and, when it does not,
 * which of its layers it has:
 *
 * - with remembered layers and the image's top layer among them: one inspect of the image;
 * - with remembered layers and its top layer not: nothing (an image is made of its layers, so the
 *   engine cannot have it, unless another process put it there, and then loading it again is a
 *   no-op);
 * - knowing nothing: one listing (which has every image's id, so it answers the first question),
 *   then, when the image is not there, every listed image inspected at once.
 */
export async function lookUpRemote(
  docker: Dockerode,
  imageId: string,
  diffIds: readonly string[],
): Promise<RemoteLookup> {
  const known = remembered.get(docker);
  if (known !== undefined) {
    const top = chainIds(diffIds).at(-1);
    if (top === undefined || !known.has(top)) {
      return { present: undefined, chains: known, remembered: true };
    }
    const copy = await inspectCopy(docker, imageId);
    if (copy !== undefined) return { present: copy, chains: undefined, remembered: true };
    // Gone since it was seen: what else is remembered may be gone too.
    forgetLayers(docker);
  }
  const images = await docker.listImages();
  const listed = images.find((image) => image.Id === imageId);
  if (listed !== undefined) {
    rememberLayers(docker, diffIds);
    return { present: { repoTags: listed.RepoTags ?? [] }, chains: undefined, remembered: false };
  }
  const chains = await chainsOf(
    docker,
    images.map((image) => image.Id),
  );
  remembered.set(docker, new Set(chains));
  return { present: undefined, chains, remembered: false };
}

/** Chain ids of every layer the images on an engine are made of (asked now, nothing remembered). */
export async function remoteLayerChains(docker: Dockerode, concurrency = 8): Promise<Set<string>> {
  const images = await docker.listImages();
  const chains = await chainsOf(
    docker,
    images.map((image) => image.Id),
    concurrency,
  );
  remembered.set(docker, new Set(chains));
  return chains;
}

async function chainsOf(
  docker: Dockerode,
  imageIds: readonly string[],
  concurrency = 8,
): Promise<Set<string>> {
  const chains = new Set<string>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < imageIds.length) {
      const id = imageIds[next];
      next += 1;
      if (id === undefined) continue;
      try {
        const info = await docker.getImage(id).inspect();
        for (const chain of chainIds(info.RootFS.Layers ?? [])) chains.add(chain);
      } catch (error) {
        // An image removed between the listing and the inspection has no layers to offer.
        if (engineStatus(error) !== 404) throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, imageIds.length) }, worker));
  return chains;
}

async function inspectCopy(docker: Dockerode, imageId: string): Promise<RemoteCopy | undefined> {
  try {
    const info = await docker.getImage(imageId).inspect();
    return { repoTags: info.RepoTags ?? [] };
  } catch (error) {
    if (engineStatus(error) === 404) return undefined;
    throw error;
  }
}
