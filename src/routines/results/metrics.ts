/**
 * Metric points: the stable format of `metrics.jsonl` and of the `ferry:metric` marker lines a run
 * prints (docs/metrics.md). Pure functions; reading and writing files is the callers' business.
 */

/** Prefix of the stdout line each logged metric prints, so followed logs show it live. */
export const METRIC_MARKER = 'ferry:metric ';

/** Longest metric name accepted. */
export const MAX_METRIC_NAME = 200;

/** One logged value: a line of `metrics.jsonl`. */
export interface MetricPoint {
  readonly name: string;
  readonly value: number;
  /** The step it belongs to (given, else the count of earlier points of the same name). */
  readonly step: number;
  /** When it was logged (ISO time). */
  readonly at: string;
}

/** Every point of a run, and the last value of each metric. */
export interface RunMetrics {
  readonly points: readonly MetricPoint[];
  /** Metric name → the value of its last point (by log order). */
  readonly last: Readonly<Record<string, number>>;
}

/** Why a metric cannot be logged, or undefined when it can. */
export function metricProblem(name: unknown, value: unknown, step: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_METRIC_NAME) {
    return `a metric name must be a non-empty string of at most ${MAX_METRIC_NAME} characters, not ${JSON.stringify(name)}`;
  }
  if (/[\n\r]/.test(name)) return `metric name ${JSON.stringify(name)} holds a line break`;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return `metric ${name}: the value must be a finite number, not ${String(value)}`;
  }
  if (step !== undefined && (!Number.isSafeInteger(step) || (step as number) < 0)) {
    return `metric ${name}: step must be a whole number >= 0, not ${String(step)}`;
  }
  return undefined;
}

/** The marker line a logged point prints on stdout. */
export function metricLine(point: MetricPoint): string {
  return `${METRIC_MARKER}${JSON.stringify(point)}`;
}

/** The point a marker line carries, or undefined when the line is not one. */
export function parseMetricLine(line: string): MetricPoint | undefined {
  if (!line.startsWith(METRIC_MARKER)) return undefined;
  return pointOf(line.slice(METRIC_MARKER.length));
}

/** A readable form of a marker line (`metric loss = 0.12 (step 3)`), other lines as they are. */
export function renderLogLine(line: string): string {
  const point = parseMetricLine(line);
  return point === undefined ? line : `metric ${point.name} = ${point.value} (step ${point.step})`;
}

/**
 * The points of a `metrics.jsonl` text. Lines that are not points (a line cut by a killed run, a
 * hand edit) are skipped and counted, never fatal: one bad line must not hide the others.
 */
export function parseMetrics(text: string): RunMetrics & { readonly skipped: number } {
  const points: MetricPoint[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const point = pointOf(line);
    if (point === undefined) skipped += 1;
    else points.push(point);
  }
  return { points, last: lastValues(points), skipped };
}

/** Metric name → its last value, on a null-prototype object (names are user input). */
export function lastValues(points: readonly MetricPoint[]): Record<string, number> {
  const last = Object.create(null) as Record<string, number>;
  for (const point of points) last[point.name] = point.value;
  return last;
}

function pointOf(json: string): MetricPoint | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const { name, value: metric, step, at } = value as Record<string, unknown>;
  if (metricProblem(name, metric, step) !== undefined || step === undefined) return undefined;
  if (typeof at !== 'string') return undefined;
  return { name: name as string, value: metric as number, step: step as number, at };
}
