import { describeIssues, issuesOf } from '../validation/issues.js';
import { InvalidParametersError } from './errors.js';
import { jobParametersSchema, type JobParameters } from './schema.js';

/** Deeper than this, parameters are refused before zod walks them (its walk recurses). */
export const MAX_PARAMETERS_DEPTH = 64;

/**
 * Checks that a value is a plain object of JSON values (finite numbers, no `undefined`, functions,
 * class instances, cycles or keys that reach `Object.prototype`), naming each offending path;
 * returns a frozen deep copy.
 */
export function checkParameters(value: unknown, where = 'parameters'): JobParameters {
  assertBounded(value, where, 0, new Set());
  const result = jobParametersSchema.safeParse(value);
  if (!result.success) {
    throw new InvalidParametersError(describeIssues(issuesOf(result.error.issues, where)));
  }
  return deepFreeze(result.data);
}

/**
 * Cycles and extreme depth are refused first: the schema recurses into every value, so a cycle
 * would never end and a 100,000-deep list would overflow the stack instead of being a message.
 */
function assertBounded(value: unknown, where: string, depth: number, seen: Set<object>): void {
  if (typeof value !== 'object' || value === null) return;
  if (seen.has(value))
    throw new InvalidParametersError(`${where}: refers back to itself (a cycle)`);
  if (depth >= MAX_PARAMETERS_DEPTH) {
    throw new InvalidParametersError(
      `${where}: nested more than ${MAX_PARAMETERS_DEPTH} levels deep; flatten the parameters`,
    );
  }
  seen.add(value);
  if (Array.isArray(value)) {
    value.forEach((item, i) => assertBounded(item, `${where}[${i}]`, depth + 1, seen));
  } else {
    for (const [key, item] of Object.entries(value)) {
      assertBounded(item, `${where}.${key}`, depth + 1, seen);
    }
  }
  seen.delete(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
