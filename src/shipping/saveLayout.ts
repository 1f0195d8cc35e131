/**
 * What a `docker save` archive holds, resolved from its entries, in either layout an engine writes:
 *
 * - the legacy one (Docker up to 24): `manifest.json` naming `<id>.json` and `<v1 id>/layer.tar`;
 * - the OCI image layout (Docker 25 and later, and the containerd image store of Docker 29):
 *   `oci-layout`, `index.json` → a manifest, or an index → the manifest for the image's platform
 *   → config and layer blobs under `blobs/sha256/`, layers uncompressed or gzip-compressed.
 *
 * Everything here is untrusted input, checked before use: digests are `sha256:` and 64 hex digits
 * and match the bytes the reader hashed; sizes match; paths are looked up among the archive's own
 * entries (never resolved on a file system); JSON is size-bounded and shape-checked; an index is
 * followed to a bounded depth. Pure: the entries come from `saveArchive.ts`.
 */
import { createHash } from 'node:crypto';
import { SaveArchiveError } from './errors.js';

/** One regular file of the archive, as the reader saw it stream by. */
export interface ArchiveEntry {
  readonly size: number;
  /** Hex SHA-256 of the entry's bytes as stored. */
  readonly sha256: string;
  /** `sha256:…` of the bytes once gunzipped (gzip entries), else of the bytes themselves. */
  readonly diffId: string;
  /** Whether the stored bytes are gzip. */
  readonly gzip: boolean;
  /** The bytes, for small entries (JSON documents, small layers). */
  readonly bytes?: Buffer;
}

/** The platform an image was built for (the local engine's inspection says). */
export interface ImagePlatform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** What the caller asks the archive for. */
export interface WantedImage {
  /** The local engine's id: a config digest (classic store), or a manifest or index digest (containerd store). */
  readonly imageId: string;
  readonly platform: ImagePlatform;
}

/** The image an archive holds, every part of it checked against the bytes. */
export interface SavedImage {
  readonly layout: 'legacy' | 'oci';
  /** The image config's bytes: its digest is the image id a classic engine gives it. */
  readonly config: Buffer;
  readonly configDigest: string;
  /** From the config's `rootfs.diff_ids`, bottom layer first. */
  readonly diffIds: readonly string[];
  /** The archive entry holding each layer, in the same order. */
  readonly layerPaths: readonly string[];
  readonly repoTags: readonly string[];
}

/** Bounds on what an archive may make the reader do. */
export const LAYOUT_LIMITS = {
  /** JSON documents (index, manifest, config) are read whole: no larger than this. */
  maxDocumentBytes: 4 * 1024 * 1024,
  /** Descriptors in an index, layers in a manifest. */
  maxDescriptors: 1024,
  /** Index → index → … → manifest. */
  maxIndexDepth: 4,
} as const;

const DIGEST = /^sha256:([0-9a-f]{64})$/;
const HEX = /^[0-9a-f]{64}$/;

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
const MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
]);
const CONFIG_TYPES = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);
/** Layer media types and whether their blob is gzip. */
const LAYER_TYPES = new Map<string, boolean>([
  ['application/vnd.oci.image.layer.v1.tar', false],
  ['application/vnd.oci.image.layer.v1.tar+gzip', true],
  ['application/vnd.docker.image.rootfs.diff.tar.gzip', true],
  // Docker 25's own saves of uncompressed layers.
  ['application/vnd.docker.image.rootfs.diff.tar', false],
]);

/** Resolves the image an archive holds: the OCI layout when it has one, else the legacy one. */
export function resolveSavedImage(
  entries: ReadonlyMap<string, ArchiveEntry>,
  wanted: WantedImage,
): SavedImage {
  if (entries.has('index.json') || entries.has('oci-layout')) return resolveOci(entries, wanted);
  if (entries.has('manifest.json')) return resolveLegacy(entries, wanted);
  throw new SaveArchiveError(
    'it has neither index.json (OCI image layout) nor manifest.json (legacy layout)',
  );
}

