/** The streaming tar filter: pure logic, checked against archives written by the `tar` package. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { TarFilter, type TarEntryHeader } from '../../src/shipping/tarFilter.js';
import { TarFormatError, parsePaxRecords } from '../../src/tar/index.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-tarfilter-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LONG = `${'deep/'.repeat(60)}file-with-a-long-name.bin`;

async function makeArchive(): Promise<{ archive: Buffer; files: Map<string, Buffer> }> {
  const root = path.join(dir, 'src');
  const files = new Map<string, Buffer>([
    ['a/layer.tar', randomBytes(70_000)],
    ['a/json', Buffer.from('{"id":"a"}')],
    ['b/layer.tar', randomBytes(1_000)],
    ['b/json', Buffer.from('{"id":"b"}')],
    ['empty', Buffer.alloc(0)],
    [LONG, randomBytes(513)],
    ['manifest.json', Buffer.from('[]')],
  ]);
  for (const [name, contents] of files) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), contents);
  }
  const chunks: Buffer[] = [];
  const stream = tar.create({ cwd: root, portable: true }, [
    ...files.keys(),
  ]) as unknown as Readable;
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return { archive: Buffer.concat(chunks), files };
}

/** Runs the archive through the filter in small, odd-sized chunks. */
async function filter(
  archive: Buffer,
  options: ConstructorParameters<typeof TarFilter>[0],
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < archive.length; i += 777) chunks.push(archive.subarray(i, i + 777));
  const out: Buffer[] = [];
  for await (const chunk of Readable.from(chunks).pipe(new TarFilter(options)))
    out.push(chunk as Buffer);
  return Buffer.concat(out);
}

async function listing(archive: Buffer): Promise<Map<string, Buffer>> {
  const file = path.join(dir, `out-${Math.random()}.tar`);
  writeFileSync(file, archive);
  const target = mkdtempSync(path.join(dir, 'x-'));
  const names: string[] = [];
  await tar.x({ file, cwd: target, onentry: (entry) => names.push(entry.path) });
  return new Map(
    names.filter((n) => !n.endsWith('/')).map((n) => [n, readFileSync(path.join(target, n))]),
  );
}

describe('TarFilter', () => {
  it('passes everything through unchanged when keeping all', async () => {
    const { archive } = await makeArchive();
    const out = await filter(archive, { keep: () => true });
    expect(out.equals(archive)).toBe(true);
  });

  it('drops whole entries (with PAX long-name headers) and keeps the rest byte for byte', async () => {
    const { archive, files } = await makeArchive();
    const seen: TarEntryHeader[] = [];
    const out = await filter(archive, {
      keep: (entry) => entry.path !== 'a/layer.tar' && entry.path !== LONG,
      onEntry: (entry) => seen.push(entry),
    });
    expect(seen.map((e) => e.path)).toContain(LONG);
    expect(seen.find((e) => e.path === 'a/layer.tar')?.size).toBe(70_000);
    const kept = await listing(out);
    expect([...kept.keys()].sort()).toEqual([
      'a/json',
      'b/json',
      'b/layer.tar',
      'empty',
      'manifest.json',
    ]);
    for (const [name, contents] of kept) expect(contents.equals(files.get(name)!)).toBe(true);
    expect(out.length).toBeLessThan(archive.length - 70_000);
  });

  it('keeps a long-named entry with its extension header', async () => {
    const { archive, files } = await makeArchive();
    // Longer than ustar's name and prefix fields: the tar package writes a PAX header for it.
    const headers = Array.from({ length: archive.length / 512 }, (_, i) =>
      archive.subarray(i * 512, i * 512 + 512),
    );
    expect(
      headers.some(
        (h) => h[156] === 'x'.charCodeAt(0) && h.subarray(257, 262).toString() === 'ustar',
      ),
    ).toBe(true);
    const out = await filter(archive, { keep: (entry) => entry.path !== 'a/layer.tar' });
    const kept = await listing(out);
    expect(kept.get(LONG)?.equals(files.get(LONG)!)).toBe(true);
  });

  it('captures small entries before later decisions', async () => {
    const { archive } = await makeArchive();
    const captured = new Map<string, string>();
    await filter(archive, {
      capture: (entry) => entry.path.endsWith('/json'),
      onCaptured: (entry, contents) => captured.set(entry.path, contents.toString()),
      keep: (entry) =>
        !entry.path.endsWith('layer.tar') ||
        captured.get(entry.path.replace('layer.tar', 'json')) !== '{"id":"a"}',
    });
    expect(captured).toEqual(
      new Map([
        ['a/json', '{"id":"a"}'],
        ['b/json', '{"id":"b"}'],
      ]),
    );
  });

  it('refuses a corrupt header and a truncated archive', async () => {
    const { archive } = await makeArchive();
    const corrupt = Buffer.from(archive);
    corrupt[0] = (corrupt[0]! + 1) % 256;
    await expect(filter(corrupt, { keep: () => true })).rejects.toThrow(/checksum/);
    await expect(filter(corrupt, { keep: () => true })).rejects.toBeInstanceOf(TarFormatError);
    await expect(filter(archive.subarray(0, 5_000), { keep: () => true })).rejects.toThrow(
      /middle of an entry/,
    );
  });

  it('parses PAX records', () => {
    const record = (key: string, value: string): string => {
      const body = ` ${key}=${value}\n`;
      let length = body.length + 2;
      if (String(length).length + body.length !== length)
        length = String(length + 1).length + body.length;
      return `${length}${body}`;
    };
    const contents = Buffer.from(
      record('path', 'x/y/z') + record('size', '12345') + record('mtime', '1.5'),
    );
    expect(parsePaxRecords(contents)).toEqual({ path: 'x/y/z', size: 12345 });
  });
});
