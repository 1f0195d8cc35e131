import { InputError, InternalError } from '../errors.js';

/** A PackagingTask field is missing or malformed. */
export class InvalidPackagingTaskError extends InputError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`PackagingTask.${field}: ${message}`);
  }
}

/** esbuild could not bundle the source root. */
export class BundleError extends InputError {}

/** The source imports an npm package that the project does not declare or has not installed. */
export class DependencyResolutionError extends InputError {}

/** A class in the payload could not be found among the source root's exports. */
export class ClassRegistryError extends InputError {}

/** A package archive is unsafe or its content does not match its manifest. */
export class PackageIntegrityError extends InputError {
  constructor(
    readonly packagePath: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${packagePath}: ${message}`, options);
  }
}

/** A resource or module asked of an installed package does not exist in it. */
export class ResourceNotFoundError extends InputError {}

/**
 * A package's manifest is missing, malformed or inconsistent: not JSON, a field of the wrong type,
 * an unknown field or format version, a bound passed. Nothing was extracted or imported.
 */
export class PackageManifestError extends PackageIntegrityError {
  constructor(
    packagePath: string,
    /** The manifest field at fault, e.g. `files["bundle/a.js"]`, or `''` for the whole manifest. */
    readonly field: string,
    message: string,
  ) {
    super(packagePath, field === '' ? message : `manifest field ${field}: ${message}`);
  }
}

/**
 * An asset glob cannot be used: it matches nothing, a file it matches leaves the project root
 * (a symlink), cannot travel (its name) or is too large. The message names the glob's key.
 */
export class AssetError extends InputError {
  constructor(
    /** The glob at fault (its index among the asset globs), when one is. */
    readonly globIndex: number | undefined,
    /** What is wrong, without the name of the glob's key. */
    readonly detail: string,
    /** How the glob's key is named: `PackagingTask.assets[0]`, a config's `assets[0]`. */
    where: string | undefined,
  ) {
    super(where === undefined ? detail : `${where}: ${detail}`);
  }
}

/** A run asked for an asset it does not carry (`context.asset(path)`). */
export class AssetNotFoundError extends InputError {}

/** A name from a package would become a path outside the folder it belongs in. */
export class UnsafePathError extends InputError {}

/** A snapshot's copy named a class its own table does not hold (a bug: the table is made with it). */
export class SnapshotError extends InternalError {}
