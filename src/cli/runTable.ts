/**
 * Runs as rows with their metrics: the metric columns of `ferry ls` and of a sweep's table, sorting
 * by a metric or a field (`--sort loss --desc`), and export as CSV or JSON.
 */
import type { RunRecord } from '../records/record.js';
import type { OptionSpecs, ParsedArgs } from './command.js';
import { flag, stringOption } from './command.js';
import { UsageError } from './errors.js';

/** The options every listing of runs takes for metrics. */
export const METRIC_TABLE_OPTIONS: OptionSpecs = {
  sort: {
    type: 'string',
    short: 's',
    value: 'key',
    description:
      'sort by a metric (its last value) or by created, status, duration, exit, index; runs without it last',
  },
  desc: { type: 'boolean', description: 'sort in descending order (largest first)' },
  csv: { type: 'boolean', description: 'print the runs as CSV (one column per metric)' },
};

const FIELD_KEYS = ['created', 'status', 'duration', 'exit', 'index', 'id'] as const;

/** Every metric name the records carry, sorted. */
export function metricNames(records: readonly RunRecord[]): string[] {
  const names = new Set<string>();
  for (const record of records)
    for (const name of Object.keys(record.metrics ?? {})) names.add(name);
  return [...names].sort();
}

/** A metric's last value as a table shows it: up to 4 significant digits. */
export function formatMetric(value: number | undefined): string {
  if (value === undefined) return '';
  if (Number.isInteger(value) && Math.abs(value) < 1e6) return String(value);
  return String(Number(value.toPrecision(4)));
}

/** The records sorted as `--sort`/`--desc` ask (stable; runs lacking the key go last). */
export function sortRuns(
  records: readonly RunRecord[],
  args: ParsedArgs,
  command: string,
): RunRecord[] {
  const key = stringOption(args, 'sort');
  const desc = flag(args, 'desc');
  if (key === undefined) return desc ? [...records].reverse() : [...records];
  const names = metricNames(records);
  const isField = (FIELD_KEYS as readonly string[]).includes(key);
  if (!isField && !names.includes(key)) {
    throw new UsageError(
      `${command}: --sort ${JSON.stringify(key)} is neither a metric of these runs (${names.join(', ') || 'they logged none'}) nor one of ${FIELD_KEYS.join(', ')}`,
      command,
    );
  }
  const valueOf = (r: RunRecord): number | string | undefined => {
    if (!isField) return r.metrics?.[key];
    switch (key) {
      case 'created':
        return r.createdAt;
      case 'status':
        return r.status;
      case 'exit':
        return r.exitCode;
      case 'index':
        return r.sweepIndex;
      case 'duration':
        return r.startedAt === undefined || r.finishedAt === undefined
          ? undefined
          : Date.parse(r.finishedAt) - Date.parse(r.startedAt);
      default:
        return r.id;
    }
  };
  const decorated = records.map((record, position) => ({
    record,
    position,
    value: valueOf(record),
  }));
  decorated.sort((a, b) => {
    if (a.value === undefined || b.value === undefined) {
      return a.value === b.value ? a.position - b.position : a.value === undefined ? 1 : -1;
    }
    const order = a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
    return (desc ? -order : order) || a.position - b.position;
  });
  return decorated.map((d) => d.record);
}

/** The runs as CSV: fixed columns, then one per metric. */
export function runsCsv(records: readonly RunRecord[]): string {
  const names = metricNames(records);
  const header = [
    'id',
    'job',
    'target',
    'status',
    'exit_code',
    'created_at',
    'started_at',
    'finished_at',
    'sweep_id',
    'sweep_index',
    'parameters',
    ...names,
  ];
  const rows = records.map((r) => [
    r.id,
    r.job,
    r.target,
    r.status,
    r.exitCode === undefined ? '' : String(r.exitCode),
    r.createdAt,
    r.startedAt ?? '',
    r.finishedAt ?? '',
    r.sweepId ?? '',
    r.sweepIndex === undefined ? '' : String(r.sweepIndex),
    JSON.stringify(r.parameters),
    ...names.map((n) => (r.metrics?.[n] === undefined ? '' : String(r.metrics[n]))),
  ]);
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\n');
}

/** One CSV field, quoted when needed; text a spreadsheet would run as a formula is defused. */
export function csvField(value: string): string {
  const safe = /^[=+@\t\r]/.test(value) || /^-[^\d.]/.test(value) ? `'${value}` : value;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
