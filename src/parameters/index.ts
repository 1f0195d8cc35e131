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
import { checkParameters } from './check.js';
import { InvalidParametersError } from './errors.js';
import { PARAMETERS_EXAMPLE, type JobParameters, type JsonValue } from './schema.js';

export {
  applyAssignments,
  parseAssignment,
  parseKeyPath,
  parseValue,
  setPath,
} from './assignments.js';
export { checkParameters, MAX_PARAMETERS_DEPTH } from './check.js';
export { InvalidParametersError } from './errors.js';
export {
  FORBIDDEN_KEYS,
  jobParametersSchema,
  jsonValueSchema,
  parameterKeySchema,
  type JobParameters,
  type JsonValue,
} from './schema.js';

/** The environment variable holding a container run's parameters as JSON. */
export const PARAMETERS_ENV = 'FERRY_PARAMETERS';

/** Parameters larger than this (as JSON) are refused: they travel in one environment variable. */
export const MAX_PARAMETERS_BYTES = 64 * 1024;

function isPlainObject(value: unknown): value is Record<string, JsonValue> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Deep merge: objects merge key by key, anything else in a later object replaces. */
export function mergeParameters(...layers: readonly JobParameters[]): JobParameters {
  const merge = (a: JsonValue | undefined, b: JsonValue): JsonValue => {
    if (isPlainObject(a) && isPlainObject(b)) {
      const out: Record<string, JsonValue> = { ...a };
      for (const [key, value] of Object.entries(b)) {
        out[key] = merge(Object.hasOwn(out, key) ? out[key] : undefined, value);
      }
      return out;
    }
    return b;
  };
  let result: JsonValue = {};
  for (const layer of layers) result = merge(result, checkParameters(layer) as JsonValue);
  return checkParameters(result);
}

/** Reads a JSON file holding one parameters object. */
export async function readParametersFile(file: string): Promise<JobParameters> {
  const value = await readJsonFile(file, {
    option: '--params',
    holds: `one JSON object of parameters, e.g. ${PARAMETERS_EXAMPLE}`,
  });
  return checkParameters(value, file);
}

/**
 * Reads and parses a JSON file, as an `InvalidParametersError` naming the file (and the flag that
 * named it, and what it should hold) when it cannot.
 */
export async function readJsonFile(
  file: string,
  about: { readonly option?: string; readonly holds?: string } = {},
): Promise<unknown> {
  const where = about.option === undefined ? file : `${about.option} ${file}`;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InvalidParametersError(
      `${where}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidParametersError(
      `${where}: not valid JSON (${(error as Error).message})${about.holds === undefined ? '' : `; the file holds ${about.holds}`}`,
    );
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
