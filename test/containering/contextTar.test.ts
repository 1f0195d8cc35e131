import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FIXED_MTIME,
  contextDigest,
  contextTarBuffer,
  fileFromBytes,
  normalizeEntries,
  sha256,
  type ContextEntry,
} from '../../src/containering/contextTar.js';
import { BuildContextError } from '../../src/containering/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-tar-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function listTar(buffer: Buffer) {
  const seen: {
    path: string;
    type: string;
    mode: number;
    mtime: number;
    uid: number;
    size: number;
    linkpath?: string;
    body: string;
  }[] = [];
  const parser = new tar.Parser({
    onReadEntry: (entry) => {
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () =>
        seen.push({
          path: entry.path,
          type: entry.type,
          mode: entry.mode ?? -1,
          mtime: Math.round((entry.mtime?.getTime() ?? 0) / 1000),
          uid: entry.uid ?? -1,
          size: entry.size ?? -1,
          ...(entry.linkpath ? { linkpath: entry.linkpath } : {}),
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    },
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('error', reject);
    Readable.from([buffer]).pipe(parser);
  });
  return seen;
}

describe('build context tar', () => {
  it('sorts entries, adds parent folders and fixes metadata', async () => {
    const file = path.join(dir, 'on-disk.txt');
    await writeFile(file, 'from disk\n', { mode: 0o600 });
    const longName = `deep/${'x'.repeat(120)}/file.js`;
    const entries = normalizeEntries([
      fileFromBytes('b/run.sh', '#!/bin/sh\n', true),
      fileFromBytes('a.txt', 'hello'),
      {
        type: 'file',
        path: 'b/disk.txt',
        size: 10,
        sha256: sha256('from disk\n'),
        source: { file },
      },
      { type: 'symlink', path: 'b/link', target: 'run.sh' },
      fileFromBytes(longName, 'long'),
    ]);
    expect(entries.map((e) => e.path)).toEqual([
      'a.txt',
      'b',
      'b/disk.txt',
      'b/link',
      'b/run.sh',
      'deep',
      `deep/${'x'.repeat(120)}`,
      longName,
    ]);
    const listed = await listTar(await contextTarBuffer(entries));
    expect(listed.map((e) => e.path)).toEqual([
      'a.txt',
      'b/',
      'b/disk.txt',
      'b/link',
      'b/run.sh',
      'deep/',
      `deep/${'x'.repeat(120)}/`,
      longName,
    ]);
    for (const e of listed) {
      expect(e.mtime).toBe(FIXED_MTIME);
      expect(e.uid).toBe(0);
    }
    const byPath = Object.fromEntries(listed.map((e) => [e.path, e]));
    expect(byPath['a.txt']).toMatchObject({ mode: 0o644, body: 'hello', type: 'File' });
    expect(byPath['b/disk.txt']).toMatchObject({ mode: 0o644, body: 'from disk\n' });
    expect(byPath['b/run.sh']).toMatchObject({ mode: 0o755 });
    expect(byPath['b/link']).toMatchObject({ type: 'SymbolicLink', linkpath: 'run.sh' });
    expect(byPath[longName]).toMatchObject({ body: 'long' });
  });

  it('gives the same bytes and digest for the same input in any order', async () => {
    const make = (order: ContextEntry[]) => normalizeEntries(order);
    const x = fileFromBytes('x/1.js', 'one');
    const y = fileFromBytes('y.js', 'two');
    const first = make([x, y]);
    const second = make([y, x]);
    expect(await contextTarBuffer(first)).toEqual(await contextTarBuffer(second));
    expect(contextDigest(first)).toBe(contextDigest(second));
    const changed = make([x, fileFromBytes('y.js', 'two!')]);
    expect(contextDigest(changed)).not.toBe(contextDigest(first));
    const executable = make([x, fileFromBytes('y.js', 'two', true)]);
    expect(contextDigest(executable)).not.toBe(contextDigest(first));
  });

  it('refuses unsafe and duplicate paths', () => {
    for (const bad of ['/abs', '../up', 'a/../b', 'a//b', '']) {
      expect(() => normalizeEntries([fileFromBytes(bad, 'x')])).toThrow(BuildContextError);
    }
    expect(() => normalizeEntries([fileFromBytes('a', '1'), fileFromBytes('a', '2')])).toThrow(
      /given twice/,
    );
    expect(() => normalizeEntries([fileFromBytes('a', '1'), fileFromBytes('a/b', '2')])).toThrow(
      /both a file and a folder/,
    );
  });

  it('fails when a file changed size while it was sent', async () => {
    const file = path.join(dir, 'changing.txt');
    await writeFile(file, 'now longer than declared');
    const entries = normalizeEntries([
      { type: 'file', path: 'c.txt', size: 3, sha256: 'x', source: { file } },
    ]);
    await expect(contextTarBuffer(entries)).rejects.toThrow(/changed while it was being sent/);
  });
});
