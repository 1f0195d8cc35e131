import { InputError } from '../errors.js';
import type { Issue } from '../validation/issues.js';

/** One thing wrong in a config file, at a dotted key path such as `targets.gpu-box.port`. */
export type ConfigIssue = Issue;

/** The config file is missing, unreadable, not JSON, or has keys with wrong values. */
export class ConfigError extends InputError {
  constructor(
    /** The config file (or where it was looked for). */
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(ConfigError.describe(file, issues));
  }

  private static describe(file: string, issues: readonly ConfigIssue[]): string {
    const line = (issue: ConfigIssue): string =>
      issue.key === '' ? issue.message : `${issue.key}: ${issue.message}`;
    if (issues.length === 1) return `${file}: ${line(issues[0]!)}`;
    return `${file} has ${issues.length} problems:\n${issues.map((i) => `  ${line(i)}`).join('\n')}`;
  }
}

/** No `ferry.config.json` in the folder or any folder above it. */
export class ConfigNotFoundError extends InputError {}

/** The config names a target that it does not define. */
export class UnknownTargetError extends InputError {}

/** The job module could not be imported, or its export is not a job or a function making one. */
export class JobLoadError extends InputError {}

/** The registry password named by `registryAuth.passwordEnv` is not set. */
export class MissingRegistryPasswordError extends InputError {}
