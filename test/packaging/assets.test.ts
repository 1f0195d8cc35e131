/**
 * Assets (data files named by globs under the project) in packages: packaged and hashed like every
 * other file, found through the run context the same way attached and from an installed package,
 * refused when a glob is unsafe or matches nothing, and refused on install when a package's asset
 * names are hostile. Also: a routine's job is a snapshot, so an attached run that changes its job
 * leaves the next run, and what local and remote runs package, as configured.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { configAsFile } from '../../src/config/configAsFile.js';
import { loadConfig, parseConfig } from '../../src/config/loadConfig.js';
import { packagingTaskFor } from '../../src/config/targets.js';
import {
  AssetError,
  AssetNotFoundError,
  InvalidPackagingTaskError,
  PackageIntegrityError,
  PackageManifestError,
  PackagingTask,
  installPackage,
  installPackageAndGetLoader,
  makePackage,
  type PackageInfo,
} from '../../src/packaging/index.js';
import { contentHash, makeUid, PACKAGE_LIMITS } from '../../src/packaging/manifest.js';
import { snapshotJob } from '../../src/packaging/snapshot.js';
import { createRunContext } from '../../src/routines/results/runFolder.js';
import { SSHDockerJobRoutine } from '../../src/routines/sshDockerJobRoutine.js';
import {
  reports,
  TRAIN_CSV,
  writeAssetsProject,
  type AssetsProject,
} from '../fixtures/assets/project.js';
import { rawTarGz } from '../support/rawTar.js';

let work: string;
let project: AssetsProject;
let packaged: PackageInfo;

const task = (
  fields: Partial<ConstructorParameters<typeof PackagingTask>[0]> = {},
): PackagingTask =>
  new PackagingTask({
    name: 'assets-demo',
    version: '1.0.0',
    payload: { job: new project.CsvJob(3) },
    sourceRoot: project.sourceRoot,
    projectRoot: project.root,
    assets: ['data/**/*.csv'],
    ...fields,
  });

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ferry-assets-'));
  project = await writeAssetsProject(path.join(work, 'project'));
  packaged = await makePackage(task(), { outputDir: path.join(work, 'packages') });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('assets in a package', () => {
  it('lists, stores and hashes the matched files; a package without assets has no such field', async () => {
    expect(packaged.manifest.assets).toEqual(['data/more/test.csv', 'data/train.csv']);
    const sha = createHash('sha256').update(TRAIN_CSV).digest('hex');
    expect(packaged.manifest.files['assets/data/train.csv']).toBe(sha);
    expect(packaged.manifest.sizes['assets/data/train.csv']).toBe(TRAIN_CSV.length);
    expect(packaged.manifest.files['assets/data/notes.txt']).toBeUndefined();

    const plain = await makePackage(task({ assets: [] }), { outputDir: path.join(work, 'plain') });
    expect('assets' in plain.manifest).toBe(false);
    expect(Object.keys(plain.manifest.files).some((f) => f.startsWith('assets/'))).toBe(false);
  });

  it('is deterministic: same files, same bytes; a data change changes the package', async () => {
    const again = await makePackage(task(), { outputDir: path.join(work, 'again') });
    expect(await readFile(again.path)).toEqual(await readFile(packaged.path));
    await writeFile(path.join(project.root, 'data', 'train.csv'), `${TRAIN_CSV}7,8\n`);
    try {
      const changed = await makePackage(task(), { outputDir: path.join(work, 'changed') });
      expect(changed.uid).not.toBe(packaged.uid);
      expect(changed.manifest.files['bundle/csvJob.js']).toBe(
        packaged.manifest.files['bundle/csvJob.js'],
      );
    } finally {
      await writeFile(path.join(project.root, 'data', 'train.csv'), TRAIN_CSV);
    }
  });

  it('is found through the run context, as in the project, once installed', async () => {
    const entry = await installPackageAndGetLoader(packaged.path, {
      installRoot: path.join(work, 'installed'),
    });
    const context = createRunContext({
      runId: 'r1',
      runDir: path.join(work, 'run'),
      assets: entry.assets,
    });
    expect(context.assets).toEqual(['data/more/test.csv', 'data/train.csv']);
    expect(context.assetsDir).toBe(path.join(entry.dir, 'assets'));
    expect(await readFile(context.asset('data/train.csv'), 'utf8')).toBe(TRAIN_CSV);
    expect(context.asset('./data/train.csv')).toBe(context.asset('data/train.csv'));
    expect(() => context.asset('data/notes.txt')).toThrow(AssetNotFoundError);
    expect(() => context.asset('data/notes.txt')).toThrow(/not among the job's assets/);
    expect(() => context.asset('../ferry-manifest.json')).toThrow(/points outside/);
    expect(() => context.asset('/etc/passwd')).toThrow(AssetNotFoundError);
  });
});

describe('asset globs', () => {
  it.each<[string, unknown, RegExp]>([
    ['an absolute path', ['/etc/*.conf'], /assets\[0\]: "\/etc\/\*\.conf" is absolute/],
    ['a glob that climbs out', ['data/../../x'], /assets\[0\]: .* leaves the project root/],
    ['a backslash', ['data\\x.csv'], /holds a backslash/],
    ['a negation', ['!data/x.csv'], /is a negation/],
    ['not a list', 'data/*.csv', /expected a list of globs/],
    ['an empty glob', [''], /assets\[0\]: expected a glob/],
  ])('refuses %s when the task is made', (_, assets, message) => {
    const make = (): PackagingTask => task({ assets: assets as string[] });
    expect(make).toThrow(InvalidPackagingTaskError);
    expect(make).toThrow(message);
  });

  it('refuses a glob that matches nothing, naming it', async () => {
    const error = await makePackage(task({ assets: ['data/*.csv', 'data/*.parquet'] }), {
      outputDir: path.join(work, 'none'),
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AssetError);
    expect((error as Error).message).toBe(
      `PackagingTask.assets[1]: "data/*.parquet" matches no file under ${project.root}; fix the glob, or remove it`,
    );
  });

  it('takes a plain file path, and refuses a folder named as one', async () => {
    const one = await makePackage(task({ assets: ['data/train.csv'] }), {
      outputDir: path.join(work, 'one'),
    });
    expect(one.manifest.assets).toEqual(['data/train.csv']);
    await expect(
      makePackage(task({ assets: ['data'] }), { outputDir: path.join(work, 'folder') }),
    ).rejects.toThrow(/"data" is a folder; name its files, e.g. "data\/\*\*\/\*"/);
  });

  it('follows a symlink inside the project, and refuses one that leads outside', async () => {
    const outside = path.join(work, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(outside, 'secret.csv'), 'a,b\n');
    const links = path.join(project.root, 'links');
    await mkdir(links, { recursive: true });
    try {
      await symlink(path.join(project.root, 'data', 'train.csv'), path.join(links, 'train.csv'));
      const inside = await makePackage(task({ assets: ['links/*.csv'] }), {
        outputDir: path.join(work, 'links'),
      });
      expect(inside.manifest.assets).toEqual(['links/train.csv']);
      expect(inside.manifest.files['assets/links/train.csv']).toBe(
        packaged.manifest.files['assets/data/train.csv'],
      );

      await symlink(path.join(outside, 'secret.csv'), path.join(links, 'secret.csv'));
      await expect(
        makePackage(task({ assets: ['links/*.csv'] }), { outputDir: path.join(work, 'out') }),
      ).rejects.toThrow(
        /links\/secret\.csv is a symlink to .*secret\.csv, outside the project root/,
      );

      // A folder link that leads back up is followed once, not forever.
      await rm(path.join(links, 'secret.csv'));
      await symlink(project.root, path.join(links, 'loop'));
      const looped = await makePackage(task({ assets: ['links/**/*.csv'] }), {
        outputDir: path.join(work, 'loop'),
      });
      expect(looped.manifest.assets).toContain('links/train.csv');
    } finally {
      await rm(links, { recursive: true, force: true });
    }
  });
});

describe('hostile asset names in a package are refused on install', () => {
  type Manifest = Record<string, unknown> & {
    files: Record<string, string>;
    sizes: Record<string, number>;
  };

  async function forge(edit: (m: Manifest, files: Map<string, Buffer>) => void): Promise<string> {
    const files = new Map<string, Buffer>();
    await tar.t({
      file: packaged.path,
      onReadEntry: (entry) => {
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => chunks.push(chunk));
        entry.on('end', () => files.set(entry.path, Buffer.concat(chunks)));
      },
    });
    const manifest = JSON.parse(files.get('ferry-manifest.json')!.toString()) as Manifest;
    files.delete('ferry-manifest.json');
    edit(manifest, files);
    manifest.files = Object.fromEntries(
      [...files].map(([f, b]) => [f, createHash('sha256').update(b).digest('hex')]),
    );
    manifest.sizes = Object.fromEntries([...files].map(([f, b]) => [f, b.length]));
    const { uid: _uid, ...content } = manifest;
    manifest.uid = makeUid(
      'assets-demo',
      '1.0.0',
      contentHash(content as unknown as Parameters<typeof contentHash>[0]),
    );
    const target = path.join(work, `forged-${Math.random().toString(16).slice(2)}.tar.gz`);
    await writeFile(
      target,
      rawTarGz([
        { path: 'ferry-manifest.json', contents: Buffer.from(JSON.stringify(manifest)) },
        ...[...files].map(([file, contents]) => ({ path: file, contents })),
      ]),
    );
    return target;
  }

  async function refused(file: string): Promise<Error> {
    const installRoot = await mkdtemp(path.join(work, 'root-'));
    const error = await installPackage(file, { installRoot }).then(
      () => new Error('installed'),
      (caught: unknown) => caught as Error,
    );
    expect(error).toBeInstanceOf(PackageIntegrityError);
    expect(await readdir(installRoot)).toEqual([]);
    return error;
  }

  it.each<[string, (m: Manifest, files: Map<string, Buffer>) => void, RegExp]>([
    [
      'an asset that climbs out',
      (m, files) => {
        files.set('assets/../../escaped.csv', Buffer.from('x'));
        m.assets = ['../../escaped.csv', 'data/more/test.csv', 'data/train.csv'];
      },
      /points outside the package folder/,
    ],
    [
      'an absolute asset',
      (m) => (m.assets = ['/etc/passwd', 'data/more/test.csv', 'data/train.csv']),
      /manifest field assets\[0\]: '\/etc\/passwd' has an absolute or non-POSIX path/,
    ],
    [
      'an asset whose file is not in the package',
      (m) => (m.assets = ['data/more/test.csv', 'data/train.csv', 'data/z.csv']),
      /manifest field assets\[2\]: its file assets\/data\/z\.csv is not among the package's files/,
    ],
    [
      'a file under assets/ that is not listed',
      (m, files) => {
        files.set('assets/data/sneaky.csv', Buffer.from('x'));
        m.assets = ['data/more/test.csv', 'data/train.csv'];
      },
      /files\["assets\/data\/sneaky\.csv"\]: is under assets\/ but not listed in assets/,
    ],
    [
      'an asset listed twice',
      (m) => (m.assets = ['data/more/test.csv', 'data/train.csv', 'data/train.csv']),
      /assets\[2\]: "data\/train\.csv" is out of order or listed twice/,
    ],
    [
      'a __proto__ asset',
      (m) => (m.assets = ['__proto__']),
      /its file assets\/__proto__ is not among the package's files/,
    ],
    [
      'more assets than a package may hold',
      (m) => (m.assets = Array.from({ length: PACKAGE_LIMITS.files + 1 }, (_, i) => `f${i}`)),
      /manifest field assets: more than 50000 entries/,
    ],
  ])('refuses %s', async (_, edit, message) => {
    const error = await refused(await forge(edit));
    expect(error).toBeInstanceOf(PackageManifestError);
    expect(error.message).toMatch(message);
  });

  it('refuses an asset whose bytes were changed after packaging', async () => {
    const files = new Map<string, Buffer>();
    await tar.t({
      file: packaged.path,
      onReadEntry: (entry) => {
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => chunks.push(chunk));
        entry.on('end', () => files.set(entry.path, Buffer.concat(chunks)));
      },
    });
    const original = files.get('assets/data/train.csv')!;
    const tampered = Buffer.from(original);
    tampered[0] = 0x58;
    const target = path.join(work, 'tampered.tar.gz');
    await writeFile(
      target,
      rawTarGz(
        [...files].map(([file, contents]) => ({
          path: file,
          contents: file === 'assets/data/train.csv' ? tampered : contents,
        })),
      ),
    );
    expect((await refused(target)).message).toMatch(
      /'assets\/data\/train\.csv' does not match the SHA-256 in its manifest/,
    );
  });
});

