import { gzipSync } from 'node:zlib';
import { Header } from 'tar';

/** One raw tar entry; unlike Ferry's tar writer, nothing here checks the path, type or size. */
export interface RawTarEntry {
  readonly path: string;
  readonly contents?: Buffer;
  /** ustar type flag: '0' file, '2' symlink, '1' hard link, '5' folder. */
  readonly type?: '0' | '1' | '2' | '5';
  readonly linkTarget?: string;
  /** The size the header declares, when it should differ from the contents' (a forged header). */
  readonly declaredSize?: number;
}

const TYPES = { '0': 'File', '1': 'Link', '2': 'SymbolicLink', '5': 'Directory' } as const;

/** An uncompressed tar, header by header (node-tar's Header encodes each block as given). */
export function rawTar(entries: readonly RawTarEntry[], end = true): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const contents = entry.contents ?? Buffer.alloc(0);
    const header = new Header({
      path: entry.path,
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: entry.declaredSize ?? contents.length,
      mtime: new Date(0),
      type: TYPES[entry.type ?? '0'],
      linkpath: entry.linkTarget ?? '',
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block, pad(contents));
  }
  if (end) blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** A gzipped {@link rawTar}, so tests can craft hostile packages. */
export function rawTarGz(entries: readonly RawTarEntry[]): Buffer {
  return gzipSync(rawTar(entries));
}

function pad(contents: Buffer): Buffer {
  const remainder = contents.length % 512;
  return remainder === 0 ? contents : Buffer.concat([contents, Buffer.alloc(512 - remainder)]);
}