function resolveLegacy(
  entries: ReadonlyMap<string, ArchiveEntry>,
  wanted: WantedImage,
): SavedImage {
  const manifest = document(entries, 'manifest.json');
  if (!Array.isArray(manifest) || manifest.length !== 1) {
    throw new SaveArchiveError('manifest.json must list exactly one image');
  }
  const item = record(manifest[0], 'manifest.json[0]');
  const configPath = stringField(item, 'Config', 'manifest.json[0]');
  const layers = arrayField(item, 'Layers', 'manifest.json[0]').map((value, i) =>
    typeof value === 'string' ? value : fail(`manifest.json[0].Layers[${i}] is not a path`),
  );
  const config = configBytes(entries, configPath, undefined);
  const diffIds = configDiffIds(config, configPath);
  if (diffIds.length !== layers.length) {
    throw new SaveArchiveError(
      `manifest.json lists ${layers.length} layers, its config ${diffIds.length}`,
    );
  }
  layers.forEach((layerPath, i) => {
    const entry = requireEntry(entries, layerPath, `manifest.json[0].Layers[${i}]`);
    if (entry.diffId !== diffIds[i]) {
      throw new SaveArchiveError(
        `${layerPath} holds layer ${entry.diffId}, the config says ${diffIds[i]}`,
      );
    }
  });
  const configDigest = `sha256:${sha256Hex(config)}`;
  if (configDigest !== wanted.imageId) {
    throw new SaveArchiveError(`its config is ${configDigest}, not image ${wanted.imageId}`);
  }
  return {
    layout: 'legacy',
    config,
    configDigest,
    diffIds,
    layerPaths: layers,
    repoTags: repoTagsOf(item),
  };
}

function resolveOci(entries: ReadonlyMap<string, ArchiveEntry>, wanted: WantedImage): SavedImage {
  const layoutFile = document(entries, 'oci-layout');
  if (record(layoutFile, 'oci-layout').imageLayoutVersion !== '1.0.0') {
    throw new SaveArchiveError('oci-layout must say imageLayoutVersion "1.0.0"');
  }
  const top = record(document(entries, 'index.json'), 'index.json');
  const roots = descriptors(top, 'index.json');
  // The descriptor the engine's id names (containerd store), else the one whose manifest's config
  // is the image (classic store), else the only one.
  const manifest = pickRoot(entries, roots, wanted);
  return manifestImage(entries, manifest.descriptor, manifest.document, manifest.where, wanted);
}

interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: ImagePlatform;
  readonly annotations: Readonly<Record<string, string>>;
}

interface ResolvedManifest {
  readonly descriptor: Descriptor;
  readonly document: Record<string, unknown>;
  readonly where: string;
}

function pickRoot(
  entries: ReadonlyMap<string, ArchiveEntry>,
  roots: readonly Descriptor[],
  wanted: WantedImage,
): ResolvedManifest {
  const named = roots.find((d) => d.digest === wanted.imageId);
  if (named !== undefined) return toManifest(entries, named, 'index.json', wanted, 0);
  const candidates: ResolvedManifest[] = [];
  for (const root of roots) {
    if (!INDEX_TYPES.has(root.mediaType) && !MANIFEST_TYPES.has(root.mediaType)) continue;
    if (!entries.has(blobPath(root.digest))) continue;
    const resolved = toManifest(entries, root, 'index.json', wanted, 0);
    const config = record(resolved.document.config, `${resolved.where}.config`);
    if (config.digest === wanted.imageId) return resolved;
    candidates.push(resolved);
  }
  if (candidates.length === 1 && roots.length === 1) return candidates[0]!;
  throw new SaveArchiveError(
    `index.json names no manifest of image ${wanted.imageId} (${roots.length} descriptors)`,
  );
}

/** Follows an index down to the manifest for the wanted platform. */
function toManifest(
  entries: ReadonlyMap<string, ArchiveEntry>,
  descriptor: Descriptor,
  where: string,
  wanted: WantedImage,
  depth: number,
): ResolvedManifest {
  if (depth > LAYOUT_LIMITS.maxIndexDepth) {
    throw new SaveArchiveError(`${where}: indexes nest deeper than ${LAYOUT_LIMITS.maxIndexDepth}`);
  }
  const here = `${where} → ${descriptor.digest}`;
  const parsed = record(blobDocument(entries, descriptor, here), here);
  if (INDEX_TYPES.has(descriptor.mediaType)) {
    const children = descriptors(parsed, here).filter(
      (d) => INDEX_TYPES.has(d.mediaType) || MANIFEST_TYPES.has(d.mediaType),
    );
    const chosen = choosePlatform(children, wanted.platform);
    if (chosen === undefined) {
      throw new SaveArchiveError(
        `${here}: no manifest for ${platformName(wanted.platform)} among ${children
          .map((c) => (c.platform === undefined ? 'unnamed' : platformName(c.platform)))
          .join(', ')}`,
      );
    }
    return toManifest(entries, chosen, here, wanted, depth + 1);
  }
  if (!MANIFEST_TYPES.has(descriptor.mediaType)) {
    throw new SaveArchiveError(`${here}: media type ${descriptor.mediaType} is not a manifest`);
  }
  if (parsed.schemaVersion !== 2) throw new SaveArchiveError(`${here}: schemaVersion is not 2`);
  return { descriptor, document: parsed, where: here };
}

