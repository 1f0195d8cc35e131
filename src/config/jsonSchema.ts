/**
 * The JSON Schema of `ferry.config.json`, generated from the zod schema (`schema.ts`) for editors:
 * `"$schema": "./node_modules/ferry/schema/ferry.config.schema.json"` in a config gives completion
 * and checking. `npm run schema` writes it to `schema/ferry.config.schema.json`.
 */
import { z } from 'zod';
import { jsonSchemaOverride } from '../validation/objects.js';
import { configSchema } from './schema.js';

/** Where the published schema lives, relative to the package root. */
export const CONFIG_JSON_SCHEMA_PATH = 'schema/ferry.config.schema.json';

/** Target kinds whose `type` may be left out (it is inferred: a `host` makes a target remote). */
const INFERRED_TYPES = new Set(['local', 'remote']);

export function configJsonSchema(): Record<string, unknown> {
  // The folder only changes how paths resolve, which a JSON Schema does not describe.
  const generated = z.toJSONSchema(configSchema('/'), {
    io: 'input',
    target: 'draft-7',
    override: (context) => {
      jsonSchemaOverride(context);
      const { jsonSchema } = context;
      const type = jsonSchema.properties?.type;
      if (
        typeof type === 'object' &&
        typeof type.const === 'string' &&
        INFERRED_TYPES.has(type.const) &&
        jsonSchema.required !== undefined
      ) {
        jsonSchema.required = jsonSchema.required.filter((key) => key !== 'type');
      }
    },
  });
  return {
    ...generated,
    title: 'ferry.config.json',
    description:
      'The config of a Ferry project: the job, where it is packaged from, and the targets it runs on',
  };
}

/** The schema file's text as `npm run schema` writes it. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
