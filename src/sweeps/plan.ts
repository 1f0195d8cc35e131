/**
 * A sweep's parameter sets: a grid (every combination of each key's values) and/or an explicit list
 * of runs, each merged over the base parameters.
 */
import { z } from 'zod';
import {
  FORBIDDEN_KEYS,
  InvalidParametersError,
  jobParametersSchema,
  jsonValueSchema,
  mergeParameters,
  parseKeyPath,
  parseValue,
  setPath,
  type JobParameters,
  type JsonValue,
} from '../parameters/index.js';
import { describeIssues, issuesOf } from '../validation/issues.js';
import { strictObject } from '../validation/objects.js';

/** What a sweep file (`ferry sweep --from sweep.json`) holds: a list of runs, or an object. */
export interface SweepSpec {
  /** Parameters of each run (merged over the base); default `[{}]`. */
  readonly runs?: readonly JobParameters[];
  /** Key → values: every combination becomes a run (crossed with each of `runs`). Dotted keys set nested values. */
  readonly grid?: Readonly<Record<string, readonly JsonValue[]>>;
}

/** The most runs one sweep may hold. */
export const MAX_SWEEP_RUNS = 10_000;

/** A grid key: a parameter name or dotted path, no part of it a name refused as a key. */
const gridKeySchema = z
  .string()
  .refine((key) => key.split('.').every((part) => part !== '' && !FORBIDDEN_KEYS.has(part)), {
    error: (issue) =>
      `${JSON.stringify(issue.input)} is not a grid key: a parameter name or dotted path such as "optimizer.lr", without ${[...FORBIDDEN_KEYS].map((k) => `"${k}"`).join(', ')}`,
  });

const runsSchema = z.array(jobParametersSchema, {
  error: () => 'expected a list of parameter objects',
});

const sweepSpecSchema = z.union(
  [
    runsSchema.transform((runs): SweepSpec => ({ runs })),
    strictObject({
      runs: runsSchema.optional(),
      grid: z
        .record(
          gridKeySchema,
          z.array(jsonValueSchema).min(1, { error: () => 'expected a non-empty list of values' }),
          { error: () => 'expected an object of key → list of values' },
        )
        .optional(),
    }),
  ],
  { error: () => 'expected a list of parameter objects or { "grid": {...}, "runs": [...] }' },
);

/** Checks a parsed sweep file: an array of parameter objects, or `{ runs?, grid? }`. */
export function parseSweepSpec(value: unknown, where: string): SweepSpec {
  const result = sweepSpecSchema.safeParse(value);
  if (!result.success) {
    throw new InvalidParametersError(describeIssues(issuesOf(result.error.issues, where)));
  }
  const spec = result.data;
  return {
    ...(spec.runs === undefined ? {} : { runs: spec.runs }),
    ...(spec.grid === undefined ? {} : { grid: spec.grid }),
  };
}

const GRID_FORM =
  "key=values, e.g. --grid lr=0.1,0.01, --grid seed=1..20 or --grid 'lr=[0.1,0.01]'";

/** `1..20`, `-3..3`, `0.1..1`, `1..x`: text that means a range, well-formed or not. */
const RANGE_LIKE = /^\s*-?\d[\d.]*\.\.|\.\.\s*-?\d[\d.]*\s*$/;
const RANGE = /^(-?\d+)\.\.(-?\d+)$/;

/**
 * `key=values` from `--grid`: a JSON array (`lr=[0.1,0.01]`), an integer range (`seed=1..20`), or
 * comma-separated values each read as JSON when it parses, else text (`opt=adam,sgd`). Anything
 * that starts like a list, an object, a quoted string or a range must be one.
 */
export function parseGridOption(text: string): {
  readonly key: string;
  readonly values: JsonValue[];
} {
  const eq = text.indexOf('=');
  const flag = `--grid ${JSON.stringify(text)}`;
  if (eq <= 0) throw new InvalidParametersError(`${flag}: expected ${GRID_FORM}`);
  const key = text.slice(0, eq);
  parseKeyPath(key, '--grid', text, GRID_FORM);
  const raw = text.slice(eq + 1);
  let values: JsonValue[];
  const range = RANGE.exec(raw);
  if (range !== null) {
    const from = Number(range[1]);
    const to = Number(range[2]);
    const step = from <= to ? 1 : -1;
    if (Math.abs(to - from) + 1 > MAX_SWEEP_RUNS) {
      throw new InvalidParametersError(
        `${flag}: the range ${raw} has more than ${MAX_SWEEP_RUNS} values`,
      );
    }
    values = [];
    for (let v = from; step > 0 ? v <= to : v >= to; v += step) values.push(v);
  } else if (RANGE_LIKE.test(raw) && !raw.includes(',')) {
    throw new InvalidParametersError(
      `${flag}: a range is two whole numbers, from..to (--grid ${key}=1..20); list other values with commas (--grid ${key}=0.1,0.5,1)`,
    );
  } else if (/^\s*[[{]/.test(raw)) {
    const parsed = parseValue(raw, '--grid', text);
    values = Array.isArray(parsed) ? parsed : [parsed];
  } else {
    values = raw.split(',').map((part, i) => {
      if (part.trim() === '') {
        throw new InvalidParametersError(
          `${flag}: value ${i + 1} is empty; separate values with single commas (--grid ${key}=0.1,0.01)`,
        );
      }
      return parseValue(part.trim(), '--grid', text);
    });
  }
  if (values.length === 0) {
    throw new InvalidParametersError(
      `${flag}: no values; give at least one (--grid ${key}=0.1,0.01)`,
    );
  }
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
        setPath(copy, key.split('.'), structuredClone(value), () => `by the sweep's runs`);
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
