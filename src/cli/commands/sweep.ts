import path from 'node:path';
import { readJsonFile } from '../../parameters/index.js';
import type { RunRecord } from '../../records/record.js';
import type { TargetExecutor } from '../../routines/jobExecutor.js';
import { newRunId } from '../../routines/runId.js';
import {
  combineSpecs,
  expandSweep,
  parseGridOption,
  parseSweepSpec,
  type SweepSpec,
} from '../../sweeps/index.js';
import { flag, intOption, stringOption, stringsOption, type Command } from '../command.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { EXIT } from '../exitCodes.js';
import { POLICY_OPTIONS, policyFromArgs } from '../policyOptions.js';
import { formatDuration } from '../output.js';
import { PARAMETER_OPTIONS, parametersFromArgs } from '../parameters.js';
import { SWEEP_PREFIX, refreshRecords, sweepRuns } from '../runs.js';
import { serveSweepFromCache } from '../../memo/memo.js';
import { CACHE_OPTIONS, cacheOf } from './run.js';
import { countStatuses, sweepRunsTable } from './status.js';

export const sweepCommand: Command = {
  name: 'sweep',
  summary: 'run the job many times with different parameters: one image, a queue on the target',
  usage:
    'ferry sweep [--target <name>] (--grid key=values... | --from sweep.json) [--parallel <n>] [--detach]',
  description: `
Builds (and ships) the job's image once, then queues one run per parameter set on the target: every
run is a container created there up front, and a small queue runner container on the target starts
them, at most --parallel at once. The queue lives on the target, so it goes on when ferry exits
(Ctrl-C, --detach, a closed laptop). Default parallelism: the target's maxParallel, else one run
per GPU when the target's gpus is a count or a list of devices (each run then gets one GPU), else 1.

Parameter sets: every combination of the --grid values (and of a sweep file's "grid"), crossed with
a sweep file's "runs", each over the base parameters (defaults.parameters, --params, --param).
A sweep file is a JSON list of parameter objects, or { "grid": { key: [values] }, "runs": [...] }.
--grid values: a JSON list (lr=[0.1,0.01]), an integer range (seed=1..20) or comma-separated values.

--cache (or "cache": true in the config) skips the parameter sets that already have a succeeded run
of the same code on the target: those runs are recorded as served from cache (ferry status shows
them with the run they come from); --rerun runs every set.

Without --detach, ferry waits and shows progress, then prints every run's outcome; it exits 0 when
all succeeded and 1 otherwise.`,
  options: {
    target: {
      type: 'string',
      short: 't',
      value: 'name',
      description: 'a Docker target (default: defaults.target)',
    },
    grid: {
      type: 'string',
      short: 'g',
      multiple: true,
      value: 'key=values',
      description: 'values of one parameter; the sweep runs every combination',
    },
    from: {
      type: 'string',
      value: 'file.json',
      description: 'a sweep file: a list of parameter objects, or { grid, runs }',
    },
    ...PARAMETER_OPTIONS,
    ...CACHE_OPTIONS,
    ...POLICY_OPTIONS,
    parallel: {
      type: 'string',
      short: 'P',
      value: 'n',
      description: 'how many runs may run at once on the target',
    },
    detach: {
      type: 'boolean',
      short: 'd',
      description: 'print the sweep id and return once queued',
    },
  },
  examples: [
    'ferry sweep --grid lr=0.1,0.01,0.001 --grid seed=1..3 --parallel 2',
    'ferry sweep --target gpu-box --from sweep.json --detach',
  ],
  async run(context, args) {
    const config = await context.config();
    const executor = await context.executor(stringOption(args, 'target'));
    let spec: SweepSpec = {};
    const from = stringOption(args, 'from');
    if (from !== undefined) {
      const file = path.resolve(context.io.cwd, from);
      spec = parseSweepSpec(await readJsonFile(file), from);
    }
    const grid = Object.fromEntries(
      stringsOption(args, 'grid').map((text) => {
        const { key, values } = parseGridOption(text);
        return [key, values];
      }),
    );
    spec = combineSpecs(spec, { grid });
    if (spec.runs === undefined && Object.keys(spec.grid ?? {}).length === 0) {
      throw new UsageError(
        'sweep: say which runs to make with --grid key=values or --from sweep.json',
        'sweep',
      );
    }
    const base = await parametersFromArgs(config, args, context.io.cwd);
    const policy = policyFromArgs(args, 'sweep');
    const parameterSets = expandSweep(base, spec);
    const target = await context.target(stringOption(args, 'target'));
    const asked =
      intOption(args, 'parallel', 'sweep') ??
      ('maxParallel' in target ? target.maxParallel : undefined);
    await context.job(executor.targetName);
    const sweepId = `${SWEEP_PREFIX}${newRunId()}`;
    const createdAt = new Date();
    const planned = parameterSets.map((parameters, index) => ({
      runId: newRunId(createdAt),
      index,
      parameters,
    }));
    const { cache, rerun } = await cacheOf(context, args, executor.targetName);
    const memo = cache && rerun !== true ? executor.memoTarget?.() : undefined;
    const { served, remaining } =
      memo === undefined
        ? { served: [], remaining: planned }
        : await serveSweepFromCache(memo, sweepId, planned);
    if (served.length > 0) {
      context.note(
        `ferry: sweep ${sweepId}: ${served.length} of ${planned.length} parameter sets served from cache (earlier succeeded runs of the same code)`,
      );
    }
    if (remaining.length === 0) {
      context.out(sweepId);
      const final = await settleSweep(context, sweepId);
      context.note(sweepRunsTable(final));
      return EXIT.ok;
    }
    const queued = await executor.startSweep({
      sweepId,
      runs: remaining,
      ...(asked === undefined ? {} : { maxParallel: asked }),
      policy,
      createdAt,
      onQueued: (created, total) =>
        context.progress.report({
          stage: 'queue',
          message: `created ${created} of ${total} runs on ${executor.targetName}`,
          fraction: created / total,
        }),
    });
    if (asked !== undefined && asked > queued.maxParallel) {
      context.note(
        `ferry: note: at most ${queued.maxParallel} at once: each run takes one of the target's GPUs`,
      );
    }
    context.progress.clear();
    context.note(
      `ferry: sweep ${sweepId}: ${queued.records.length} runs of ${queued.prepared.image.packageInfo.uid} queued on ${executor.targetName}, at most ${queued.maxParallel} at once (image ${queued.prepared.shipped?.reference ?? queued.prepared.image.reference})`,
    );
    context.out(sweepId);
    if (flag(args, 'detach')) {
      context.note(
        `ferry: it goes on there; see it with: ferry status ${sweepId}   (stop it: ferry stop ${sweepId})`,
      );
      return EXIT.ok;
    }
    return waitForSweep(context, executor, sweepId, queued.records.length);
  },
};

