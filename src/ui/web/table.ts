/**
 * The runs table's columns, sorting and filtering, as pure functions over records (tested without
 * a page). Every column can sort and filter; metrics are a column each, their last value.
 */
import type { RunRecord } from '../../records/record.js';

export interface Column {
  readonly key: string;
  readonly label: string;
  /** The value sorted by (numbers sort as numbers, text as text; missing last). */
  value(record: RunRecord): string | number | undefined;
  /** The text shown in a cell and matched by the filter. */
  text(record: RunRecord): string;
  readonly numeric?: boolean;
}

export function metricNames(records: readonly RunRecord[]): string[] {
  const names = new Set<string>();
  for (const record of records)
    for (const name of Object.keys(record.metrics ?? {})) names.add(name);
  return [...names].sort();
}

export function parameterNames(records: readonly RunRecord[]): string[] {
  const names = new Set<string>();
  for (const record of records) for (const name of Object.keys(record.parameters)) names.add(name);
  return [...names].sort();
}

export function formatNumber(value: number | undefined): string {
  if (value === undefined) return '';
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e6)
    ? value.toExponential(3)
    : String(Number(value.toPrecision(5)));
}

export function formatTime(iso: string | undefined): string {
  return iso === undefined ? '' : iso.replace('T', ' ').slice(0, 19);
}

export function durationMs(record: RunRecord, now: number): number | undefined {
  if (record.startedAt === undefined) return undefined;
  const end = record.finishedAt === undefined ? now : Date.parse(record.finishedAt);
  return end - Date.parse(record.startedAt);
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function parameterText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function runColumns(records: readonly RunRecord[], now: number): Column[] {
  const metrics = metricNames(records);
  return [
    { key: 'id', label: 'Run', value: (r) => r.id, text: (r) => r.id },
    {
      key: 'sweep',
      label: 'Sweep',
      value: (r) =>
        r.sweepId === undefined
          ? undefined
          : `${r.sweepId}#${String(r.sweepIndex ?? 0).padStart(6, '0')}`,
      text: (r) => (r.sweepId === undefined ? '' : `${r.sweepId} #${r.sweepIndex ?? 0}`),
    },
    { key: 'target', label: 'Target', value: (r) => r.target, text: (r) => r.target },
    { key: 'status', label: 'Status', value: (r) => r.status, text: (r) => r.status },
    {
      key: 'exit',
      label: 'Exit',
      numeric: true,
      value: (r) => r.exitCode,
      text: (r) => (r.exitCode === undefined ? '' : String(r.exitCode)),
    },
    {
      key: 'created',
      label: 'Created',
      value: (r) => r.createdAt,
      text: (r) => formatTime(r.createdAt),
    },
    {
      key: 'started',
      label: 'Started',
      value: (r) => r.startedAt,
      text: (r) => formatTime(r.startedAt),
    },
    {
      key: 'duration',
      label: 'Duration',
      numeric: true,
      value: (r) => durationMs(r, now),
      text: (r) => formatDuration(durationMs(r, now)),
    },
    ...metrics.map((name): Column => ({
      key: `metric:${name}`,
      label: name,
      numeric: true,
      value: (r) => r.metrics?.[name],
      text: (r) => formatNumber(r.metrics?.[name]),
    })),
    {
      key: 'parameters',
      label: 'Parameters',
      value: (r) => JSON.stringify(r.parameters),
      text: (r) =>
        Object.entries(r.parameters)
          .map(([k, v]) => `${k}=${parameterText(v)}`)
          .join(' '),
    },
  ];
}

export interface TableState {
  readonly sort: string;
  readonly desc: boolean;
  /** Text every shown row contains (in `filterColumn`, or in any column when empty). */
  readonly filter: string;
  readonly filterColumn: string;
}

export function compareValues(
  a: string | number | undefined,
  b: string | number | undefined,
): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

/** The rows to show, filtered then sorted (missing values last either way). */
export function applyTable(
  records: readonly RunRecord[],
  columns: readonly Column[],
  state: TableState,
): RunRecord[] {
  const needle = state.filter.trim().toLowerCase();
  const filterColumns =
    state.filterColumn === '' ? columns : columns.filter((c) => c.key === state.filterColumn);
  let rows =
    needle === ''
      ? [...records]
      : records.filter((r) => filterColumns.some((c) => c.text(r).toLowerCase().includes(needle)));
  const column = columns.find((c) => c.key === state.sort);
  if (column !== undefined) {
    const keyed = rows.map((r) => ({ r, v: column.value(r) }));
    keyed.sort((x, y) => {
      if (x.v === undefined || y.v === undefined) return compareValues(x.v, y.v);
      const order = compareValues(x.v, y.v);
      return state.desc ? -order : order;
    });
    rows = keyed.map((k) => k.r);
  }
  return rows;
}

/** Whether smaller is better for a metric, judged by its name (loss, error, …). */
export function lowerIsBetter(metric: string): boolean {
  return /loss|err|mse|mae|rmse|perplexity|time|latency|cost/i.test(metric);
}

/** The run with the best value of `metric` (undefined when none has it). */
export function bestRun(
  records: readonly RunRecord[],
  metric: string,
  lower: boolean,
): RunRecord | undefined {
  let best: RunRecord | undefined;
  for (const record of records) {
    const value = record.metrics?.[metric];
    if (value === undefined || !Number.isFinite(value)) continue;
    const current = best?.metrics?.[metric];
    if (current === undefined || (lower ? value < current : value > current)) best = record;
  }
  return best;
}
