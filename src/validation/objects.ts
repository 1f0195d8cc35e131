/**
 * Object schemas that name each unknown key with the closest known one (classic zod: the config's
 * schema and sweep files use it; the container runtime does not).
 */
import { z } from 'zod';
import { closest, expected } from './issues.js';

/** Keys listed in "allowed: …" but never suggested (the editor's `$schema` key). */
const UNLISTED_KEYS = new Set(['$schema']);

/** The catch-all schemas of `strictObject`s: the JSON Schema forbids other keys there. */
const UNKNOWN_KEY_SCHEMAS = new WeakSet<object>();

/** The message for a key `allowed` does not hold. */
export function unknownKeyMessage(key: string, allowed: readonly string[]): string {
  const close = closest(key, allowed);
  return `unknown key${close === undefined ? '' : ` (did you mean "${close}"?)`}; allowed: ${allowed.filter((k) => !UNLISTED_KEYS.has(k)).join(', ')}`;
}

/**
 * An object schema that refuses keys outside `shape`, one issue per unknown key at its own path
 * with the closest known key (zod's own strict objects report all unknown keys as one issue and
 * cannot say which known key was meant).
 */
export function strictObject<Shape extends z.ZodRawShape>(
  shape: Shape,
  what = 'an object',
): z.ZodObject<Shape, z.core.$strict> {
  const allowed = Object.keys(shape);
  const unknownKey = z.unknown().refine(() => false, {
    error: (issue) => unknownKeyMessage(String(issue.path?.at(-1) ?? ''), allowed),
  });
  UNKNOWN_KEY_SCHEMAS.add(unknownKey);
  // The catch-all never accepts a value, so the object is strict: its type says so, rather than
  // the index signature a catch-all would add to every inferred config type.
  return z.object(shape, expected(what)).catchall(unknownKey) as unknown as z.ZodObject<
    Shape,
    z.core.$strict
  >;
}

/** `z.toJSONSchema` options that keep what the parser enforces but zod cannot show by itself. */
export function jsonSchemaOverride(context: {
  readonly zodSchema: z.core.$ZodTypes;
  readonly jsonSchema: z.core.JSONSchema.BaseSchema;
}): void {
  const def = context.zodSchema._zod.def;
  if (
    def.type === 'object' &&
    def.catchall !== undefined &&
    UNKNOWN_KEY_SCHEMAS.has(def.catchall)
  ) {
    context.jsonSchema.additionalProperties = false;
  }
}
