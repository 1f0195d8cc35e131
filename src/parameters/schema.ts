/**
 * Run parameters as a zod schema: a plain object of JSON values. The config's `defaults.parameters`,
 * parameter files, sweep files and `execute({ parameters })` are all checked by it.
 */
// zod/mini: the container runtime decodes its parameters with this schema, and the mini build
// bundles small (classic zod would add ~800 KB to the runtime's layer).
import * as z from 'zod/mini';
import { show } from '../validation/issues.js';

export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The parameters of one run: a plain object of JSON values. */
export type JobParameters = { readonly [key: string]: JsonValue };

/**
 * Names refused as parameter keys. Assigning `__proto__` replaces an object's prototype, and
 * `constructor`/`prototype` are how polluting paths reach `Object.prototype`; refusing them keeps
 * every parameters object a plain object of its own keys.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

/** Why `key` cannot be a parameter name, or undefined when it can. */
export function forbiddenKeyMessage(key: string): string | undefined {
  return FORBIDDEN_KEYS.has(key)
    ? `${JSON.stringify(key)} cannot be a parameter name (it is how code reaches Object.prototype); rename it`
    : undefined;
}

export const parameterKeySchema = z.string().check(
  z.refine((key) => !FORBIDDEN_KEYS.has(key), {
    error: (issue) => forbiddenKeyMessage(String(issue.input)) ?? 'not a parameter name',
  }),
);

/** What a value that is not JSON is called in a message. */
export function describe(value: unknown): string {
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

function notJson(value: unknown): string {
  if (typeof value === 'number') return `${value} is not a JSON number`;
  return `${describe(value)} is not a JSON value`;
}

/**
 * An object of parameters by key. zod leaves a `__proto__` key out of what it parses, silently;
 * it is refused here first, like the other names that reach `Object.prototype`.
 */
function parametersObject(params?: { error: (issue: { input?: unknown }) => string }) {
  return z.pipe(
    z.transform((value: unknown, payload) => {
      if (typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__')) {
        payload.issues.push({
          code: 'custom',
          path: ['__proto__'],
          input: value,
          message: forbiddenKeyMessage('__proto__')!,
        });
      }
      return value;
    }),
    z.record(parameterKeySchema, jsonValueSchema, params),
  );
}

export const jsonValueSchema: z.ZodMiniType<JsonValue> = z.lazy(() =>
  z.union(
    [z.null(), z.boolean(), z.number(), z.string(), z.array(jsonValueSchema), parametersObject()],
    { error: (issue) => notJson(issue.input) },
  ),
);

export const jobParametersSchema: z.ZodMiniType<JobParameters> = parametersObject({
  error: (issue) => `expected an object of parameters, got ${describe(issue.input)}`,
});

/** Shown where a parameters object is expected: `{"epochs": 10}`. */
export const PARAMETERS_EXAMPLE = show({ epochs: 10, optimizer: { lr: 0.01 } });
