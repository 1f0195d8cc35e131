/**
 * OCI image-layout archives built to the specification (image-spec v1.1: `oci-layout`,
 * `index.json`, `blobs/sha256/<hex>`, manifests, indexes) from a real engine's legacy `docker save`
 * archive, as Docker 25 to 29 would write them: layers uncompressed (Docker 25's own saves) or
 * gzip-compressed (the containerd image store), the image alone or behind an index of two
 * platforms, with the legacy `manifest.json` pointing into `blobs/` that Docker 25+ writes beside.
 * This machine's engine is Docker 20.10, which writes only the legacy layout.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tarStream from 'tar-stream';
import { rawTar, type RawTarEntry } from '../support/rawTar.js';

export interface OciLayoutOptions {
  /** Layers as `tar+gzip` blobs (else plain `tar`). */
  readonly gzip: boolean;
  /** index.json → an index of linux/arm64/v8 (another image) and the image's own platform. */
  readonly twoPlatforms: boolean;
  /** The image's platform (its config says). Default: linux/amd64. */
  readonly platform?: { readonly os: string; readonly architecture: string };
}

export interface OciLayout {
  readonly archive: Buffer;
  /** What index.json names: the image's manifest, or the index. */
  readonly rootDigest: string;
  readonly manifestDigest: string;
  readonly configDigest: string;
  readonly layerDigests: readonly string[];
}

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

/** Reads a whole (small enough) tar into a map of its regular files. */
export async function tarFiles(archive: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const extract = tarStream.extract();
  Readable.from([archive]).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    if (entry.header.type === 'file') files.set(entry.header.name, Buffer.concat(chunks));
  }
  return files;
}

/** The OCI layout of the one image in a legacy save archive. */
export async function ociFromLegacy(legacy: Buffer, options: OciLayoutOptions): Promise<OciLayout> {
  const files = await tarFiles(legacy);
  const [item] = JSON.parse(files.get('manifest.json')!.toString('utf8')) as {
    Config: string;
    RepoTags: string[] | null;
    Layers: string[];
  }[];
  const blobs = new Map<string, Buffer>();
  const put = (bytes: Buffer): { digest: string; size: number } => {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    blobs.set(digest, bytes);
    return { digest, size: bytes.length };
  };
  const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
  const config = put(files.get(item!.Config)!);
  const layers = item!.Layers.map((layerPath) => {
    const tar = files.get(layerPath)!;
    return {
      mediaType: options.gzip
        ? 'application/vnd.oci.image.layer.v1.tar+gzip'
        : 'application/vnd.oci.image.layer.v1.tar',
      ...put(options.gzip ? gzipSync(tar, { level: 1 }) : tar),
    };
  });
  const manifest = put(
    json({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, ...config },
      layers,
    }),
  );
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  let root = { mediaType: OCI_MANIFEST, ...manifest };
  if (options.twoPlatforms) {
    // Another platform's image, listed first, whose layers the archive lacks (as containerd
    // exports of a multi-platform image hold only what the engine pulled).
    const otherConfig = put(
      json({
        architecture: 'arm64',
        variant: 'v8',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] },
      }),
    );
    const otherManifest = put(
      json({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, ...otherConfig },
        layers: [
          {
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
            digest: `sha256:${'1'.repeat(64)}`,
            size: 1234,
          },
        ],
      }),
    );
    const index = put(
      json({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: OCI_MANIFEST,
            ...otherManifest,
            platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
          },
          { mediaType: OCI_MANIFEST, ...manifest, platform },
        ],
      }),
    );
    root = { mediaType: OCI_INDEX, ...index };
  }
  const name = item!.RepoTags?.[0];
  const entries: RawTarEntry[] = [
    { path: 'blobs/', type: '5' },
    { path: 'blobs/sha256/', type: '5' },
    ...[...blobs.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([digest, bytes]) => ({ path: `blobs/sha256/${digest.slice(7)}`, contents: bytes })),
    {
      path: 'index.json',
      contents: json({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            ...root,
            annotations:
              name === undefined
                ? {}
                : {
                    'io.containerd.image.name': `docker.io/library/${name}`,
                    'org.opencontainers.image.ref.name': name.slice(name.lastIndexOf(':') + 1),
                  },
          },
        ],
      }),
    },
    {
      path: 'manifest.json',
      contents: json([
        {
          Config: `blobs/sha256/${config.digest.slice(7)}`,
          RepoTags: item!.RepoTags ?? [],
          Layers: layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
        },
      ]),
    },
    { path: 'oci-layout', contents: json({ imageLayoutVersion: '1.0.0' }) },
  ];
  return {
    archive: rawTar(entries),
    rootDigest: root.digest,
    manifestDigest: manifest.digest,
    configDigest: config.digest,
    layerDigests: layers.map((l) => l.digest),
  };
}
