import { formatDuration as formatPolicyDuration } from '../../routines/attempts.js';
import { isFinal, type RunRecord } from '../../records/record.js';
import { flag, type Command, stringOption, RUN_LOOKUP_TARGET_OPTION } from '../command.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exitCodes.js';
import { formatDuration, table } from '../output.js';
import { isSweepId, refreshRecords, resolveRun, sweepRuns } from '../runs.js';
import { METRIC_TABLE_OPTIONS, formatMetric, metricNames, runsCsv, sortRuns } from '../runTable.js';

export const statusCommand: Command = {
  name: 'status',
  summary: 'show a run (or a sweep): status, exit code, times, parameters, image, package',
  usage: 'ferry status <run id | sweep id>... [--json] [--sort <key> [--desc]] [--csv]',
  description: `
Asks the run's target for its current state (and records it), with the last value of each metric
the run logged and whether it left a result and outputs (ferry result, ferry outputs). A sweep's
table has a column per metric; --sort orders its runs by one (--sort loss --desc), --csv exports
it. Exit code 0 when every named run succeeded or is still queued or running, 1 when one failed or
was stopped.`,
  options: {
    target: RUN_LOOKUP_TARGET_OPTION,
    json: { type: 'boolean', description: 'print the records as JSON' },
    ...METRIC_TABLE_OPTIONS,
  },
  minPositionals: 1,
  maxPositionals: Number.MAX_SAFE_INTEGER,
  async run(context, args) {
    const json = flag(args, 'json');
    const out: unknown[] = [];
    let failed = false;
    for (const id of args.positionals) {
      if (isSweepId(id)) {
        const runs = sortRuns(
          await refreshRecords(context, await sweepRuns(context, id)),
          args,
          'status',
        );
        failed ||= runs.some((r) => isFinal(r.status) && r.status !== 'succeeded');
        const sweepId = runs[0]!.sweepId!;
        if (json) out.push({ sweep: sweepId, counts: countStatuses(runs), runs });
        else if (flag(args, 'csv')) context.out(runsCsv(runs));
        else printSweep(context, sweepId, runs);
        continue;
      }
      const [record] = await refreshRecords(context, [
        await resolveRun(context, id, stringOption(args, 'target')),
      ]);
      failed ||= isFinal(record!.status) && record!.status !== 'succeeded';
      if (json) out.push(record);
      else printRun(context, record!);
    }
    if (json) context.out(JSON.stringify(out.length === 1 ? out[0] : out, null, 2));
    return failed ? EXIT.jobFailed : EXIT.ok;
  },
};

export function countStatuses(runs: readonly RunRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const run of runs) counts[run.status] = (counts[run.status] ?? 0) + 1;
  return counts;
}

/** `3.2s`, or `running 12s`, from a record's times. */
/** The runs of a sweep, one row each, in sweep order as given. */
export function sweepRunsTable(runs: readonly RunRecord[]): string {
  const names = metricNames(runs);
  const cached = runs.some((r) => r.cachedFrom !== undefined);
  return table(
    [
      '#',
      'RUN',
      'STATUS',
      'EXIT',
      'DURATION',
      ...(cached ? ['CACHED FROM'] : []),
      ...names.map((n) => n.toUpperCase()),
      'PARAMETERS',
    ],
    runs.map((r) => [
      String(r.sweepIndex ?? ''),
      r.id,
      r.status,
      r.exitCode === undefined ? '' : String(r.exitCode),
      durationOf(r),
      ...(cached ? [r.cachedFrom ?? ''] : []),
      ...names.map((n) => formatMetric(r.metrics?.[n])),
      JSON.stringify(r.parameters),
    ]),
  );
}

export function durationOf(record: RunRecord, now = Date.now()): string {
  if (record.startedAt === undefined) return '';
  const start = Date.parse(record.startedAt);
  if (record.finishedAt !== undefined) return formatDuration(Date.parse(record.finishedAt) - start);
  return isFinal(record.status) ? '' : `${formatDuration(now - start)}…`;
}

