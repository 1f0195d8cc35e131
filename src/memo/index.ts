export { CACHE_KEY_VERSION, cacheKeyOf, type CacheKeyParts, type KeyedInput } from './key.js';
export { CACHE_KEY_LABEL } from './lookup.js';
export { findCached, serveSweepFromCache, type CacheEvent, type MemoTarget } from './memo.js';
export { CachedRun } from './cachedRun.js';
export { RESULT_OF_KEY, ResultRef, resultMarker, resultOf } from './refs.js';
export {
  InvalidReferenceError,
  NoBestRunError,
  PipelineDefinitionError,
  ReferenceCycleError,
  UnknownUpstreamRunError,
  UpstreamRunFailedError,
} from './errors.js';
export {
  pipeline,
  step,
  stepOrder,
  stepResult,
  type Pipeline,
  type PipelineRunOptions,
  type Step,
  type StepOptions,
} from './pipeline.js';
export { bestRun, bestRunOfSweep } from './best.js';
