/**
 * The export step of a one-line change, on the local engine (Docker 20.10 has no way to export
 * fewer layers than the image's `docker save`): each repetition builds an image whose top layer
 * is new, then measures, for the same image,
 *
 * - the whole save read to its end (what every shipment paid before the layer cache),
 * - the save read with only the new layer needed, to its end (hashing and caching only it),
 * - the same, stopping as soon as the config and the new layer have streamed by (what ships do).
 *
 * Needs the test bed's local engine and base image.
 *
 *   npx tsx bench/remote/export.ts [repetitions=5]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import Dockerode from 'dockerode';
import { LayerCache } from '../../src/shipping/layerCache.js';
import { readSaveArchive } from '../../src/shipping/saveArchive.js';
import { buildTinyImage, removeImage } from '../../test/shipping/tinyImages.js';
import { loadTestbed } from '../../test/support/testbed.js';
import { formatBytes, formatMs, ratio, timed } from '../support.js';

const repetitions = Number(process.argv[2] ?? 5);
const tb = loadTestbed();
const local = new Dockerode({ socketPath: tb.localDocker.socketPath });
const work = await mkdtemp(path.join(tmpdir(), 'ferry-bench-export-'));
const repo = `ferry-bench-export-${process.pid}`;

interface Row {
  full: { ms: number; bytes: number };
  toEnd: { ms: number; bytes: number };
  early: { ms: number; bytes: number };
}

const rows: Row[] = [];
try {
  for (let i = 0; i < repetitions; i += 1) {
    const reference = `${repo}:${i}`;
    const built = await buildTinyImage(local, reference, tb.baseImage, [
      { name: 'stable.txt', contents: 'stable' },
      { name: 'changing.txt', contents: `change ${i} ${randomBytes(4).toString('hex')}` },
    ]);
    const diffIds = built.RootFS.Layers ?? [];
    const top = diffIds.at(-1)!;
    const full = await timed(async () => {
      let bytes = 0;
      for await (const chunk of (await local.getImage(reference).get()) as AsyncIterable<Buffer>) {
        bytes += chunk.length;
      }
      return bytes;
    });
    const read = async (readAll: boolean) => {
      const cache = new LayerCache({ cacheDir: path.join(work, `${i}-${String(readAll)}`) });
      return timed(async () =>
        readSaveArchive((await local.getImage(reference).get()) as Readable, {
          imageId: built.Id,
          diffIds,
          needed: new Set([top]),
          cache,
          readAll,
        }),
      );
    };
    const toEnd = await read(true);
    const early = await read(false);
    rows.push({
      full: { ms: full.ms, bytes: full.result },
      toEnd: { ms: toEnd.ms, bytes: toEnd.result.bytesRead },
      early: { ms: early.ms, bytes: early.result.bytesRead },
    });
    console.log(
      `  #${i + 1}: whole save ${formatMs(full.ms)} (${formatBytes(full.result)}); to the end, new layer cached ${formatMs(toEnd.ms)}; stopping early ${formatMs(early.ms)} (${formatBytes(early.result.bytesRead)} read${early.result.complete ? ', to the end' : ''})`,
    );
    await removeImage(local, reference);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};
const full = median(rows.map((r) => r.full.ms));
const toEnd = median(rows.map((r) => r.toEnd.ms));
const early = median(rows.map((r) => r.early.ms));
const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
console.log(
  `export of a one-line change (median of ${repetitions}; local engine, base ${tb.baseImage})`,
);
console.log(`  whole docker save read:                 ${formatMs(full)}`);
console.log(
  `  read to the end, only the new layer kept: ${formatMs(toEnd)} (${ratio(toEnd, full)} faster)`,
);
console.log(
  `  stop once config and new layer are seen: ${formatMs(early)} (${ratio(early, full)} faster); mean ${formatBytes(mean(rows.map((r) => r.early.bytes)))} read of ${formatBytes(mean(rows.map((r) => r.full.bytes)))}`,
);
