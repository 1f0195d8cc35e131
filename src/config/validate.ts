/**
 * Validates parsed `ferry.config.json` content into a `FerryConfig` with the schema of `schema.ts`,
 * collecting every problem with the dotted key it is at
 * (`targets.gpu-box.port: expected a port number 1-65535, got "22a"`).
 */
import path from 'node:path';
import { closest, issuesOf, protoKeyIssues, type Issue } from '../validation/issues.js';
import { ConfigError } from './errors.js';
import { configSchema, REMOTE_KEYS, REMOTE_ONLY_KEYS, type FerryConfig } from './schema.js';

export { resolvePath } from './schema.js';
export { closest, show } from '../validation/issues.js';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A key of a target without `type` or `host` that is a misspelled `host` (`hots`, `Host`). */
function misspelledHost(spec: Record<string, unknown>): string | undefined {
  return Object.keys(spec).find(
    (key) => !REMOTE_KEYS.includes(key) && closest(key, REMOTE_KEYS) === 'host',
  );
}

/**
 * The kind of each target that does not say, decided the way a reader of the file would: a `host`
 * makes it remote; so does a key only remote targets have, or a misspelled `host`, so that `hots`
 * is reported as the one mistake it is rather than as `port`, `user` and `key` being unknown to a
 * local target. A target named `attached` is attached; anything else is local.
 *
 * Returns the file's content with `type` filled in, and the misspelled `host` keys by target.
 */
export function inferTargetTypes(raw: unknown): {
  readonly content: unknown;
  readonly misspelledHosts: ReadonlyMap<string, string>;
} {
  const misspelledHosts = new Map<string, string>();
  if (!isObject(raw) || !isObject(raw.targets)) return { content: raw, misspelledHosts };
  const targets: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(raw.targets)) {
    if (!isObject(spec) || Object.hasOwn(spec, 'type')) {
      targets[name] = spec;
      continue;
    }
    const typo = Object.hasOwn(spec, 'host') ? undefined : misspelledHost(spec);
    if (typo !== undefined) misspelledHosts.set(name, typo);
    const type =
      Object.hasOwn(spec, 'host') ||
      typo !== undefined ||
      REMOTE_ONLY_KEYS.some((key) => Object.hasOwn(spec, key))
        ? 'remote'
        : name === 'attached'
          ? 'attached'
          : 'local';
    targets[name] = { type, ...spec };
  }
  return { content: { ...raw, targets }, misspelledHosts };
}

/** The config's issues as the user should read them: one per mistake. */
function configIssues(
  raw: unknown,
  issues: readonly Issue[],
  misspelledHosts: ReadonlyMap<string, string>,
): Issue[] {
  // A misspelled `host` is reported at the misspelling ("did you mean host"); that `host` is then
  // missing is the same mistake.
  const named = issues.filter(
    (issue) => ![...misspelledHosts.keys()].some((name) => issue.key === `targets.${name}.host`),
  );
  const proto = protoKeyIssues(
    raw,
    'unknown key; "__proto__" is never a config key (it is how code reaches Object.prototype)',
  ).filter((issue) => !named.some((other) => other.key === issue.key));
  return [...named, ...proto];
}

/** Schemas by config folder: building one costs far more than parsing with it. */
const schemas = new Map<string, ReturnType<typeof configSchema>>();

function schemaFor(root: string): ReturnType<typeof configSchema> {
  let schema = schemas.get(root);
  if (schema === undefined) {
    schema = configSchema(root);
    schemas.set(root, schema);
  }
  return schema;
}

/**
 * Validates the parsed content of a config file. `file` is the file's path (messages and relative
 * paths). Throws `ConfigError` listing every problem.
 */
export function validateConfig(raw: unknown, file: string): FerryConfig {
  const absolute = path.resolve(file);
  const root = path.dirname(absolute);
  const { content, misspelledHosts } = inferTargetTypes(raw);
  const result = schemaFor(root).safeParse(content);
  const issues = configIssues(
    raw,
    result.success ? [] : issuesOf(result.error.issues),
    misspelledHosts,
  );
  if (!result.success || issues.length > 0) throw new ConfigError(absolute, issues);
  return { file: absolute, root, ...result.data };
}
