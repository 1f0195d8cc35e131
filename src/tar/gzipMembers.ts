/**
 * Gzip members that store their bytes instead of deflating them, for the parts of an archive
 * deflate would not shrink (a payload's side-car of floats): level-9 deflate of incompressible
 * bytes runs at tens of MB/s to save a few percent, a stored member at memory speed. A `.tar.gz`
 * may be a concatenation of gzip members (RFC 1952 §2.2); gunzip, tar(1), Node's and node-tar's
 * gunzip read it as one stream.
 *
 * The member is written here rather than by zlib at level 0 because zlib's stored blocks follow how
 * its input and output buffers happen to be cut; these are always 65,535 bytes but the last, so the
 * same bytes give the same member however they arrive.
 */
import { Transform } from 'node:stream';
import { crc32, deflateRawSync } from 'node:zlib';

/** The largest stored deflate block (RFC 1951 §3.2.4: LEN is 16 bits). */
const STORED_BLOCK = 0xffff;

/** ID1 ID2, CM=deflate, no flags, MTIME 0 (no time in the archive), XFL 0, OS 3 (Unix, as zlib). */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);

/**
 * A transform from bytes to one gzip member holding them as stored deflate blocks. The blocks'
 * bytes go on as views of the input, never copied (a payload's side-car may be gigabytes).
 */
export function storedGzipMember(): Transform {
  let crc = 0;
  let total = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  return new Transform({
    construct(callback) {
      this.push(GZIP_HEADER);
      callback();
    },
    transform(chunk: Buffer, _encoding, callback) {
      crc = crc32(chunk, crc);
      total += chunk.byteLength;
      let rest = chunk;
      while (pendingBytes + rest.byteLength >= STORED_BLOCK) {
        const take = STORED_BLOCK - pendingBytes;
        this.push(blockHeader(STORED_BLOCK, false));
        for (const part of pending) this.push(part);
        this.push(rest.subarray(0, take));
        rest = rest.subarray(take);
        pending = [];
        pendingBytes = 0;
      }
      if (rest.byteLength > 0) {
        pending.push(rest);
        pendingBytes += rest.byteLength;
      }
      callback();
    },
    flush(callback) {
      this.push(blockHeader(pendingBytes, true));
      for (const part of pending) this.push(part);
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(crc >>> 0, 0);
      // ISIZE is the length modulo 2^32 (RFC 1952).
      trailer.writeUInt32LE(total % 2 ** 32, 4);
      callback(null, trailer);
    },
  });
}

/** A stored block's header: BFINAL, BTYPE 00 (and the byte's padding bits), LEN, NLEN. */
function blockHeader(length: number, final: boolean): Buffer {
  const header = Buffer.allocUnsafe(5);
  header[0] = final ? 1 : 0;
  header.writeUInt16LE(length, 1);
  header.writeUInt16LE(~length & 0xffff, 3);
  return header;
}

/** Bytes sampled at each probe point, and how many points. */
const PROBE_BYTES = 64 * 1024;
const PROBE_POINTS = 4;
/** Deflate must save at least this share of the samples for compressing the whole to pay. */
const WORTHWHILE_SAVING = 0.1;

/**
 * Whether deflate would save less than a tenth of these bytes, judged from a few samples at fixed
 * places (so the same bytes always get the same answer) deflated at level 1: a few milliseconds for
 * any size.
 */
export function isIncompressible(bytes: Uint8Array): boolean {
  if (bytes.byteLength === 0) return false;
  let sampled = 0;
  let compressed = 0;
  const points = bytes.byteLength <= PROBE_BYTES * PROBE_POINTS ? 1 : PROBE_POINTS;
  for (let point = 0; point < points; point += 1) {
    const start =
      points === 1
        ? 0
        : Math.floor(((bytes.byteLength - PROBE_BYTES) * point) / (PROBE_POINTS - 1));
    const sample = bytes.subarray(start, start + (points === 1 ? bytes.byteLength : PROBE_BYTES));
    sampled += sample.byteLength;
    compressed += deflateRawSync(sample, { level: 1 }).byteLength;
  }
  return compressed > sampled * (1 - WORTHWHILE_SAVING);
}
