/**
 * Packaging figures: time to package a 200-module source root, and serialize/load throughput for a
 * payload holding a 100 MB Float64Array beside JSON.stringify/JSON.parse of the same numbers; the
 * time to refuse hostile archives (100,000 entries, a header declaring 10 GB) beside the time to
 * install the normal package.
 *
 * Last, bench/packaging/payload.ts in processes of their own (for their peak RSS): a 100 MB and a
 * 1 GB Float64Array packaged, installed and loaded, in MB/s.
 *
 *   npx tsx bench/packaging/run.ts
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  PackagingTask,
  installPackageAndGetLoader,
  makePackage,
} from '../../src/packaging/index.js';
import { deserialize, serialize } from '../../src/packaging/serialization/index.js';
import {
  PackageIntegrityError,
  installPackage,
  type PackageInfo,
} from '../../src/packaging/index.js';
import * as tar from 'tar';
import { gzipSync } from 'node:zlib';
import { rawTar, type RawTarEntry } from '../../test/support/rawTar.js';
import { formatBytes, formatMs, ratio, timed } from '../support.js';

const MODULES = 200;
const FLOATS = (100 * 1024 * 1024) / 8;

const work = await mkdtemp(path.join(tmpdir(), 'ferry-bench-packaging-'));
try {
  const normal = await packageManyModules();
  await refuseHostileArchives(normal.info, normal.installMs);
  await serializeLargeArray();
} finally {
  await rm(work, { recursive: true, force: true });
}
for (const megabytes of [100, 1024]) {
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('payload.ts', import.meta.url)), String(megabytes)],
    { stdio: 'inherit' },
  );
  if (child.status !== 0) throw new Error(`payload.ts ${megabytes} exited ${child.status}`);
}

async function packageManyModules(): Promise<{ info: PackageInfo; installMs: number }> {
  const root = path.join(work, 'source');
  await mkdir(path.join(root, 'steps'), { recursive: true });
  await writeFile(
    path.join(root, 'base.ts'),
    'export class BaseStep {\n  constructor(readonly index: number) {}\n  apply(x: number): number {\n    return x;\n  }\n}\n',
  );
  for (let i = 0; i < MODULES - 2; i++) {
    await writeFile(
      path.join(root, 'steps', `step${i}.ts`),
      `import { BaseStep } from '../base.js';\nexport class Step${i} extends BaseStep {\n  override apply(x: number): number {\n    return x * ${i + 1} + this.index;\n  }\n}\n`,
    );
  }
  const imports = Array.from(
    { length: 20 },
    (_, i) => `import { Step${i} } from './steps/step${i}.js';`,
  );
  await writeFile(
    path.join(root, 'job.ts'),
    `${imports.join('\n')}\nexport class Job {\n  steps = [${Array.from({ length: 20 }, (_, i) => `new Step${i}(${i})`).join(', ')}];\n  run(): number {\n    return this.steps.reduce((x, s) => s.apply(x), 1);\n  }\n}\n`,
  );
  const { Job } = (await import(path.join(root, 'job.ts'))) as { Job: new () => object };
  const task = new PackagingTask({
    name: 'many-modules',
    version: '1.0.0',
    payload: { job: new Job() },
    sourceRoot: root,
  });
  const first = await timed(() => makePackage(task, { outputDir: path.join(work, 'out1') }));
  const second = await timed(() => makePackage(task, { outputDir: path.join(work, 'out2') }));
  const install = await timed(() =>
    installPackageAndGetLoader(first.result.path, { installRoot: path.join(work, 'installed') }),
  );
  console.log(`package a ${MODULES}-module source root`);
  console.log(`  makePackage (cold):  ${formatMs(first.ms)}  -> ${formatBytes(first.result.size)}`);
  console.log(`  makePackage (warm):  ${formatMs(second.ms)}`);
  console.log(`  install and verify:  ${formatMs(install.ms)}`);
  return { info: first.result, installMs: install.ms };
}

/** Hostile archives built from the normal package's own manifest, refused by installPackage. */
async function refuseHostileArchives(normal: PackageInfo, installMs: number): Promise<void> {
  const manifest = await manifestBytes(normal.path);
  const junk = (count: number): RawTarEntry[] =>
    Array.from({ length: count }, (_, i) => ({
      path: `bundle/junk/${i}.js`,
      contents: Buffer.from('x'),
    }));
  const cases: [string, Buffer][] = [
    [
      '100,000 entries after the manifest',
      gzipSync(rawTar([{ path: 'ferry-manifest.json', contents: manifest }, ...junk(100_000)])),
    ],
    [
      '100,000 entries, manifest last',
      gzipSync(rawTar([...junk(100_000), { path: 'ferry-manifest.json', contents: manifest }])),
    ],
    [
      'a header declaring 10 GB',
      gzipSync(
        rawTar(
          [
            { path: 'ferry-manifest.json', contents: manifest },
            {
              path: Object.keys(normal.manifest.files)[0] ?? 'bundle/x.js',
              declaredSize: 10 * 1000 ** 3,
            },
          ],
          false,
        ),
      ),
    ],
  ];
  console.log(
    `refuse hostile archives (beside installing the ${MODULES}-module package: ${formatMs(installMs)})`,
  );
  for (const [name, bytes] of cases) {
    const file = path.join(work, `hostile-${cases.findIndex(([n]) => n === name)}.tar.gz`);
    await writeFile(file, bytes);
    const installRoot = path.join(work, `hostile-root-${path.basename(file)}`);
    const refused = await timed(() =>
      installPackage(file, { installRoot }).then(
        () => {
          throw new Error(`${name}: was installed`);
        },
        (error: unknown) => {
          if (!(error instanceof PackageIntegrityError)) throw error;
          return error;
        },
      ),
    );
    const left = await readdir(installRoot);
    if (left.length > 0) throw new Error(`${name}: left ${left.join(', ')} behind`);
    console.log(
      `  ${`${name}:`.padEnd(38)} refused in ${formatMs(refused.ms)} (${formatBytes(bytes.length)}; install / refuse ${ratio(refused.ms, installMs)})`,
    );
  }
}

