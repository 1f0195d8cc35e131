/**
 * Forged, damaged and hostile packages: each is refused with a typed error before anything it holds
 * is extracted or imported, and nothing is left behind. Packages are crafted byte by byte
 * (test/support/rawTar.ts), with the manifest's hashes and UID recomputed where a forger would.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGzip, gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClassRegistryError,
  PackageIntegrityError,
  PackageManifestError,
  PackagingTask,
  installPackage,
  installPackageAndGetLoader,
  makePackage,
  type PackageInfo,
} from '../../src/packaging/index.js';
import { contentHash, makeUid } from '../../src/packaging/manifest.js';
import { PipelineJob } from '../fixtures/pipeline-job/pipelineJob.js';
import { ScaleStep } from '../fixtures/pipeline-job/steps/scale.js';
import { rawTar, rawTarGz, type RawTarEntry } from '../support/rawTar.js';

const fixtureRoot = fileURLToPath(new URL('../fixtures/pipeline-job', import.meta.url));
const MANIFEST = 'ferry-manifest.json';

let work: string;
let genuine: PackageInfo;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ferry-hostile-'));
  genuine = await makePackage(
    new PackagingTask({
      name: 'pipeline',
      version: '1.0.0',
      payload: {
        job: new PipelineJob('>=20', [new ScaleStep('double', 2)], new Float64Array([1])),
      },
      sourceRoot: fixtureRoot,
    }),
    { outputDir: path.join(work, 'genuine') },
  );
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

type Manifest = Record<string, unknown> & {
  modules: Record<string, unknown>;
  exports: Record<string, unknown>;
  files: Record<string, unknown>;
  sizes: Record<string, unknown>;
};

/** The genuine package's entries, in order. */
async function entriesOf(packagePath: string): Promise<Map<string, Buffer>> {
  const entries = new Map<string, Buffer>();
  await tar.t({
    file: packagePath,
    onReadEntry: (entry) => {
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => entries.set(entry.path, Buffer.concat(chunks)));
    },
  });
  return entries;
}

/**
 * A forged copy of the genuine package: `edit` changes the manifest and files; then, as a forger
 * would, every file's hash and size and the UID are recomputed (unless told not to).
 */
async function forge(
  edit: (manifest: Manifest, files: Map<string, Buffer>) => void,
  options: { rehash?: boolean; fixUid?: boolean; manifestText?: string } = {},
): Promise<string> {
  const files = await entriesOf(genuine.path);
  const manifest = JSON.parse(files.get(MANIFEST)!.toString('utf8')) as Manifest;
  files.delete(MANIFEST);
  edit(manifest, files);
  if (options.rehash !== false) {
    manifest.files = Object.fromEntries(
      [...files].map(([file, bytes]) => [file, createHash('sha256').update(bytes).digest('hex')]),
    );
    manifest.sizes = Object.fromEntries([...files].map(([file, bytes]) => [file, bytes.length]));
  }
  if (options.fixUid !== false) {
    const { uid: _uid, ...content } = manifest;
    manifest.uid = makeUid(
      String(manifest.name),
      String(manifest.version),
      contentHash(content as unknown as Parameters<typeof contentHash>[0]),
    );
  }
  const text = options.manifestText ?? JSON.stringify(manifest);
  return write([
    { path: MANIFEST, contents: Buffer.from(text) },
    ...[...files].map(([file, contents]) => ({ path: file, contents })),
  ]);
}

