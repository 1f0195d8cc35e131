/**
 * A sweep's parameter sets: a grid (every combination of each key's values) and/or an explicit list
 * of runs, each merged over the base parameters.
 */
import {
  checkParameters,
  InvalidParametersError,
  mergeParameters,
  parseValue,
  setPath,
  type JobParameters,
  type JsonValue,
} from '../parameters/index.js';

/** What a sweep file (`ferry sweep --from sweep.json`) holds: a list of runs, or an object. */
export interface SweepSpec {
  /** Parameters of each run (merged over the base); default `[{}]`. */
  readonly runs?: readonly JobParameters[];
  /** Key → values: every combination becomes a run (crossed with each of `runs`). Dotted keys set nested values. */
  readonly grid?: Readonly<Record<string, readonly JsonValue[]>>;
}

/** The most runs one sweep may hold. */
export const MAX_SWEEP_RUNS = 10_000;

/** Checks a parsed sweep file: an array of parameter objects, or `{ runs?, grid? }`. */
export function parseSweepSpec(value: unknown, where: string): SweepSpec {
  if (Array.isArray(value)) {
    return { runs: value.map((run, i) => checkParameters(run, `${where}[${i}]`)) };
  }
  if (typeof value !== 'object' || value === null) {
    throw new InvalidParametersError(
      `${where}: expected a list of parameter objects or { "grid": {...}, "runs": [...] }`,
    );
  }
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    if (key !== 'runs' && key !== 'grid') {
      throw new InvalidParametersError(
        `${where}: unknown key ${JSON.stringify(key)}; a sweep file has "grid" and/or "runs"`,
      );
    }
  }
  let runs: JobParameters[] | undefined;
  if (object.runs !== undefined) {
    if (!Array.isArray(object.runs))
      throw new InvalidParametersError(`${where}.runs: expected a list of parameter objects`);
    runs = object.runs.map((run, i) => checkParameters(run, `${where}.runs[${i}]`));
  }
  let grid: Record<string, JsonValue[]> | undefined;
  if (object.grid !== undefined) {
    const g = checkParameters(object.grid, `${where}.grid`);
    grid = {};
    for (const [key, values] of Object.entries(g)) {
      if (!Array.isArray(values) || values.length === 0) {
        throw new InvalidParametersError(
          `${where}.grid.${key}: expected a non-empty list of values`,
        );
      }
      grid[key] = values;
    }
  }
  return { ...(runs === undefined ? {} : { runs }), ...(grid === undefined ? {} : { grid }) };
}

/**
 * `key=values` from `--grid`: a JSON array (`lr=[0.1,0.01]`), an integer range (`seed=1..20`), or
 * comma-separated values each read as JSON when it parses, else text (`opt=adam,sgd`).
 */
export function parseGridOption(text: string): {
  readonly key: string;
  readonly values: JsonValue[];
} {
  const eq = text.indexOf('=');
  const key = eq < 0 ? '' : text.slice(0, eq);
  if (eq <= 0 || key.split('.').some((p) => p === '')) {
    throw new InvalidParametersError(
      `--grid ${JSON.stringify(text)}: expected key=values, e.g. --grid lr=0.1,0.01 or --grid seed=1..20`,
    );
  }
  const raw = text.slice(eq + 1);
  const range = /^(-?\d+)\.\.(-?\d+)$/.exec(raw);
  let values: JsonValue[];
  if (range !== null) {
    const from = Number(range[1]);
    const to = Number(range[2]);
    const step = from <= to ? 1 : -1;
    if (Math.abs(to - from) + 1 > MAX_SWEEP_RUNS) {
      throw new InvalidParametersError(
        `--grid ${key}: the range ${raw} has more than ${MAX_SWEEP_RUNS} values`,
      );
    }
    values = [];
    for (let v = from; step > 0 ? v <= to : v >= to; v += step) values.push(v);
  } else {
    const parsed = parseValue(raw);
    values = Array.isArray(parsed) ? parsed : raw.split(',').map((part) => parseValue(part.trim()));
  }
  if (values.length === 0) throw new InvalidParametersError(`--grid ${key}: no values`);
  return { key, values };
}

/** Every run's parameters: base ← each run of the spec ← each grid combination (in order). */
export function expandSweep(base: JobParameters, spec: SweepSpec): JobParameters[] {
  let sets: Record<string, JsonValue>[] = (spec.runs ?? [{}]).map(
    (run) => structuredClone(run) as Record<string, JsonValue>,
  );
  for (const [key, values] of Object.entries(spec.grid ?? {})) {
    const next: Record<string, JsonValue>[] = [];
    for (const set of sets) {
      for (const value of values) {
        const copy = structuredClone(set);
        setPath(copy, key.split('.'), structuredClone(value));
        next.push(copy);
      }
    }
    sets = next;
    if (sets.length > MAX_SWEEP_RUNS) {
      throw new InvalidParametersError(`the sweep would have more than ${MAX_SWEEP_RUNS} runs`);
    }
  }
  return sets.map((set) => mergeParameters(base, set));
}

/** Two sweep specs combined: runs of the first, crossed with both grids. */
export function combineSpecs(a: SweepSpec, b: SweepSpec): SweepSpec {
  const runs = a.runs ?? b.runs;
  return {
    ...(runs === undefined ? {} : { runs }),
    grid: { ...(a.grid ?? {}), ...(b.grid ?? {}) },
  };
}
