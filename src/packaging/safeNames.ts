import path from 'node:path';
import { UnsafePathError } from './errors.js';

/**
 * The one rule for names that come from a package (a manifest, a module table, a resource's class
 * references) and become file paths or object keys. Every such name is checked here before use:
 *
 * - a path is relative POSIX, at most {@link MAX_PATH_BYTES} bytes and {@link MAX_PATH_SEGMENTS}
 *   segments, and no segment is empty, `.`, `..`, longer than 255 bytes, or holds a NUL, a
 *   backslash, a control character or a drive letter; joined to a root only through
 *   {@link pathInside}, which checks again that the result stays under the root;
 * - a package name, a resource name and a UID are single folder-safe segments;
 * - a key is looked up only among an object's own properties ({@link ownValue}), so `constructor`
 *   or `__proto__` never reaches `Object.prototype`.
 */

export const MAX_PATH_BYTES = 1024;
export const MAX_PATH_SEGMENTS = 32;
const MAX_SEGMENT_BYTES = 255;

/** Lower-case letters, digits, dots, dashes and underscores: safe for a folder, an npm name and a Docker image name. */
export const PACKAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;
/** Letters, digits, `-` and `_`: a resource is stored as `resources/<name>.json`. */
export const RESOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;
/** `<name>-<version with unsafe characters as _>-<16 hex>`: one folder name. */
const UID = /^[a-z0-9][a-z0-9._-]{0,99}-[A-Za-z0-9._-]{1,256}-[0-9a-f]{16}$/;

/** Why `value` is not a safe relative path, or undefined when it is one. */
export function unsafePathReason(value: unknown): string | undefined {
  if (typeof value !== 'string') return `expected a path (a string), got ${describe(value)}`;
  if (value === '') return 'the path is empty';
  if (Buffer.byteLength(value, 'utf8') > MAX_PATH_BYTES) {
    return `the path is longer than ${MAX_PATH_BYTES} bytes`;
  }
  if (value.startsWith('/') || /^[A-Za-z]:/.test(value) || value.includes('\\')) {
    return `'${value}' has an absolute or non-POSIX path`;
  }
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(value))
    return `${JSON.stringify(value)} holds a control character`;
  const segments = value.split('/');
  if (segments.length > MAX_PATH_SEGMENTS) {
    return `'${value}' is nested more than ${MAX_PATH_SEGMENTS} folders deep`;
  }
  if (segments.includes('..')) return `'${value}' points outside the package folder ('..')`;
  if (segments.some((s) => s === '' || s === '.')) {
    return `'${value}' has an empty or '.' segment`;
  }
  if (segments.some((s) => Buffer.byteLength(s, 'utf8') > MAX_SEGMENT_BYTES)) {
    return `'${value}' has a segment longer than ${MAX_SEGMENT_BYTES} bytes`;
  }
  return undefined;
}

export function isSafeRelativePath(value: unknown): value is string {
  return unsafePathReason(value) === undefined;
}

export function isPackageName(value: unknown): value is string {
  return typeof value === 'string' && PACKAGE_NAME.test(value);
}

export function isResourceName(value: unknown): value is string {
  return typeof value === 'string' && RESOURCE_NAME.test(value);
}

export function isUid(value: unknown): value is string {
  return typeof value === 'string' && UID.test(value) && !value.includes('..');
}

/**
 * `root` joined with a relative path from a package, which must pass {@link unsafePathReason};
 * the joined result is checked to be under `root` as well, whatever the platform's separators.
 */
export function pathInside(root: string, relative: string, what: string): string {
  const reason = unsafePathReason(relative);
  const resolvedRoot = path.resolve(root);
  const joined = path.resolve(resolvedRoot, ...relative.split('/'));
  const back = path.relative(resolvedRoot, joined);
  if (reason !== undefined || back === '' || back.startsWith('..') || path.isAbsolute(back)) {
    throw new UnsafePathError(
      `${what}: ${reason ?? `'${relative}' does not stay inside ${resolvedRoot}`}; refused`,
    );
  }
  return joined;
}

/** The value of an own property, never one inherited from `Object.prototype`. */
export function ownValue<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') {
    return value.length > 60 ? `a string of ${value.length} characters` : JSON.stringify(value);
  }
  if (typeof value === 'object') return 'an object';
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value;
}
