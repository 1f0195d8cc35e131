/**
 * References to an earlier run's result, and where they are found: in a run's parameters (as the
 * JSON marker `{ "$resultOf": "<run id>" }`, which `ferry run --param model=@<run id>` writes), in
 * `execute({ inputs })`, and in the fields of a job object (`resultOf(run)` instances). Pure: finding
 * and replacing, never fetching (resolve.ts does that).
 */
import type { JobParameters, JsonValue } from '../parameters/index.js';
import type { JobExecutor, JobRun } from '../routines/jobExecutor.js';
import { InvalidReferenceError } from './errors.js';

/** The JSON form of a reference inside parameters. */
export const RESULT_OF_KEY = '$resultOf';

/** Run ids as Ferry makes them and records accept them (records/store.ts). */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A reference to the result of a run: by handle, by id, or by the name of a pipeline step. */
export class ResultRef {
  /** The run's id, when known (a handle's, or the id given). */
  readonly runId: string | undefined;
  /** A handle on the run: its result is read through it, on whatever target it ran. */
  readonly run: JobRun | undefined;
  /** Where to find a run given by id (default: the executor the referring run starts on). */
  readonly from: JobExecutor | undefined;
  /** A pipeline step's name: the run that step made (pipeline.ts). */
  readonly step: string | undefined;

  constructor(fields: {
    readonly runId?: string;
    readonly run?: JobRun;
    readonly from?: JobExecutor;
    readonly step?: string;
  }) {
    this.runId = fields.runId ?? fields.run?.id;
    this.run = fields.run;
    this.from = fields.from;
    this.step = fields.step;
  }

  /** How messages and records name it. */
  describe(): string {
    return this.step !== undefined ? `step ${this.step}` : `run ${this.runId ?? '?'}`;
  }
}

/**
 * A reference to the result of `run` (a handle, or a run id), for a job field or an
 * `execute({ inputs })` entry: resolved when the referring run starts, by fetching the result.
 * A run id is looked up on `options.from`, else on the executor the referring run starts on.
 */
export function resultOf(run: JobRun | string, options: { from?: JobExecutor } = {}): ResultRef {
  if (typeof run === 'string') {
    if (!RUN_ID.test(run)) {
      throw new InvalidReferenceError(`resultOf(${JSON.stringify(run)}): not a run id`);
    }
    return new ResultRef({
      runId: run,
      ...(options.from === undefined ? {} : { from: options.from }),
    });
  }
  return new ResultRef({ run, ...(options.from === undefined ? {} : { from: options.from }) });
}

export function isResultRef(value: unknown): value is ResultRef {
  return value instanceof ResultRef;
}

/** The run id of a `{ "$resultOf": id }` marker, or undefined when `value` is not one. */
export function markerRunId(value: unknown, where: string): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  if (!Object.hasOwn(value, RESULT_OF_KEY)) return undefined;
  const keys = Object.keys(value);
  const id = (value as Record<string, unknown>)[RESULT_OF_KEY];
  if (keys.length !== 1 || typeof id !== 'string' || !RUN_ID.test(id)) {
    throw new InvalidReferenceError(
      `${where}: a reference is { "${RESULT_OF_KEY}": "<run id>" } and nothing else, got ${JSON.stringify(value)}`,
    );
  }
  return id;
}

/** The marker `--param key=@<run id>` stands for. */
export function resultMarker(runId: string): { readonly [RESULT_OF_KEY]: string } {
  if (!RUN_ID.test(runId)) {
    throw new InvalidReferenceError(`@${runId}: not a run id (ferry ls lists them)`);
  }
  return { [RESULT_OF_KEY]: runId };
}

/** A reference found at a path: `parameters.model`, `job.features`. */
export interface FoundRef {
  readonly name: string;
  readonly ref: ResultRef;
}

