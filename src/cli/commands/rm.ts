import { isFinal, type RunRecord } from '../../records/record.js';
import { flag, type Command, stringOption, RUN_LOOKUP_TARGET_OPTION } from '../command.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { EXIT } from '../exitCodes.js';
import { executorOf, isSweepId, refreshRecords, resolveRun, sweepRuns } from '../runs.js';

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
        const sweepId = runs[0]!.sweepId!;
        checkEnded(runs, force, sweepId);
        if (Object.hasOwn((await context.config()).targets, runs[0]!.target)) {
          await (await executorOf(context, runs[0]!)).removeSweepRunner(sweepId);
        }
        for (const run of runs) await removeRun(context, run);
        context.out(`${sweepId} removed (${runs.length} runs)`);
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

/** Removes a run from its target (when the config still defines it) and from the records. */
async function removeRun(context: CliContext, record: RunRecord): Promise<void> {
  const config = await context.config();
  if (Object.hasOwn(config.targets, record.target)) {
    await (await context.executor(record.target)).removeRun(record.id, { force: true });
  }
  await (await context.records()).remove(record.id);
}
