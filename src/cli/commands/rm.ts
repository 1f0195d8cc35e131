import { isFinal, type RunRecord } from '../../records/record.js';
import { flag, type Command, stringOption, RUN_LOOKUP_TARGET_OPTION } from '../command.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { EXIT } from '../exitCodes.js';
import type { RemovedRun } from '../../routines/jobExecutor.js';
import { OutputsNotKeptError } from '../../routines/results/errors.js';
import { executorOf, isSweepId, refreshRecords, resolveRun, sweepRuns } from '../runs.js';

export const rmCommand: Command = {
  name: 'rm',
  summary: 'remove runs: their containers, records and saved logs (a sweep id: all its runs)',
  usage: 'ferry rm <run id | sweep id>... [--force] [--keep-outputs | --drop-outputs]',
  description: `
Removes a run's container from its target and its record from the project, saying what it removed.
A run that is queued or running is refused unless --force (which kills it). A run whose outputs
were never downloaded (ferry outputs) is refused unless told what becomes of them: --keep-outputs
saves its run folder (outputs, result, metrics) beside its record first and keeps the record, so
ferry outputs, result and status still serve it; --drop-outputs removes them with the run. The
run's package stays in <workDir>/packages.`,
  options: {
    target: RUN_LOOKUP_TARGET_OPTION,
    force: {
      type: 'boolean',
      short: 'f',
      description: 'remove queued and running runs too (killing them)',
    },
    'keep-outputs': {
      type: 'boolean',
      description:
        'save outputs never downloaded beside the record and keep it (container removed)',
    },
    'drop-outputs': {
      type: 'boolean',
      description: 'remove outputs never downloaded along with the run',
    },
  },
  minPositionals: 1,
  maxPositionals: Number.MAX_SAFE_INTEGER,
  async run(context, args) {
    const force = flag(args, 'force');
    if (flag(args, 'keep-outputs') && flag(args, 'drop-outputs')) {
      throw new UsageError('rm: give --keep-outputs or --drop-outputs, not both', 'rm');
    }
    const outputs = flag(args, 'keep-outputs')
      ? ('keep' as const)
      : flag(args, 'drop-outputs')
        ? ('drop' as const)
        : undefined;
    for (const id of args.positionals) {
      if (isSweepId(id)) {
        const runs = await refreshRecords(context, await sweepRuns(context, id));
        const sweepId = runs[0]!.sweepId!;
        checkEnded(runs, force, sweepId);
        if (Object.hasOwn((await context.config()).targets, runs[0]!.target)) {
          await (await executorOf(context, runs[0]!)).removeSweepRunner(sweepId);
        }
        for (const run of runs) await removeRun(context, run, outputs);
        context.out(`${sweepId} removed (${runs.length} runs)`);
        continue;
      }
      const [record] = await refreshRecords(context, [
        await resolveRun(context, id, stringOption(args, 'target')),
      ]);
      checkEnded([record!], force, record!.id);
      const removed = await removeRun(context, record!, outputs);
      context.out(
        removed.keptIn === undefined
          ? `${record!.id} removed: ${removed.removed.join(', ') || 'record'}`
          : `${record!.id}: ${removed.removed.join(', ') || 'nothing'} removed; its outputs, result and metrics kept in ${removed.keptIn} with its record`,
      );
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

/**
 * Removes a run from its target (when the config still defines it) and from the records, unless
 * its outputs are kept with its record.
 */
async function removeRun(
  context: CliContext,
  record: RunRecord,
  outputs: 'keep' | 'drop' | undefined,
): Promise<RemovedRun> {
  const config = await context.config();
  let removed: RemovedRun = { removed: [] };
  if (Object.hasOwn(config.targets, record.target)) {
    removed = await (
      await context.executor(record.target)
    ).removeRun(record.id, {
      force: true,
      ...(outputs === undefined ? {} : { outputs }),
    });
  } else if (
    record.savedRunFolder === true &&
    record.hasOutputs === true &&
    record.outputsDownloadedTo === undefined &&
    outputs === undefined
  ) {
    throw new OutputsNotKeptError(
      `run ${record.id} has outputs saved beside its record that were never downloaded; keep them (--keep-outputs) or drop them (--drop-outputs)`,
    );
  }
  if (removed.keptIn !== undefined) return removed;
  await (await context.records()).remove(record.id);
  return removed.removed.length > 0 ? removed : { removed: ['record'] };
}
