export {
  combineSpecs,
  expandSweep,
  MAX_SWEEP_RUNS,
  parseGridOption,
  parseSweepSpec,
  type SweepSpec,
} from './plan.js';
export {
  defaultParallelism,
  enqueueSweep,
  gpuSlotsOf,
  RUNNER_DIR,
  RUNNER_FILE,
  type EnqueuedSweep,
  type EnqueueSweepOptions,
  type SweepRun,
} from './queue.js';
