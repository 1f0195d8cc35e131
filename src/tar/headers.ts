import { Header, Pax } from 'tar';
import { TarFormatError } from './errors.js';

/**
 * Decoding single tar header blocks, for code that routes an archive's bytes itself instead of
 * reading it entry by entry (the image shipping filter): node-tar's Header and Pax do the decoding
 * (ustar prefix, base-256 sizes, checksums, PAX records).
 */

export const BLOCK_SIZE = 512;

export interface DecodedHeader {
  /** The path in the header block itself (ustar prefix applied; PAX and GNU long names are not). */
  readonly path: string;
  readonly size: number;
  /** The ustar type flag: `'0'` file, `'5'` folder, `'2'` symlink, `'x'` PAX, `'L'` GNU long name, … */
  readonly typeFlag: string;
}

/** Whether a block is all zeros: the end-of-archive marker. */
export function isEndBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK_SIZE; i += 1) if (block[i] !== 0) return false;
  return true;
}

/** Decodes one 512-byte header block; a bad checksum is a {@link TarFormatError}. */
export function decodeHeader(block: Buffer): DecodedHeader {
  const header = new Header(block);
  if (!header.cksumValid) {
    throw new TarFormatError(
      `not a tar archive: a header's checksum does not match (${header.cksum ?? 'none'})`,
    );
  }
  const flag = block[156] ?? 0;
  return {
    path: header.path ?? '',
    size: header.size ?? 0,
    typeFlag: flag === 0 ? '0' : String.fromCharCode(flag),
  };
}

/** The `path` and `size` records of a PAX extended header's contents. */
export function parsePaxRecords(contents: Buffer): { path?: string; size?: number } {
  const pax = Pax.parse(contents.toString('utf8'));
  const result: { path?: string; size?: number } = {};
  if (pax.path !== undefined) result.path = pax.path;
  if (pax.size !== undefined) result.size = Number(pax.size);
  return result;
}
