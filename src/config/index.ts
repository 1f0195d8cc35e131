export {
  ConfigError,
  ConfigNotFoundError,
  UnknownTargetError,
  type ConfigIssue,
} from './errors.js';
export {
  findConfigFile,
  getTarget,
  JobLoadError,
  loadConfig,
  loadJob,
  parseConfig,
  type LoadConfigOptions,
} from './loadConfig.js';
export * from './schema.js';
export { resolvePath, validateConfig } from './validate.js';
