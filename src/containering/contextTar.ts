import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  DIRECTORY_MODE,
  EXECUTABLE_MODE,
  FILE_MODE,
  SYMLINK_MODE,
  comparePaths,
  tarBufferOf,
  tarStreamOf,
  type TarEntry,
} from '../tar/index.js';
import { BuildContextError } from './errors.js';

/**
 * Docker build contexts: entries checked, completed with their parent folders and written by the tar
 * module's determinism rule (sorted, owned by root, one fixed time, modes by kind), so the same
 * input gives the same bytes, and so the same layers: Docker keys COPY's cache on content, and a
 * layer's digest on its tar.
 */

export { FIXED_MTIME } from '../tar/index.js';

export type ContextEntry = ContextFile | ContextDirectory | ContextSymlink;

interface EntryBase {
  /** POSIX path inside the context, without a leading `./` or `/`, e.g. `node_modules/semver/index.js`. */
  readonly path: string;
}

export interface ContextFile extends EntryBase {
  readonly type: 'file';
  readonly executable?: boolean;
  readonly size: number;
  /** Hex SHA-256 of the content. */
  readonly sha256: string;
  /** The bytes, or a file to read them from when the tar is streamed. */
  readonly source: { readonly bytes: Uint8Array } | { readonly file: string };
}

export interface ContextDirectory extends EntryBase {
  readonly type: 'directory';
}

export interface ContextSymlink extends EntryBase {
  readonly type: 'symlink';
  readonly target: string;
}

/** A file entry from bytes in memory. */
export function fileFromBytes(
  path: string,
  bytes: Uint8Array | string,
  executable = false,
): ContextFile {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  return {
    type: 'file',
    path,
    executable,
    size: data.byteLength,
    sha256: sha256(data),
    source: { bytes: data },
  };
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Checks paths, adds the parent directories the entries imply, and sorts by path (byte order).
 * Throws on an unsafe path (absolute, `..`, empty segment) or a path given twice.
 */
export function normalizeEntries(entries: Iterable<ContextEntry>): ContextEntry[] {
  const byPath = new Map<string, ContextEntry>();
  for (const entry of entries) {
    checkPath(entry.path);
    const existing = byPath.get(entry.path);
    if (existing !== undefined && !(existing.type === 'directory' && entry.type === 'directory')) {
      throw new BuildContextError(`build context: ${entry.path} is given twice`);
    }
    byPath.set(entry.path, entry);
  }
  for (const path of [...byPath.keys()]) {
    const segments = path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join('/');
      const existing = byPath.get(parent);
      if (existing === undefined) {
        byPath.set(parent, { type: 'directory', path: parent });
      } else if (existing.type !== 'directory') {
        throw new BuildContextError(`build context: ${parent} is both a file and a folder`);
      }
    }
  }
  return [...byPath.values()].sort((a, b) => comparePaths(a.path, b.path));
}

function checkPath(path: string): void {
  const segments = path.split('/');
  if (
    path === '' ||
    path.startsWith('/') ||
    segments.some((s) => s === '' || s === '.' || s === '..') ||
    path.includes('\0')
  ) {
    throw new BuildContextError(`build context: unsafe path ${JSON.stringify(path)}`);
  }
}

/**
 * Digest of a normalized entry list: what the tar would contain (paths, kinds, modes, content
 * hashes, link targets), without reading any file. Equal digests mean equal contexts.
 */
export function contextDigest(entries: readonly ContextEntry[]): string {
  const hash = createHash('sha256');
  hash.update('ferry-context-v1\n');
  for (const entry of entries) {
    const line =
      entry.type === 'file'
        ? ['f', entry.path, modeOf(entry).toString(8), entry.size, entry.sha256]
        : entry.type === 'directory'
          ? ['d', entry.path]
          : ['l', entry.path, entry.target];
    hash.update(JSON.stringify(line));
    hash.update('\n');
  }
  return hash.digest('hex');
}

function modeOf(entry: ContextEntry): number {
  if (entry.type === 'directory') return DIRECTORY_MODE;
  if (entry.type === 'symlink') return SYMLINK_MODE;
  return entry.executable === true ? EXECUTABLE_MODE : FILE_MODE;
}

/** Streams a tar of the normalized entries; file bytes are read from disk only as they are sent. */
export function contextTarStream(entries: readonly ContextEntry[]): Readable {
  return tarStreamOf(entries.map(toTarEntry));
}

/** The whole tar in memory (for tests and small contexts). */
export function contextTarBuffer(entries: readonly ContextEntry[]): Promise<Buffer> {
  return tarBufferOf(entries.map(toTarEntry));
}

function toTarEntry(entry: ContextEntry): TarEntry {
  if (entry.type !== 'file') return entry;
  const source =
    'bytes' in entry.source ? entry.source : { file: entry.source.file, size: entry.size };
  return {
    type: 'file',
    path: entry.path,
    executable: entry.executable === true,
    source,
  };
}
