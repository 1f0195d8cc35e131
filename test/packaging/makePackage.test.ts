import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, readdir, rm, writeFile, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidPackagingTaskError,
  PackageIntegrityError,
  PackagingTask,
  installPackage,
  installPackageAndGetLoader,
  makePackage,
} from '../../src/packaging/index.js';
import { NotSerializableError } from '../../src/packaging/serialization/index.js';
import { Step } from '../fixtures/pipeline-job/base/step.js';
import { PipelineJob } from '../fixtures/pipeline-job/pipelineJob.js';
import { ClipStep } from '../fixtures/pipeline-job/steps/clip.js';
import { ScaleStep } from '../fixtures/pipeline-job/steps/scale.js';
import { rawTarGz, type RawTarEntry } from '../support/rawTar.js';

const fixtureRoot = fileURLToPath(new URL('../fixtures/pipeline-job', import.meta.url));
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ferry-packaging-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function pipelineJob(): PipelineJob {
  const shared = { min: 0, max: 10 };
  return new PipelineJob(
    '>=20',
    [new ScaleStep('double', 2), new ClipStep('clip', shared), new ClipStep('clip-again', shared)],
    new Float64Array([1.5, 3, 7]),
  );
}

function task(
  job: unknown,
  overrides: Partial<ConstructorParameters<typeof PackagingTask>[0]> = {},
) {
  return new PackagingTask({
    name: 'pipeline',
    version: '1.0.0',
    payload: { job },
    sourceRoot: fixtureRoot,
    ...overrides,
  });
}

