import { Transform, type TransformCallback } from 'node:stream';
import {
  BLOCK_SIZE,
  TarFormatError,
  decodeHeader,
  isEndBlock,
  parsePaxRecords,
} from '../tar/index.js';

/**
 * A streaming filter over a tar archive (ustar, with PAX and GNU long-name extensions): entries are
 * kept byte for byte or dropped whole, decided from their header, without unpacking anything. Small
 * entries can be captured on the way (their bytes still pass through), so a later decision can
 * depend on an earlier entry's contents.
 *
 * Headers are decoded by the tar module (node-tar underneath); only the routing of bytes is done
 * here. Re-reading and re-writing the archive with a tar library would re-encode every header and
 * copy every layer's bytes through an entry stream: on this path (`docker save` into `docker load`)
 * the archive must reach the remote engine as the local one wrote it, and as fast as it comes.
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

const BLOCK = BLOCK_SIZE;

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
        callback(new TarFormatError('tar archive ends in the middle of an entry'));
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
    if (isEndBlock(header)) {
      // End of archive; everything from here passes through.
      if (this.preamble.length > 0) {
        throw new TarFormatError('tar archive ends after an extension header');
      }
      this.ended = true;
      this.push(header);
      return;
    }
    const decoded = decodeHeader(header);
    const type = decoded.typeFlag;
    const size = decoded.size;
    if (type === 'x' || type === 'L' || type === 'K') {
      // Describes the next entry: hold it until that entry is decided.
      this.preamble.push(header);
      this.sink = 'hold';
      this.captured = [];
      this.onDataDone = (contents) => {
        if (type === 'x') {
          const records = parsePaxRecords(contents);
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
      path: this.pendingPath ?? decoded.path,
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
