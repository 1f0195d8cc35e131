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
  loadInstalledPackage,
  type InstallPackageOptions,
  type InstalledPackage,
} from './installPackage.js';
export { EntryPoint, type LoadResourceOptions } from './entryPoint.js';
export type { PackageManifest } from './manifest.js';
export type {
  ExternalDependency,
  ExternalDependencies,
  LockedPackage,
  LockedPackages,
} from './dependencies.js';
export * from './errors.js';
export { packagePath, sha256File } from './packageFile.js';
