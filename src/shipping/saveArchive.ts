/**
 * Reads the archive a local engine's `docker save` streams, in either layout (see saveLayout.ts),
 * taking from it only what shipping needs: the image config, the layout's documents, and the
 * layers the remote lacks that are not in the local layer cache (those go into the cache, hashed
 * as they stream, uncompressed whatever the archive stored). Every other layer streams by without
 * being hashed or stored, and the read stops as soon as the config and every needed layer have
 * been seen: on a one-line change that is before the base layer's hundred megabytes, when the
 * archive puts it after them, and always before the end.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { readTar, type TarEntryInfo } from '../tar/index.js';
import { SaveArchiveError } from './errors.js';
import type { LayerCache } from './layerCache.js';
import { chainIds, legacyLayerPosition } from './layers.js';
import { LAYOUT_LIMITS, configDiffIds, type ArchiveEntry } from './saveLayout.js';

export interface SaveReadPlan {
  /** The local engine's image id. */
  readonly imageId: string;
  /** The image's diff ids as the local engine reports them. */
  readonly diffIds: readonly string[];
  /** Layers whose bytes must come from this archive (into the cache). */
  readonly needed: ReadonlySet<string>;
  readonly cache: LayerCache;
  /** Read to the end even when everything needed was seen (to measure; to check the layout whole). */
  readonly readAll?: boolean;
}

export interface SaveReadResult {
  /** Every regular file read, by path (layers streamed by unread are recorded as their names claim). */
  readonly entries: ReadonlyMap<string, ArchiveEntry>;
  /** The config, when the archive names it by the image id and its bytes hash to it. */
  readonly config: Buffer | undefined;
  /** False when the read stopped early, everything needed seen. */
  readonly complete: boolean;
  /** Archive bytes taken from the engine (headers and padding not counted). */
  readonly bytesRead: number;
  /** Layers this read put in the cache. */
  readonly cached: ReadonlySet<string>;
}

/** Bounds beyond the layout's: entries, and one layer's uncompressed size (a gzip bomb). */
export const SAVE_LIMITS = {
  maxEntries: 100_000,
  maxArchiveBytes: Number.MAX_SAFE_INTEGER,
  maxLayerBytes: 256 * 1024 * 1024 * 1024,
} as const;

const HEX = '[0-9a-f]{64}';
const DOCUMENT = new RegExp(
  `^(manifest\\.json|index\\.json|oci-layout|repositories|${HEX}\\.json|${HEX}/json|${HEX}/VERSION)$`,
);
const LEGACY_LAYER = new RegExp(`^(${HEX})/layer\\.tar$`);
const BLOB = new RegExp(`^blobs/sha256/(${HEX})$`);

/** Thrown inside the read to end it: everything needed was seen. */
class EnoughRead extends Error {}

export async function readSaveArchive(
  source: Readable,
  plan: SaveReadPlan,
): Promise<SaveReadResult> {
  const entries = new Map<string, ArchiveEntry>();
  const cached = new Set<string>();
  const imageHex = plan.imageId.replace(/^sha256:/, '');
  const layerSet = new Set(plan.diffIds);
  const chains = chainIds(plan.diffIds);
  const folderPosition = new Map<string, number>();
  let config: Buffer | undefined;
  let bytesRead = 0;

  const enough = (): boolean =>
    plan.readAll !== true &&
    config !== undefined &&
    sameList(configDiffIds(config, 'the image config'), plan.diffIds) &&
    [...plan.needed].every((diffId) => cached.has(diffId));

  const visit = async (info: TarEntryInfo, body: Readable): Promise<void> => {
    if (info.kind !== 'file' && info.kind !== 'contiguous-file') return;
    const name = entryName(info.path);
    if (entries.has(name)) throw new SaveArchiveError(`it holds ${name} twice`);
    bytesRead += info.size;
    if (DOCUMENT.test(name)) {
      if (info.size > LAYOUT_LIMITS.maxDocumentBytes) {
        throw new SaveArchiveError(`${name} declares ${info.size} bytes, more than a document may`);
      }
      const bytes = await readAll(body);
      const sha256 = sha256Hex(bytes);
      entries.set(name, {
        size: bytes.length,
        sha256,
        diffId: `sha256:${sha256}`,
        gzip: false,
        bytes,
      });
      if (name.endsWith('/json')) {
        const position = legacyLayerPosition(name.slice(0, 64), bytes, chains);
        if (position !== undefined) folderPosition.set(name.slice(0, 64), position);
      }
      if (name === `${imageHex}.json` && sha256 === imageHex && isConfig(bytes)) config = bytes;
    } else {
      const legacy = LEGACY_LAYER.exec(name)?.[1];
      const blob = BLOB.exec(name)?.[1];
      if (legacy === undefined && blob === undefined) return;
      const claimed =
        legacy !== undefined
          ? plan.diffIds[folderPosition.get(legacy) ?? -1]
          : layerSet.has(`sha256:${blob}`)
            ? `sha256:${blob}`
            : undefined;
      if (claimed !== undefined && !plan.needed.has(claimed)) {
        // Not needed: streams by unread. What it is only its name says; nothing of it is used.
        const hex = claimed.slice('sha256:'.length);
        entries.set(name, { size: info.size, sha256: blob ?? hex, diffId: claimed, gzip: false });
        return;
      }
      const entry = await readBlob(body, info.size, plan.cache, layerSet, name);
      entries.set(name, entry.entry);
      if (entry.committed) cached.add(entry.entry.diffId);
      const bytes = entry.entry.bytes;
      if (
        blob === imageHex &&
        entry.entry.sha256 === imageHex &&
        bytes !== undefined &&
        isConfig(bytes)
      ) {
        config = bytes;
      }
    }
    if (enough()) throw new EnoughRead();
  };

  let complete = true;
  try {
    await readTar(
      source,
      {
        gzip: false,
        name: 'the saved image archive',
        limits: () => ({
          maxEntries: SAVE_LIMITS.maxEntries,
          maxBytes: SAVE_LIMITS.maxArchiveBytes,
        }),
      },
      visit,
    );
  } catch (error) {
    if (!(error instanceof EnoughRead)) throw error;
    complete = false;
  }
  return { entries, config, complete, bytesRead, cached };
}

