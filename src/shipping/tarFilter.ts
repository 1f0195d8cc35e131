import { Transform, type TransformCallback } from 'node:stream';

/**
 * A streaming filter over a tar archive (ustar, with PAX and GNU long-name extensions): entries are
 * kept byte for byte or dropped whole, decided from their header, without unpacking anything. Small
 * entries can be captured on the way (their bytes still pass through), so a later decision can
 * depend on an earlier entry's contents.
 */

export interface TarEntryHeader {
  /** Path as the archive names it (PAX `path` or GNU long name applied). */
  readonly path: string;
  /** Content size in bytes (PAX `size` applied). */
  readonly size: number;
  /** ustar type flag: `'0'` file, `'5'` folder, `'2'` symlink, … */
  readonly type: string;
}

export interface TarFilterOptions {
  /** Return false to drop the entry (its header, extension headers, data and padding). */
  readonly keep: (entry: TarEntryHeader) => boolean;
  /** Return true to have the entry's contents handed to `onCaptured` (keep it small). */
  readonly capture?: (entry: TarEntryHeader) => boolean;
  readonly onCaptured?: (entry: TarEntryHeader, contents: Buffer) => void;
  /** Told once per entry, after the decision. */
  readonly onEntry?: (entry: TarEntryHeader, kept: boolean) => void;
}

const BLOCK = 512;

type Sink = 'out' | 'drop' | 'hold';

export class TarFilter extends Transform {
  private buffer: Buffer = Buffer.alloc(0);
  /** Extension headers (PAX `x`, GNU `L`/`K`) and their data, held until the entry they describe is decided. */
  private preamble: Buffer[] = [];
  private pendingPath: string | undefined;
  private pendingSize: number | undefined;
  /** Data bytes, then padding bytes, left in the current entry. */
  private remaining = 0;
  private padding = 0;
  private sink: Sink = 'out';
  private captured: Buffer[] | undefined;
  private onDataDone: ((contents: Buffer) => void) | undefined;
  private ended = false;
  /** Bytes dropped so far. */
  droppedBytes = 0;

