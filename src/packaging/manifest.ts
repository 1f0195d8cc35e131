import { createHash } from 'node:crypto';
import type { ExternalDependencies, LockedPackages } from './dependencies.js';

export const MANIFEST_FILE = 'ferry-manifest.json';
export const MANIFEST_FORMAT = 'ferry-package';
export const MANIFEST_FORMAT_VERSION = 1;

/** What a package says about itself; every other file's SHA-256 is in `files`. */
export interface PackageManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly formatVersion: number;
  readonly name: string;
  readonly version: string;
  /** `<name>-<version>-<content hash>`: the namespace the bundled source is loaded under. */
  readonly uid: string;
  readonly ferryVersion: string;
  /** Node versions the package needs. */
  readonly node: string;
  /** Module path (relative to the source root) → bundled file (relative to the package). */
  readonly modules: Readonly<Record<string, string>>;
  /** Resource names, each stored as `resources/<name>.json` and `resources/<name>.bin`. */
  readonly resources: readonly string[];
  readonly dependencies: ExternalDependencies;
  /**
   * The lockfile entries (lockfile path → entry) of every package the dependencies need, transitively:
   * what the image installs with `npm ci`. Empty when the project has no lockfile.
   */
  readonly lockedDependencies: LockedPackages;
  /** Package-relative POSIX path → SHA-256 (hex), for every file but the manifest. */
  readonly files: Readonly<Record<string, string>>;
}

export function sha256(contents: Uint8Array | string): string {
  return createHash('sha256').update(contents).digest('hex');
}

/**
 * The content hash a UID ends with: over the name, version, dependencies (with their locked tree)
 * and every file's hash, so the UID changes whenever anything the package would load changes.
 */
export function contentHash(
  name: string,
  version: string,
  dependencies: ExternalDependencies,
  locked: LockedPackages,
  files: Readonly<Record<string, string>>,
): string {
  const lines = [
    `name ${name}`,
    `version ${version}`,
    ...Object.keys(dependencies)
      .sort()
      .map((dep) => `dependency ${dep} ${dependencies[dep]?.version ?? ''}`),
    ...Object.keys(locked)
      .sort()
      .map((at) => `locked ${at} ${locked[at]?.version ?? ''} ${locked[at]?.integrity ?? ''}`),
    ...Object.keys(files)
      .sort()
      .map((file) => `file ${files[file] ?? ''} ${file}`),
  ];
  return sha256(lines.join('\n'));
}

export function makeUid(name: string, version: string, hash: string): string {
  return `${name}-${version.replace(/[^A-Za-z0-9.-]/g, '_')}-${hash.slice(0, 16)}`;
}

export function resourceFiles(resource: string): { document: string; blobs: string } {
  return { document: `resources/${resource}.json`, blobs: `resources/${resource}.bin` };
}

/** A stable, human-diffable serialization of the manifest (keys in declaration order). */
export function renderManifest(manifest: PackageManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}