/**
 * Reads a blob or a layer tar: hashes it as stored, keeps it in memory when small (a document),
 * and writes it uncompressed to a cache writer, committed when it turns out to be a layer of the
 * image.
 */
async function readBlob(
  body: Readable,
  size: number,
  cache: LayerCache,
  layers: ReadonlySet<string>,
  name: string,
): Promise<{ entry: ArchiveEntry; committed: boolean }> {
  const stored = createHash('sha256');
  const small: Buffer[] | undefined = size <= LAYOUT_LIMITS.maxDocumentBytes ? [] : undefined;
  const writer = await cache.writer();
  try {
    async function* storedChunks(): AsyncGenerator<Buffer> {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        stored.update(chunk);
        small?.push(chunk);
        yield chunk;
      }
    }
    const chunks = storedChunks();
    const first = await chunks.next();
    const gzip = first.done !== true && first.value[0] === 0x1f && first.value[1] === 0x8b;
    async function* all(): AsyncGenerator<Buffer> {
      if (first.done !== true) yield first.value;
      yield* chunks;
    }
    const sink = async (uncompressed: AsyncIterable<Buffer>): Promise<void> => {
      for await (const chunk of uncompressed) {
        if (writer.bytes + chunk.length > SAVE_LIMITS.maxLayerBytes) {
          throw new SaveArchiveError(
            `${name} unpacks to more than ${SAVE_LIMITS.maxLayerBytes} bytes (a gzip bomb?)`,
          );
        }
        await writer.write(chunk);
      }
    };
    if (gzip) await pipeline(Readable.from(all()), createGunzip(), sink);
    else await sink(all());
    const diffId = await writer.finish();
    const entry: ArchiveEntry = {
      size,
      sha256: stored.digest('hex'),
      diffId,
      gzip,
      ...(small === undefined ? {} : { bytes: Buffer.concat(small) }),
    };
    if (layers.has(diffId)) {
      await writer.commit(diffId);
      return { entry, committed: true };
    }
    await writer.discard();
    return { entry, committed: false };
  } catch (error) {
    await writer.discard();
    if (error instanceof Error && 'code' in error && String(error.code).startsWith('Z_')) {
      throw new SaveArchiveError(`${name} is not valid gzip (${error.message})`, { cause: error });
    }
    throw error;
  }
}

/** The entry's path, checked: relative, no `..`, no NUL or backslash; a leading `./` dropped. */
export function entryName(raw: string): string {
  const name = raw.replace(/^(\.\/)+/, '');
  if (
    name === '' ||
    name.length > 1024 ||
    name.startsWith('/') ||
    /[\0\\]/.test(name) ||
    name.split('/').some((part) => part === '..')
  ) {
    throw new SaveArchiveError(`it holds an entry with an unsafe path ${JSON.stringify(raw)}`);
  }
  return name;
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Whether a blob named by the image id is its config (with the containerd store, it is an index). */
function isConfig(bytes: Buffer): boolean {
  try {
    configDiffIds(bytes, 'the image config');
    return true;
  } catch (error) {
    if (error instanceof SaveArchiveError) return false;
    throw error;
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
