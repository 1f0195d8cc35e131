/** Choosing the runs that may stand for a new one: pure, over records. */
import type { RunRecord } from '../records/record.js';

/** The container label that carries a run's cache key on its target. */
export const CACHE_KEY_LABEL = 'ferry.cache-key';

/**
 * Runs that could serve `key` on `target`, newest first: succeeded runs with that key that ran
 * there themselves (not served from cache). A result computed on one target is not served for
 * another (a GPU host's run for a CPU one): each target has its own cache.
 */
export function cacheCandidates(
  records: readonly RunRecord[],
  key: string,
  target: string,
): RunRecord[] {
  return records
    .filter(
      (r) =>
        r.cacheKey === key &&
        r.target === target &&
        r.status === 'succeeded' &&
        r.cachedFrom === undefined,
    )
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
}

/** Records with that key whose end was not seen yet: worth asking the target about. */
export function unsettled(records: readonly RunRecord[], key: string, target: string): RunRecord[] {
  return records.filter(
    (r) =>
      r.cacheKey === key &&
      r.target === target &&
      (r.status === 'running' || r.status === 'queued'),
  );
}

/** The record of a run served from `source`: the source's facts, its own id and times. */
export function cachedRecord(
  source: RunRecord,
  fields: {
    readonly id: string;
    readonly at: Date;
    readonly parameters: RunRecord['parameters'];
    readonly cacheKey: string;
    readonly inputs: RunRecord['inputs'];
    readonly sweepId?: string;
    readonly sweepIndex?: number;
  },
): RunRecord {
  const at = fields.at.toISOString();
  const keep = <K extends keyof RunRecord>(key: K): Partial<Pick<RunRecord, K>> =>
    source[key] === undefined ? {} : ({ [key]: source[key] } as Pick<RunRecord, K>);
  return {
    id: fields.id,
    job: source.job,
    version: source.version,
    uid: source.uid,
    target: source.target,
    targetKind: source.targetKind,
    ...keep('host'),
    ...keep('node'),
    ...keep('image'),
    ...keep('imageId'),
    ...keep('packageSha256'),
    ...keep('metrics'),
    ...keep('hasResult'),
    ...keep('hasOutputs'),
    parameters: fields.parameters,
    status: 'succeeded',
    exitCode: 0,
    createdAt: at,
    startedAt: at,
    finishedAt: at,
    ...(fields.sweepId === undefined ? {} : { sweepId: fields.sweepId }),
    ...(fields.sweepIndex === undefined ? {} : { sweepIndex: fields.sweepIndex }),
    cacheKey: fields.cacheKey,
    cachedFrom: source.id,
    ...(fields.inputs === undefined || fields.inputs.length === 0 ? {} : { inputs: fields.inputs }),
  };
}
