import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import * as tarStream from 'tar-stream';
import {
  DIRECTORY_MODE,
  EXECUTABLE_MODE,
  FILE_MODE,
  FIXED_MTIME_DATE,
  OWNER,
  SYMLINK_MODE,
  inArchiveOrder,
} from './determinism.js';
import { TarEntryError } from './errors.js';
import { storedGzipMember } from './gzipMembers.js';

/**
 * Writes tar archives by the determinism rule (see `determinism.ts`) on tar-stream, which encodes
 * the headers (ustar, with PAX records for long or non-ASCII names). Nothing about an entry comes
 * from the disk but the bytes of a file named as its source.
 */

export type TarEntry = TarFile | TarDirectory | TarSymlink;

export interface TarFile {
  readonly type: 'file';
  /** POSIX path inside the archive, without a leading `./` or `/`. */
  readonly path: string;
  readonly executable?: boolean;
  /** The bytes, or a file read as the archive is streamed (it must still have `size` bytes then). */
  readonly source:
    { readonly bytes: Uint8Array } | { readonly file: string; readonly size: number };
}

export interface TarDirectory {
  readonly type: 'directory';
  readonly path: string;
}

export interface TarSymlink {
  readonly type: 'symlink';
  readonly path: string;
  readonly target: string;
}

export interface TarWriteOptions {
  /** The path of an entry that goes first (e.g. a package's manifest, so readers can check it first). */
  readonly leading?: string;
}

/** Streams the archive; file sources are read only as their entry is reached. */
export function tarStreamOf(entries: Iterable<TarEntry>, options: TarWriteOptions = {}): Readable {
  const ordered = inArchiveOrder(entries, options.leading);
  const pack = tarStream.pack();
  // A Node stream for callers (dockerode, pipeline), over tar-stream's streamx one; a failure
  // (a file that changed while it was read) ends it with that error.
  const out = new PassThrough();
  pack.on('error', (error: Error) => out.destroy(error));
  pack.pipe(out);
  feed(pack, ordered).then(
    () => pack.finalize(),
    (error: unknown) => pack.destroy(error as Error),
  );
  return out;
}

/** The whole archive in memory (small archives: a script for a container, tests). */
export async function tarBufferOf(
  entries: Iterable<TarEntry>,
  options: TarWriteOptions = {},
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of tarStreamOf(entries, options)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface TarGzOptions extends TarWriteOptions {
  /**
   * Entries whose bytes go into a stored gzip member instead of being deflated (bytes deflate would
   * not shrink: see `gzipMembers.ts`). Runs of neighbouring entries share one member. Default: none.
   */
  readonly store?: (file: TarFile) => boolean;
}

/**
 * Writes a gzipped archive to `target`: beside it first, then renamed into place, so a failure
 * leaves no half-written file. Compression level 9, but for the entries `store` picks; gzip's own
 * headers carry no time.
 */
export async function writeTarGz(
  target: string,
  entries: Iterable<TarEntry>,
  options: TarGzOptions = {},
): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const partial = `${target}.partial-${process.pid}-${Math.random().toString(16).slice(2)}`;
  const { store, ...tarOptions } = options;
  // Writes of a few MiB each: with the default 16 KiB, a stored side-car goes out in thousands of
  // small writes, each a trip through libuv's thread pool.
  const output = createWriteStream(partial, { highWaterMark: WRITE_BATCH });
  try {
    const groups = memberGroups(inArchiveOrder(entries, tarOptions.leading), store);
    for (const [index, group] of groups.entries()) {
      const last = index === groups.length - 1;
      const stages: NodeJS.ReadWriteStream[] = [];
      // The archive's end blocks go once, after the last member's entries.
      if (!last) stages.push(withoutEndOfArchive());
      stages.push(group.stored ? storedGzipMember() : createGzip({ level: 9 }));
      await pipeline([tarStreamOf(group.entries, tarOptions), ...stages, output], { end: last });
    }
    await rename(partial, target);
  } catch (error) {
    output.destroy();
    await rm(partial, { force: true });
    throw error;
  }
}

const WRITE_BATCH = 4 * 1024 * 1024;

/** Neighbouring entries with the same choice (stored or deflated) in one gzip member each. */
function memberGroups(
  ordered: readonly TarEntry[],
  store: ((file: TarFile) => boolean) | undefined,
): { readonly stored: boolean; readonly entries: TarEntry[] }[] {
  const groups: { stored: boolean; entries: TarEntry[] }[] = [];
  for (const entry of ordered) {
    const stored = store !== undefined && entry.type === 'file' && store(entry);
    const previous = groups.at(-1);
    if (previous?.stored === stored) previous.entries.push(entry);
    else groups.push({ stored, entries: [entry] });
  }
  return groups.length > 0 ? groups : [{ stored: false, entries: [] }];
}

