import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tarStream from 'tar-stream';
import { TarFormatError, TarLimitError } from './errors.js';

/**
 * Reads an untrusted tar (optionally gzipped) one entry at a time, on tar-stream, inside bounds the
 * caller can tighten as it learns what the archive should hold (a package's manifest, read first,
 * says how many entries and bytes follow). Nothing is written anywhere: the visitor decides what
 * to do with each entry's bytes, and throwing from it stops the read at once, so a refused archive
 * costs only what was read before the refusal.
 */

export type TarEntryKind =
  | 'file'
  | 'link'
  | 'symlink'
  | 'directory'
  | 'block-device'
  | 'character-device'
  | 'fifo'
  | 'contiguous-file'
  | 'other';

export interface TarEntryInfo {
  /** The path as the archive names it (PAX and GNU long names applied); not sanitized. */
  readonly path: string;
  readonly kind: TarEntryKind;
  /** The size the header declares, before any byte of the entry is read. */
  readonly size: number;
  /** Position of the entry in the archive, from 0. */
  readonly index: number;
}

/** Bounds on what a read may cost; each is checked before the bytes it bounds are read. */
export interface TarReadLimits {
  readonly maxEntries: number;
  /** Bytes of the uncompressed tar stream (headers and padding included). */
  readonly maxBytes: number;
}

export interface TarReadOptions {
  readonly gzip: boolean;
  /** Asked again before each entry, so a visitor can tighten them as it goes. */
  readonly limits: () => TarReadLimits;
  /** How the archive is named in errors (a path). */
  readonly name: string;
}

const GUNZIP_CHUNK = 1024 * 1024;

/** What a visitor returns: `'stop'` ends the read there (nothing more of the source is read). */
export type TarVisitResult = void | 'stop';

/**
 * Calls `visit` for each entry in order, with a stream of its bytes; the next entry is read once the
 * visitor's promise settles (bytes it leaves unread are skipped), unless it answers `'stop'`.
 * Malformed input (truncated, corrupt gzip or tar) throws {@link TarFormatError}; a bound passed
 * throws {@link TarLimitError}.
 */
export async function readTar(
  source: Readable,
  options: TarReadOptions,
  visit: (entry: TarEntryInfo, body: Readable) => Promise<TarVisitResult>,
): Promise<void> {
  const counter = new ByteBudget(() => options.limits().maxBytes, options.name);
  const extract = tarStream.extract();
  const stages: (NodeJS.ReadableStream | NodeJS.WritableStream)[] = [source];
  // Chunks of 1 MiB, not zlib's 16 KiB: a package's side-car is mostly stored bytes, and each chunk
  // costs a trip through every stage.
  if (options.gzip) stages.push(createGunzip({ chunkSize: GUNZIP_CHUNK }));
  stages.push(counter);
  const feeding = pipeline(stages as [Readable, ...Transform[]]).catch((error: unknown) => {
    extract.destroy(error as Error);
  });
  counter.on('data', (chunk: Buffer) => {
    if (!extract.write(chunk)) {
      counter.pause();
      extract.once('drain', () => counter.resume());
    }
  });
  counter.on('end', () => extract.end(null));
  let index = 0;
  try {
    for await (const entry of extract as AsyncIterable<ExtractedEntry>) {
      const limits = options.limits();
      if (index >= limits.maxEntries) {
        throw new TarLimitError(
          `${options.name}: holds more than ${limits.maxEntries} entries; refused`,
        );
      }
      const info: TarEntryInfo = {
        path: entry.header.name,
        kind: kindOf(entry.header.type),
        size: entry.header.size,
        index,
      };
      index += 1;
      if (info.size > limits.maxBytes - counter.bytes) {
        throw new TarLimitError(
          `${options.name}: entry '${info.path}' declares ${info.size} bytes, more than the archive may hold; refused`,
        );
      }
      if ((await visit(info, entry as unknown as Readable)) === 'stop') {
        counter.destroy();
        extract.destroy();
        break;
      }
      entry.resume();
    }
  } catch (error) {
    source.destroy();
    // The counter too: a source read to its end already (a small archive read in one go) no longer
    // fails the pipeline when destroyed, and a paused counter would keep it open for ever.
    counter.destroy();
    extract.destroy(error as Error);
    await feeding;
    throw asTarError(error, options.name);
  } finally {
    source.destroy();
  }
}

/** An entry as tar-stream's extract yields it: its header and a stream of its bytes. */
interface ExtractedEntry extends AsyncIterable<Buffer> {
  readonly header: tarStream.Header;
  resume(): void;
}

/** Counts the uncompressed bytes and stops the stream past the budget (a decompression bomb). */
class ByteBudget extends Transform {
  bytes = 0;

  constructor(
    private readonly budget: () => number,
    private readonly name: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.byteLength;
    const budget = this.budget();
    if (this.bytes > budget) {
      callback(
        new TarLimitError(
          `${this.name}: unpacks to more than ${budget} bytes; refused (a damaged archive or a decompression bomb)`,
        ),
      );
      return;
    }
    callback(null, chunk);
  }
}

function kindOf(type: string | null | undefined): TarEntryKind {
  switch (type) {
    case 'file':
    case 'link':
    case 'symlink':
    case 'directory':
    case 'block-device':
    case 'character-device':
    case 'fifo':
    case 'contiguous-file':
      return type;
    default:
      return 'other';
  }
}

/** tar-stream's and zlib's errors are untyped: they become a TarFormatError naming the archive. */
function asTarError(error: unknown, name: string): unknown {
  if (error instanceof TarLimitError || error instanceof TarFormatError) return error;
  if (!(error instanceof Error)) return error;
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (
    code.startsWith('Z_') ||
    /^(Invalid tar header|Invalid header|Unexpected end of data|Header exceeds max size|unexpected end of file)/i.test(
      error.message,
    )
  ) {
    return new TarFormatError(
      `${name}: not a readable archive (${error.message}); it is truncated or damaged, get it again`,
      { cause: error },
    );
  }
  return error;
}