async function unpacked(packagePath: string): Promise<string> {
  const dir = await mkdtemp(path.join(work, 'unpacked-'));
  await tar.x({ file: packagePath, cwd: dir });
  return dir;
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

/** A job built from the classes of a copy of the fixture (its own modules, its own classes). */
async function jobFrom(root: string): Promise<PipelineJob> {
  const { PipelineJob: Job } = (await import(path.join(root, 'pipelineJob.ts'))) as {
    PipelineJob: typeof PipelineJob;
  };
  return new Job('>=20', [], new Float64Array([1, 2]));
}

/** Unpacks a package, lets `change` edit its files, and packs them again (without fixing hashes). */
async function repack(
  packagePath: string,
  change: (dir: string) => Promise<void>,
): Promise<string> {
  const dir = await mkdtemp(path.join(work, 'repack-'));
  await tar.x({ file: packagePath, cwd: dir });
  await change(dir);
  const files = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
  const entries: RawTarEntry[] = await Promise.all(
    files.map(async (f) => ({ path: f, contents: await readFile(path.join(dir, f)) })),
  );
  // The manifest stays the first entry, as installers require.
  entries.sort(
    (a, b) => Number(b.path === 'ferry-manifest.json') - Number(a.path === 'ferry-manifest.json'),
  );
  const target = path.join(work, `repacked-${path.basename(dir)}.tar.gz`);
  await writeFile(target, rawTarGz(entries));
  return target;
}

describe('makePackage and installPackageAndGetLoader', () => {
  it('delivers a multi-module job whose loaded copy runs with classes from the package namespace', async () => {
    const local = pipelineJob();
    const info = await makePackage(task(local), { outputDir: path.join(work, 'out') });
    const entryPoint = await installPackageAndGetLoader(info.path, {
      installRoot: path.join(work, 'installed'),
      nodeModules: path.join(repoRoot, 'node_modules'),
    });

    expect(entryPoint.moduleName).toBe('pipeline');
    expect(entryPoint.moduleVersion).toBe('1.0.0');
    expect(entryPoint.uid).toBe(info.uid);
    expect(entryPoint.uid).toMatch(/^pipeline-1\.0\.0-[0-9a-f]{16}$/);
    expect(entryPoint.resources).toEqual(['job']);
    expect(entryPoint.resourcesLocation).toBe(path.join(work, 'installed', info.uid, 'resources'));

    const loaded = (await entryPoint.loadResource('job')) as PipelineJob;
    expect(loaded.run()).toBe(local.run());
    expect(loaded.constructor).not.toBe(PipelineJob);
    expect(loaded).not.toBeInstanceOf(PipelineJob);
    expect(loaded.constructor.name).toBe('PipelineJob');
    const [scale, clip, clipAgain] = loaded.steps;
    expect(scale).not.toBeInstanceOf(ScaleStep);
    expect(scale).not.toBeInstanceOf(Step);
    // Inheritance across modules survives: the loaded subclass extends the loaded base class.
    const loadedBase = Object.getPrototypeOf(Object.getPrototypeOf(scale)).constructor;
    expect(loadedBase.name).toBe('Step');
    expect(loadedBase).not.toBe(Step);
    expect(clip).toBeInstanceOf(loadedBase);
    expect((clip as ClipStep).range).toBe((clipAgain as ClipStep).range);
    expect(loaded.values).toBeInstanceOf(Float64Array);
  });

  it('records the external npm dependency, the Ferry version, the Node range and every hash', async () => {
    const info = await makePackage(task(pipelineJob()), { outputDir: path.join(work, 'manifest') });
    const lock = JSON.parse(await readFile(path.join(repoRoot, 'package-lock.json'), 'utf8'));
    const ownPackage = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8'));
    expect(info.manifest.dependencies).toEqual({
      semver: {
        range: ownPackage.dependencies.semver,
        version: lock.packages['node_modules/semver'].version,
      },
    });
    // The locked tree the container installs with npm ci: semver needs nothing else.
    expect(Object.keys(info.manifest.lockedDependencies)).toEqual(['node_modules/semver']);
    expect(info.manifest.lockedDependencies['node_modules/semver']?.version).toBe(
      lock.packages['node_modules/semver'].version,
    );
    expect(info.manifest.ferryVersion).toBe(ownPackage.version);
    expect(info.manifest.node).toBe(ownPackage.engines.node);
    expect(Object.keys(info.manifest.modules)).toEqual([
      'base/step.ts',
      'pipelineJob.ts',
      'script.ts',
      'steps/clip.ts',
      'steps/scale.ts',
    ]);

    const dir = await mkdtemp(path.join(work, 'unpacked-'));
    await tar.x({ file: info.path, cwd: dir });
    for (const [file, hash] of Object.entries(info.manifest.files)) {
      const actual = createHash('sha256')
        .update(await readFile(path.join(dir, file)))
        .digest('hex');
      expect(actual, file).toBe(hash);
    }
    // Each class is defined once, in a shared chunk, however many modules import it.
    const bundled = Object.keys(info.manifest.files).filter((f) => f.endsWith('.js'));
    const definitions = await Promise.all(
      bundled.map(
        async (f) =>
          (await readFile(path.join(dir, f), 'utf8')).match(/var Step = class\b/g)?.length ?? 0,
      ),
    );
    expect(definitions.reduce((a, b) => a + b, 0)).toBe(1);
    // The Float64Array travels as side-car bytes, not as JSON numbers.
    const blob = await readFile(path.join(dir, 'resources/job.bin'));
    expect(blob.includes(Buffer.from(new Float64Array([1.5, 3, 7]).buffer))).toBe(true);
  });

  it('gives byte-identical packages for the same source and payload', async () => {
    const first = await makePackage(task(pipelineJob()), { outputDir: path.join(work, 'a') });
    const second = await makePackage(task(pipelineJob()), { outputDir: path.join(work, 'b') });
    expect(second.uid).toBe(first.uid);
    expect((await readFile(second.path)).equals(await readFile(first.path))).toBe(true);

    const other = pipelineJob();
    other.steps.push(new ScaleStep('triple', 3));
    const third = await makePackage(task(other), { outputDir: path.join(work, 'c') });
    expect(third.uid).not.toBe(first.uid);
  });

  it('stores a large incompressible side-car instead of deflating it, deterministically', async () => {
    // Floats of noise (random bits, a few NaNs among them): deflate would save almost nothing.
    const values = new Float64Array(512 * 1024);
    const words = new Uint32Array(values.buffer);
    let x = 2463534242;
    for (let i = 0; i < words.length; i += 1) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x >>> 0;
    }
    const job = new PipelineJob('>=20', [new ScaleStep('double', 2)], values);
    const first = await makePackage(task(job), { outputDir: path.join(work, 'stored-a') });
    const second = await makePackage(task(job), { outputDir: path.join(work, 'stored-b') });
    expect((await readFile(second.path)).equals(await readFile(first.path))).toBe(true);
    // Stored: the archive is the 4 MiB of floats plus a little, and tar(1)'s reader sees the file.
    expect(first.size).toBeGreaterThan(values.byteLength);
    expect(first.size).toBeLessThan(values.byteLength * 1.01);
    const dir = await unpacked(first.path);
    expect((await readFile(path.join(dir, 'resources/job.bin'))).byteLength).toBeGreaterThanOrEqual(
      values.byteLength,
    );
    const loader = await installPackageAndGetLoader(first.path, {
      installRoot: path.join(work, 'stored-installed'),
    });
    const loaded = (await loader.loadResource('job')) as PipelineJob;
    expect(Buffer.from(loaded.values.buffer).equals(Buffer.from(values.buffer))).toBe(true);
  });

  it('never runs a module that exports nothing (a script) while packaging', async () => {
    // script.ts throws when imported; packaging succeeding proves it was bundled but not run.
    const info = await makePackage(task(pipelineJob()), { outputDir: path.join(work, 'script') });
    expect(info.manifest.files['bundle/script.js']).toBeDefined();
  });

  it("imports only the modules that can hold the payload's classes", async () => {
    const root = path.join(work, 'lazy-source');
    await cp(fixtureRoot, root, { recursive: true });
    // It exports a class, so it could hold one of the payload's; importing it would throw.
    await writeFile(
      path.join(root, 'unrelated.ts'),
      "export class Unrelated {}\nthrow new Error('unrelated.ts was imported while packaging');\n",
    );
    const job = await jobFrom(root);
    const info = await makePackage(task(job, { sourceRoot: root, projectRoot: repoRoot }), {
      outputDir: path.join(work, 'lazy'),
    });
    expect(info.manifest.modules['unrelated.ts']).toBe('bundle/unrelated.js');
  });

  it('finds a class exported under a name other than its own', async () => {
    const root = path.join(work, 'aliased-source');
    await cp(fixtureRoot, root, { recursive: true });
    await writeFile(
      path.join(root, 'aliased.ts'),
      'class Hidden {\n  readonly tag = 7;\n}\nexport { Hidden as Visible };\n',
    );
    const { Visible } = (await import(path.join(root, 'aliased.ts'))) as {
      Visible: new () => { tag: number };
    };
    const job = await jobFrom(root);
    (job as unknown as { extra: unknown }).extra = new Visible();
    const info = await makePackage(task(job, { sourceRoot: root, projectRoot: repoRoot }), {
      outputDir: path.join(work, 'aliased'),
    });
    const entryPoint = await installPackageAndGetLoader(info.path, {
      installRoot: path.join(work, 'aliased-installed'),
      nodeModules: path.join(repoRoot, 'node_modules'),
    });
    const document = JSON.parse(
      await readFile(path.join(entryPoint.resourcesLocation, 'job.json'), 'utf8'),
    ) as { classes: Array<{ module: string; exportName: string }> };
    expect(document.classes).toContainEqual({ module: 'aliased.ts', exportName: 'Visible' });
    const loaded = (await entryPoint.loadResource('job')) as { extra: { tag: number } };
    expect(loaded.extra.tag).toBe(7);
    expect(loaded.extra.constructor.name).toBe('Hidden');
    expect(loaded.extra).not.toBeInstanceOf(Visible);
  });

  it('loads two versions of one job side by side in one process', async () => {
    const roots = await Promise.all(
      ['1.0.0', '2.0.0'].map(async (version) => {
        const root = path.join(work, `greeter-${version}`);
        await cp(path.join(fixtureRoot, 'base'), path.join(root, 'base'), { recursive: true });
        await writeFile(
          path.join(root, 'greeter.ts'),
          `import { Step } from './base/step.js';\nexport class Greeter extends Step {\n  run(): string {\n    return 'hello from ${version}, ' + this.label;\n  }\n}\n`,
        );
        return { version, root };
      }),
    );
    const entryPoints = [];
    for (const { version, root } of roots) {
      const { Greeter } = (await import(path.join(root, 'greeter.ts'))) as {
        Greeter: new (label: string) => { run(): string };
      };
      const info = await makePackage(
        new PackagingTask({
          name: 'greeter',
          version,
          payload: { job: new Greeter('world') },
          sourceRoot: root,
        }),
        { outputDir: path.join(work, 'greeters') },
      );
      entryPoints.push(
        await installPackageAndGetLoader(info.path, {
          installRoot: path.join(work, 'side-by-side'),
        }),
      );
    }
    const [v1, v2] = (await Promise.all(entryPoints.map((e) => e.loadResource('job')))) as Array<{
      run(): string;
    }>;
    expect(v1?.run()).toBe('hello from 1.0.0, world');
    expect(v2?.run()).toBe('hello from 2.0.0, world');
    expect(v1?.constructor).not.toBe(v2?.constructor);
    expect(entryPoints[0]?.uid).not.toBe(entryPoints[1]?.uid);
  });

  it("re-binds a resource made in a package to the caller's current source", async () => {
    const info = await makePackage(task(pipelineJob()), { outputDir: path.join(work, 'rebind') });
    const entryPoint = await installPackageAndGetLoader(info.path, {
      installRoot: path.join(work, 'rebind-installed'),
    });
    const rebound = (await entryPoint.loadResource('job', {
      rebindTo: fixtureRoot,
    })) as PipelineJob;
    expect(rebound).toBeInstanceOf(PipelineJob);
    expect(rebound.steps[0]).toBeInstanceOf(ScaleStep);
    expect(rebound.steps[0]).toBeInstanceOf(Step);
    expect(rebound.run()).toBe(pipelineJob().run());
  });

  it('refuses a package whose file was altered, naming the file, and leaves nothing installed', async () => {
    const info = await makePackage(task(pipelineJob()), { outputDir: path.join(work, 'tamper') });
    const installRoot = path.join(work, 'tamper-installed');
    const tampered = await repack(info.path, async (dir) => {
      const file = path.join(dir, 'bundle/pipelineJob.js');
      await writeFile(file, (await readFile(file, 'utf8')).replace('satisfies', 'pwnedpwne'));
    });
    await expect(installPackage(tampered, { installRoot })).rejects.toThrow(
      /'bundle\/pipelineJob\.js' does not match the SHA-256/,
    );
    const payloadTampered = await repack(info.path, async (dir) => {
      await writeFile(path.join(dir, 'resources/job.bin'), Buffer.alloc(24));
    });
    await expect(installPackage(payloadTampered, { installRoot })).rejects.toBeInstanceOf(
      PackageIntegrityError,
    );
    const smuggled = await repack(info.path, async (dir) => {
      await writeFile(path.join(dir, 'bundle/extra.js'), 'console.log("extra")');
    });
    await expect(installPackage(smuggled, { installRoot })).rejects.toThrow(
      /'bundle\/extra\.js' is not listed in the manifest/,
    );
    expect(await readdir(installRoot)).toEqual([]);
  });

  it('replaces an installed copy that no longer matches its manifest with the verified one', async () => {
    const info = await makePackage(task(pipelineJob()), { outputDir: path.join(work, 'stale') });
    const installRoot = path.join(work, 'stale-installed');
    const { dir } = await installPackage(info.path, { installRoot });
    const bundled = path.join(dir, 'bundle/pipelineJob.js');
    const original = await readFile(bundled, 'utf8');
    await writeFile(bundled, `${original}\nconsole.log('altered');\n`);
    const again = await installPackage(info.path, { installRoot });
    expect(again.dir).toBe(dir);
    expect(await readFile(bundled, 'utf8')).toBe(original);
    expect(await readdir(installRoot)).toEqual([info.uid]);
  });

  it.each<[string, RawTarEntry, RegExp]>([
    [
      'a parent path',
      { path: '../escaped.txt', contents: Buffer.from('x') },
      /'\.\.\/escaped\.txt' points outside/,
    ],
    [
      'an absolute path',
      { path: '/tmp/ferry-absolute.txt', contents: Buffer.from('x') },
      /'\/tmp\/ferry-absolute\.txt' has an absolute/,
    ],
    [
      'a symbolic link',
      { path: 'bundle/link.js', type: '2', linkTarget: '/etc/passwd' },
      /'bundle\/link\.js' is a symlink/,
    ],
    [
      'a hard link',
      { path: 'bundle/hard.js', type: '1', linkTarget: '/etc/passwd' },
      /'bundle\/hard\.js' is a link/,
    ],
  ])('refuses an archive holding %s, by name, before extracting it', async (_, entry, message) => {
    const info = await makePackage(task(pipelineJob()), { outputDir: path.join(work, 'base') });
    // A genuine manifest first, then the hostile entry.
    const manifest = await readFile(path.join(await unpacked(info.path), 'ferry-manifest.json'));
    const hostile = path.join(work, `hostile-${Math.random().toString(16).slice(2)}.tar.gz`);
    await writeFile(
      hostile,
      rawTarGz([{ path: 'ferry-manifest.json', contents: manifest }, entry]),
    );
    const installRoot = path.join(work, 'hostile-installed');
    await expect(installPackage(hostile, { installRoot })).rejects.toThrow(message);
    await expect(installPackage(hostile, { installRoot })).rejects.toBeInstanceOf(
      PackageIntegrityError,
    );
    expect(await readdir(installRoot)).toEqual([]);
    expect(await exists(path.join(work, 'escaped.txt'))).toBe(false);
    expect(await exists('/tmp/ferry-absolute.txt')).toBe(false);
  });
});

