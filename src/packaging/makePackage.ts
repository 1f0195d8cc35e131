import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ferryVersion, nodeRange } from '../version.js';
import { comparePaths, isIncompressible, writeTarGz, type TarFile } from '../tar/index.js';
import { BUNDLE_FOLDER, bundleSourceModules } from './bundle.js';
import { ExportedClasses } from './classRegistry.js';
import { collectAssets, type AssetFile } from './assets.js';
import { findProjectRoot, resolveExternalDependencies } from './dependencies.js';
import {
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_FORMAT_VERSION,
  contentHash,
  assetPackagePath,
  makeUid,
  renderManifest,
  resourceFiles,
  sha256,
  type PackageManifest,
} from './manifest.js';
import type { PackagingTask } from './packagingTask.js';
import { sha256File } from './packageFile.js';
import { serializeResource } from './serializeResource.js';
import { listSourceModules } from './sourceModules.js';

export type PackagingStage = 'listing' | 'bundling' | 'serializing' | 'assets' | 'writing';

export interface MakePackageOptions {
  /** Folder the `.tar.gz` is written to. */
  readonly outputDir: string;
  /** Told when each stage of packaging starts. */
  readonly onProgress?: (stage: PackagingStage, detail: string) => void;
}

export interface PackageInfo {
  /** The package file, `<outputDir>/<uid>.tar.gz`. */
  readonly path: string;
  readonly uid: string;
  readonly name: string;
  readonly version: string;
  readonly manifest: PackageManifest;
  /** Size of the package file in bytes. */
  readonly size: number;
}

/**
 * Bundles the task's source root under a UID namespace, serializes its payload beside it and writes
 * a deterministic `.tar.gz` carrying a manifest with the SHA-256 of every file.
 */
export async function makePackage(
  task: PackagingTask,
  options: MakePackageOptions,
): Promise<PackageInfo> {
  const progress = options.onProgress ?? (() => undefined);

  progress('listing', task.sourceRoot);
  const modules = await listSourceModules(task.sourceRoot, task.exclude);

  progress('bundling', `${modules.length} modules`);
  const bundle = await bundleSourceModules(task.sourceRoot, modules);
  const { dependencies, locked } = await resolveExternalDependencies(
    bundle.externalImports,
    task.sourceRoot,
    task.projectRoot,
  );

  progress('serializing', Object.keys(task.payload).join(', '));
  const classes = new ExportedClasses(task.sourceRoot, bundle.exportsByModule);
  const resources = Object.keys(task.payload).sort();
  const resourceEntries: PackageFile[] = [];
  for (const resource of resources) {
    const { document, blobs } = await serializeResource(task.payload[resource], resource, classes);
    const files = resourceFiles(resource);
    resourceEntries.push(
      inMemory(files.document, Buffer.from(JSON.stringify(document))),
      inMemory(files.blobs, blobs),
    );
  }

  const assets = await taskAssets(task, progress);
  const assetEntries: PackageFile[] = [];
  for (const asset of assets) {
    assetEntries.push({
      path: assetPackagePath(asset.path),
      file: asset.absolutePath,
      size: asset.size,
      sha256: await sha256File(asset.absolutePath),
    });
  }

  const entries: PackageFile[] = [
    ...bundle.files.map((file) => inMemory(`${BUNDLE_FOLDER}/${file.path}`, file.contents)),
    ...resourceEntries,
    ...assetEntries,
  ].sort((a, b) => comparePaths(a.path, b.path));
  const files = Object.fromEntries(entries.map((e) => [e.path, e.sha256]));
  const sizes = Object.fromEntries(entries.map((e) => [e.path, e.size]));
  const content: Omit<PackageManifest, 'uid'> = {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    name: task.name,
    version: task.version,
    ferryVersion,
    node: nodeRange,
    modules: Object.fromEntries(
      modules.map((m) => [m.modulePath, `${BUNDLE_FOLDER}/${m.bundlePath}`]),
    ),
    exports: Object.fromEntries(
      modules.map((m) => [
        m.modulePath,
        [...(bundle.exportsByModule.get(m.modulePath) ?? [])].sort(),
      ]),
    ),
    resources,
    ...(assets.length === 0 ? {} : { assets: assets.map((asset) => asset.path) }),
    dependencies,
    lockedDependencies: locked,
    files,
    sizes,
  };
  const uid = makeUid(task.name, task.version, contentHash(content));
  // The UID goes after the version, where a reader looks for it; the hash does not depend on order.
  const { format, formatVersion, name, version, ...rest } = content;
  const manifest: PackageManifest = { format, formatVersion, name, version, uid, ...rest };

  const packagePath = path.join(path.resolve(options.outputDir), `${uid}.tar.gz`);
  progress('writing', packagePath);
  const manifestEntry = inMemory(MANIFEST_FILE, Buffer.from(renderManifest(manifest)));
  // The manifest leads, so an installer checks it before reading anything else.
  await writeTarGz(packagePath, [manifestEntry, ...entries].map(asTarFile), {
    leading: MANIFEST_FILE,
    store: isStoredUncompressed,
  });
  const { size } = await stat(packagePath);
  return { path: packagePath, uid, name: task.name, version: task.version, manifest, size };
}

/** A file of the package: bytes made here, or a project file streamed as the archive is written. */
type PackageFile = {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
} & ({ readonly contents: Uint8Array } | { readonly file: string });

function inMemory(filePath: string, contents: Uint8Array): PackageFile {
  return { path: filePath, contents, size: contents.byteLength, sha256: sha256(contents) };
}

/** The task's asset files, matched under its project root. */
async function taskAssets(
  task: PackagingTask,
  progress: (stage: PackagingStage, detail: string) => void,
): Promise<AssetFile[]> {
  if (task.assets.length === 0) return [];
  const projectRoot = task.projectRoot ?? (await findProjectRoot(task.sourceRoot));
  progress('assets', task.assets.join(', '));
  return collectAssets(projectRoot, task.assets);
}

/** Below this size deflating a file costs too little to be worth a probe or a gzip member. */
const STORE_MIN_BYTES = 1024 * 1024;

/**
 * Large files deflate would barely shrink (a payload's side-car of floats) are stored, not
 * deflated: level-9 deflate of such bytes runs at tens of MB/s to save a few percent, on bytes that
 * never cross a link as this archive (images carry their own layers). The choice follows from the
 * bytes alone, so the package stays deterministic.
 */
function isStoredUncompressed(file: TarFile): boolean {
  return (
    'bytes' in file.source &&
    file.source.bytes.byteLength >= STORE_MIN_BYTES &&
    isIncompressible(file.source.bytes)
  );
}

function asTarFile(file: PackageFile): TarFile {
  return {
    type: 'file',
    path: file.path,
    source: 'contents' in file ? { bytes: file.contents } : { file: file.file, size: file.size },
  };
}
