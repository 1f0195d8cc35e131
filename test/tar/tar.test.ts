/** The tar module: one determinism rule for writing, bounded reading of untrusted archives. */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FIXED_MTIME,
  TarEntryError,
  TarFormatError,
  TarLimitError,
  readTar,
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
