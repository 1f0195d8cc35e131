import { engineStatus } from '../../containering/dockerEngine.js';
import { RECORD_LABELS } from '../../records/labels.js';
import { isFinal, type RunRecord } from '../../records/record.js';
import { labelFilter } from '../../routines/docker/labels.js';
import { StopNotSupportedError } from '../../routines/errors.js';
import { type Command, stringOption, RUN_LOOKUP_TARGET_OPTION } from '../command.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exitCodes.js';
import {
  dockerTargetOf,
  findContainer,
  isSweepId,
  refreshRecords,
  resolveRun,
  sweepRuns,
} from '../runs.js';

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
  const config = await context.config();
  const target = dockerTargetOf(config, fresh!);
  if (target === undefined) {
    throw new StopNotSupportedError(
      `run ${record.id} runs attached, inside the process that started it; stop it there (Ctrl-C)`,
    );
  }
  const store = await context.records();
  const engine = await context.engine(target);
  const container = await findContainer(engine.docker, record.id);
  if (container === undefined) return store.update(record.id, { status: 'unknown' });
  if (container.State === 'created') {
    await engine.docker
      .getContainer(container.Id)
      .remove({ force: true })
      .catch((error: unknown) => {
        if (engineStatus(error) !== 404) throw error;
      });
    return store.update(record.id, { status: 'cancelled', finishedAt: new Date().toISOString() });
  }
  context.progress.report({ stage: 'stop', message: `stopping ${record.id}` });
  try {
    await engine.docker.getContainer(container.Id).stop({ t: 10 });
  } catch (error) {
    // 304: it had stopped already; 404: it was removed meanwhile.
    if (engineStatus(error) !== 304 && engineStatus(error) !== 404) throw error;
  }
  const [after] = await refreshRecords(context, [fresh!]);
  return after!;
}

async function stopSweep(context: CliContext, sweepId: string): Promise<void> {
  const runs = await sweepRuns(context, sweepId);
  const config = await context.config();
  const target = dockerTargetOf(config, runs[0]!);
  if (target !== undefined) {
    const engine = await context.engine(target);
    const runners = await engine.docker.listContainers({
      all: true,
      filters: labelFilter({
        [RECORD_LABELS.sweep]: sweepId,
        [RECORD_LABELS.role]: 'sweep-runner',
      }),
    });
    for (const runner of runners) {
      await engine.docker
        .getContainer(runner.Id)
        .stop({ t: 5 })
        .catch((error: unknown) => {
          if (engineStatus(error) !== 304 && engineStatus(error) !== 404) throw error;
        });
    }
  }
  const results = await Promise.all(runs.map((run) => stopRun(context, run)));
  const counts: Record<string, number> = {};
  for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
  context.out(
    `${sweepId} stopped: ${Object.entries(counts)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ')}`,
  );
}
