import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_JSON_SCHEMA_PATH, configJsonSchemaText } from '../../src/config/jsonSchema.js';
import { parseConfig } from '../../src/config/index.js';
import { REPO_ROOT } from '../support/testbed.js';

interface JsonSchemaNode {
  properties?: Record<string, JsonSchemaNode>;
  required?: string[];
  additionalProperties?: boolean | JsonSchemaNode;
  oneOf?: JsonSchemaNode[];
  const?: unknown;
}

describe('the published JSON Schema of ferry.config.json', () => {
  it('is the one the zod schema generates (run `npm run schema` when this fails)', async () => {
    const committed = await readFile(path.join(REPO_ROOT, CONFIG_JSON_SCHEMA_PATH), 'utf8');
    expect(committed, 'schema/ferry.config.schema.json is out of date: run `npm run schema`').toBe(
      configJsonSchemaText(),
    );
  });

  it('refuses unknown keys, tells target kinds apart, and lets a config name it', () => {
    const schema = JSON.parse(configJsonSchemaText()) as JsonSchemaNode;
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['project', 'version', 'job', 'sourceRoot']);
    expect(Object.keys(schema.properties!)).toContain('$schema');
    const targets = schema.properties!.targets!.additionalProperties as JsonSchemaNode;
    const kinds = targets.oneOf!.map((kind) => ({
      type: kind.properties!.type!.const,
      required: kind.required ?? [],
      additionalProperties: kind.additionalProperties,
    }));
    // `type` is inferred for local and remote targets (a `host` makes one remote), so not required.
    expect(kinds).toEqual([
      { type: 'attached', required: ['type'], additionalProperties: false },
      { type: 'local', required: [], additionalProperties: false },
      { type: 'remote', required: ['host'], additionalProperties: false },
      { type: 'swarm', required: ['type', 'registry'], additionalProperties: false },
    ]);
    // A config that points its editor at the schema is still a valid config.
    const config = parseConfig(
      JSON.stringify({
        $schema: './node_modules/ferry/schema/ferry.config.schema.json',
        project: 'demo',
        version: '1.0.0',
        job: 'src/job.ts',
        sourceRoot: 'src',
      }),
      '/project/ferry.config.json',
    );
    expect(config).not.toHaveProperty('$schema');
    expect(config.job).toEqual({ module: '/project/src/job.ts', export: 'default' });
  });
});
