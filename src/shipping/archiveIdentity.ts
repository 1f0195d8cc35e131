import { createHash } from 'node:crypto';
import { ImageShippingError } from './errors.js';

/**
 * Checks, as a `docker save` archive streams by, that it holds the image that was asked for: its
 * `manifest.json` names one image, whose config is the file named by the image id, and that file's
 * bytes hash to the id. An engine derives an image's id from those same bytes, so an archive that
 * passes and loads without error is that image on the remote, with no question asked there after.
 * Both the legacy layout (`<id>.json`) and the OCI one (`blobs/sha256/<id>`) are understood.
 */
export class ArchiveIdentity {
  private readonly hex: string;
  private configSeen = false;
  private manifestSeen = false;
  /** The first mismatch found, kept so that it is what the caller reports. */
  error: ImageShippingError | undefined;

  constructor(
    readonly imageId: string,
    private readonly image: string,
  ) {
    this.hex = imageId.replace(/^sha256:/, '');
  }

  /** Whether an entry is one to be handed to `see` (small, and the manifest or the config). */
  wants(path: string, size: number): boolean {
    return size < 1 << 20 && (path === 'manifest.json' || this.configPaths().includes(path));
  }

  /** Looks at a wanted entry; throws (and keeps) an `ImageShippingError` when it does not match. */
  see(path: string, contents: Buffer): void {
    if (path === 'manifest.json') {
      const configs = manifestConfigs(contents);
      if (
        configs === undefined ||
        configs.length !== 1 ||
        !this.configPaths().includes(configs[0]!)
      ) {
        this.fail(`its manifest names ${JSON.stringify(configs ?? 'nothing readable')}`);
      }
      this.manifestSeen = true;
      return;
    }
    const digest = createHash('sha256').update(contents).digest('hex');
    if (digest !== this.hex) this.fail(`its config hashes to sha256:${digest}`);
    this.configSeen = true;
  }

  /** Both the manifest and the config were seen and matched. */
  get verified(): boolean {
    return this.error === undefined && this.configSeen && this.manifestSeen;
  }

  private configPaths(): string[] {
    return [`${this.hex}.json`, `blobs/sha256/${this.hex}`];
  }

  private fail(what: string): never {
    this.error = new ImageShippingError(
      `the archive the local engine saved for ${this.image} is not image ${this.imageId} (${what}): another build moved the tag meanwhile; build again (an image tag of its own, imageTag, avoids this)`,
    );
    throw this.error;
  }
}

/** The `Config` of each image a save archive's manifest lists; undefined when it is not one. */
function manifestConfigs(contents: Buffer): string[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(contents.toString('utf8'));
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
  if (!Array.isArray(parsed)) return undefined;
  const configs: string[] = [];
  for (const item of parsed as unknown[]) {
    const config = (item as { Config?: unknown } | null)?.Config;
    if (typeof config !== 'string') return undefined;
    configs.push(config);
  }
  return configs;
}