/**
 * The manifest for a platform, as containerd matches them: same OS and architecture, and the same
 * variant when both name one (an `arm64` image without a variant is `v8`).
 */
export function choosePlatform(
  candidates: readonly Descriptor[],
  platform: ImagePlatform,
): Descriptor | undefined {
  const same = candidates.filter(
    (c) =>
      c.platform !== undefined &&
      c.platform.os === platform.os &&
      c.platform.architecture === platform.architecture,
  );
  const variant = (p: ImagePlatform): string | undefined =>
    p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined);
  return (
    same.find((c) => variant(c.platform!) === variant(platform)) ??
    same.find((c) => c.platform!.variant === undefined || platform.variant === undefined)
  );
}

function manifestImage(
  entries: ReadonlyMap<string, ArchiveEntry>,
  descriptor: Descriptor,
  manifest: Record<string, unknown>,
  where: string,
  wanted: WantedImage,
): SavedImage {
  const configDescriptor = toDescriptor(manifest.config, `${where}.config`);
  if (!CONFIG_TYPES.has(configDescriptor.mediaType)) {
    throw new SaveArchiveError(
      `${where}.config: media type ${configDescriptor.mediaType} is not an image config`,
    );
  }
  const configPath = blobPath(configDescriptor.digest);
  const config = configBytes(entries, configPath, configDescriptor);
  const configDigest = configDescriptor.digest;
  const layerDescriptors = arrayField(manifest, 'layers', where).map((value, i) =>
    toDescriptor(value, `${where}.layers[${i}]`),
  );
  if (layerDescriptors.length > LAYOUT_LIMITS.maxDescriptors) {
    throw new SaveArchiveError(`${where} lists more than ${LAYOUT_LIMITS.maxDescriptors} layers`);
  }
  const diffIds = configDiffIds(config, configPath);
  if (diffIds.length !== layerDescriptors.length) {
    throw new SaveArchiveError(
      `${where} lists ${layerDescriptors.length} layers, its config ${diffIds.length}`,
    );
  }
  const layerPaths = layerDescriptors.map((layer, i) => {
    const at = `${where}.layers[${i}]`;
    const gzip = LAYER_TYPES.get(layer.mediaType);
    if (gzip === undefined) {
      throw new SaveArchiveError(
        `${at}: layer media type ${layer.mediaType} is not one Ferry reads (tar or tar+gzip)`,
      );
    }
    const entry = checkedBlob(entries, layer, at);
    if (entry.gzip !== gzip) {
      throw new SaveArchiveError(
        `${at}: the blob is ${entry.gzip ? '' : 'not '}gzip, its media type says otherwise`,
      );
    }
    if (entry.diffId !== diffIds[i]) {
      throw new SaveArchiveError(
        `${at} holds layer ${entry.diffId}, the config says ${diffIds[i]}`,
      );
    }
    return blobPath(layer.digest);
  });
  if (
    wanted.imageId !== configDigest &&
    wanted.imageId !== descriptor.digest &&
    !isRootOf(entries, wanted.imageId, descriptor.digest)
  ) {
    throw new SaveArchiveError(`it holds image ${configDigest}, not ${wanted.imageId}`);
  }
  return {
    layout: 'oci',
    config,
    configDigest,
    diffIds,
    layerPaths,
    repoTags: ociRepoTags(entries, wanted.imageId, configDigest),
  };
}

