/**
 * Run parameters: JSON values a run is given at start time, without rebuilding the image.
 *
 * How they reach the job: every executor calls `job.run(parameters)` with them (a frozen plain
 * object, `{}` when none were given). In a container they travel in the environment variable
 * `FERRY_PARAMETERS` (JSON) and the entry point passes them to `run()`; attached runs pass them
 * directly. The job's source never imports Ferry to read them, so its bundle needs nothing that is
 * not in the image.
 *
 *   export class TrainingJob {
 *     run(parameters: JobParameters) { const epochs = Number(parameters.epochs ?? 10); ... }
 *   }
 *
 * (`import type { JobParameters } from 'ferry'` is a type-only import, erased from the bundle.)
 */
import { readFile } from 'node:fs/promises';
import { InputError } from '../errors.js';

export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The parameters of one run: a plain object of JSON values. */
export type JobParameters = { readonly [key: string]: JsonValue };

/** The environment variable holding a container run's parameters as JSON. */
export const PARAMETERS_ENV = 'FERRY_PARAMETERS';

/** Parameters larger than this (as JSON) are refused: they travel in one environment variable. */
export const MAX_PARAMETERS_BYTES = 64 * 1024;

/** A parameter is not JSON, a parameters file is malformed, or the parameters are too large. */
export class InvalidParametersError extends InputError {}

/**
 * Checks that a value is a plain object of JSON values (finite numbers, no `undefined`, functions,
 * class instances or cycles), naming the first offending path; returns a frozen deep copy.
 */
export function checkParameters(value: unknown, where = 'parameters'): JobParameters {
  if (!isPlainObject(value)) {
    throw new InvalidParametersError(
      `${where}: expected an object of parameters, got ${describe(value)}`,
    );
  }
  return deepFreeze(copyJson(value, where, new Set())) as JobParameters;
}

function copyJson(value: unknown, where: string, seen: Set<object>): JsonValue {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new InvalidParametersError(`${where}: ${value} is not a JSON number`);
    }
    return value;
  }
  if (typeof value === 'object') {
    if (seen.has(value))
      throw new InvalidParametersError(`${where}: refers back to itself (a cycle)`);
    seen.add(value);
    try {
      if (Array.isArray(value))
        return value.map((item, i) => copyJson(item, `${where}[${i}]`, seen));
      if (isPlainObject(value)) {
        const out: Record<string, JsonValue> = {};
        for (const [key, item] of Object.entries(value)) {
          out[key] = copyJson(item, `${where}.${key}`, seen);
        }
        return out;
      }
    } finally {
      seen.delete(value);
    }
  }
  throw new InvalidParametersError(`${where}: ${describe(value)} is not a JSON value`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (typeof value === 'bigint') return `the BigInt ${value}n`;
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    return `an instance of ${(value as object).constructor?.name ?? 'Object'}`;
  }
  if (typeof value === 'string') return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

/**
 * `key=value` from the command line. The value is JSON when it parses as JSON (`3`, `true`,
 * `[1,2]`, `{"a":1}`, `"quoted"`), else the text itself (`adam`). A dotted key (`optimizer.lr=0.1`)
 * sets a nested value.
 */
export function parseAssignment(text: string): {
  readonly path: readonly string[];
  readonly value: JsonValue;
} {
  const eq = text.indexOf('=');
  const key = eq < 0 ? '' : text.slice(0, eq);
  const path = key.split('.');
  if (eq <= 0 || path.some((part) => part === '')) {
    throw new InvalidParametersError(
      `--param ${JSON.stringify(text)}: expected key=value, e.g. --param epochs=10 or --param optimizer.lr=0.01`,
    );
  }
  return { path, value: parseValue(text.slice(eq + 1)) };
}

/** A command-line value: JSON when it parses as JSON, else the text itself. */
export function parseValue(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

/** Sets `path` in a (mutable, plain) object, creating nested objects on the way. */
export function setPath(
  target: Record<string, JsonValue>,
  path: readonly string[],
  value: JsonValue,
): void {
  let node = target;
  for (const [i, part] of path.entries()) {
    if (i === path.length - 1) {
      node[part] = value;
      return;
    }
    const next = node[part];
    if (typeof next === 'object' && next !== null && !Array.isArray(next)) {
      node = next;
    } else {
      const created: Record<string, JsonValue> = {};
      node[part] = created;
      node = created;
    }
  }
}

/** `--param` assignments applied over a base object (later ones win). */
export function applyAssignments(
  base: JobParameters,
  assignments: readonly string[],
): JobParameters {
  const out = structuredClone(base) as Record<string, JsonValue>;
  for (const text of assignments) {
    const { path, value } = parseAssignment(text);
    setPath(out, path, value);
  }
  return checkParameters(out);
}

/** Deep merge: objects merge key by key, anything else in a later object replaces. */
export function mergeParameters(...layers: readonly JobParameters[]): JobParameters {
  const merge = (a: JsonValue | undefined, b: JsonValue): JsonValue => {
    if (isPlainObject(a) && isPlainObject(b)) {
      const out: Record<string, JsonValue> = { ...(a as Record<string, JsonValue>) };
      for (const [key, value] of Object.entries(b)) out[key] = merge(out[key], value as JsonValue);
      return out;
    }
    return b;
  };
  let result: JsonValue = {};
  for (const layer of layers) result = merge(result, layer as JsonValue);
  return checkParameters(result);
}

/** Reads a JSON file holding one parameters object. */
export async function readParametersFile(file: string): Promise<JobParameters> {
  const value = await readJsonFile(file);
  return checkParameters(value, file);
}

/** Reads and parses a JSON file, as an `InvalidParametersError` naming the file when it cannot. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InvalidParametersError(
      `${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidParametersError(`${file}: not valid JSON (${(error as Error).message})`);
  }
}

/** The JSON that travels in `FERRY_PARAMETERS`; refuses parameters over `MAX_PARAMETERS_BYTES`. */
export function encodeParameters(parameters: JobParameters): string {
  const text = JSON.stringify(checkParameters(parameters));
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_PARAMETERS_BYTES) {
    throw new InvalidParametersError(
      `parameters: ${bytes} bytes as JSON, over the ${MAX_PARAMETERS_BYTES}-byte limit; pass a path to a mounted file instead of the data itself`,
    );
  }
  return text;
}

/** `FERRY_PARAMETERS=<json>`, for a container's environment. */
export function parametersEnvironment(parameters: JobParameters): string {
  return `${PARAMETERS_ENV}=${encodeParameters(parameters)}`;
}

/** Parses `FERRY_PARAMETERS` (absent or empty: `{}`). */
export function decodeParameters(text: string | undefined): JobParameters {
  if (text === undefined || text.trim() === '') return Object.freeze({});
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidParametersError(
      `${PARAMETERS_ENV} is not valid JSON: ${(error as Error).message}`,
    );
  }
  return checkParameters(value, PARAMETERS_ENV);
}
