import { FerryError } from '../../errors.js';
import { RUN_STATUSES, type RunRecord, type RunStatus } from '../../records/record.js';
import { flag, intOption, stringOption, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { EXIT } from '../exitCodes.js';
import { table } from '../output.js';
import { refreshRecords, sweepRuns } from '../runs.js';
import { METRIC_TABLE_OPTIONS, formatMetric, metricNames, runsCsv, sortRuns } from '../runTable.js';
import { durationOf } from './status.js';

export const lsCommand: Command = {
  name: 'ls',
  summary: 'list runs: id, target, status, exit code, times, sweep, parameters, metrics',
  usage:
    'ferry ls [--target <name>] [--sweep <id>] [--status <status>] [--last <n>] [--sort <key> [--desc]] [--json | --csv]',
  description: `
Lists the runs recorded in the project (<workDir>/runs), oldest first, asking their targets for the
state of runs that had not ended. With --target, the target's engine is also searched for runs of
this job that other machines or processes started (by their container labels); those are added to
the records. Each metric a run logged (context.logMetric) is a column holding its last value;
--sort orders the runs by one (--sort loss), --csv exports them.`,
  options: {
    target: {
      type: 'string',
      short: 't',
      value: 'name',
      description: 'only runs on this target (and search its engine)',
    },
    sweep: { type: 'string', value: 'id', description: 'only the runs of this sweep' },
    status: {
      type: 'string',
      value: 'status',
      description: `only runs with this status (${RUN_STATUSES.join(', ')})`,
    },
    last: { type: 'string', short: 'n', value: 'n', description: 'only the n newest runs' },
    json: { type: 'boolean', description: 'print the records as a JSON array' },
    ...METRIC_TABLE_OPTIONS,
  },
  async run(context, args) {
    const store = await context.records();
    const targetName = stringOption(args, 'target');
    const status = stringOption(args, 'status');
    if (status !== undefined && !RUN_STATUSES.includes(status as RunStatus)) {
      throw new UsageError(
        `ls: --status ${JSON.stringify(status)} is not a status; use one of ${RUN_STATUSES.join(', ')}`,
        'ls',
      );
    }
    const last = intOption(args, 'last', 'ls');
    let records = await store.list();
    if (targetName !== undefined) {
      const target = await context.target(targetName);
      records = records.filter((r) => r.target === target.name);
      try {
        const executor = await context.executor(target);
        records.push(...(await executor.discoverRuns(new Set(records.map((r) => r.id)))));
      } catch (error) {
        if (!(error instanceof FerryError)) throw error;
        context.note(`ferry: note: could not search target ${target.name}: ${error.message}`);
      }
    }
    const sweep = stringOption(args, 'sweep');
    if (sweep !== undefined) {
      const sweepId = (await sweepRuns(context, sweep))[0]!.sweepId;
      records = records.filter((r) => r.sweepId === sweepId);
    }
    // A sweep's runs share their creation time: they follow their index.
    records.sort(
      (a, b) =>
        a.createdAt.localeCompare(b.createdAt) ||
        (a.sweepIndex ?? 0) - (b.sweepIndex ?? 0) ||
        a.id.localeCompare(b.id),
    );
    if (last !== undefined) records = records.slice(-last);
    records = await refreshRecords(context, records);
    if (status !== undefined) records = records.filter((r) => r.status === status);
    records = sortRuns(records, args, 'ls');
    if (flag(args, 'csv')) {
      context.out(runsCsv(records));
      return EXIT.ok;
    }
    if (flag(args, 'json')) {
      context.out(JSON.stringify(records, null, 2));
      return EXIT.ok;
    }
    if (records.length === 0) {
      context.note('ferry: no runs yet; start one with `ferry run`');
      return EXIT.ok;
    }
    context.out(listTable(records));
    return EXIT.ok;
  },
};

export function listTable(records: readonly RunRecord[]): string {
  const names = metricNames(records);
  // Runs served from cache name the run they give: a column only when there is one.
  const cached = records.some((r) => r.cachedFrom !== undefined);
  return table(
    [
      'RUN ID',
      'TARGET',
      'STATUS',
      'EXIT',
      'CREATED',
      'DURATION',
      'SWEEP',
      ...(cached ? ['CACHED FROM'] : []),
      ...names.map((n) => n.toUpperCase()),
      'PARAMETERS',
    ],
    records.map((r) => [
      r.id,
      r.target,
      r.status,
      r.exitCode === undefined ? '' : String(r.exitCode),
      r.createdAt.replace('T', ' ').slice(0, 19),
      durationOf(r),
      r.sweepId === undefined ? '' : `${r.sweepId}#${r.sweepIndex}`,
      ...(cached ? [r.cachedFrom ?? ''] : []),
      ...names.map((n) => formatMetric(r.metrics?.[n])),
      shorten(JSON.stringify(r.parameters), 60),
    ]),
  );
}

function shorten(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}
