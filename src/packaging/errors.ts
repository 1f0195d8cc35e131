import { FerryError } from '../errors.js';

/** A PackagingTask field is missing or malformed. */
export class InvalidPackagingTaskError extends FerryError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`PackagingTask.${field}: ${message}`);
  }
}

/** esbuild could not bundle the source root. */
export class BundleError extends FerryError {}

/** The source imports an npm package that the project does not declare or has not installed. */
export class DependencyResolutionError extends FerryError {}

/** A class in the payload could not be found among the source root's exports. */
export class ClassRegistryError extends FerryError {}

/** A package archive is unsafe or its content does not match its manifest. */
export class PackageIntegrityError extends FerryError {
  constructor(
    readonly packagePath: string,
    message: string,
  ) {
    super(`${packagePath}: ${message}`);
  }
}

/** A resource or module asked of an installed package does not exist in it. */
export class ResourceNotFoundError extends FerryError {}
