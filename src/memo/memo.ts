/**
 * The one I/O edge of memoization and pipelines, called by every executor at the start of
 * `execute()` (its one hook): resolves the references a run takes (src/memo/resolve.ts), computes
 * its cache key (key.ts) and, with `cache`, serves an earlier run with that key from the records or
 * the target instead of running (lookup.ts). What it needs of an executor is `MemoTarget`.
 */
import type { JobParameters, JsonValue } from '../parameters/index.js';
import type { PackageInfo } from '../packaging/makePackage.js';
import type { PackageManifest } from '../packaging/manifest.js';
import type { RunInput, RunRecord } from '../records/record.js';
import type { RecordStore } from '../records/store.js';
import type { ExecuteOptions, JobRun } from '../routines/jobExecutor.js';
import type { RunArtifacts } from '../routines/results/artifacts.js';
import { CachedRun } from './cachedRun.js';
import { cacheKeyOf } from './key.js';
import { CACHE_KEY_LABEL, cacheCandidates, cachedRecord, unsettled } from './lookup.js';
import {
  jobRefs,
  parameterRefs,
  substitute,
  withResolvedParameters,
  type RefSlot,
} from './refs.js';
import { resolveRef, type ResolveContext } from './resolve.js';

/** What memoization needs of an executor. */
export interface MemoTarget {
  readonly targetName: string;
  readonly records: RecordStore | undefined;
  /** Packages the job as it would run now (for its manifest: what the key covers). */
  packageJob(): Promise<PackageInfo>;
  /** What the package serializes (`{ job }`), where `resultOf()` fields are looked for. */
  payload(): unknown;
  /** A run by id, as the executor's `run(id)` gives it. */
  run(runId: string): Promise<JobRun>;
  /** The run folder of a run this target holds; undefined when it holds none any more. */
  artifactsOf(runId: string): Promise<RunArtifacts | undefined>;
  /** Records of the target's runs labelled with `key` that are not in `known` (added to the records). */
  runsWithKey?(key: string, known: ReadonlySet<string>): Promise<RunRecord[]>;
  /** Records that had not ended, brought up to date with the target. */
  syncRecords?(records: readonly RunRecord[]): Promise<RunRecord[]>;
}

/** What a run with `cache` learnt: served from an earlier run, or why it runs. */
export type CacheEvent =
  | {
      readonly kind: 'hit';
      readonly key: string;
      readonly runId: string;
      readonly cachedFrom: string;
    }
  | { readonly kind: 'miss'; readonly key: string; readonly reason: string };

/** How `execute()` goes on after the hook. */
export interface RunPlan {
  /** The parameters the job receives: references replaced by their values. */
  readonly parameters: JobParameters;
  /** Served from cache: return this, start nothing. */
  readonly cached?: JobRun;
  /** Upstream results this run takes. */
  readonly inputs: readonly RunInput[];
  /** The record fields of a run started from a package with this manifest. */
  recordFields(manifest: PackageManifest): Pick<RunRecord, 'cacheKey' | 'inputs'>;
  /** The container labels that carry the key to the target. */
  labels(manifest: PackageManifest): Record<string, string>;
  /** Puts the job's `resultOf()` fields back, once the job was packaged (or ended, attached). */
  restore(): void;
}

/** Options the hook reads, besides the run id it is given. */
export type MemoOptions = Pick<
  ExecuteOptions,
  'parameters' | 'inputs' | 'cache' | 'rerun' | 'onCache' | 'steps'
> & { readonly runId: string };

