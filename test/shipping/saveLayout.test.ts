/**
 * Reading save archives as untrusted input: OCI layouts and legacy ones whose digests, sizes,
 * paths, media types or nesting lie are refused with a message naming what is wrong, before any
 * byte is sent. Archives are built here by hand (pure; no engine).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SaveArchiveError } from '../../src/shipping/errors.js';
import { LayerCache } from '../../src/shipping/layerCache.js';
import { readSaveArchive } from '../../src/shipping/saveArchive.js';
import {
  resolveSavedImage,
  type ArchiveEntry,
  type WantedImage,
} from '../../src/shipping/saveLayout.js';
import { rawTar, type RawTarEntry } from '../support/rawTar.js';

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

const layerTar = rawTar([{ path: 'data/x.txt', contents: Buffer.from('x') }]);
const diffId = `sha256:${sha(layerTar)}`;
const config = json({
  architecture: 'amd64',
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: [diffId] },
});
const configDigest = `sha256:${sha(config)}`;
const wanted: WantedImage = {
  imageId: configDigest,
  platform: { os: 'linux', architecture: 'amd64' },
};

function entry(bytes: Buffer, gzip = false, uncompressed = bytes): ArchiveEntry {
  return {
    size: bytes.length,
    sha256: sha(bytes),
    diffId: `sha256:${sha(uncompressed)}`,
    gzip,
    bytes,
  };
}

interface Layout {
  manifest?: Record<string, unknown>;
  index?: Record<string, unknown>;
  layer?: Buffer;
  gzip?: boolean;
}

/** A well-formed OCI layout as entries, with parts replaced to make it lie. */
function ociEntries(changes: Layout = {}): Map<string, ArchiveEntry> {
  const gzip = changes.gzip ?? false;
  const layer = changes.layer ?? (gzip ? gzipSync(layerTar) : layerTar);
  const manifest = json(
    changes.manifest ?? {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: configDigest,
        size: config.length,
      },
      layers: [
        {
          mediaType: `application/vnd.oci.image.layer.v1.tar${gzip ? '+gzip' : ''}`,
          digest: `sha256:${sha(layer)}`,
          size: layer.length,
        },
      ],
    },
  );
  const index = changes.index ?? {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: `sha256:${sha(manifest)}`,
        size: manifest.length,
      },
    ],
  };
  return new Map([
    ['oci-layout', entry(json({ imageLayoutVersion: '1.0.0' }))],
    ['index.json', entry(json(index))],
    [`blobs/sha256/${sha(manifest)}`, entry(manifest)],
    [`blobs/sha256/${sha(config)}`, entry(config)],
    [`blobs/sha256/${sha(layer)}`, entry(layer, gzip, gzip ? layerTar : layer)],
  ]);
}

