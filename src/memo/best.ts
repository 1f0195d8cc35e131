/** A sweep's best run by a metric, to feed the next step (`resultOf(bestRun(...).id)`). */
import type { RunRecord } from '../records/record.js';
import type { RecordStore } from '../records/store.js';
import { NoBestRunError } from './errors.js';

/**
 * The succeeded run with the lowest (`min`) or highest (`max`) last value of `metric`; ties go to
 * the earlier sweep index. A typed error when no succeeded run logged it.
 */
export function bestRun(
  runs: readonly RunRecord[],
  metric: string,
  direction: 'min' | 'max' = 'min',
): RunRecord {
  let best: RunRecord | undefined;
  for (const run of runs) {
    const value = run.status === 'succeeded' ? run.metrics?.[metric] : undefined;
    if (value === undefined) continue;
    const current = best?.metrics?.[metric];
    if (current === undefined || (direction === 'min' ? value < current : value > current)) {
      best = run;
    }
  }
  if (best === undefined) {
    throw new NoBestRunError(
      `no succeeded run of the ${runs.length} given logged the metric ${JSON.stringify(metric)}${runs.length > 0 && runs[0]!.sweepId !== undefined ? ` (sweep ${runs[0]!.sweepId})` : ''}`,
    );
  }
  return best;
}

/** The best run of sweep `sweepId` in the records, by `metric`. */
export async function bestRunOfSweep(
  records: RecordStore,
  sweepId: string,
  metric: string,
  direction: 'min' | 'max' = 'min',
): Promise<RunRecord> {
  const runs = (await records.list()).filter((r) => r.sweepId === sweepId);
  if (runs.length === 0) {
    throw new NoBestRunError(`no runs of sweep ${sweepId} in ${records.dir}`);
  }
  return bestRun(runs, metric, direction);
}