/** The hook: resolve, key, look up. Without references and without `cache` it only passes through. */
export async function planRun(target: MemoTarget, options: MemoOptions): Promise<RunPlan> {
  const given = options.parameters ?? {};
  const fromParameters = parameterRefs(given, options.inputs);
  const jobSlots = jobRefs(target.payload());
  const context: ResolveContext = {
    runId: options.runId,
    openRun: (id) => target.run(id),
    recordOf: async (id) => target.records?.get(id),
    ...(options.steps === undefined ? {} : { steps: options.steps }),
  };
  const inputs: RunInput[] = [];
  const values = new Map<string, JsonValue>();
  for (const found of fromParameters) {
    const resolved = await resolveRef(found, context, true);
    values.set(found.name, resolved.value as JsonValue);
    inputs.push(resolved.input);
  }
  const jobValues = new Map<RefSlot, unknown>();
  for (const slot of jobSlots) {
    const resolved = await resolveRef(slot, context, false);
    jobValues.set(slot, resolved.value);
    inputs.push(resolved.input);
  }
  const parameters = values.size === 0 ? given : withResolvedParameters(given, values);
  const restore = substitute(jobSlots, jobValues);
  const keyInputs = inputs.map((i) => ({ name: i.name, key: i.cacheKey }));
  const keyOf = (manifest: PackageManifest): string =>
    cacheKeyOf({ manifest, parameters, inputs: keyInputs });
  const plan: RunPlan = {
    parameters,
    inputs,
    recordFields: (manifest) => ({
      cacheKey: keyOf(manifest),
      ...(inputs.length === 0 ? {} : { inputs }),
    }),
    labels: (manifest) => ({ [CACHE_KEY_LABEL]: keyOf(manifest) }),
    restore,
  };
  if (options.cache !== true || options.rerun === true) return plan;
  try {
    const key = keyOf((await target.packageJob()).manifest);
    const hit = await findCached(target, key);
    if ('reason' in hit) {
      options.onCache?.({ kind: 'miss', key, reason: hit.reason });
      return plan;
    }
    const record = cachedRecord(hit.source, {
      id: options.runId,
      at: new Date(),
      parameters,
      cacheKey: key,
      inputs,
    });
    await target.records?.put(record);
    options.onCache?.({ kind: 'hit', key, runId: options.runId, cachedFrom: hit.source.id });
    restore();
    return { ...plan, cached: new CachedRun(options.runId, hit.run) };
  } catch (error) {
    restore();
    throw error;
  }
}

/** An earlier run that can serve `key` here, or why there is none. */
export async function findCached(
  target: MemoTarget,
  key: string,
): Promise<{ readonly source: RunRecord; readonly run: JobRun } | { readonly reason: string }> {
  const store = target.records;
  if (store === undefined) return { reason: 'this executor keeps no records (give it a workDir)' };
  let records = await store.list();
  const stale = unsettled(records, key, target.targetName);
  if (stale.length > 0 && target.syncRecords !== undefined) {
    const fresh = new Map((await target.syncRecords(stale)).map((r) => [r.id, r]));
    records = records.map((r) => fresh.get(r.id) ?? r);
  }
  if (target.runsWithKey !== undefined) {
    const found = await target.runsWithKey(key, new Set(records.map((r) => r.id)));
    records = [...records, ...found];
  }
  const reasons: string[] = [];
  for (const candidate of cacheCandidates(records, key, target.targetName)) {
    const why = await unservable(target, candidate);
    if (why === undefined) return { source: candidate, run: await target.run(candidate.id) };
    reasons.push(`run ${candidate.id} has this key but ${why}`);
  }
  return {
    reason:
      reasons.length > 0
        ? `${reasons.join('; ')}: running again`
        : `no succeeded run with this key on ${target.targetName}`,
  };
}

/** Why a run with the key cannot serve it (its result or outputs are gone), or undefined. */
async function unservable(target: MemoTarget, record: RunRecord): Promise<string | undefined> {
  const artifacts = await target.artifactsOf(record.id);
  if (artifacts === undefined) return 'its container and run folder are gone';
  if (record.hasResult !== false && !(await artifacts.hasResult())) return 'its result is gone';
  if (record.hasOutputs === true && !(await artifacts.hasOutputs())) {
    return 'its outputs were removed';
  }
  return undefined;
}

/** The run `id` names, following `cachedFrom`: what an executor's `run(id)` gives for a cached run. */
export async function openCachedRun(
  records: RecordStore | undefined,
  id: string | undefined,
  open: (runId: string) => Promise<JobRun>,
): Promise<JobRun | undefined> {
  if (id === undefined || records === undefined) return undefined;
  const record = await records.get(id);
  if (record?.cachedFrom === undefined) return undefined;
  return new CachedRun(id, await open(record.cachedFrom));
}

/** A sweep's runs, split into those an earlier run serves (recorded now) and those to queue. */
export async function serveSweepFromCache<
  T extends { readonly runId: string; readonly index: number; readonly parameters: JobParameters },
>(
  target: MemoTarget,
  sweepId: string,
  runs: readonly T[],
): Promise<{ readonly served: RunRecord[]; readonly remaining: T[] }> {
  const { manifest } = await target.packageJob();
  const served: RunRecord[] = [];
  const remaining: T[] = [];
  for (const run of runs) {
    const key = cacheKeyOf({ manifest, parameters: run.parameters });
    const hit = await findCached(target, key);
    if ('reason' in hit) {
      remaining.push(run);
      continue;
    }
    const record = cachedRecord(hit.source, {
      id: run.runId,
      at: new Date(),
      parameters: run.parameters,
      cacheKey: key,
      inputs: [],
      sweepId,
      sweepIndex: run.index,
    });
    served.push((await target.records?.put(record)) ?? record);
  }
  return { served, remaining };
}