describe('PackagingTask and payload errors', () => {
  it('names a bad package name and version and says what to use', () => {
    expect(() => task(pipelineJob(), { name: 'My Job' })).toThrow(InvalidPackagingTaskError);
    expect(() => task(pipelineJob(), { name: 'My Job' })).toThrow(
      /PackagingTask\.name: "My Job" is not a valid package name/,
    );
    expect(() => task(pipelineJob(), { version: '1.0' })).toThrow(
      /PackagingTask\.version: "1\.0" is not a valid semver version/,
    );
    expect(() => task(pipelineJob(), { payload: {} })).toThrow(/PackagingTask\.payload: is empty/);
  });

  it('refuses a function deep in the job, naming its path', async () => {
    const job = pipelineJob();
    (job.steps[1] as unknown as { selector: unknown }).selector = () => true;
    await expect(makePackage(task(job), { outputDir: path.join(work, 'fn') })).rejects.toThrow(
      /job\.steps\[1\]\.selector: function values cannot be delivered/,
    );
    await expect(
      makePackage(task(job), { outputDir: path.join(work, 'fn') }),
    ).rejects.toBeInstanceOf(NotSerializableError);
  });

  it('refuses an instance of a class that no module under the source root exports', async () => {
    class LocalOnly {
      value = 1;
    }
    const job = pipelineJob();
    (job as unknown as { extra: unknown }).extra = new LocalOnly();
    await expect(makePackage(task(job), { outputDir: path.join(work, 'cls') })).rejects.toThrow(
      /job\.extra: .*LocalOnly/,
    );
  });

  it('says which module breaks the bundle', async () => {
    const root = path.join(work, 'broken-source');
    await cp(fixtureRoot, root, { recursive: true });
    await writeFile(path.join(root, 'broken.ts'), 'export const x = ;\n');
    await expect(
      makePackage(task(pipelineJob(), { sourceRoot: root }), {
        outputDir: path.join(work, 'broken'),
      }),
    ).rejects.toThrow(/esbuild could not bundle .*broken\.ts:1/);
  });
});
