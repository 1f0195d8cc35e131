export { SwarmExecutor, type SwarmExecutorFields } from './swarmExecutor.js';
export type { SwarmResources, SwarmRunSettings } from './serviceSpec.js';
export * from './errors.js';
