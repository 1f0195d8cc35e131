/**
 * The side-car bytes of a payload: binary values laid end to end, each starting at a multiple of 8 so a
 * Float64Array (or any view) could be mapped over it in place. Gaps are zero, so equal graphs give equal bytes.
 *
 * Each typed array, DataView, Buffer and ArrayBuffer is stored as its own copy of the bytes it shows: two views
 * of one ArrayBuffer come back as two independent arrays (identity of each view object is kept; the sharing
 * of memory between different views is not), and a small Buffer cut from Node's shared pool carries only
 * its own bytes, never its neighbours'.
 */
import {
  BLOB_ALIGNMENT,
  type BinaryViewName,
  type ByteOrder,
  PLATFORM_BYTE_ORDER,
} from './format.js';
import { TYPED_ARRAY_CONSTRUCTORS } from './intrinsics.js';

export function alignOffset(offset: number): number {
  const remainder = offset % BLOB_ALIGNMENT;
  return remainder === 0 ? offset : offset + BLOB_ALIGNMENT - remainder;
}

/** Collects byte ranges and concatenates them once, at the end (one copy per value, no per-element work). */
export class BlobWriter {
  readonly #chunks: Uint8Array[] = [];
  readonly #offsets: number[] = [];
  #size = 0;

  /** Records the bytes and returns the offset they will have in the side-car. */
  append(bytes: Uint8Array): number {
    const offset = alignOffset(this.#size);
    this.#chunks.push(bytes);
    this.#offsets.push(offset);
    this.#size = offset + bytes.byteLength;
    return offset;
  }

  get byteLength(): number {
    return this.#size;
  }

  finish(): Buffer {
    const blobs = Buffer.allocUnsafeSlow(this.#size);
    let written = 0;
    this.#chunks.forEach((chunk, index) => {
      const offset = this.#offsets[index] ?? 0;
      blobs.fill(0, written, offset);
      blobs.set(chunk, offset);
      written = offset + chunk.byteLength;
    });
    return blobs;
  }
}

/** Size in bytes of one element of a view; 1 for byte-addressed views. */
export function elementSize(view: BinaryViewName): number {
  return view === 'Buffer' || view === 'ArrayBuffer' || view === 'DataView'
    ? 1
    : TYPED_ARRAY_CONSTRUCTORS[view].BYTES_PER_ELEMENT;
}

/**
 * Builds a fresh value of the stored view kind from its bytes. The bytes are copied into a new ArrayBuffer,
 * so the result owns its memory like the original did and does not keep the whole side-car alive; when the
 * payload was written on a platform of the other byte order, multi-byte elements are swapped.
 *
 * With `adopt`, the caller hands the side-car over (nothing else reads or writes it afterwards): a value
 * that covers more than half of it is then made a view of the side-car's own memory instead of a copy, so
 * a payload that is one large array loads with one copy of its bytes in memory, not two. Keeping the rest
 * of the side-car alive then costs less than the value itself.
 */
export function materializeBinary(
  blobs: Uint8Array,
  view: BinaryViewName,
  offset: number,
  byteLength: number,
  byteOrder: ByteOrder,
  adopt = false,
): object {
  const size = elementSize(view);
  if (adopt && canAdopt(blobs, view, offset, byteLength, byteOrder, size)) {
    const owned = blobs.buffer as ArrayBuffer;
    switch (view) {
      case 'ArrayBuffer':
        return owned;
      case 'DataView':
        return new DataView(owned, offset, byteLength);
      case 'Buffer':
        return Buffer.from(owned, offset, byteLength);
      default:
        return new TYPED_ARRAY_CONSTRUCTORS[view](owned, offset, byteLength / size);
    }
  }
  const buffer = new ArrayBuffer(byteLength);
  const bytes = Buffer.from(buffer);
  bytes.set(blobs.subarray(offset, offset + byteLength));
  if (byteOrder !== PLATFORM_BYTE_ORDER && size > 1) {
    swapBytes(bytes, size);
  }
  switch (view) {
    case 'ArrayBuffer':
      return buffer;
    case 'DataView':
      return new DataView(buffer);
    case 'Buffer':
      return bytes;
    default:
      return new TYPED_ARRAY_CONSTRUCTORS[view](buffer);
  }
}

/** Whether the value can be a view of the side-car's memory: see {@link materializeBinary}. */
function canAdopt(
  blobs: Uint8Array,
  view: BinaryViewName,
  offset: number,
  byteLength: number,
  byteOrder: ByteOrder,
  size: number,
): boolean {
  const whole =
    blobs.buffer instanceof ArrayBuffer &&
    blobs.byteOffset === 0 &&
    blobs.buffer.byteLength === blobs.byteLength;
  if (!whole || byteLength * 2 <= blobs.byteLength) return false;
  if (byteOrder !== PLATFORM_BYTE_ORDER && size > 1) return false;
  // An ArrayBuffer value is the whole of its memory; a typed array starts at a multiple of its element size.
  if (view === 'ArrayBuffer') return offset === 0 && byteLength === blobs.byteLength;
  return offset % size === 0 && byteLength % size === 0;
}

function swapBytes(bytes: Buffer, size: number): void {
  if (size === 2) {
    bytes.swap16();
  } else if (size === 4) {
    bytes.swap32();
  } else {
    bytes.swap64();
  }
}
