import { InputError } from '../errors.js';

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

/** A name from a package would become a path outside the folder it belongs in. */
export class UnsafePathError extends InputError {}
