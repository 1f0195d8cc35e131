export { FerryError } from './errors.js';
export * from './packaging/index.js';
export { ferrySerialize, ferryDeserialize } from './packaging/serialization/index.js';
export { SSHDockerJobRoutine, type JobRoutineFields } from './routines/sshDockerJobRoutine.js';
export { AttachedExecutor, type AttachedExecuteOptions } from './routines/attachedExecutor.js';
export { InvalidJobError, type Job } from './routines/job.js';
export { RunNotFoundError, StopNotSupportedError } from './routines/errors.js';
export type * from './routines/jobExecutor.js';
export { ferryVersion } from './version.js';
