/**
 * The cache key of a run: what decides whether an earlier run's result may stand for a new one.
 * Ferry knows the exact content a run uses (docs/design.md §5: same input, same bytes), so the key
 * is a digest of that content, never a version string to bump by hand.
 */
import type { JobParameters } from '../parameters/index.js';
import { canonicalJson, sha256, type PackageManifest } from '../packaging/manifest.js';

/** Bumped when what the key covers changes, so keys of an older Ferry never match by accident. */
export const CACHE_KEY_VERSION = 1;

/** An upstream result a run takes as an input: where it goes, and the upstream run's own key. */
export interface KeyedInput {
  /** Where the value goes: `parameters.model`, `job.features`. */
  readonly name: string;
  /** The upstream run's cache key (its result's digest when it has none). */
  readonly key: string;
}

export interface CacheKeyParts {
  readonly manifest: PackageManifest;
  /** The parameters as the job receives them (references resolved). */
  readonly parameters: JobParameters;
  readonly inputs?: readonly KeyedInput[];
}

/**
 * `sha256` over, in canonical JSON: every field of the package manifest but its name, version and
 * UID — so the SHA-256 of every file (bundled code, serialized payload, any data file a package
 * holds), the module and export tables, the npm dependencies with their locked lockfile entries,
 * the Ferry and Node versions — plus the resolved parameters and the keys of the upstream runs
 * whose results are inputs. Nothing that varies per run (run id, times, target) is in it. The
 * name and version are left out: bumping a version without changing anything does not run again.
 */
export function cacheKeyOf(parts: CacheKeyParts): string {
  const { uid: _uid, name: _name, version: _version, ...content } = parts.manifest;
  const inputs = [...(parts.inputs ?? [])].sort((a, b) => (a.name < b.name ? -1 : 1));
  return sha256(
    canonicalJson({
      cacheKeyVersion: CACHE_KEY_VERSION,
      package: content,
      parameters: parts.parameters,
      inputs,
    }),
  );
}

/** The key of a result that has no run key to stand for it: the digest of its stored form. */
export function resultKeyOf(document: unknown, blobs: Uint8Array): string {
  return `result-${sha256(`${canonicalJson(document)}\n${sha256(blobs)}`)}`;
}