const refusal = (entries: Map<string, ArchiveEntry>, message: RegExp): void => {
  const error = (() => {
    try {
      resolveSavedImage(entries, wanted);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  expect(error).toBeInstanceOf(SaveArchiveError);
  expect((error as Error).message).toMatch(message);
};

describe('resolveSavedImage', () => {
  it('reads an OCI layout, uncompressed and gzip', () => {
    for (const gzip of [false, true]) {
      const image = resolveSavedImage(ociEntries({ gzip }), wanted);
      expect(image.layout).toBe('oci');
      expect(image.configDigest).toBe(configDigest);
      expect(image.diffIds).toEqual([diffId]);
    }
  });

  it('refuses a blob whose bytes do not hash to its name', () => {
    const entries = ociEntries();
    const layerPath = [...entries.keys()].find((k) => k.endsWith(sha(layerTar)))!;
    entries.set(layerPath, { ...entries.get(layerPath)!, sha256: 'f'.repeat(64) });
    refusal(entries, /hashes to sha256:f{64}, not its name/);
  });

  it('refuses a descriptor whose size differs from its blob', () => {
    const entries = ociEntries();
    const layerPath = [...entries.keys()].find((k) => k.endsWith(sha(layerTar)))!;
    entries.set(layerPath, { ...entries.get(layerPath)!, size: 1 });
    refusal(entries, /has 1 bytes, its descriptor says/);
  });

  it('refuses digests that are not sha256 hex, paths among them', () => {
    for (const digest of ['sha512:' + 'a'.repeat(128), 'sha256:../../../etc/passwd', 'sha256:AB']) {
      refusal(
        ociEntries({
          index: {
            schemaVersion: 2,
            manifests: [
              { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 2 },
            ],
          },
        }),
        /is not a sha256 digest/,
      );
    }
  });

  it('refuses a layer whose contents are not the diff id the config names', () => {
    const other = rawTar([{ path: 'data/y.txt', contents: Buffer.from('y') }]);
    const entries = ociEntries({ layer: other });
    refusal(entries, /holds layer sha256:[0-9a-f]{64}, the config says/);
  });

  it('refuses a gzip media type on plain bytes, and media types it does not read', () => {
    const plain = ociEntries();
    const manifestPath = [...plain.keys()].find(
      (k) => k.startsWith('blobs/') && plain.get(k)!.bytes!.includes('"layers"'),
    )!;
    const manifest = JSON.parse(plain.get(manifestPath)!.bytes!.toString()) as {
      layers: { mediaType: string }[];
    };
    for (const [mediaType, message] of [
      ['application/vnd.oci.image.layer.v1.tar+gzip', /the blob is not gzip/],
      ['application/vnd.oci.image.layer.v1.tar+zstd', /not one Ferry reads/],
    ] as const) {
      manifest.layers[0]!.mediaType = mediaType;
      refusal(ociEntries({ manifest: manifest as unknown as Record<string, unknown> }), message);
    }
  });

  it('picks the manifest for the image platform from an index, and says when there is none', () => {
    const base = ociEntries();
    const manifestPath = [...base.keys()].find((k) =>
      base.get(k)!.bytes?.toString().includes('"layers"'),
    )!;
    const manifestEntry = base.get(manifestPath)!;
    const indexFor = (platforms: { os: string; architecture: string }[]) => {
      const index = json({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: platforms.map((platform) => ({
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${manifestEntry.sha256}`,
          size: manifestEntry.size,
          platform,
        })),
      });
      const entries = new Map(base);
      entries.set(`blobs/sha256/${sha(index)}`, entry(index));
      entries.set(
        'index.json',
        entry(
          json({
            schemaVersion: 2,
            manifests: [
              {
                mediaType: 'application/vnd.oci.image.index.v1+json',
                digest: `sha256:${sha(index)}`,
                size: index.length,
              },
            ],
          }),
        ),
      );
      return entries;
    };
    expect(
      resolveSavedImage(
        indexFor([
          { os: 'linux', architecture: 'arm64' },
          { os: 'linux', architecture: 'amd64' },
        ]),
        wanted,
      ).diffIds,
    ).toEqual([diffId]);
    refusal(indexFor([{ os: 'linux', architecture: 'arm64' }]), /no manifest for linux\/amd64/);
  });

  it('refuses indexes nested deeper than the bound', () => {
    let child = ociEntries();
    let digest = '';
    let size = 0;
    const manifestPath = [...child.keys()].find((k) =>
      child.get(k)!.bytes?.toString().includes('"layers"'),
    )!;
    digest = `sha256:${child.get(manifestPath)!.sha256}`;
    size = child.get(manifestPath)!.size;
    let mediaType = 'application/vnd.oci.image.manifest.v1+json';
    for (let depth = 0; depth < 8; depth += 1) {
      const index = json({
        schemaVersion: 2,
        manifests: [{ mediaType, digest, size, platform: { os: 'linux', architecture: 'amd64' } }],
      });
      child = new Map(child);
      child.set(`blobs/sha256/${sha(index)}`, entry(index));
      digest = `sha256:${sha(index)}`;
      size = index.length;
      mediaType = 'application/vnd.oci.image.index.v1+json';
    }
    child.set(
      'index.json',
      entry(json({ schemaVersion: 2, manifests: [{ mediaType, digest, size }] })),
    );
    refusal(child, /indexes nest deeper than 4/);
  });

  it('refuses a legacy manifest whose paths are not entries of the archive', () => {
    const entries = new Map<string, ArchiveEntry>([
      [
        'manifest.json',
        entry(json([{ Config: '../../etc/passwd', RepoTags: null, Layers: ['x/layer.tar'] }])),
      ],
      [`${sha(config)}.json`, entry(config)],
    ]);
    refusal(entries, /names "\.\.\/\.\.\/etc\/passwd", not in the archive/);
  });

  it('refuses a legacy config that is not the image asked for', () => {
    const entries = new Map<string, ArchiveEntry>([
      [
        'manifest.json',
        entry(json([{ Config: `${sha(config)}.json`, RepoTags: null, Layers: ['a/layer.tar'] }])),
      ],
      [`${sha(config)}.json`, entry(config)],
      ['a/layer.tar', entry(layerTar)],
    ]);
    expect(resolveSavedImage(entries, wanted).diffIds).toEqual([diffId]);
    expect(() =>
      resolveSavedImage(entries, { ...wanted, imageId: `sha256:${'e'.repeat(64)}` }),
    ).toThrow(/not image sha256:e{64}/);
  });
});

describe('readSaveArchive on hostile tars', () => {
  let cacheDir: string;
  beforeAll(async () => {
    cacheDir = await mkdtemp(path.join(tmpdir(), 'ferry-save-test-'));
  });
  afterAll(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  const read = (entries: RawTarEntry[]) =>
    readSaveArchive(Readable.from([rawTar(entries)]), {
      imageId: configDigest,
      diffIds: [diffId],
      needed: new Set([diffId]),
      cache: new LayerCache({ cacheDir }),
    });

  it('refuses entries with unsafe paths', async () => {
    for (const bad of ['../escape', '/etc/passwd', 'blobs/../../x', 'a\\b']) {
      await expect(read([{ path: bad, contents: Buffer.from('x') }])).rejects.toThrow(
        /unsafe path/,
      );
    }
  });

  it('refuses an entry given twice, and an oversized document', async () => {
    await expect(
      read([
        { path: 'index.json', contents: Buffer.from('{}') },
        { path: 'index.json', contents: Buffer.from('{}') },
      ]),
    ).rejects.toThrow(/holds index.json twice/);
    await expect(
      read([{ path: 'index.json', contents: Buffer.alloc(5 * 1024 * 1024, 0x20) }]),
    ).rejects.toThrow(/more than a document may/);
  });

  it('refuses a blob that claims gzip and is not', async () => {
    const fake = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08]), Buffer.alloc(100, 7)]);
    await expect(read([{ path: `blobs/sha256/${sha(fake)}`, contents: fake }])).rejects.toThrow(
      SaveArchiveError,
    );
  });

  it('reads a legacy archive, caching the needed layer by its diff id', async () => {
    const result = await read([
      { path: `${sha(config)}.json`, contents: config },
      { path: `${'a'.repeat(64)}/layer.tar`, contents: layerTar },
      {
        path: 'manifest.json',
        contents: json([
          {
            Config: `${sha(config)}.json`,
            RepoTags: ['a:b'],
            Layers: [`${'a'.repeat(64)}/layer.tar`],
          },
        ]),
      },
    ]);
    expect(result.cached).toEqual(new Set([diffId]));
    expect(result.config?.equals(config)).toBe(true);
    // Everything needed was seen before manifest.json: the read stopped there.
    expect(result.complete).toBe(false);
  });
});
