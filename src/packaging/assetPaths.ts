/**
 * Finding an asset at run time, the same way attached and in a container: a path relative to the
 * project root, as the job's source names it (`data/train.csv`), is looked up among the assets the
 * run carries and joined to where they are (the project root attached, `assets/` of the installed
 * package in a container). Kept apart from assets.ts, which matches globs: the container runtime
 * carries only this.
 */
import path from 'node:path';
import { AssetNotFoundError } from './errors.js';
import { pathInside, unsafePathReason } from './safeNames.js';

/** Where a run's assets are and which they are. */
export interface RunAssets {
  /** The folder asset paths are relative to. */
  readonly root: string;
  /** The asset paths, relative to `root`, sorted. */
  readonly files: readonly string[];
}

/** The absolute path of asset `requested`; an `AssetNotFoundError` when the run does not carry it. */
export function resolveAsset(assets: RunAssets, requested: unknown): string {
  if (typeof requested !== 'string') {
    throw new AssetNotFoundError(
      `asset(): expected a path relative to the project root such as "data/train.csv", got ${typeof requested}`,
    );
  }
  const wanted = requested.replace(/^(?:\.\/)+/, '');
  const reason = unsafePathReason(wanted);
  if (reason !== undefined) {
    throw new AssetNotFoundError(
      `asset(${JSON.stringify(requested)}): ${reason}; name an asset by its path relative to the project root, e.g. "data/train.csv"`,
    );
  }
  if (!assets.files.includes(wanted)) {
    const some = assets.files.slice(0, 5).join(', ');
    throw new AssetNotFoundError(
      `asset(${JSON.stringify(requested)}): not among the job's assets (${assets.files.length === 0 ? 'it has none' : `${some}${assets.files.length > 5 ? ', …' : ''}`}); add a glob matching it to the assets (PackagingTask.assets, or "assets" in ferry.config.json)`,
    );
  }
  return pathInside(path.resolve(assets.root), wanted, 'asset');
}
