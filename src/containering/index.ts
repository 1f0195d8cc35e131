export {
  ContaineringTask,
  DEFAULT_BASE_IMAGE,
  DEFAULT_ENTRY_FILE_NAME,
  type ContaineringTaskFields,
} from './containeringTask.js';
export {
  makeContainer,
  defaultTag,
  LABELS,
  type ImageInfo,
  type MakeContainerOptions,
  type ContaineringProgress,
  type ContaineringStage,
} from './makeContainer.js';
export {
  renderTemplate,
  loadDefaultTemplate,
  TEMPLATES_DIR,
  type TemplateSource,
} from './templates.js';
export {
  contextTarStream,
  contextTarBuffer,
  contextDigest,
  normalizeEntries,
  fileFromBytes,
  FIXED_MTIME,
  type ContextEntry,
  type ContextFile,
  type ContextDirectory,
  type ContextSymlink,
} from './contextTar.js';
export {
  ensureDependencies,
  dependenciesKey,
  defaultCacheDir,
  type CachedDependencies,
  type DependencyCacheOptions,
  type InstallTarget,
  type Libc,
  type ScriptedPackage,
} from './dependencies.js';
export {
  IMAGE_PLATFORMS,
  DEPENDENCY_MODES,
  type ImagePlatform,
  type DependencyMode,
} from './platform.js';
export { APP_DIR, PACKAGE_DIR, assembleBuildContext, type BuildContext } from './buildContext.js';
export { bundleRuntime, type RuntimeBundle } from './runtimeBundle.js';
export * from './errors.js';
