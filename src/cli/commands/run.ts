import { InternalError } from '../../errors.js';
import type { RunRecord } from '../../records/record.js';
import type { CacheEvent } from '../../memo/memo.js';
import type { JobRun, LineEnding, LogStream } from '../../routines/jobExecutor.js';
import { newRunId } from '../../routines/runId.js';
import {
  flag,
  stringOption,
  stringsOption,
  type Command,
  type OptionSpecs,
  type ParsedArgs,
} from '../command.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exitCodes.js';
import { resultOf, splitReferenceAssignments, type ResultRef } from '../../memo/refs.js';
import { UnknownUpstreamRunError } from '../../memo/errors.js';
import { RunNotFoundError } from '../../routines/errors.js';
import { executorOf, resolveRun } from '../runs.js';
import { formatMetric } from '../runTable.js';
import { cacheDefaultOf } from '../../config/loadConfig.js';
import { formatDuration } from '../output.js';
import { PARAMETER_OPTIONS, parametersFromArgs } from '../parameters.js';
import { POLICY_OPTIONS, policyFromArgs } from '../policyOptions.js';

export const CACHE_OPTIONS: OptionSpecs = {
  cache: {
    type: 'boolean',
    description:
      "serve the run from an earlier succeeded run with the same cache key on the target (default: the config's cache)",
  },
  rerun: {
    type: 'boolean',
    description: 'run even when the cache would serve an earlier run',
  },
};

export const runCommand: Command = {
  name: 'run',
  summary: 'run the job attached, on the local Docker engine, or on a remote target',
  usage:
    'ferry run [--target <name>] [--param key=value|key=@<run id>]... [--params file.json] [--detach] [--cache | --rerun]',
  description: `
Packages the job (the config's job module and export), builds its image (reused when nothing
changed), ships it to a remote target, and starts it with the given parameters, which the job's
run(parameters) receives. Without --detach, the job's output is streamed here and ferry exits with
0 when the job completed and 1 when it failed. Ctrl-C detaches from a Docker run (it goes on; see
\`ferry logs -f <id>\` and \`ferry stop <id>\`) and asks an attached job to stop().
Every run is recorded (ferry ls / status / logs / get).
--param key=@<run id> gives the parameter the result of that run (it must be JSON), fetched from
its target when this run starts and recorded as an input (ferry status). --cache (or "cache": true
in the config's defaults or the target) serves the run from an earlier succeeded run on the target
with the same cache key (package content, resolved parameters, upstream keys) without running it;
--rerun runs it anyway.`,
  options: {
    target: {
      type: 'string',
      short: 't',
      value: 'name',
      description:
        'where to run: attached, local, or a target of the config (default: defaults.target)',
    },
    ...PARAMETER_OPTIONS,
    ...POLICY_OPTIONS,
    detach: {
      type: 'boolean',
      short: 'd',
      description: 'print the run id and return once the run started (Docker targets)',
    },
    rm: {
      type: 'boolean',
      description: 'remove the container once the run ended (its record and logs are kept)',
    },
    'via-package': {
      type: 'boolean',
      description: 'attached: run the copy loaded back from the package, not the object itself',
    },
    ...CACHE_OPTIONS,
  },
  examples: [
    'ferry run --target attached --param name=Ada',
    'ferry run --param epochs=10 --param optimizer.lr=0.01',
    'ferry run --target gpu-box --params params.json --detach',
    'ferry run --cache --param model=@3fa2c1',
    'ferry run --target cluster --timeout 10m --retries 2',
  ],
  async run(context, args) {
    const config = await context.config();
    const executor = await context.executor(stringOption(args, 'target'));
    const { plain, references } = splitReferenceAssignments(stringsOption(args, 'param'));
    const parameters = await parametersFromArgs(
      config,
      { ...args, values: { ...args.values, param: plain } },
      context.io.cwd,
    );
    const inputs = await referencedRuns(context, references);
    const cache = await cacheOf(context, args, executor.targetName);
    const policy = policyFromArgs(args, 'run');
    if (flag(args, 'detach') && executor.runsInProcess) {
      context.note('ferry: note: --detach is ignored for attached runs (they run in this process)');
    }
    await context.job(executor.targetName);
    const runId = newRunId();
    const run = await executor.execute({
      wait: false,
      parameters,
      runId,
      ...policy,
      ...(flag(args, 'via-package') ? { viaPackage: true } : {}),
      ...(flag(args, 'rm') ? { removeContainer: true } : {}),
      ...cache,
      inputs,
    });
    const record = await recordOf(context, runId);
    if (record.cachedFrom !== undefined) {
      context.progress.clear();
      context.note(
        `ferry: run ${record.id} served from cache: run ${record.cachedFrom} on ${record.target} has the same key ${record.cacheKey?.slice(0, 12)} (--rerun runs it again)`,
      );
      // As for a detached run that started: scripts read the run id from stdout.
      if (flag(args, 'detach')) context.out(record.id);
      return finish(context, record);
    }
    if (executor.runsInProcess) return waitInProcess(context, record, run);
    return followRun(context, record, run, { detach: flag(args, 'detach') });
  },
};

