/** `npm run schema`: writes the config's JSON Schema, generated from its zod schema. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_JSON_SCHEMA_PATH, configJsonSchemaText } from '../src/config/jsonSchema.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const file = path.join(root, CONFIG_JSON_SCHEMA_PATH);
await writeFile(file, configJsonSchemaText());
process.stdout.write(`wrote ${path.relative(process.cwd(), file) || file}\n`);
