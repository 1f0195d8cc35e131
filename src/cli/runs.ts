/**
 * Finding runs again from any process: the project's records folder first, then the targets'
 * executors, for runs another machine or process started. Also keeps records in step with their
 * targets.
 */
import { remoteTargets, targetsSearchedByDefault } from '../config/targetSearch.js';
import { FerryError } from '../errors.js';
import { AmbiguousRunIdError } from '../records/errors.js';
import { isFinal, type RunRecord } from '../records/record.js';
import { RunNotFoundError } from '../routines/errors.js';
import type { TargetExecutor } from '../routines/jobExecutor.js';
import type { CliContext } from './context.js';

/** Sweep ids start with this, so one argument can name a run or a sweep. */
export const SWEEP_PREFIX = 'sweep-';

export function isSweepId(id: string): boolean {
  return id.startsWith(SWEEP_PREFIX);
}

/**
 * The executor of the target a record ran on; a `RunNotFoundError` when the config no longer
 * defines that target.
 */
export async function executorOf(context: CliContext, record: RunRecord): Promise<TargetExecutor> {
  const config = await context.config();
  if (!Object.hasOwn(config.targets, record.target)) {
    throw new RunNotFoundError(
      `run ${record.id} ran on target ${record.target}, which ${config.file} no longer defines`,
    );
  }
  return context.executor(record.target);
}

/**
 * The record of the run a user names: by exact id, unique prefix or suffix in the records folder,
 * else on a target, for runs another machine or process started: the local targets always, a
 * remote target when named (`--target`), as its SSH connection costs time. A run found only on a
 * target is added to the records folder.
 */
export async function resolveRun(
  context: CliContext,
  id: string,
  targetName?: string,
): Promise<RunRecord> {
  const store = await context.records();
  const known = await store.resolve(id);
  if (known !== undefined) return known;
  const config = await context.config();
  const targets =
    targetName === undefined
      ? targetsSearchedByDefault(config)
      : [await context.target(targetName)];
  const searched: string[] = [];
  for (const target of targets) {
    const found = await (await context.executor(target)).discoverRun(id);
    searched.push(target.name);
    if (found !== undefined) return found;
  }
  const remotes = remoteTargets(config);
  throw new RunNotFoundError(
    `no run ${JSON.stringify(id)}: it is not in ${store.dir}${searched.length > 0 ? ` nor on target ${searched.join(', ')}` : ''}; \`ferry ls\` lists the runs${targetName === undefined && remotes.length > 0 ? `; --target <name> searches a remote target (${remotes.map((t) => t.name).join(', ')}) for runs started elsewhere` : ''}`,
  );
}

/**
 * Brings records that had not ended up to date with their targets (one listing per target), and
 * writes what changed back to the store. Unreachable targets leave their records as they were.
 */
export async function refreshRecords(
  context: CliContext,
  records: readonly RunRecord[],
): Promise<RunRecord[]> {
  const config = await context.config();
  const byTarget = new Map<string, RunRecord[]>();
  for (const record of records) {
    if (isFinal(record.status) || !Object.hasOwn(config.targets, record.target)) continue;
    const list = byTarget.get(record.target) ?? [];
    list.push(record);
    byTarget.set(record.target, list);
  }
  const updated = new Map<string, RunRecord>();
  for (const [targetName, stale] of byTarget) {
    try {
      const executor = await context.executor(targetName);
      for (const fresh of await executor.syncRecords(stale)) updated.set(fresh.id, fresh);
    } catch (error) {
      if (!(error instanceof FerryError)) throw error;
      context.note(
        `ferry: note: target ${targetName} did not answer (${error.message}); showing its runs as last seen`,
      );
    }
  }
  return records.map((r) => updated.get(r.id) ?? r);
}

/**
 * The runs of a sweep, by index. The sweep id may be shortened as run ids can: to a unique prefix
 * (`sweep-20261201-1830`), or to the random part at its end (`sweep-3fa2c1`).
 */
export async function sweepRuns(context: CliContext, sweepId: string): Promise<RunRecord[]> {
  const store = await context.records();
  const all = await store.list();
  const ids = [...new Set(all.flatMap((r) => (r.sweepId === undefined ? [] : [r.sweepId])))];
  const suffix = sweepId.slice(SWEEP_PREFIX.length);
  const matching = ids.includes(sweepId)
    ? [sweepId]
    : suffix.length < 4
      ? []
      : ids.filter((id) => id.startsWith(sweepId) || id.endsWith(`-${suffix}`));
  if (matching.length > 1) {
    throw new AmbiguousRunIdError(
      `${sweepId} matches ${matching.length} sweeps (${matching.slice(0, 5).join(', ')}); give more of the id`,
    );
  }
  const id = matching[0];
  if (id === undefined) {
    throw new RunNotFoundError(
      `no sweep ${JSON.stringify(sweepId)} in ${store.dir}; \`ferry ls\` lists runs and their sweeps`,
    );
  }
  return all.filter((r) => r.sweepId === id).sort(bySweepIndex);
}

/** A sweep's runs by their index. */
function bySweepIndex(a: RunRecord, b: RunRecord): number {
  return (a.sweepIndex ?? 0) - (b.sweepIndex ?? 0);
}