/** Polls the sweep's runs until every one ended; prints the outcome. */
async function waitForSweep(
  context: CliContext,
  executor: TargetExecutor,
  sweepId: string,
  total: number,
): Promise<number> {
  let interrupted = false;
  const wake = new AbortController();
  const unregister = context.onInterrupt(() => {
    interrupted = true;
    wake.abort();
  });
  const started = Date.now();
  try {
    for (;;) {
      const p = await executor.sweepProgress(sweepId, total);
      context.progress.report({
        stage: 'sweep',
        message: `${p.ended}/${total} ended (${p.failed} failed), ${p.running} running, ${p.queued} queued — ${formatDuration(Date.now() - started)}`,
        fraction: total === 0 ? 1 : p.ended / total,
      });
      if (p.running === 0 && p.queued <= 0) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        wake.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
      if (interrupted) {
        context.note(
          `\nferry: stopped waiting; sweep ${sweepId} goes on on ${executor.targetName}. See it: ferry status ${sweepId}; stop it: ferry stop ${sweepId}`,
        );
        return EXIT.interrupted;
      }
    }
  } finally {
    unregister();
  }
  const final = await settleSweep(context, sweepId);
  context.progress.clear();
  const counts = countStatuses(final);
  context.note(sweepRunsTable(final));
  context.note(
    `ferry: sweep ${sweepId}: ${Object.entries(counts)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ')} in ${formatDuration(Date.now() - started)}`,
  );
  const unstarted = final.filter((r) => r.status === 'failed' && r.exitCode === undefined);
  if (unstarted.length > 0) {
    const reason = await executor.sweepStartFailure(sweepId);
    context.note(
      `ferry: ${unstarted.length} runs could not start on ${executor.targetName}${reason === undefined ? '' : `: ${reason}`}; the queue's log: ferry logs ${sweepId}`,
    );
  }
  return final.every((r) => r.status === 'succeeded') ? EXIT.ok : EXIT.jobFailed;
}

/** Every run's final state from its target, in the records, by index. */
export async function settleSweep(context: CliContext, sweepId: string): Promise<RunRecord[]> {
  return refreshRecords(context, await sweepRuns(context, sweepId));
}
