import { rm } from 'node:fs/promises';
import { engineStatus } from '../../containering/dockerEngine.js';
import { RECORD_LABELS } from '../../records/labels.js';
import { isFinal, type RunRecord } from '../../records/record.js';
import { labelFilter } from '../../routines/docker/labels.js';
import { flag, type Command, stringOption, RUN_LOOKUP_TARGET_OPTION } from '../command.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { EXIT } from '../exitCodes.js';
import {
  dockerTargetOf,
  findContainer,
  isSweepId,
  refreshRecords,
  resolveRun,
  savedLogFiles,
  sweepRuns,
} from '../runs.js';

export const rmCommand: Command = {
  name: 'rm',
  summary: 'remove runs: their containers, records and saved logs (a sweep id: all its runs)',
  usage: 'ferry rm <run id | sweep id>... [--force]',
  description: `
Removes a run's container from its target and its record from the project. A run that is queued or
running is refused unless --force (which kills it). The run's package stays in <workDir>/packages.`,
  options: {
    target: RUN_LOOKUP_TARGET_OPTION,
    force: {
      type: 'boolean',
      short: 'f',
      description: 'remove queued and running runs too (killing them)',
    },
  },
  minPositionals: 1,
  maxPositionals: Number.MAX_SAFE_INTEGER,
  async run(context, args) {
    const force = flag(args, 'force');
    for (const id of args.positionals) {
      if (isSweepId(id)) {
        const runs = await refreshRecords(context, await sweepRuns(context, id));
        checkEnded(runs, force, id);
        await removeSweepRunner(context, runs[0]!, id);
        for (const run of runs) await removeRun(context, run);
        context.out(`${id} removed (${runs.length} runs)`);
        continue;
      }
      const [record] = await refreshRecords(context, [
        await resolveRun(context, id, stringOption(args, 'target')),
      ]);
      checkEnded([record!], force, record!.id);
      await removeRun(context, record!);
      context.out(`${record!.id} removed`);
    }
    return EXIT.ok;
  },
};

function checkEnded(runs: readonly RunRecord[], force: boolean, id: string): void {
  const live = runs.filter((r) => !isFinal(r.status) && r.status !== 'unknown');
  if (live.length > 0 && !force) {
    throw new UsageError(
      `rm: ${id === live[0]!.id ? `run ${id} is` : `${live.length} runs of ${id} are`} ${live[0]!.status}; stop ${live.length > 1 ? 'them' : 'it'} first (ferry stop ${id}) or use --force`,
      'rm',
    );
  }
}

async function removeRun(context: CliContext, record: RunRecord): Promise<void> {
  const config = await context.config();
  const target = dockerTargetOf(config, record);
  if (target !== undefined) {
    const engine = await context.engine(target);
    const container = await findContainer(engine.docker, record.id);
    if (container !== undefined) {
      await engine.docker
        .getContainer(container.Id)
        .remove({ force: true })
        .catch((error: unknown) => {
          if (engineStatus(error) !== 404) throw error;
        });
    }
  }
  const store = await context.records();
  const logs = savedLogFiles(store.dir, record.id);
  await rm(logs.stdout, { force: true });
  await rm(logs.stderr, { force: true });
  await store.remove(record.id);
}

async function removeSweepRunner(
  context: CliContext,
  first: RunRecord,
  sweepId: string,
): Promise<void> {
  const target = dockerTargetOf(await context.config(), first);
  if (target === undefined) return;
  const engine = await context.engine(target);
  const runners = await engine.docker.listContainers({
    all: true,
    filters: labelFilter({ [RECORD_LABELS.sweep]: sweepId, [RECORD_LABELS.role]: 'sweep-runner' }),
  });
  for (const runner of runners) {
    await engine.docker
      .getContainer(runner.Id)
      .remove({ force: true })
      .catch((error: unknown) => {
        if (engineStatus(error) !== 404) throw error;
      });
  }
}
