import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { BuildContextError } from './errors.js';

/**
 * A deterministic tar writer for Docker build contexts. Entries are sorted, owned by root, stamped
 * with one fixed time and a normalized mode, so the same input gives the same bytes, and so the same
 * layers: Docker keys COPY's cache on content, and a layer's digest on its tar.
 */

/** 1980-01-01T00:00:00Z, the epoch reproducible builds use (a zero mtime confuses some tools). */
export const FIXED_MTIME = 315532800;

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
  return [...byPath.values()].sort((a, b) => compareBytes(a.path, b.path));
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

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
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
  if (entry.type === 'directory') return 0o755;
  if (entry.type === 'symlink') return 0o777;
  return entry.executable === true ? 0o755 : 0o644;
}

/** Streams a tar of the normalized entries; file bytes are read from disk only as they are sent. */
export function contextTarStream(entries: readonly ContextEntry[]): Readable {
  return Readable.from(tarChunks(entries), { objectMode: false });
}

/** The whole tar in memory (for tests and small contexts). */
export async function contextTarBuffer(entries: readonly ContextEntry[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of tarChunks(entries)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function* tarChunks(entries: readonly ContextEntry[]): AsyncGenerator<Buffer> {
  for (const entry of entries) {
    yield* headerBlocks(entry);
    if (entry.type !== 'file') continue;
    let written = 0;
    if ('bytes' in entry.source) {
      written = entry.source.bytes.byteLength;
      yield Buffer.from(entry.source.bytes);
    } else {
      for await (const chunk of createReadStream(entry.source.file) as AsyncIterable<Buffer>) {
        written += chunk.byteLength;
        if (written > entry.size) break;
        yield chunk;
      }
    }
    if (written !== entry.size) {
      throw new BuildContextError(
        `build context: ${entry.path} changed while it was being sent (expected ${entry.size} bytes, read ${written})`,
      );
    }
    const padding = (512 - (entry.size % 512)) % 512;
    if (padding > 0) yield Buffer.alloc(padding);
  }
  yield Buffer.alloc(1024);
}

function headerBlocks(entry: ContextEntry): Buffer[] {
  const name = entry.type === 'directory' ? `${entry.path}/` : entry.path;
  const linkName = entry.type === 'symlink' ? entry.target : '';
  const pax: [string, string][] = [];
  if (!fitsUstar(name, 100)) pax.push(['path', name]);
  if (!fitsUstar(linkName, 100)) pax.push(['linkpath', linkName]);
  const blocks: Buffer[] = [];
  if (pax.length > 0) {
    const body = Buffer.from(pax.map(([k, v]) => paxRecord(k, v)).join(''), 'utf8');
    blocks.push(
      ustarHeader({
        name: 'PaxHeader',
        mode: 0o644,
        size: body.byteLength,
        type: 'x',
        linkName: '',
      }),
    );
    blocks.push(body, Buffer.alloc((512 - (body.byteLength % 512)) % 512));
  }
  blocks.push(
    ustarHeader({
      name: fitsUstar(name, 100) ? name : asciiPlaceholder(name),
      mode: modeOf(entry),
      size: entry.type === 'file' ? entry.size : 0,
      type: entry.type === 'file' ? '0' : entry.type === 'directory' ? '5' : '2',
      linkName: fitsUstar(linkName, 100) ? linkName : asciiPlaceholder(linkName),
    }),
  );
  return blocks;
}

function fitsUstar(value: string, length: number): boolean {
  return Buffer.byteLength(value, 'utf8') <= length && /^[\x20-\x7e]*$/.test(value);
}

function asciiPlaceholder(value: string): string {
  return `ferry-long-name-${sha256(value).slice(0, 32)}`;
}

function paxRecord(key: string, value: string): string {
  const payload = ` ${key}=${value}\n`;
  const payloadLength = Buffer.byteLength(payload, 'utf8');
  let length = payloadLength + 1;
  while (String(length).length + payloadLength !== length) length++;
  return `${length}${payload}`;
}

interface UstarFields {
  readonly name: string;
  readonly mode: number;
  readonly size: number;
  readonly type: '0' | '2' | '5' | 'x';
  readonly linkName: string;
}

function ustarHeader(fields: UstarFields): Buffer {
  const block = Buffer.alloc(512);
  block.write(fields.name, 0, 100, 'utf8');
  writeOctal(block, fields.mode, 100, 8);
  writeOctal(block, 0, 108, 8); // uid
  writeOctal(block, 0, 116, 8); // gid
  writeOctal(block, fields.size, 124, 12);
  writeOctal(block, FIXED_MTIME, 136, 12);
  block.fill(0x20, 148, 156); // checksum counts as spaces while it is computed
  block.write(fields.type, 156, 1, 'ascii');
  block.write(fields.linkName, 157, 100, 'utf8');
  block.write('ustar\u000000', 257, 8, 'ascii');
  block.write('root', 265, 32, 'ascii');
  block.write('root', 297, 32, 'ascii');
  writeOctal(block, 0, 329, 8);
  writeOctal(block, 0, 337, 8);
  let checksum = 0;
  for (const byte of block) checksum += byte;
  block.write(`${checksum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return block;
}

function writeOctal(block: Buffer, value: number, offset: number, length: number): void {
  const digits = value.toString(8);
  if (digits.length > length - 1) {
    throw new BuildContextError(`build context: ${value} does not fit a tar header field`);
  }
  block.write(`${digits.padStart(length - 1, '0')}\u0000`, offset, length, 'ascii');
}
