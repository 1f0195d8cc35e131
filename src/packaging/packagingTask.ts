import path from 'node:path';
import semver from 'semver';
import { validateAssetGlobs } from './assets.js';
import { InvalidPackagingTaskError } from './errors.js';
import { PACKAGE_NAME, RESOURCE_NAME } from './safeNames.js';

export const DEFAULT_EXCLUDES: readonly string[] = ['**/*.test.*', '**/*.spec.*', '**/*.d.ts'];

export interface PackagingTaskFields {
  /** Package name, e.g. `titanic-featurization`. */
  readonly name: string;
  /** A valid semver version, e.g. `1.0.0`. */
  readonly version: string;
  /** Objects to deliver, by resource name. A job is conventionally under `job`. */
  readonly payload: Readonly<Record<string, unknown>>;
  /** The folder whose modules are bundled; every payload class must be exported from a module under it. */
  readonly sourceRoot: string;
  /** Globs (relative to the source root) of modules left out of the bundle. Default: tests and declarations. */
  readonly exclude?: readonly string[];
  /**
   * The folder holding the project's `package.json` and lockfile, where the versions of external npm
   * packages are read. Default: the nearest folder at or above the source root that has a package.json.
   */
  readonly projectRoot?: string;
  /**
   * Globs (relative to the project root) of data files that travel with the job, e.g.
   * `['data/**\/*.csv']`. Each must match a file; a run finds them with `context.asset(path)`.
   * Default: none. Large data stays a mount.
   */
  readonly assets?: readonly string[];
}

/** What to package: a DTO, validated on construction; `makePackage` does the work. */
export class PackagingTask {
  readonly name: string;
  readonly version: string;
  readonly payload: Readonly<Record<string, unknown>>;
  readonly sourceRoot: string;
  readonly exclude: readonly string[];
  readonly projectRoot: string | undefined;
  readonly assets: readonly string[];

  constructor(fields: PackagingTaskFields) {
    this.name = validateName(fields.name);
    this.version = validateVersion(fields.version);
    this.payload = validatePayload(fields.payload);
    this.sourceRoot = validateSourceRoot(fields.sourceRoot);
    this.exclude = fields.exclude ?? DEFAULT_EXCLUDES;
    this.projectRoot =
      fields.projectRoot === undefined ? undefined : path.resolve(fields.projectRoot);
    this.assets = validateAssetGlobs(fields.assets);
  }
}

function validateName(name: unknown): string {
  if (typeof name !== 'string' || !PACKAGE_NAME.test(name)) {
    throw new InvalidPackagingTaskError(
      'name',
      `${JSON.stringify(name)} is not a valid package name; use 1-100 lower-case letters, digits, '.', '-' or '_', starting with a letter or digit (e.g. 'titanic-featurization')`,
    );
  }
  return name;
}

function validateVersion(version: unknown): string {
  const valid = typeof version === 'string' ? semver.valid(version) : null;
  if (valid === null || valid !== version) {
    throw new InvalidPackagingTaskError(
      'version',
      `${JSON.stringify(version)} is not a valid semver version; use MAJOR.MINOR.PATCH such as '1.0.0'`,
    );
  }
  return valid;
}

function validatePayload(payload: unknown): Readonly<Record<string, unknown>> {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new InvalidPackagingTaskError(
      'payload',
      'expected an object mapping resource names to objects, e.g. { job }',
    );
  }
  const names = Object.keys(payload);
  if (names.length === 0) {
    throw new InvalidPackagingTaskError(
      'payload',
      'is empty; give at least one object, e.g. { job }',
    );
  }
  for (const name of names) {
    if (!RESOURCE_NAME.test(name)) {
      throw new InvalidPackagingTaskError(
        'payload',
        `resource name ${JSON.stringify(name)} is not allowed; use letters, digits, '-' and '_'`,
      );
    }
  }
  return payload as Readonly<Record<string, unknown>>;
}

function validateSourceRoot(sourceRoot: unknown): string {
  if (typeof sourceRoot !== 'string' || sourceRoot.length === 0) {
    throw new InvalidPackagingTaskError(
      'sourceRoot',
      'expected the path of the folder holding the job source',
    );
  }
  return path.resolve(sourceRoot);
}

/** Resource names allowed in a payload (exported for the loader's checks). */
export function isResourceName(name: string): boolean {
  return RESOURCE_NAME.test(name);
}
