import { createHash } from 'node:crypto';
import validVersion from 'semver/functions/valid.js';
import type { ExternalDependencies, LockedPackage, LockedPackages } from './dependencies.js';
import { PackageManifestError } from './errors.js';
import {
  describe,
  isPackageName,
  isResourceName,
  isUid,
  ownValue,
  unsafePathReason,
} from './safeNames.js';

export const MANIFEST_FILE = 'ferry-manifest.json';
export const MANIFEST_FORMAT = 'ferry-package';
/**
 * 2: the manifest is the archive's first entry; `sizes` and `exports` were added; the UID's hash
 * covers the whole manifest.
 */
export const MANIFEST_FORMAT_VERSION = 2;

/** Bounds on what a package may declare, checked before anything is extracted. */
export const PACKAGE_LIMITS = {
  /** Bytes of `ferry-manifest.json`. */
  manifestBytes: 16 * 1024 * 1024,
  /** Files besides the manifest. */
  files: 50_000,
  /** One file: what `readFile` can load back (2 GiB). */
  fileBytes: 2 ** 31 - 1,
  /** All files together. */
  totalBytes: 8 * 1024 ** 3,
  /** Export names listed for one module. */
  exportsPerModule: 10_000,
  /** Any one string field (names, versions, ranges, hashes, lockfile values). */
  stringLength: 4096,
  /** Entries of the dependency tables. */
  dependencies: 10_000,
} as const;

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
  /**
   * Module path → the names it exports: the only class references a resource may make. A module
   * that exports nothing (a script) is never imported by the loader.
   */
  readonly exports: Readonly<Record<string, readonly string[]>>;
  /** Resource names, each stored as `resources/<name>.json` and `resources/<name>.bin`. */
  readonly resources: readonly string[];
  /**
   * Data files the package carries, by their path relative to the project root, sorted; each is
   * stored as `assets/<path>`. Absent when there are none (so such a package is what an older
   * Ferry made, byte for byte).
   */
  readonly assets?: readonly string[];
  readonly dependencies: ExternalDependencies;
  /**
   * The lockfile entries (lockfile path → entry) of every package the dependencies need, transitively:
   * what the image installs with `npm ci`. Empty when the project has no lockfile.
   */
  readonly lockedDependencies: LockedPackages;
  /** Package-relative POSIX path → SHA-256 (hex), for every file but the manifest. */
  readonly files: Readonly<Record<string, string>>;
  /** Package-relative POSIX path → size in bytes, for the same files. */
  readonly sizes: Readonly<Record<string, number>>;
}

export function sha256(contents: Uint8Array | string): string {
  return createHash('sha256').update(contents).digest('hex');
}

/**
 * The content hash a UID ends with: over every field of the manifest but the UID itself (in a
 * canonical form: keys sorted), so the UID changes whenever anything the package says changes.
 */
export function contentHash(manifest: Omit<PackageManifest, 'uid'>): string {
  const { uid: _ignored, ...rest } = manifest as PackageManifest;
  return sha256(canonicalJson(rest));
}

export function makeUid(name: string, version: string, hash: string): string {
  return `${name}-${version.replace(/[^A-Za-z0-9.-]/g, '_')}-${hash.slice(0, 16)}`;
}

/** The package folder assets are stored under (and the image folder they are copied to). */
export const ASSETS_FOLDER = 'assets';

/** The package file holding the asset at `assetPath` (relative to the project root). */
export function assetPackagePath(assetPath: string): string {
  return `${ASSETS_FOLDER}/${assetPath}`;
}

export function resourceFiles(resource: string): { document: string; blobs: string } {
  return { document: `resources/${resource}.json`, blobs: `resources/${resource}.bin` };
}

