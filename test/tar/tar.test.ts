/** The tar module: one determinism rule for writing, bounded reading of untrusted archives. */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { readFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FIXED_MTIME,
  TarEntryError,
  TarFormatError,
  TarLimitError,
  isIncompressible,
  readTar,
  storedGzipMember,
  tarBufferOf,
  writeTarGz,
  type TarEntry,
  type TarEntryInfo,
} from '../../src/tar/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-tar-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const file = (p: string, text: string): TarEntry => ({
  type: 'file',
  path: p,
  source: { bytes: Buffer.from(text) },
});

async function list(
  archive: Buffer,
  limits = { maxEntries: 1000, maxBytes: 1 << 30 },
  gzip = false,
): Promise<(TarEntryInfo & { body: string })[]> {
  const seen: (TarEntryInfo & { body: string })[] = [];
  await readTar(
    Readable.from([archive]),
    { gzip, name: 'test.tar', limits: () => limits },
    async (entry, body) => {
      const chunks: Buffer[] = [];
      for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
      seen.push({ ...entry, body: Buffer.concat(chunks).toString() });
    },
  );
  return seen;
}

describe('writing', () => {
  it('gives the same bytes for the same entries in any order, the leading entry first', async () => {
    const entries = [file('b.txt', 'b'), file('a/z.txt', 'z'), file('manifest.json', '{}')];
    const one = await tarBufferOf(entries, { leading: 'manifest.json' });
    const two = await tarBufferOf([...entries].reverse(), { leading: 'manifest.json' });
    expect(one.equals(two)).toBe(true);
    expect((await list(one)).map((e) => e.path)).toEqual(['manifest.json', 'a/z.txt', 'b.txt']);
    // The header's mtime field (octal, offset 136) is the fixed time.
    expect(parseInt(one.subarray(136, 147).toString(), 8)).toBe(FIXED_MTIME);
  });

  it('refuses unsafe paths and leaves no partial file behind', async () => {
    const target = path.join(dir, 'out', 'x.tar.gz');
    await expect(writeTarGz(target, [file('../up.txt', 'x')])).rejects.toBeInstanceOf(
      TarEntryError,
    );
    expect(await readdir(path.dirname(target))).toEqual([]);
  });
});

/** Bytes deflate cannot shrink, the same every run (a xorshift generator). */
function noise(size: number, seed = 1): Buffer {
  const bytes = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i += 1) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

describe('stored gzip members', () => {
  it('give the same member however the bytes are cut, and gunzip gives the bytes back', async () => {
    const bytes = noise(200_000);
    const member = async (cuts: number[]): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      let at = 0;
      for (const cut of [...cuts, bytes.byteLength]) {
        chunks.push(bytes.subarray(at, cut));
        at = cut;
      }
      const out: Buffer[] = [];
      for await (const part of Readable.from(chunks).pipe(storedGzipMember()))
        out.push(part as Buffer);
      return Buffer.concat(out);
    };
    const whole = await member([]);
    expect((await member([1, 65_535, 65_536, 131_070, 199_999])).equals(whole)).toBe(true);
    expect(gunzipSync(whole).equals(bytes)).toBe(true);
    expect(gunzipSync(await member([0])).equals(bytes)).toBe(true);
    const empty: Buffer[] = [];
    for await (const part of Readable.from([]).pipe(storedGzipMember())) empty.push(part as Buffer);
    expect(gunzipSync(Buffer.concat(empty)).byteLength).toBe(0);
  });

  it('tells incompressible bytes from compressible ones', () => {
    expect(isIncompressible(noise(1 << 20))).toBe(true);
    expect(isIncompressible(Buffer.alloc(1 << 20, 'abc'))).toBe(false);
    expect(isIncompressible(Buffer.from(new Float64Array(1 << 17).fill(0.5).buffer))).toBe(false);
  });

  it('writes the stored entries of a .tar.gz as their own members, read back by every reader', async () => {
    const big = noise(300_000, 7);
    const entries: TarEntry[] = [
      file('manifest.json', '{}'),
      file('a.js', 'export const a = 1;\n'.repeat(100)),
      { type: 'file', path: 'b.bin', source: { bytes: big } },
      file('c.json', '{"c": 3}'),
    ];
    const plain = path.join(dir, 'plain.tar.gz');
    const stored = path.join(dir, 'stored.tar.gz');
    const again = path.join(dir, 'again.tar.gz');
    const store = (entry: { path: string }) => entry.path === 'b.bin';
    await writeTarGz(plain, entries, { leading: 'manifest.json' });
    await writeTarGz(stored, entries, { leading: 'manifest.json', store });
    await writeTarGz(again, [...entries].reverse(), { leading: 'manifest.json', store });
    const [plainBytes, storedBytes] = [await readFile(plain), await readFile(stored)];
    expect((await readFile(again)).equals(storedBytes)).toBe(true);
    // The same tar inside, in three members instead of one.
    expect(gunzipSync(storedBytes).equals(gunzipSync(plainBytes))).toBe(true);
    expect(storedBytes.byteLength).toBeGreaterThan(big.byteLength);
    const read = await list(storedBytes, undefined, true);
    expect(read.map((e) => e.path)).toEqual(['manifest.json', 'a.js', 'b.bin', 'c.json']);
    expect(read[3]?.body).toBe('{"c": 3}');
    const listed: string[] = [];
    await tar.t({ file: stored, onReadEntry: (entry) => listed.push(entry.path) });
    expect(listed).toEqual(['manifest.json', 'a.js', 'b.bin', 'c.json']);
  });
});

describe('reading', () => {
  it('refuses garbage as a TarFormatError, and entries past the bound as a TarLimitError', async () => {
    await expect(list(Buffer.from('not gzip'), undefined, true)).rejects.toBeInstanceOf(
      TarFormatError,
    );
    const archive = await tarBufferOf([file('a', '1'), file('b', '2'), file('c', '3')]);
    await expect(list(archive, { maxEntries: 2, maxBytes: 1 << 20 })).rejects.toThrow(
      /holds more than 2 entries/,
    );
    await expect(list(archive, { maxEntries: 2, maxBytes: 1 << 20 })).rejects.toBeInstanceOf(
      TarLimitError,
    );
    await expect(list(gzipSync(archive), { maxEntries: 10, maxBytes: 1024 }, true)).rejects.toThrow(
      /unpacks to more than 1024 bytes/,
    );
    expect((await list(gzipSync(archive), undefined, true)).map((e) => e.body)).toEqual([
      '1',
      '2',
      '3',
    ]);
  });

  it('streams a file source and fails when the file changed size', async () => {
    const source = path.join(dir, 'source.txt');
    await writeFile(source, 'hello');
    const archive = await tarBufferOf([
      { type: 'file', path: 's.txt', source: { file: source, size: 5 } },
    ]);
    expect((await list(archive))[0]?.body).toBe('hello');
    await expect(
      tarBufferOf([{ type: 'file', path: 's.txt', source: { file: source, size: 4 } }]),
    ).rejects.toThrow(/changed while it was being sent/);
  });
});