describe('assets in ferry.config.json', () => {
  const configFile = (): string => path.join(project.root, 'ferry.config.json');
  const write = (assets: unknown): Promise<void> =>
    writeFile(
      configFile(),
      JSON.stringify({
        project: 'assets-demo',
        version: '1.0.0',
        job: 'src/csvJob.ts#CsvJob',
        sourceRoot: 'src',
        assets,
      }),
    );
  afterAll(() => rm(configFile(), { force: true }));

  it('packages what the key names', async () => {
    await write(['data/train.csv', 'data/more/*.csv']);
    const config = await loadConfig({ file: configFile() });
    expect(config.assets).toEqual(['data/train.csv', 'data/more/*.csv']);
    expect(packagingTaskFor(config, new project.CsvJob(1)).assets).toEqual(config.assets);
    // `ferry config` prints it back as a valid config with the same key.
    const shown = parseConfig(JSON.stringify(configAsFile(config)), configFile());
    expect(shown.assets).toEqual(config.assets);
  });

  it('names the key of a glob that matches nothing, and of an unsafe one', async () => {
    await write(['data/*.csv', 'data/*.parquet']);
    const error = await loadConfig({ file: configFile() }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      {
        key: 'assets[1]',
        message: `"data/*.parquet" matches no file under ${project.root}; fix the glob, or remove it`,
      },
    ]);
    await write(['../elsewhere/*.csv']);
    const unsafe = await loadConfig({ file: configFile() }).catch((caught: unknown) => caught);
    expect((unsafe as ConfigError).issues[0]).toMatchObject({
      key: 'assets[0]',
      message: expect.stringMatching(/leaves the project root/) as unknown as string,
    });
  });
});

