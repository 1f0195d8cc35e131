/**
 * The archive Ferry sends to a remote engine's `docker load`: the legacy `docker save` layout
 * (`manifest.json`, `<config hex>.json`, `<diff id hex>/layer.tar`), which every engine loads,
 * from Docker 20.10 (that loads nothing else) to 29. Whatever layout the local engine saved and
 * however it compressed its layers, the layers here are the uncompressed tars the image config's
 * diff ids name, so the remote engine checks each one against the config, and the config's digest
 * is the image id it registers.
 *
 * Layers the remote already has are left out: a graph-driver engine looks a layer up by chain id
 * before it opens its tar, so a missing file for a layer it has is never read.
 *
 * Written with tar-stream directly rather than through src/tar's writer: the layers come from file
 * handles opened beforehand (see layerCache.ts: they must survive a concurrent trim), which that
 * writer, made for deterministic packages of named files, does not take.
 */
import { PassThrough, type Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { FIXED_MTIME_DATE } from '../tar/index.js';
import type { OpenedLayer } from './layerCache.js';

type EntryHeader = Partial<tarStream.Header> & Pick<tarStream.Header, 'name'>;

export interface LegacyArchiveContents {
  readonly config: Buffer;
  readonly configDigest: string;
  /** Bottom layer first, as in the config. */
  readonly diffIds: readonly string[];
  /** The layers to include (the others the remote has). */
  readonly layers: ReadonlyMap<string, OpenedLayer>;
  /** Names the remote engine tags the image with (`name:tag`). */
  readonly repoTags: readonly string[];
}

/** The legacy `manifest.json` for an image (pure). */
export function legacyManifest(contents: Omit<LegacyArchiveContents, 'layers'>): Buffer {
  return Buffer.from(
    JSON.stringify([
      {
        Config: `${hex(contents.configDigest)}.json`,
        RepoTags: contents.repoTags,
        Layers: contents.diffIds.map((diffId) => `${hex(diffId)}/layer.tar`),
      },
    ]),
  );
}

/** Streams the archive; layer bytes are read from their handles as the archive is consumed. */
export function legacyArchive(contents: LegacyArchiveContents): Readable {
  const pack = tarStream.pack();
  const out = new PassThrough();
  pack.on('error', (error: Error) => out.destroy(error));
  pack.pipe(out);
  write(pack, contents).then(
    () => pack.finalize(),
    (error: unknown) => pack.destroy(error as Error),
  );
  return out;
}

async function write(pack: tarStream.Pack, contents: LegacyArchiveContents): Promise<void> {
  const header = (name: string, size: number, type: 'file' | 'directory' = 'file') => ({
    name,
    size,
    type,
    mode: type === 'file' ? 0o644 : 0o755,
    mtime: FIXED_MTIME_DATE,
    uid: 0,
    gid: 0,
  });
  await entry(
    pack,
    header(`${hex(contents.configDigest)}.json`, contents.config.length),
    contents.config,
  );
  const written = new Set<string>();
  for (const diffId of contents.diffIds) {
    const layer = contents.layers.get(diffId);
    if (layer === undefined || written.has(diffId)) continue;
    written.add(diffId);
    await entry(pack, header(`${hex(diffId)}/`, 0, 'directory'));
    await streamLayer(pack, header(`${hex(diffId)}/layer.tar`, layer.size), layer);
  }
  const manifest = legacyManifest(contents);
  await entry(pack, header('manifest.json', manifest.length), manifest);
}

function entry(pack: tarStream.Pack, header: EntryHeader, bytes?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error | null): void => (error ? reject(error) : resolve());
    if (bytes === undefined) pack.entry(header, done);
    else pack.entry(header, bytes, done);
  });
}

async function streamLayer(
  pack: tarStream.Pack,
  header: EntryHeader,
  layer: OpenedLayer,
): Promise<void> {
  let finished!: (error?: Error | null) => void;
  const done = new Promise<void>((resolve, reject) => {
    finished = (error) => (error ? reject(error) : resolve());
  });
  // Settled by the pack: when it is destroyed (the load failed), no drain ever comes.
  const failed = done.then(
    () => new Promise<never>(() => undefined),
    (error: unknown) => Promise.reject(error),
  );
  failed.catch(() => undefined);
  const sink = pack.entry(header, finished);
  // A destroyed pack fails its entry: `finished` hears it, and the entry must not throw it again.
  sink.on('error', (error: Error) => finished(error));
  let position = 0;
  const buffer = Buffer.alloc(1024 * 1024);
  while (position < layer.size) {
    const { bytesRead } = await layer.handle.read(
      buffer,
      0,
      Math.min(buffer.length, layer.size - position),
      position,
    );
    if (bytesRead === 0) break;
    position += bytesRead;
    // tar-stream keeps what it is given: a copy, since the buffer is reused.
    if (!sink.write(Buffer.from(buffer.subarray(0, bytesRead)))) {
      await Promise.race([
        new Promise<void>((resolve) => sink.once('drain', () => resolve())),
        failed,
      ]);
    }
  }
  sink.end(null);
  await done;
}

function hex(digest: string): string {
  return digest.replace(/^sha256:/, '');
}
