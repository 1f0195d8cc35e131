import { EnvironmentError } from '../errors.js';

/** The image could not be put on the remote engine. */
export class ImageShippingError extends EnvironmentError {}

/**
 * The transfer stopped part way (connection lost, engine gone, aborted). `docker load` unpacks the
 * whole archive before it registers anything, so the remote engine is left as it was: run again.
 */
export class ImageTransferInterruptedError extends ImageShippingError {
  constructor(
    readonly image: string,
    readonly target: string,
    readonly bytesSent: number,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `sending ${image} to ${target} stopped after ${bytesSent} bytes: ${reason}. The remote engine discards a partial load, so nothing was changed there; run again to retry`,
      options,
    );
  }
}

/** Pushing to, or pulling from, the registry failed. */
export class RegistryError extends ImageShippingError {
  constructor(
    /** `push` (from this machine) or `pull` (on the remote host). */
    readonly operation: 'push' | 'pull',
    readonly reference: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${operation} of ${reference} failed: ${detail}${hint(operation, detail)}`, options);
  }
}

function hint(operation: 'push' | 'pull', detail: string): string {
  if (
    /unauthorized|authentication required|no basic auth credentials|denied|401|403/i.test(detail)
  ) {
    return '; check registryAuth (user name and password or token) for this registry';
  }
  if (
    /connection refused|no such host|i\/o timeout|dial tcp|server gave HTTP response to HTTPS/i.test(
      detail,
    )
  ) {
    return operation === 'pull'
      ? "; the remote host must reach the registry at that address (and, for plain HTTP, list it in its engine's insecure-registries)"
      : "; this machine must reach the registry at that address (and, for plain HTTP, list it in the engine's insecure-registries)";
  }
  return '';
}

/**
 * The remote engine refused an archive because it lacks a layer Ferry left out (removed between
 * the comparison and the load). `docker load` registers nothing then; comparing again and sending
 * again completes it.
 */
export class MissingRemoteLayerError extends ImageShippingError {}

/**
 * The archive the local engine saved (`docker save`) is not one Ferry can read, or not the image
 * asked for: a layout it does not know, a digest or size that does not match its bytes, a path
 * outside its entries. Nothing was sent.
 */
export class SaveArchiveError extends ImageShippingError {
  constructor(
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `the image archive the local engine saved cannot be shipped: ${detail}. Nothing was sent; check the local engine (docker version), and report it if it persists`,
      options,
    );
  }
}

/** Ferry's local layer cache (under its cache folder) cannot be read or written. */
export class LayerCacheError extends ImageShippingError {}