  constructor(private readonly options: TarFilterOptions) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.drain();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (
      this.remaining > 0 ||
      this.padding > 0 ||
      this.preamble.length > 0 ||
      this.buffer.length > 0
    ) {
      if (!this.ended) {
        callback(new Error('tar archive ends in the middle of an entry'));
        return;
      }
    }
    callback();
  }

  private drain(): void {
    for (;;) {
      if (this.ended) {
        // After the end-of-archive block: pass whatever trails through unchanged.
        if (this.buffer.length > 0) this.push(this.buffer);
        this.buffer = Buffer.alloc(0);
        return;
      }
      if (this.remaining > 0 || this.padding > 0) {
        if (this.buffer.length === 0) return;
        const inData = this.remaining > 0;
        const take = Math.min(inData ? this.remaining : this.padding, this.buffer.length);
        const bytes = this.buffer.subarray(0, take);
        this.buffer = this.buffer.subarray(take);
        if (inData) {
          this.captured?.push(Buffer.from(bytes));
          this.route(bytes);
          this.remaining -= take;
          if (this.remaining === 0) this.dataDone();
        } else {
          this.route(bytes);
          this.padding -= take;
        }
        continue;
      }
      if (this.buffer.length < BLOCK) return;
      const header = Buffer.from(this.buffer.subarray(0, BLOCK));
      this.buffer = this.buffer.subarray(BLOCK);
      this.onHeader(header);
    }
  }

  private route(bytes: Buffer): void {
    if (this.sink === 'out') this.push(Buffer.from(bytes));
    else if (this.sink === 'hold') this.preamble.push(Buffer.from(bytes));
    else this.droppedBytes += bytes.length;
  }

  private onHeader(header: Buffer): void {
    if (header.every((byte) => byte === 0)) {
      // End of archive; everything from here passes through.
      if (this.preamble.length > 0) throw new Error('tar archive ends after an extension header');
      this.ended = true;
      this.push(header);
      return;
    }
    verifyChecksum(header);
    const flag = header[156] ?? 0;
    const type = flag === 0 ? '0' : String.fromCharCode(flag);
    const size = readSize(header);
    if (type === 'x' || type === 'L' || type === 'K') {
      // Describes the next entry: hold it until that entry is decided.
      this.preamble.push(header);
      this.sink = 'hold';
      this.captured = [];
      this.onDataDone = (contents) => {
        if (type === 'x') {
          const records = parsePax(contents);
          if (records.path !== undefined) this.pendingPath = records.path;
          if (records.size !== undefined) this.pendingSize = records.size;
        } else if (type === 'L') {
          this.pendingPath = contents.toString('utf8').replace(/\0+$/, '');
        }
      };
      this.startData(size);
      return;
    }
    if (type === 'g') {
      // A global PAX header applies to the whole archive: always kept.
      this.push(header);
      this.sink = 'out';
      this.captured = undefined;
      this.onDataDone = undefined;
      this.startData(size);
      return;
    }
    const entry: TarEntryHeader = {
      path: this.pendingPath ?? readPath(header),
      size: this.pendingSize ?? size,
      type,
    };
    this.pendingPath = undefined;
    this.pendingSize = undefined;
    const keep = this.options.keep(entry);
    this.options.onEntry?.(entry, keep);
    const preamble = this.preamble;
    this.preamble = [];
    if (keep) {
      for (const block of preamble) this.push(block);
      this.push(header);
      this.sink = 'out';
    } else {
      this.droppedBytes += preamble.reduce((sum, b) => sum + b.length, 0) + header.length;
      this.sink = 'drop';
    }
    if (keep && this.options.capture?.(entry) === true) {
      this.captured = [];
      this.onDataDone = (contents) => this.options.onCaptured?.(entry, contents);
    } else {
      this.captured = undefined;
      this.onDataDone = undefined;
    }
    this.startData(entry.size);
  }

  private startData(size: number): void {
    this.remaining = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (size === 0) this.dataDone();
  }

  private dataDone(): void {
    const done = this.onDataDone;
    const contents = Buffer.concat(this.captured ?? []);
    this.onDataDone = undefined;
    this.captured = undefined;
    done?.(contents);
  }
}

function verifyChecksum(header: Buffer): void {
  const stored = parseOctal(header.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < BLOCK; i += 1) sum += i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
  if (stored !== sum)
    throw new Error(`not a tar archive: bad header checksum (${stored} != ${sum})`);
}

function readSize(header: Buffer): number {
  const field = header.subarray(124, 136);
  if (((field[0] ?? 0) & 0x80) !== 0) {
    // GNU base-256: big-endian binary in the remaining bytes.
    let value = 0;
    for (let i = 1; i < field.length; i += 1) value = value * 256 + (field[i] ?? 0);
    return value;
  }
  return parseOctal(field);
}

function parseOctal(field: Buffer): number {
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function readPath(header: Buffer): string {
  const name = cString(header.subarray(0, 100));
  const magic = header.subarray(257, 263).toString('latin1');
  const prefix = magic.startsWith('ustar') ? cString(header.subarray(345, 500)) : '';
  return prefix === '' ? name : `${prefix}/${name}`;
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8');
}

/** PAX records: `<length> <key>=<value>\n`. */
export function parsePax(contents: Buffer): { path?: string; size?: number } {
  const result: { path?: string; size?: number } = {};
  let offset = 0;
  while (offset < contents.length) {
    const space = contents.indexOf(0x20, offset);
    if (space === -1) break;
    const length = parseInt(contents.subarray(offset, space).toString('latin1'), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = contents.subarray(space + 1, offset + length - 1).toString('utf8');
    offset += length;
    const equals = record.indexOf('=');
    if (equals === -1) continue;
    const key = record.slice(0, equals);
    const value = record.slice(equals + 1);
    if (key === 'path') result.path = value;
    if (key === 'size') result.size = Number(value);
  }
  return result;
}