describe('a routine delivers the job as configured', () => {
  it('a snapshot copy is a new graph of the same classes', () => {
    const job = new project.CsvJob(3);
    job.history.push(1);
    const snapshot = snapshotJob(job);
    const copy = snapshot.copy();
    expect(copy).toBeInstanceOf(project.CsvJob);
    expect(copy).not.toBe(job);
    expect(copy.history).not.toBe(job.history);
    expect(copy).toEqual(job);
    job.epochs = 99;
    expect(snapshot.copy().epochs).toBe(3);
  });

  it('attached runs start from the configured job, and so does what local and remote package', async () => {
    const job = new project.CsvJob(3);
    const routine = new SSHDockerJobRoutine({
      job,
      name: 'assets-demo',
      version: '1.0.0',
      sourceRoot: project.sourceRoot,
      projectRoot: project.root,
      assets: ['data/**/*.csv'],
      workDir: path.join(work, 'routine'),
    });
    job.epochs = 1000; // a change after the routine was made is not delivered
    for (let i = 0; i < 2; i += 1) {
      const run = await routine.attached.execute();
      expect((await run.wait()).exitCode).toBe(0);
      expect(reports((await run.getLogs()).stdout)).toEqual([
        { rows: 3, trained: false, epochs: 3, history: 0 },
      ]);
    }
    const delivered = routine.packagingTask().payload.job as InstanceType<typeof project.CsvJob>;
    expect(delivered).toMatchObject({ trained: false, epochs: 3, history: [] });
    expect(routine.job).toBe(job);
  });
});