/** A stable, human-diffable serialization of the manifest (keys in declaration order). */
export function renderManifest(manifest: PackageManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** JSON with object keys sorted at every level; only for values already checked to be plain JSON. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const FIELDS = [
  'format',
  'formatVersion',
  'name',
  'version',
  'uid',
  'ferryVersion',
  'node',
  'modules',
  'exports',
  'resources',
  'dependencies',
  'lockedDependencies',
  'files',
  'sizes',
] as const;
/** Fields a manifest may leave out. */
const OPTIONAL_FIELDS = ['assets'] as const;

const LOCKED_STRING_FIELDS = ['version', 'resolved', 'integrity', 'license'] as const;
const LOCKED_MAP_FIELDS = ['dependencies', 'optionalDependencies', 'peerDependencies'] as const;
const LOCKED_LIST_FIELDS = ['os', 'cpu'] as const;
const LOCKED_FLAG_FIELDS = ['optional', 'hasInstallScript'] as const;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** What a semver range is written with: versions, operators, `||`, `x`/`*` and spaces. */
const NODE_RANGE = /^[0-9A-Za-z.*^~<>=|+ -]{1,256}$/;
/** A JavaScript export name as esbuild reports it (identifiers, `default`, or a string name). */
const MAX_EXPORT_NAME = 256;
const LOCK_PATH = /^(?:node_modules\/(?:@[^/]+\/)?[^/]+)(?:\/node_modules\/(?:@[^/]+\/)?[^/]+)*$/;

/**
 * Reads and checks a manifest completely: JSON, every field present with its type, nothing
 * unknown, a format version this Ferry reads, every path and name safe, the bounds above, the
 * module table, export table, resources and sizes consistent with `files`, and the UID derived
 * from the content. The result holds only null-prototype tables, so no lookup can reach
 * `Object.prototype`. Throws {@link PackageManifestError} naming the field.
 */
export function parseManifest(text: string, reportAs: string): PackageManifest {
  const fail = (field: string, message: string): never => {
    throw new PackageManifestError(reportAs, field, message);
  };
  if (text.length > PACKAGE_LIMITS.manifestBytes) {
    fail('', `${MANIFEST_FILE} is larger than ${PACKAGE_LIMITS.manifestBytes} bytes; refused`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return fail(
      '',
      `${MANIFEST_FILE} is not JSON (${error instanceof Error ? error.message : String(error)}); the package is damaged or not a Ferry package`,
    );
  }
  const top = object(raw, '', fail);
  for (const key of Object.keys(top)) {
    if (![...FIELDS, ...OPTIONAL_FIELDS].includes(key as never)) {
      fail(
        key,
        `unknown field; this Ferry reads manifests with ${[...FIELDS, ...OPTIONAL_FIELDS].join(', ')}`,
      );
    }
  }
  for (const key of FIELDS) {
    if (!Object.prototype.hasOwnProperty.call(top, key)) fail(key, 'missing');
  }
  if (top.format !== MANIFEST_FORMAT) {
    fail(
      'format',
      `expected "${MANIFEST_FORMAT}", got ${describe(top.format)}: not a Ferry package`,
    );
  }
  if (top.formatVersion !== MANIFEST_FORMAT_VERSION) {
    fail(
      'formatVersion',
      `unsupported format version ${describe(top.formatVersion)}; this Ferry reads version ${MANIFEST_FORMAT_VERSION}: package the job again with this Ferry`,
    );
  }
  const name = string(top.name, 'name', fail);
  if (!isPackageName(name)) fail('name', `${describe(name)} is not a valid package name`);
  const version = string(top.version, 'version', fail);
  if (validVersion(version) !== version) {
    fail('version', `${describe(version)} is not a semver version`);
  }
  const uid = string(top.uid, 'uid', fail);
  if (!isUid(uid)) fail('uid', `${describe(uid)} is not a package UID`);
  const ferryVersion = string(top.ferryVersion, 'ferryVersion', fail);
  const node = string(top.node, 'node', fail);
  // Checked by its characters, not parsed: semver's range parser would triple the container
  // runtime's size, and the range is only ever shown and compared as text.
  if (!NODE_RANGE.test(node)) fail('node', `${describe(node)} is not a version range`);

  const files = table(top.files, 'files', PACKAGE_LIMITS.files, fail, (value, field) => {
    if (typeof value !== 'string' || !SHA256_HEX.test(value)) {
      fail(field, `expected a SHA-256 in hex, got ${describe(value)}`);
    }
    return value as string;
  });
  for (const file of Object.keys(files)) {
    const reason = unsafePathReason(file);
    if (reason !== undefined) fail(`files[${JSON.stringify(file)}]`, reason);
    if (file === MANIFEST_FILE) fail(`files[${JSON.stringify(file)}]`, 'lists the manifest itself');
  }
  const sizes = table(top.sizes, 'sizes', PACKAGE_LIMITS.files, fail, (value, field) => {
    if (
      typeof value !== 'number' ||
      !Number.isInteger(value) ||
      value < 0 ||
      value > PACKAGE_LIMITS.fileBytes
    ) {
      fail(
        field,
        `expected a size from 0 to ${PACKAGE_LIMITS.fileBytes} bytes, got ${describe(value)}`,
      );
    }
    return value as number;
  });
  sameKeys(files, sizes, 'sizes', 'files', fail);
  const total = Object.values(sizes).reduce((sum, size) => sum + size, 0);
  if (total > PACKAGE_LIMITS.totalBytes) {
    fail('sizes', `the files add up to ${total} bytes, more than ${PACKAGE_LIMITS.totalBytes}`);
  }

  const modules = table(top.modules, 'modules', PACKAGE_LIMITS.files, fail, (value, field) => {
    const reason = unsafePathReason(value);
    if (reason !== undefined) fail(field, reason);
    if (ownValue(files, value as string) === undefined) {
      fail(field, `names ${describe(value)}, which is not among the package's files`);
    }
    return value as string;
  });
  for (const modulePath of Object.keys(modules)) {
    const reason = unsafePathReason(modulePath);
    if (reason !== undefined) fail(`modules[${JSON.stringify(modulePath)}]`, `key: ${reason}`);
  }
  const exports = table(top.exports, 'exports', PACKAGE_LIMITS.files, fail, (value, field) => {
    const names = array(value, field, PACKAGE_LIMITS.exportsPerModule, fail);
    names.forEach((exportName, index) => {
      if (
        typeof exportName !== 'string' ||
        exportName === '' ||
        exportName.length > MAX_EXPORT_NAME
      ) {
        fail(`${field}[${index}]`, `expected an export name, got ${describe(exportName)}`);
      }
    });
    return Object.freeze([...(names as string[])]);
  });
  sameKeys(modules, exports, 'exports', 'modules', fail);

  const resources = array(top.resources, 'resources', PACKAGE_LIMITS.files, fail).map(
    (resource, index) => {
      if (!isResourceName(resource)) {
        fail(`resources[${index}]`, `${describe(resource)} is not a resource name`);
      }
      const stored = resourceFiles(resource as string);
      for (const file of [stored.document, stored.blobs]) {
        if (ownValue(files, file) === undefined) {
          fail(`resources[${index}]`, `its file ${file} is not among the package's files`);
        }
      }
      return resource as string;
    },
  );

  const assets = top.assets === undefined ? undefined : assetList(top.assets, files, fail);
  for (const file of Object.keys(files)) {
    if (
      file.startsWith(`${ASSETS_FOLDER}/`) &&
      !(assets ?? []).includes(file.slice(ASSETS_FOLDER.length + 1))
    ) {
      fail(`files[${JSON.stringify(file)}]`, 'is under assets/ but not listed in assets');
    }
  }

  const dependencies = table(
    top.dependencies,
    'dependencies',
    PACKAGE_LIMITS.dependencies,
    fail,
    (value, field) => {
      const dependency = object(value, field, fail);
      exactKeys(dependency, ['range', 'version'], field, fail);
      return Object.freeze({
        range: string(dependency.range, `${field}.range`, fail),
        version: string(dependency.version, `${field}.version`, fail),
      });
    },
  );
  for (const dependency of Object.keys(dependencies)) {
    if (!/^(?:@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/i.test(dependency) || dependency.length > 214) {
      fail(`dependencies[${JSON.stringify(dependency)}]`, 'key: not an npm package name');
    }
  }
  const lockedDependencies = table(
    top.lockedDependencies,
    'lockedDependencies',
    PACKAGE_LIMITS.dependencies,
    fail,
    (value, field) => lockedPackage(value, field, fail),
  );
  for (const at of Object.keys(lockedDependencies)) {
    if (!LOCK_PATH.test(at) || unsafePathReason(at) !== undefined) {
      fail(
        `lockedDependencies[${JSON.stringify(at)}]`,
        'key: not a lockfile path (node_modules/…)',
      );
    }
  }

  const manifest: PackageManifest = {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    name,
    version,
    uid,
    ferryVersion,
    node,
    modules,
    exports,
    resources: Object.freeze(resources),
    ...(assets === undefined ? {} : { assets }),
    dependencies,
    lockedDependencies,
    files,
    sizes,
  };
  const expected = makeUid(name, version, contentHash(manifest));
  if (expected !== uid) {
    fail(
      'uid',
      `${uid} does not match the manifest's content (${expected}); the package was altered, refused`,
    );
  }
  return manifest;
}

type Fail = (field: string, message: string) => never;

/** The `assets` list: safe, sorted, unique paths, each stored as a listed file. */
function assetList(
  raw: unknown,
  files: Readonly<Record<string, string>>,
  fail: Fail,
): readonly string[] {
  const list = array(raw, 'assets', PACKAGE_LIMITS.files, fail);
  if (list.length === 0) fail('assets', 'is empty; a package without assets leaves the field out');
  let previous: string | undefined;
  return Object.freeze(
    list.map((asset, index) => {
      const field = `assets[${index}]`;
      if (typeof asset !== 'string') return fail(field, `expected a path, got ${describe(asset)}`);
      const stored = assetPackagePath(asset);
      const reason = unsafePathReason(asset) ?? unsafePathReason(stored);
      if (reason !== undefined) fail(field, reason);
      if (previous !== undefined && !(previous < asset)) {
        fail(
          field,
          `${describe(asset)} is out of order or listed twice; assets are sorted and unique`,
        );
      }
      previous = asset;
      if (ownValue(files, stored) === undefined) {
        fail(field, `its file ${stored} is not among the package's files`);
      }
      return asset;
    }),
  );
}

function object(raw: unknown, field: string, fail: Fail): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return fail(field, `expected an object, got ${describe(raw)}`);
  }
  return raw as Record<string, unknown>;
}

function array(raw: unknown, field: string, max: number, fail: Fail): readonly unknown[] {
  if (!Array.isArray(raw)) return fail(field, `expected an array, got ${describe(raw)}`);
  if (raw.length > max) fail(field, `more than ${max} entries`);
  return raw as readonly unknown[];
}

function string(raw: unknown, field: string, fail: Fail): string {
  if (typeof raw !== 'string') return fail(field, `expected a string, got ${describe(raw)}`);
  if (raw.length > PACKAGE_LIMITS.stringLength) {
    fail(field, `longer than ${PACKAGE_LIMITS.stringLength} characters`);
  }
  return raw;
}

/** A JSON object read into a frozen null-prototype table, each value checked by `check`. */
function table<T>(
  raw: unknown,
  field: string,
  max: number,
  fail: Fail,
  check: (value: unknown, field: string) => T,
): Readonly<Record<string, T>> {
  const source = object(raw, field, fail);
  const keys = Object.keys(source);
  if (keys.length > max) fail(field, `more than ${max} entries`);
  const result = Object.create(null) as Record<string, T>;
  for (const key of keys) {
    // JSON.parse makes `__proto__` an own data property; read it as such.
    const value: unknown = Object.getOwnPropertyDescriptor(source, key)?.value;
    Object.defineProperty(result, key, {
      value: check(value, `${field}[${JSON.stringify(key)}]`),
      enumerable: true,
    });
  }
  return Object.freeze(result);
}

function exactKeys(
  raw: Record<string, unknown>,
  allowed: readonly string[],
  field: string,
  fail: Fail,
): void {
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) fail(`${field}.${key}`, 'unknown field');
  }
}