async function manifestBytes(packagePath: string): Promise<Buffer> {
  let found: Buffer | undefined;
  await tar.t({
    file: packagePath,
    onReadEntry: (entry) => {
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => {
        if (entry.path === 'ferry-manifest.json') found = Buffer.concat(chunks);
      });
    },
  });
  if (found === undefined) throw new Error(`${packagePath} has no manifest`);
  return found;
}

async function serializeLargeArray(): Promise<void> {
  const values = new Float64Array(FLOATS);
  for (let i = 0; i < values.length; i++) values[i] = Math.sin(i) * 1e6;
  const payload = { name: 'weights', values };
  const megabytes = values.byteLength / (1 << 20);
  const identifyClass = () => undefined;

  const ours = await timed(() => serialize(payload, { identifyClass }));
  const loaded = await timed(() =>
    deserialize(ours.result, {
      resolveClass: () => {
        throw new Error('no classes in this payload');
      },
    }),
  );
  const copy = (loaded.result as { values: Float64Array }).values;
  if (copy.length !== values.length || copy[12345] !== values[12345])
    throw new Error('round trip differs');

  const plain = Array.from(values);
  const json = await timed(() => JSON.stringify({ name: 'weights', values: plain }));
  const parsed = await timed(() => JSON.parse(json.result) as unknown);
  void parsed;

  const rate = (ms: number) => `${(megabytes / (ms / 1000)).toFixed(0)} MB/s`;
  console.log(`payload with a ${megabytes.toFixed(0)} MB Float64Array`);
  console.log(
    `  ferry serialize:   ${formatMs(ours.ms)} (${rate(ours.ms)}), ${formatBytes(ours.result.blobs.length)} side-car`,
  );
  console.log(`  ferry deserialize: ${formatMs(loaded.ms)} (${rate(loaded.ms)})`);
  console.log(
    `  JSON.stringify:    ${formatMs(json.ms)} (${rate(json.ms)}), ${formatBytes(json.result.length)} text`,
  );
  console.log(`  JSON.parse:        ${formatMs(parsed.ms)} (${rate(parsed.ms)})`);
  console.log(
    `  ratio (JSON / ferry): serialize ${ratio(ours.ms, json.ms)}, load ${ratio(loaded.ms, parsed.ms)}, size ${ratio(ours.result.blobs.length, json.result.length)}`,
  );
}
