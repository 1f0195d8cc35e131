export {
  ConfigError,
  ConfigNotFoundError,
  JobLoadError,
  MissingRegistryPasswordError,
  UnknownTargetError,
  type ConfigIssue,
} from './errors.js';
export { CONFIG_JSON_SCHEMA_PATH, configJsonSchema } from './jsonSchema.js';
export {
  checkAssets,
  checkLocalMounts,
  findConfigFile,
  getTarget,
  loadConfig,
  loadJob,
  parseConfig,
  type LoadConfigOptions,
} from './loadConfig.js';
export * from './schema.js';
export { inferTargetTypes, resolvePath, validateConfig } from './validate.js';
