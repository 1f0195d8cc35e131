import { isFinal, type RunRecord } from '../../records/record.js';
import { type Command, stringOption, RUN_LOOKUP_TARGET_OPTION } from '../command.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exitCodes.js';
import { executorOf, isSweepId, refreshRecords, resolveRun, sweepRuns } from '../runs.js';
import { countStatuses } from './status.js';

export const stopCommand: Command = {
  name: 'stop',
  summary: 'stop runs (SIGTERM, then SIGKILL after 10 s); a sweep id stops its queue and runs',
  usage: 'ferry stop <run id | sweep id>...',
  description: `
A running run gets SIGTERM (the entry point calls the job's stop() when it has one) and is killed
after 10 s. A queued run (waiting in a sweep's queue) is taken off the queue: its container is
removed and its record marked cancelled. Stopping a sweep stops its queue runner first, so no
further run starts.`,
  options: {
    target: RUN_LOOKUP_TARGET_OPTION,
  },
  minPositionals: 1,
  maxPositionals: Number.MAX_SAFE_INTEGER,
  async run(context, args) {
    for (const id of args.positionals) {
      if (isSweepId(id)) {
        await stopSweep(context, id);
        continue;
      }
      const record = await resolveRun(context, id, stringOption(args, 'target'));
      const stopped = await stopRun(context, record);
      context.out(`${stopped.id} ${stopped.status}`);
    }
    return EXIT.ok;
  },
};

/** Stops (or takes off the queue) one run; returns its record afterwards. */
export async function stopRun(context: CliContext, record: RunRecord): Promise<RunRecord> {
  const [fresh] = await refreshRecords(context, [record]);
  if (isFinal(fresh!.status)) return fresh!;
  const executor = await executorOf(context, fresh!);
  context.progress.report({ stage: 'stop', message: `stopping ${record.id}` });
  await executor.stop(record.id);
  const [after] = await refreshRecords(context, [
    (await (await context.records()).get(record.id)) ?? fresh!,
  ]);
  return after!;
}

async function stopSweep(context: CliContext, id: string): Promise<void> {
  const runs = await sweepRuns(context, id);
  const sweepId = runs[0]!.sweepId!;
  // The queue runner first, so no further run starts while the others stop.
  await (await executorOf(context, runs[0]!)).stopSweepRunner(sweepId);
  const results = await Promise.all(runs.map((run) => stopRun(context, run)));
  context.out(
    `${sweepId} stopped: ${Object.entries(countStatuses(results))
      .map(([s, n]) => `${n} ${s}`)
      .join(', ')}`,
  );
}