/** The references in parameters (markers) and in `inputs`, by the parameter path they fill. */
export function parameterRefs(
  parameters: JobParameters,
  inputs: Readonly<Record<string, ResultRef | JobRun | string>> = {},
): FoundRef[] {
  const found: FoundRef[] = [];
  const walk = (value: JsonValue, where: string): void => {
    const id = markerRunId(value, where);
    if (id !== undefined) {
      found.push({ name: where, ref: new ResultRef({ runId: id }) });
      return;
    }
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${where}[${i}]`));
    else if (value !== null && typeof value === 'object') {
      for (const [key, v] of Object.entries(value)) walk(v, `${where}.${key}`);
    }
  };
  for (const [key, value] of Object.entries(parameters)) walk(value, `parameters.${key}`);
  for (const [key, input] of Object.entries(inputs)) {
    if (Object.hasOwn(parameters, key)) {
      throw new InvalidReferenceError(
        `inputs.${key}: parameters already hold ${key}; an input is a parameter of its own`,
      );
    }
    found.push({
      name: `parameters.${key}`,
      ref: isResultRef(input) ? input : resultOf(input as JobRun | string),
    });
  }
  return found;
}

/** Parameters with each reference's path replaced by its value. */
export function withResolvedParameters(
  parameters: JobParameters,
  values: ReadonlyMap<string, JsonValue>,
): JobParameters {
  const replace = (value: JsonValue, where: string): JsonValue => {
    if (values.has(where)) return values.get(where)!;
    if (Array.isArray(value)) return value.map((v, i) => replace(v, `${where}[${i}]`));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, replace(v, `${where}.${k}`)]),
      );
    }
    return value;
  };
  const out: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(parameters)) {
    out[key] = replace(value, `parameters.${key}`);
  }
  for (const [where, value] of values) {
    const key = where.slice('parameters.'.length);
    if (!where.includes('[') && !key.includes('.') && !Object.hasOwn(out, key)) out[key] = value;
  }
  return out;
}

/** One place in a job's object graph that holds a reference. */
export interface RefSlot extends FoundRef {
  readonly holder: object;
  readonly key: string | number;
}

const MAX_DEPTH = 256;

/**
 * Every `ResultRef` in a package's payload (resource name → object: `{ job }`), named by path
 * (`job.features`): in its object graph (own enumerable properties of objects and class
 * instances, array items, Map values), with where it is. Shared and cyclic parts are visited once.
 */
export function jobRefs(payload: unknown): RefSlot[] {
  const slots: RefSlot[] = [];
  const seen = new Set<object>();
  const walk = (value: unknown, where: string, depth: number): void => {
    if (value === null || typeof value !== 'object' || seen.has(value) || depth > MAX_DEPTH) return;
    if (ArrayBuffer.isView(value) || value instanceof Date || value instanceof RegExp) return;
    seen.add(value);
    const visit = (holder: object, key: string | number, item: unknown, path: string): void => {
      if (isResultRef(item)) slots.push({ holder, key, ref: item, name: path });
      else walk(item, path, depth + 1);
    };
    if (value instanceof Map) {
      for (const [key, item] of value) {
        if (typeof key === 'string')
          visit(value, key, item, `${where}.get(${JSON.stringify(key)})`);
      }
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) => visit(value, i, item, `${where}[${i}]`));
      return;
    }
    for (const key of Object.keys(value)) {
      const path = where === '' ? key : `${where}.${key}`;
      visit(value, key, (value as Record<string, unknown>)[key], path);
    }
  };
  walk(payload, '', 0);
  return slots;
}

/**
 * Puts each slot's value in place of its reference; gives back how to put the references back (so
 * the caller's job object is as it was once the run was packaged or ended).
 */
export function substitute(
  slots: readonly RefSlot[],
  values: ReadonlyMap<RefSlot, unknown>,
): () => void {
  const set = (holder: object, key: string | number, value: unknown): void => {
    if (holder instanceof Map) holder.set(key, value);
    else (holder as Record<string | number, unknown>)[key] = value;
  };
  for (const slot of slots) set(slot.holder, slot.key, values.get(slot));
  return () => {
    for (const slot of slots) set(slot.holder, slot.key, slot.ref);
  };
}

/** `--param` assignments split into plain ones and `key=@<run id>` references. */
export function splitReferenceAssignments(assignments: readonly string[]): {
  readonly plain: string[];
  readonly references: { readonly key: string; readonly runId: string }[];
} {
  const plain: string[] = [];
  const references: { key: string; runId: string }[] = [];
  for (const assignment of assignments) {
    const match = /^([^=]+)=@(.*)$/s.exec(assignment);
    if (match === null) {
      plain.push(assignment);
      continue;
    }
    const [, key, runId] = match as unknown as [string, string, string];
    if (key.includes('.') || !RUN_ID.test(runId)) {
      throw new InvalidReferenceError(
        `--param ${assignment}: a reference is key=@<run id>, the key a top-level parameter name${key.includes('.') ? ` (not ${key})` : ''}, the run id as ferry ls shows it`,
      );
    }
    references.push({ key, runId });
  }
  return { plain, references };
}