/** True when the id names an index in index.json that leads to `manifestDigest` (containerd store). */
function isRootOf(
  entries: ReadonlyMap<string, ArchiveEntry>,
  imageId: string,
  manifestDigest: string,
): boolean {
  const top = record(document(entries, 'index.json'), 'index.json');
  const root = descriptors(top, 'index.json').find((d) => d.digest === imageId);
  if (root === undefined || !INDEX_TYPES.has(root.mediaType)) return false;
  const index = record(blobDocument(entries, root, `index.json → ${root.digest}`), root.digest);
  return descriptors(index, root.digest).some((d) => d.digest === manifestDigest);
}

/** Tags from the legacy `manifest.json` a Docker 25+ save writes beside the OCI layout, if any. */
function ociRepoTags(
  entries: ReadonlyMap<string, ArchiveEntry>,
  imageId: string,
  configDigest: string,
): string[] {
  if (!entries.has('manifest.json')) return [];
  const manifest = document(entries, 'manifest.json');
  if (!Array.isArray(manifest)) throw new SaveArchiveError('manifest.json is not a list');
  for (const [i, value] of manifest.entries()) {
    const item = record(value, `manifest.json[${i}]`);
    const config = stringField(item, 'Config', `manifest.json[${i}]`);
    if (config === blobPath(configDigest) || config === blobPath(imageId)) return repoTagsOf(item);
  }
  return [];
}

function repoTagsOf(item: Record<string, unknown>): string[] {
  const tags = item.RepoTags;
  if (tags === undefined || tags === null) return [];
  if (!Array.isArray(tags) || !tags.every((t): t is string => typeof t === 'string')) {
    throw new SaveArchiveError('RepoTags in manifest.json is not a list of names');
  }
  return tags;
}

function configBytes(
  entries: ReadonlyMap<string, ArchiveEntry>,
  configPath: string,
  descriptor: Descriptor | undefined,
): Buffer {
  const entry =
    descriptor === undefined
      ? requireEntry(entries, configPath, 'Config')
      : checkedBlob(entries, descriptor, configPath);
  if (entry.bytes === undefined || entry.size > LAYOUT_LIMITS.maxDocumentBytes) {
    throw new SaveArchiveError(
      `its config ${configPath} is larger than ${LAYOUT_LIMITS.maxDocumentBytes} bytes`,
    );
  }
  return entry.bytes;
}

/** `rootfs.diff_ids` of a config, each a `sha256:` digest. */
export function configDiffIds(config: Buffer, where: string): string[] {
  const parsed = record(parseJson(config, where), where);
  const rootfs = record(parsed.rootfs, `${where}.rootfs`);
  if (rootfs.type !== 'layers') throw new SaveArchiveError(`${where}.rootfs.type is not "layers"`);
  const diffIds = arrayField(rootfs, 'diff_ids', `${where}.rootfs`);
  if (diffIds.length > LAYOUT_LIMITS.maxDescriptors) {
    throw new SaveArchiveError(`${where} has more than ${LAYOUT_LIMITS.maxDescriptors} layers`);
  }
  return diffIds.map((value, i) =>
    typeof value === 'string' && DIGEST.test(value)
      ? value
      : fail(`${where}.rootfs.diff_ids[${i}] is not a sha256 digest`),
  );
}

/** The blob a descriptor names, checked to exist with its size and digest. */
function checkedBlob(
  entries: ReadonlyMap<string, ArchiveEntry>,
  descriptor: Descriptor,
  where: string,
): ArchiveEntry {
  const entry = requireEntry(entries, blobPath(descriptor.digest), where);
  if (entry.size !== descriptor.size) {
    throw new SaveArchiveError(
      `${where}: blob ${descriptor.digest} has ${entry.size} bytes, its descriptor says ${descriptor.size}`,
    );
  }
  if (`sha256:${entry.sha256}` !== descriptor.digest) {
    throw new SaveArchiveError(
      `${where}: blob ${blobPath(descriptor.digest)} hashes to sha256:${entry.sha256}, not its name`,
    );
  }
  return entry;
}

function blobDocument(
  entries: ReadonlyMap<string, ArchiveEntry>,
  descriptor: Descriptor,
  where: string,
): unknown {
  const entry = checkedBlob(entries, descriptor, where);
  if (entry.bytes === undefined) {
    throw new SaveArchiveError(
      `${where}: a document larger than ${LAYOUT_LIMITS.maxDocumentBytes} bytes`,
    );
  }
  return parseJson(entry.bytes, where);
}