/** The two zero blocks that end a tar stream. */
const END_OF_ARCHIVE = 1024;

/** Passes a tar stream on without its end-of-archive blocks, so another part can follow it. */
function withoutEndOfArchive(): Transform {
  let tail: Buffer = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (chunk.byteLength >= END_OF_ARCHIVE) {
        // A large chunk (a payload's side-car) passes on as it is, not copied.
        if (tail.byteLength > 0) this.push(tail);
        if (chunk.byteLength > END_OF_ARCHIVE) {
          this.push(chunk.subarray(0, chunk.byteLength - END_OF_ARCHIVE));
        }
        tail = chunk.subarray(chunk.byteLength - END_OF_ARCHIVE);
      } else {
        const all = Buffer.concat([tail, chunk]);
        const keep = Math.max(0, all.byteLength - END_OF_ARCHIVE);
        if (keep > 0) this.push(all.subarray(0, keep));
        tail = all.subarray(keep);
      }
      callback();
    },
    flush(callback) {
      callback(
        tail.byteLength === END_OF_ARCHIVE && tail.every((byte) => byte === 0)
          ? null
          : new TarEntryError('a tar part did not end with the end-of-archive blocks'),
      );
    },
  });
}

async function feed(pack: tarStream.Pack, entries: readonly TarEntry[]): Promise<void> {
  for (const entry of entries) {
    checkEntryPath(entry.path);
    if (entry.type === 'directory') {
      await added((done) => pack.entry(header(entry, 0), done));
    } else if (entry.type === 'symlink') {
      await added((done) => pack.entry({ ...header(entry, 0), linkname: entry.target }, done));
    } else if ('bytes' in entry.source) {
      const bytes = entry.source.bytes;
      // A view of the same memory: Buffer.from(bytes) would copy it (a payload's whole side-car).
      const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      await added((done) => pack.entry(header(entry, bytes.byteLength), view, done));
    } else {
      await streamFile(pack, entry, entry.source.file, entry.source.size);
    }
  }
}

function added(write: (done: (error?: Error | null) => void) => void): Promise<void> {
  const done = settled();
  write(done.callback);
  return done.promise;
}

async function streamFile(
  pack: tarStream.Pack,
  entry: TarFile,
  file: string,
  size: number,
): Promise<void> {
  const done = settled();
  const sink = pack.entry(header(entry, size), done.callback);
  sink.on('error', done.callback);
  let read = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    read += chunk.byteLength;
    if (read > size) break;
    if (!sink.write(chunk))
      await new Promise<void>((resolve) => sink.once('drain', () => resolve()));
  }
  if (read !== size) {
    // The pack is destroyed by the caller: the entry's own outcome no longer matters.
    done.promise.catch(() => undefined);
    throw new TarEntryError(
      `${entry.path} changed while it was being sent (expected ${size} bytes, read ${read}${read > size ? ' or more' : ''})`,
    );
  }
  sink.end(null); // streamx's typings want an argument; null writes nothing
  await done.promise;
}

function settled(): { promise: Promise<void>; callback: (error?: Error | null) => void } {
  let callback: (error?: Error | null) => void = () => undefined;
  const promise = new Promise<void>((resolve, reject) => {
    callback = (error) => (error ? reject(error) : resolve());
  });
  return { promise, callback };
}

function header(entry: TarEntry, size: number): tarStream.Header {
  return {
    // Folders end with '/', as tar(1) writes them.
    name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
    size,
    mode:
      entry.type === 'directory'
        ? DIRECTORY_MODE
        : entry.type === 'symlink'
          ? SYMLINK_MODE
          : entry.executable === true
            ? EXECUTABLE_MODE
            : FILE_MODE,
    mtime: FIXED_MTIME_DATE,
    type: entry.type,
    linkname: '',
    ...OWNER,
    devmajor: 0,
    devminor: 0,
  };
}

/** Ferry writes only relative paths that stay inside the archive's root. */
function checkEntryPath(entryPath: string): void {
  const segments = entryPath.split('/');
  if (
    entryPath === '' ||
    entryPath.startsWith('/') ||
    entryPath.includes('\0') ||
    segments.some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw new TarEntryError(`unsafe archive path ${JSON.stringify(entryPath)}`);
  }
}
