export { PackagingTask, type PackagingTaskFields } from './packagingTask.js';
export {
  makePackage,
  type MakePackageOptions,
  type PackageInfo,
  type PackagingStage,
} from './makePackage.js';
export {
  installPackage,
  installPackageAndGetLoader,
  type InstallPackageOptions,
  type InstalledPackage,
} from './install.js';
export { loadInstalledPackage } from './load.js';
export { EntryPoint, type LoadResourceOptions } from './entryPoint.js';
export { PACKAGE_LIMITS, type PackageManifest } from './manifest.js';
export type { RunAssets } from './assetPaths.js';
export { snapshotJob, type Snapshot } from './snapshot.js';
export type {
  ExternalDependency,
  ExternalDependencies,
  LockedPackage,
  LockedPackages,
} from './dependencies.js';
export * from './errors.js';
export { packagePath, sha256File } from './packageFile.js';