function descriptors(parent: Record<string, unknown>, where: string): Descriptor[] {
  if (parent.schemaVersion !== 2) throw new SaveArchiveError(`${where}: schemaVersion is not 2`);
  const list = arrayField(parent, 'manifests', where);
  if (list.length > LAYOUT_LIMITS.maxDescriptors) {
    throw new SaveArchiveError(
      `${where} lists more than ${LAYOUT_LIMITS.maxDescriptors} manifests`,
    );
  }
  return list.map((value, i) => toDescriptor(value, `${where}.manifests[${i}]`));
}

function toDescriptor(value: unknown, where: string): Descriptor {
  const item = record(value, where);
  const mediaType = stringField(item, 'mediaType', where);
  const digest = stringField(item, 'digest', where);
  if (!DIGEST.test(digest)) {
    throw new SaveArchiveError(`${where}.digest ${JSON.stringify(digest)} is not a sha256 digest`);
  }
  const size = item.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new SaveArchiveError(`${where}.size is not a byte count`);
  }
  const annotations: Record<string, string> = Object.create(null) as Record<string, string>;
  if (item.annotations !== undefined) {
    for (const [key, text] of Object.entries(record(item.annotations, `${where}.annotations`))) {
      if (typeof text === 'string') annotations[key] = text;
    }
  }
  const platform = item.platform === undefined ? undefined : toPlatform(item.platform, where);
  return { mediaType, digest, size, annotations, ...(platform === undefined ? {} : { platform }) };
}

function toPlatform(value: unknown, where: string): ImagePlatform {
  const item = record(value, `${where}.platform`);
  const os = stringField(item, 'os', `${where}.platform`);
  const architecture = stringField(item, 'architecture', `${where}.platform`);
  const variant = item.variant;
  if (variant !== undefined && typeof variant !== 'string') {
    throw new SaveArchiveError(`${where}.platform.variant is not a string`);
  }
  return { os, architecture, ...(variant === undefined ? {} : { variant }) };
}

function platformName(p: ImagePlatform): string {
  return `${p.os}/${p.architecture}${p.variant === undefined ? '' : `/${p.variant}`}`;
}

/** `blobs/sha256/<hex>` for a checked digest. */
export function blobPath(digest: string): string {
  const hex = DIGEST.exec(digest)?.[1];
  if (hex === undefined || !HEX.test(hex)) fail(`${JSON.stringify(digest)} is not a sha256 digest`);
  return `blobs/sha256/${hex}`;
}

function requireEntry(
  entries: ReadonlyMap<string, ArchiveEntry>,
  entryPath: string,
  where: string,
): ArchiveEntry {
  const entry = entries.get(entryPath);
  if (entry === undefined) {
    throw new SaveArchiveError(`${where} names ${JSON.stringify(entryPath)}, not in the archive`);
  }
  return entry;
}

function document(entries: ReadonlyMap<string, ArchiveEntry>, entryPath: string): unknown {
  const entry = requireEntry(entries, entryPath, 'the layout');
  if (entry.bytes === undefined) {
    throw new SaveArchiveError(
      `${entryPath} is larger than ${LAYOUT_LIMITS.maxDocumentBytes} bytes`,
    );
  }
  return parseJson(entry.bytes, entryPath);
}

function parseJson(bytes: Buffer, where: string): unknown {
  if (bytes.length > LAYOUT_LIMITS.maxDocumentBytes) {
    throw new SaveArchiveError(`${where} is larger than ${LAYOUT_LIMITS.maxDocumentBytes} bytes`);
  }
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new SaveArchiveError(`${where} is not JSON (${error.message})`);
    }
    throw error;
  }
}

function record(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SaveArchiveError(`${where} is not an object`);
  }
  return value as Record<string, unknown>;
}

function stringField(item: Record<string, unknown>, key: string, where: string): string {
  const value = Object.hasOwn(item, key) ? item[key] : undefined;
  if (typeof value !== 'string' || value === '') {
    throw new SaveArchiveError(`${where}.${key} is not a string`);
  }
  return value;
}

function arrayField(item: Record<string, unknown>, key: string, where: string): unknown[] {
  const value = Object.hasOwn(item, key) ? item[key] : undefined;
  if (!Array.isArray(value)) throw new SaveArchiveError(`${where}.${key} is not a list`);
  return value as unknown[];
}

function fail(message: string): never {
  throw new SaveArchiveError(message);
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
