import { gzipSync } from 'node:zlib';

/** One raw tar entry; unlike a tar library, nothing here sanitizes the path or type. */
export interface RawTarEntry {
  readonly path: string;
  readonly contents?: Buffer;
  /** ustar type flag: '0' file, '2' symlink, '1' hard link, '5' folder. */
  readonly type?: '0' | '1' | '2' | '5';
  readonly linkTarget?: string;
}

/** Builds a gzipped ustar archive byte by byte, so tests can craft hostile packages. */
export function rawTarGz(entries: readonly RawTarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const contents = entry.contents ?? Buffer.alloc(0);
    blocks.push(header(entry, contents.length), pad(contents));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

function header(entry: RawTarEntry, size: number): Buffer {
  const block = Buffer.alloc(512);
  block.write(entry.path, 0, 100, 'utf8');
  block.write('0000644\0', 100);
  block.write('0000000\0', 108);
  block.write('0000000\0', 116);
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  block.write('00000000000\0', 136);
  block.write('        ', 148);
  block.write(entry.type ?? '0', 156);
  block.write(entry.linkTarget ?? '', 157, 100, 'utf8');
  block.write('ustar\0', 257);
  block.write('00', 263);
  let checksum = 0;
  for (const byte of block) checksum += byte;
  block.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148);
  return block;
}

function pad(contents: Buffer): Buffer {
  const remainder = contents.length % 512;
  return remainder === 0 ? contents : Buffer.concat([contents, Buffer.alloc(512 - remainder)]);
}