let written = 0;
async function write(entries: readonly RawTarEntry[]): Promise<string> {
  written += 1;
  const target = path.join(work, `forged-${written}.tar.gz`);
  await writeFile(target, rawTarGz(entries));
  return target;
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

/** Installs into a fresh root and expects a refusal; the root must be left empty. */
async function refused(packagePath: string): Promise<PackageIntegrityError> {
  const installRoot = await mkdtemp(path.join(work, 'root-'));
  const error = await installPackage(packagePath, { installRoot }).then(
    () => new Error('installed'),
    (caught: unknown) => caught,
  );
  expect(await readdir(installRoot)).toEqual([]);
  expect(error).toBeInstanceOf(PackageIntegrityError);
  return error as PackageIntegrityError;
}

describe('the manifest is validated completely before anything is extracted', () => {
  it('refuses a manifest that is not JSON', async () => {
    const error = await refused(await forge(() => undefined, { manifestText: '{"format": ' }));
    expect(error).toBeInstanceOf(PackageManifestError);
    expect(error.message).toMatch(/ferry-manifest\.json is not JSON/);
  });

  it.each<[string, (m: Manifest) => void, RegExp]>([
    [
      'files: null',
      (m) => (m.files = null as never),
      /manifest field files: expected an object, got null/,
    ],
    [
      'a module path that is not a string',
      (m) => (m.modules['pipelineJob.ts'] = 42),
      /manifest field modules\["pipelineJob\.ts"\]: expected a path \(a string\), got 42/,
    ],
    [
      'a version that is an array',
      (m) => (m.version = ['1.0.0']),
      /manifest field version: expected a string, got an array/,
    ],
    [
      'an unknown formatVersion',
      (m) => (m.formatVersion = 99),
      /manifest field formatVersion: unsupported format version 99/,
    ],
    ['an unknown field', (m) => (m.signedBy = 'me'), /manifest field signedBy: unknown field/],
    [
      'a missing field',
      (m) => delete (m as Record<string, unknown>).exports,
      /manifest field exports: missing/,
    ],
    [
      'a name with ../',
      (m) => (m.name = '../../escaped'),
      /manifest field name: "\.\.\/\.\.\/escaped" is not a valid package name/,
    ],
    [
      'a module key that climbs out (joined with rebindTo)',
      (m) => {
        m.modules['../../../outside.ts'] = m.modules['pipelineJob.ts'];
        m.exports['../../../outside.ts'] = ['PipelineJob'];
      },
      /manifest field modules\["\.\.\/\.\.\/\.\.\/outside\.ts"\]: key: '\.\.\/\.\.\/\.\.\/outside\.ts' points outside/,
    ],
    [
      'a module file outside the package',
      (m) => (m.modules['pipelineJob.ts'] = '../pipelineJob.js'),
      /manifest field modules\["pipelineJob\.ts"\]: '\.\.\/pipelineJob\.js' points outside/,
    ],
    [
      'a files key named __proto__',
      (m) => Object.defineProperty(m.files, '__proto__', { value: 'x', enumerable: true }),
      /manifest field files\["__proto__"\]: expected a SHA-256/,
    ],
  ])('refuses %s, naming the field', async (_, edit, message) => {
    const error = await refused(await forge(edit, { rehash: false }));
    expect(error).toBeInstanceOf(PackageManifestError);
    expect(error.message).toMatch(message);
    expect(await exists(path.join(work, 'escaped-1.0.0'))).toBe(false);
  });

  it.each<[string, (m: Manifest) => void]>([
    ['the module table', (m) => (m.modules['script.ts'] = m.modules['pipelineJob.ts'])],
    ['the export table', (m) => (m.exports['script.ts'] = ['PipelineJob'])],
    ['the Node range', (m) => (m.node = '>=0')],
    ['the dependencies', (m) => (m.dependencies = {})],
    ['the Ferry version', (m) => (m.ferryVersion = '9.9.9')],
  ])('refuses a manifest whose UID does not cover a change to %s', async (_, edit) => {
    const error = await refused(await forge(edit, { fixUid: false }));
    expect(error.message).toMatch(/manifest field uid: .* does not match the manifest's content/);
  });

  it('refuses an archive whose first entry is not the manifest', async () => {
    const files = await entriesOf(genuine.path);
    const reordered = [...files].reverse().map(([file, contents]) => ({ path: file, contents }));
    const error = await refused(await write(reordered));
    expect(error.message).toMatch(/the first entry is '.*', not ferry-manifest\.json/);
  });
});

describe('entries are checked against the manifest as they stream by', () => {
  it('refuses an entry listed twice, and a listed file that is missing', async () => {
    const files = await entriesOf(genuine.path);
    const entries = [...files].map(([file, contents]) => ({ path: file, contents }));
    const twice = await refused(await write([...entries.slice(0, -1), entries[1]!]));
    expect(twice.message).toMatch(/appears twice in the archive/);
    const missing = await refused(await write(entries.slice(0, -1)));
    expect(missing.message).toMatch(/is listed in the manifest but missing/);
  });

  it('refuses a truncated .tar.gz', async () => {
    const bytes = await readFile(genuine.path);
    const target = path.join(work, 'truncated.tar.gz');
    await writeFile(target, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect((await refused(target)).message).toMatch(
      /not a readable archive .*truncated or damaged/,
    );
    await writeFile(target, Buffer.from('this is not gzip at all'));
    expect((await refused(target)).message).toMatch(/not a readable archive/);
  });

  it('refuses a header declaring a 10 GB file at the header, before reading its data', async () => {
    const files = await entriesOf(genuine.path);
    const huge = rawTar(
      [
        { path: MANIFEST, contents: files.get(MANIFEST)! },
        { path: 'bundle/pipelineJob.js', declaredSize: 10 * 1000 ** 3 },
      ],
      false,
    );
    const target = path.join(work, 'ten-gb.tar.gz');
    await writeFile(target, gzipSync(huge));
    expect((await refused(target)).message).toMatch(
      /declares 10000000000 bytes|is 10000000000 bytes in the archive/,
    );
  });

  it('refuses a decompression bomb (64 MB of zeros behind a genuine package)', async () => {
    const files = await entriesOf(genuine.path);
    const archive = rawTar(
      [...files].map(([file, contents]) => ({ path: file, contents })),
      false,
    );
    const target = path.join(work, 'bomb.tar.gz');
    const zeros = Buffer.alloc(1024 * 1024);
    await pipeline(
      Readable.from(
        (function* () {
          yield archive;
          for (let i = 0; i < 64; i += 1) yield zeros;
        })(),
      ),
      createGzip(),
      createWriteStream(target),
    );
    expect((await readFile(target)).length).toBeLessThan(2 * 1024 * 1024);
    expect((await refused(target)).message).toMatch(/unpacks to more than \d+ bytes/);
  });

  it('refuses a 100,000-entry archive at its first unlisted entry', async () => {
    const files = await entriesOf(genuine.path);
    const many: RawTarEntry[] = [{ path: MANIFEST, contents: files.get(MANIFEST)! }];
    for (let i = 0; i < 100_000; i += 1) many.push({ path: `bundle/junk/${i}.js` });
    const error = await refused(await write(many));
    expect(error.message).toMatch(/'bundle\/junk\/0\.js' is not listed in the manifest/);
  });
});

describe('class references in a resource', () => {
  it.each<[string, Record<string, string>]>([
    [
      'a module that exports nothing (a script)',
      { module: 'script.ts', exportName: 'PipelineJob' },
    ],
    ['a name the module does not export', { module: 'pipelineJob.ts', exportName: 'Nothing' }],
    ['an Object.prototype member', { module: 'constructor', exportName: 'PipelineJob' }],
  ])('refuses a reference into %s before importing any module', async (_, reference) => {
    const forged = await forge((_manifest, files) => {
      const document = JSON.parse(files.get('resources/job.json')!.toString('utf8')) as {
        classes: unknown[];
      };
      document.classes[0] = reference;
      files.set('resources/job.json', Buffer.from(JSON.stringify(document)));
    });
    const entryPoint = await installPackageAndGetLoader(forged, {
      installRoot: await mkdtemp(path.join(work, 'refs-')),
    });
    const error = await entryPoint.loadResource('job').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ClassRegistryError);
    // script.ts throws when it runs: its message would show here had it been imported.
    expect((error as Error).message).toMatch(
      /which the package's source does not export; refused before importing anything/,
    );
    const rebound = await entryPoint
      .loadResource('job', { rebindTo: fixtureRoot })
      .catch((caught: unknown) => caught);
    expect(rebound).toBeInstanceOf(ClassRegistryError);
  });
});

describe('parallel installs', () => {
  it('four installs of one package into one root all succeed', async () => {
    const installRoot = await mkdtemp(path.join(work, 'parallel-'));
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, () => installPackageAndGetLoader(genuine.path, { installRoot })),
    );
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    expect(await readdir(installRoot)).toEqual([genuine.uid]);
    for (const result of results) {
      const entryPoint = (
        result as PromiseFulfilledResult<Awaited<ReturnType<typeof installPackageAndGetLoader>>>
      ).value;
      expect(entryPoint.dir).toBe(path.join(installRoot, genuine.uid));
      expect(((await entryPoint.loadResource('job')) as PipelineJob).run()).toBe(
        new PipelineJob('>=20', [new ScaleStep('double', 2)], new Float64Array([1])).run(),
      );
    }
  });
});