function printRun(context: CliContext, r: RunRecord): void {
  const rows: [string, string | undefined][] = [
    ['run', r.id],
    ['job', `${r.job} ${r.version}`],
    ['uid', r.uid],
    [
      'target',
      r.host === undefined
        ? `${r.target} (${r.targetKind})`
        : `${r.target} (${r.targetKind}, ${r.host})`,
    ],
    ['status', r.status],
    ['exit code', r.exitCode === undefined ? undefined : String(r.exitCode)],
    ['node', r.node],
    [
      'policy',
      r.timeoutMs === undefined && r.retries === undefined
        ? undefined
        : [
            r.timeoutMs === undefined ? undefined : `timeout ${formatPolicyDuration(r.timeoutMs)}`,
            r.retries === undefined ? undefined : `${r.retries} retries`,
          ]
            .filter((p) => p !== undefined)
            .join(', '),
    ],
    ...(r.attempts ?? []).map((a): [string, string] => [
      `attempt ${a.attempt}`,
      [
        a.status,
        a.exitCode === undefined ? undefined : `exit code ${a.exitCode}`,
        a.where === undefined ? undefined : `where: ${a.where}`,
        a.startedAt,
        a.reason,
        r.attempts!.length > 1 ? `(ferry logs --attempt ${a.attempt} ${r.id})` : undefined,
      ]
        .filter((p) => p !== undefined)
        .join('  '),
    ]),
    ['parameters', JSON.stringify(r.parameters)],
    ['created', r.createdAt],
    ['started', r.startedAt],
    ['finished', r.finishedAt],
    ['duration', durationOf(r) || undefined],
    ['sweep', r.sweepId === undefined ? undefined : `${r.sweepId} #${r.sweepIndex}`],
    ['image', r.image],
    [
      'container',
      r.containerId === undefined
        ? undefined
        : `${r.containerId.slice(0, 12)}${r.containerRemovedAt === undefined ? '' : ` (removed by ferry prune at ${r.containerRemovedAt}; its logs are kept with the record)`}`,
    ],
    ['package', r.packageSha256 === undefined ? undefined : `sha256 ${r.packageSha256}`],
    ['cache key', r.cacheKey],
    [
      'cached from',
      r.cachedFrom === undefined
        ? undefined
        : `${r.cachedFrom} (served from cache: nothing ran; its result, metrics and outputs are that run's)`,
    ],
    [
      'inputs',
      r.inputs === undefined
        ? undefined
        : r.inputs
            .map(
              (i) =>
                `${i.name} ← result of run ${i.runId}${i.target === undefined ? '' : ` on ${i.target}`} (key ${i.cacheKey.slice(0, 12)})`,
            )
            .join('\n' + ' '.repeat(13)),
    ],
    [
      'metrics',
      r.metrics === undefined
        ? undefined
        : Object.entries(r.metrics)
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([name, value]) => `${name}=${formatMetric(value)}`)
            .join('  '),
    ],
    [
      'result',
      r.hasResult === undefined
        ? undefined
        : !r.hasResult
          ? 'none'
          : r.containerRemovedAt !== undefined && r.savedRunFolder !== true
            ? 'removed with its container (ferry prune --force)'
            : `yes (ferry result ${r.id})`,
    ],
    [
      'outputs',
      r.hasOutputs === undefined
        ? undefined
        : !r.hasOutputs
          ? 'none'
          : r.outputsDownloadedTo !== undefined
            ? `downloaded to ${r.outputsDownloadedTo}`
            : r.containerRemovedAt !== undefined && r.savedRunFolder !== true
              ? 'never downloaded; removed with its container (ferry prune --force)'
              : `not downloaded (ferry outputs ${r.id})`,
    ],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  context.out(
    rows
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`)
      .join('\n'),
  );
}

function printSweep(context: CliContext, id: string, runs: readonly RunRecord[]): void {
  const counts = countStatuses(runs);
  context.out(
    `sweep ${id}: ${runs.length} runs on ${runs[0]?.target} — ${Object.entries(counts)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ')}`,
  );
  context.out(sweepRunsTable(runs));
}
