/**
 * A chain or fan-in of steps, each a run on an executor whose inputs are earlier steps' results:
 * not a scheduler, only the order the references imply, each step started once its inputs ended.
 * With `cache`, a step whose code and inputs did not change is served from its earlier run, so
 * re-running a pipeline after a change runs only the steps the change reaches.
 */
import type { JobParameters } from '../parameters/index.js';
import type { ExecuteOptions, JobExecutor, JobRun } from '../routines/jobExecutor.js';
import { PipelineDefinitionError, ReferenceCycleError } from './errors.js';
import { ResultRef, isResultRef } from './refs.js';
import type { CacheEvent } from './memo.js';

export interface Step {
  readonly name: string;
  readonly executor: JobExecutor;
  readonly parameters?: JobParameters;
  /** Parameters whose values are results: `stepResult('featurize')`, `resultOf(run)`. */
  readonly inputs?: Readonly<Record<string, ResultRef | JobRun | string>>;
  /**
   * Steps this one needs besides those its `inputs` name: those a `stepResult()` in a field of its
   * job refers to.
   */
  readonly after?: readonly string[];
  /** This step's own cache setting (default: the pipeline run's). */
  readonly cache?: boolean;
}

export type StepOptions = Omit<Step, 'name' | 'executor'>;

/** A step of a pipeline: a run of `executor`'s job. */
export function step(name: string, executor: JobExecutor, options: StepOptions = {}): Step {
  return { name, executor, ...options };
}

/** A reference to the result of the run a pipeline's step `name` made (in inputs or job fields). */
export function stepResult(name: string): ResultRef {
  return new ResultRef({ step: name });
}

export interface PipelineRunOptions {
  /** Serve unchanged steps from cache. Default: false. */
  readonly cache?: boolean;
  /** Run every step, even when cache would serve it. */
  readonly rerun?: boolean;
  /** Told as each step started or was served from cache. */
  readonly onStep?: (name: string, run: JobRun, cache: CacheEvent | undefined) => void;
}

export interface Pipeline {
  /** The steps in the order they start (each after the steps it needs). */
  readonly order: readonly string[];
  /** Runs the steps; resolves once every step's run ended, with each step's run by name. */
  run(options?: PipelineRunOptions): Promise<Map<string, JobRun>>;
}

/** The steps' order from their references; a typed error for unknown names and cycles. */
export function stepOrder(steps: readonly Step[]): string[] {
  const byName = new Map<string, Step>();
  for (const s of steps) {
    if (byName.has(s.name)) {
      throw new PipelineDefinitionError(`pipeline: two steps are named ${JSON.stringify(s.name)}`);
    }
    byName.set(s.name, s);
  }
  const needs = (s: Step): string[] => {
    const named = Object.values(s.inputs ?? {}).flatMap((input) =>
      isResultRef(input) && input.step !== undefined ? [input.step] : [],
    );
    const all = [...named, ...(s.after ?? [])];
    for (const name of all) {
      if (!byName.has(name)) {
        throw new PipelineDefinitionError(
          `pipeline: step ${s.name} needs step ${JSON.stringify(name)}, which the pipeline does not have (steps: ${[...byName.keys()].join(', ')})`,
        );
      }
    }
    return all;
  };
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: Step, trail: readonly string[]): void => {
    if (state.get(s.name) === 'done') return;
    if (state.get(s.name) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(s.name)), s.name];
      throw new ReferenceCycleError(
        `pipeline: steps refer to each other in a cycle: ${cycle.join(' → ')}; a step can only take results of steps before it`,
      );
    }
    state.set(s.name, 'visiting');
    for (const name of needs(s)) visit(byName.get(name)!, [...trail, s.name]);
    state.set(s.name, 'done');
    order.push(s.name);
  };
  for (const s of steps) visit(s, []);
  return order;
}

/** A pipeline of steps (checked now: names, references, cycles). */
export function pipeline(steps: readonly Step[]): Pipeline {
  const order = stepOrder(steps);
  const byName = new Map(steps.map((s) => [s.name, s]));
  return {
    order,
    async run(options: PipelineRunOptions = {}) {
      const runs = new Map<string, JobRun>();
      for (const name of order) {
        const s = byName.get(name)!;
        let event: CacheEvent | undefined;
        const execute: ExecuteOptions = {
          wait: false,
          ...(s.parameters === undefined ? {} : { parameters: s.parameters }),
          ...(s.inputs === undefined ? {} : { inputs: s.inputs }),
          cache: s.cache ?? options.cache ?? false,
          ...(options.rerun === true ? { rerun: true } : {}),
          steps: runs,
          onCache: (e) => {
            event = e;
          },
        };
        const run = await s.executor.execute(execute);
        runs.set(name, run);
        options.onStep?.(name, run, event);
      }
      await Promise.all([...runs.values()].map((run) => run.wait()));
      return runs;
    },
  };
}