function sameKeys(
  a: Readonly<Record<string, unknown>>,
  b: Readonly<Record<string, unknown>>,
  field: string,
  other: string,
  fail: Fail,
): void {
  for (const key of Object.keys(a)) {
    if (!Object.prototype.hasOwnProperty.call(b, key)) {
      fail(`${field}[${JSON.stringify(key)}]`, `missing; every key of ${other} needs one`);
    }
  }
  for (const key of Object.keys(b)) {
    if (!Object.prototype.hasOwnProperty.call(a, key)) {
      fail(`${field}[${JSON.stringify(key)}]`, `not a key of ${other}`);
    }
  }
}

function stringMap(raw: unknown, field: string, fail: Fail): Readonly<Record<string, string>> {
  return table(raw, field, PACKAGE_LIMITS.dependencies, fail, (value, at) =>
    string(value, at, fail),
  );
}

function stringList(raw: unknown, field: string, fail: Fail): readonly string[] {
  return Object.freeze(
    array(raw, field, PACKAGE_LIMITS.dependencies, fail).map((value, index) =>
      string(value, `${field}[${index}]`, fail),
    ),
  );
}

/** A lockfile entry, as `dependencies.ts` copies it (LOCKED_FIELDS there). */
function lockedPackage(raw: unknown, field: string, fail: Fail): LockedPackage {
  const entry = object(raw, field, fail);
  exactKeys(
    entry,
    [
      ...LOCKED_STRING_FIELDS,
      ...LOCKED_MAP_FIELDS,
      ...LOCKED_LIST_FIELDS,
      ...LOCKED_FLAG_FIELDS,
      'peerDependenciesMeta',
      'bin',
      'engines',
    ],
    field,
    fail,
  );
  const result: Record<string, unknown> = {};
  for (const key of LOCKED_STRING_FIELDS) {
    if (entry[key] !== undefined) result[key] = string(entry[key], `${field}.${key}`, fail);
  }
  if (typeof result.version !== 'string') fail(`${field}.version`, 'missing');
  for (const key of LOCKED_MAP_FIELDS) {
    if (entry[key] !== undefined) result[key] = stringMap(entry[key], `${field}.${key}`, fail);
  }
  for (const key of LOCKED_LIST_FIELDS) {
    if (entry[key] !== undefined) result[key] = stringList(entry[key], `${field}.${key}`, fail);
  }
  for (const key of LOCKED_FLAG_FIELDS) {
    if (entry[key] === undefined) continue;
    if (typeof entry[key] !== 'boolean')
      fail(`${field}.${key}`, `expected true or false, got ${describe(entry[key])}`);
    result[key] = entry[key];
  }
  if (entry.peerDependenciesMeta !== undefined) {
    result.peerDependenciesMeta = table(
      entry.peerDependenciesMeta,
      `${field}.peerDependenciesMeta`,
      PACKAGE_LIMITS.dependencies,
      fail,
      (value, at) => {
        const meta = object(value, at, fail);
        exactKeys(meta, ['optional'], at, fail);
        if (meta.optional !== undefined && typeof meta.optional !== 'boolean') {
          fail(`${at}.optional`, `expected true or false, got ${describe(meta.optional)}`);
        }
        return Object.freeze(
          meta.optional === undefined ? {} : { optional: meta.optional as boolean },
        );
      },
    );
  }
  // `bin` and `engines` are a string, a list of strings or a string table in npm's lockfiles.
  for (const key of ['bin', 'engines'] as const) {
    const value = entry[key];
    if (value === undefined) continue;
    result[key] =
      typeof value === 'string'
        ? string(value, `${field}.${key}`, fail)
        : Array.isArray(value)
          ? stringList(value, `${field}.${key}`, fail)
          : stringMap(value, `${field}.${key}`, fail);
  }
  return Object.freeze(result) as unknown as LockedPackage;
}
