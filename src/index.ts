/** Ferry's public API: what a job author and a tool built on Ferry import. */
export {
  FerryError,
  InputError,
  EnvironmentError,
  JobError,
  InternalError,
  type ErrorKind,
} from './errors.js';
export { ferryVersion } from './version.js';

export * from './packaging/index.js';
export {
  ferrySerialize,
  ferryDeserialize,
  NotSerializableError,
  PayloadFormatError,
  UnknownClassError,
  type FerrySerializable,
  type FerryDeserializable,
} from './packaging/serialization/index.js';

export * from './containering/index.js';
export * from './engines/index.js';

export {
  SSHDockerJobRoutine,
  type JobRoutineFields,
  type RemoteHostFields,
} from './routines/sshDockerJobRoutine.js';
export { AttachedExecutor, type AttachedExecuteOptions } from './routines/attachedExecutor.js';
export {
  LocalDockerExecutor,
  type LocalDockerExecutorFields,
} from './routines/localDockerExecutor.js';
export {
  RemoteDockerExecutor,
  type RemoteDockerExecutorFields,
  type RemoteProgress,
  type RemoteRunInfo,
  type PruneImagesOptions,
  type PruneImagesResult,
} from './routines/remoteDockerExecutor.js';
export * from './routines/swarm/index.js';
export {
  DockerOptions,
  type DockerOptionsFields,
  type GpuRequest,
  type MountSpec,
} from './routines/dockerOptions.js';
export type { Job } from './routines/job.js';
export {
  DockerExecutor,
  type DockerExecutorFields,
  type ExecutorProgress,
  type PreparedImage,
  type SweepPlan,
  type QueuedSweep,
  type SweepProgress,
  type ListRunsOptions,
} from './routines/docker/dockerExecutor.js';
export * from './routines/errors.js';
export type * from './routines/jobExecutor.js';
export type { RunContext } from './routines/results/runFolder.js';
export type { MetricPoint, RunMetrics } from './routines/results/metrics.js';
export type {
  DownloadOptions,
  DownloadProgress,
  DownloadedOutputs,
} from './routines/results/artifacts.js';
export { type ResultOptions } from './routines/results/runResults.js';
export * from './routines/results/errors.js';
export { METRIC_MARKER, parseMetricLine, parseMetrics } from './routines/results/metrics.js';

export { SshConnection, type SshConnectionOptions } from './ssh/index.js';
export * from './ssh/errors.js';
export * from './shipping/errors.js';
export type { RegistryAuth, ShipResult, ShippingProgress } from './shipping/index.js';

export {
  loadConfig,
  loadJob,
  parseConfig,
  getTarget,
  findConfigFile,
  ConfigError,
  ConfigNotFoundError,
  JobLoadError,
  MissingRegistryPasswordError,
  UnknownTargetError,
  configJsonSchema,
  checkAssets,
  checkLocalMounts,
  type FerryConfig,
  type TargetConfig,
} from './config/index.js';
export {
  createExecutor,
  localExecutorFor,
  remoteExecutorFor,
  routineFromConfig,
  packagingTaskFor,
  dockerOptionsFor,
  attachedExecutorFor,
  type ExecutorOptions,
} from './config/targets.js';
export {
  RecordStore,
  type RunRecord,
  type RunStatus,
  AmbiguousRunIdError,
  RecordStoreError,
} from './records/index.js';
export {
  InvalidParametersError,
  PARAMETERS_ENV,
  type JobParameters,
  type JsonValue,
} from './parameters/index.js';
export * from './memo/index.js';