/** What --cache, --rerun and the config's `cache` (target, then defaults) ask for. */
export async function cacheOf(
  context: CliContext,
  args: ParsedArgs,
  targetName: string,
): Promise<{
  readonly cache: boolean;
  readonly rerun?: boolean;
  readonly onCache: (e: CacheEvent) => void;
}> {
  const config = await context.config();
  const target = await context.target(targetName);
  const cache = flag(args, 'cache') || cacheDefaultOf(config, target) === true;
  return {
    cache,
    ...(flag(args, 'rerun') ? { rerun: true } : {}),
    onCache: (event) => {
      if (event.kind === 'miss') context.note(`ferry: not from cache: ${event.reason}`);
    },
  };
}

/** The runs `--param key=@<run id>` name, as handles on their own targets. */
export async function referencedRuns(
  context: CliContext,
  references: readonly { readonly key: string; readonly runId: string }[],
): Promise<Record<string, ResultRef>> {
  const inputs: Record<string, ResultRef> = {};
  for (const { key, runId } of references) {
    let record;
    try {
      record = await resolveRun(context, runId);
    } catch (error) {
      if (!(error instanceof RunNotFoundError)) throw error;
      throw new UnknownUpstreamRunError(`--param ${key}=@${runId}: ${error.message}`, {
        cause: error,
      });
    }
    inputs[key] = resultOf(await (await executorOf(context, record)).run(record.id));
  }
  return inputs;
}

/** The record the executor wrote for the run it started. */
async function recordOf(context: CliContext, runId: string): Promise<RunRecord> {
  const record = await (await context.records()).get(runId);
  if (record === undefined) {
    throw new InternalError(`run ${runId} started but its executor wrote no record of it`);
  }
  return record;
}

/**
 * A run in this process: its output already goes to the terminal; Ctrl-C asks the job to stop()
 * (a second Ctrl-C exits at once).
 */
async function waitInProcess(context: CliContext, record: RunRecord, run: JobRun): Promise<number> {
  context.progress.clear();
  context.note(
    `ferry: run ${record.id}: ${record.job} ${record.version} attached (in this process)`,
  );
  let interrupted = false;
  const stopOnInterrupt = context.onInterrupt(() => {
    interrupted = true;
    context.note('ferry: interrupted: asking the job to stop() (Ctrl-C again to exit at once)');
    run
      .stop()
      .catch((error: unknown) =>
        context.note(
          `ferry: could not stop the job: ${(error as Error).message}; Ctrl-C again to exit`,
        ),
      );
  });
  try {
    await run.wait();
  } finally {
    stopOnInterrupt();
  }
  const final = await recordOf(context, record.id);
  const code = finish(context, final);
  return interrupted && final.status === 'stopped' ? EXIT.interrupted : code;
}

/**
 * After a Docker run started: prints its id, then (unless detached) streams its output, waits for
 * its end, records it, and returns the exit code for the CLI.
 */
export async function followRun(
  context: CliContext,
  record: RunRecord,
  run: JobRun,
  options: { readonly detach: boolean },
): Promise<number> {
  context.progress.clear();
  const where = record.host === undefined ? record.target : `${record.target} (${record.host})`;
  if (options.detach) {
    context.note(
      `ferry: started run ${record.id} on ${where}; follow it with: ferry logs -f ${record.id}`,
    );
    context.out(record.id);
    return EXIT.ok;
  }
  context.note(
    `ferry: run ${record.id}: ${record.job} ${record.version} on ${where} (${record.image ?? record.uid})`,
  );
  const stopFollowing = new AbortController();
  let detached = false;
  const unregister = context.onInterrupt(() => {
    detached = true;
    stopFollowing.abort();
  });
  try {
    await run.followLogs({
      onLine: (line: string, stream: LogStream, ending?: LineEnding) =>
        context.logLine(line, stream, ending),
      signal: stopFollowing.signal,
    });
  } finally {
    unregister();
  }
  if (detached) {
    context.note(
      `\nferry: detached from run ${record.id}; it goes on. Follow it: ferry logs -f ${record.id}; stop it: ferry stop ${record.id}`,
    );
    return EXIT.interrupted;
  }
  // The executor records the run's end as it sees it (logs saved when the container goes).
  await run.wait();
  return finish(context, await recordOf(context, record.id));
}

/** The closing line of a run, and the CLI's exit code for it. */
export function finish(context: CliContext, record: RunRecord): number {
  const took =
    record.startedAt !== undefined && record.finishedAt !== undefined
      ? ` in ${formatDuration(Date.parse(record.finishedAt) - Date.parse(record.startedAt))}`
      : '';
  const code = record.exitCode === undefined ? '' : ` (exit code ${record.exitCode})`;
  context.note(`ferry: run ${record.id} ${record.status}${code}${took}`);
  if (record.metrics !== undefined && Object.keys(record.metrics).length > 0) {
    context.note(
      `ferry: metrics: ${Object.entries(record.metrics)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([name, value]) => `${name}=${formatMetric(value)}`)
        .join('  ')}`,
    );
  }
  const fetch = [
    ...(record.hasResult === true ? [`ferry result ${record.id}`] : []),
    ...(record.hasOutputs === true ? [`ferry outputs ${record.id}`] : []),
  ];
  if (fetch.length > 0) context.note(`ferry: bring its work home: ${fetch.join('; ')}`);
  return record.status === 'succeeded' ? EXIT.ok : EXIT.jobFailed;
}
