/**
 * Ferry as a user gets it: `npm pack`ed, installed from the tarball into a fresh project under the
 * system's temporary folder (which cannot see this repository's node_modules), then used the ways
 * the README says: imported from plain Node ESM and CommonJS, type-checked by a strict consumer,
 * and `ferry init` → `npm install && npm test && npx ferry run` (attached, and on the local engine).
 * One install is shared by every assertion; npm installs Ferry's dependencies from the registry.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEngine, editConfig } from '../cli/support.js';
import { REPO_ROOT, requireTestbed } from '../support/testbed.js';

const testbed = requireTestbed('local', 'baseImage');

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The environment of a user's shell: without the `npm_*` variables `npm test` sets for this
 * repository (its prefix, its package's fields), which would point the inner npm back here.
 */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && key !== 'INIT_CWD') env[key] = value;
  }
  return {
    ...env,
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    npm_config_update_notifier: 'false',
    ...extra,
  };
}

function run(
  command: string,
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: userEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs and expects exit 0; the output is in the failure message. */
async function ok(
  command: string,
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<Result> {
  const result = await run(command, args, cwd, env);
  expect(result.code, `${command} ${args.join(' ')}\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result;
}

interface Manifest {
  readonly version: string;
  readonly dependencies: Readonly<Record<string, string>>;
  readonly devDependencies: Readonly<Record<string, string>>;
}

describe('Ferry installed from its npm tarball, outside this repository', () => {
  let root: string;
  let tarball: string;
  let packed: string[];
  let consumer: string;
  let manifest: Manifest;

  beforeAll(async () => {
    manifest = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as Manifest;
    root = await mkdtemp(path.join(os.tmpdir(), 'ferry-package-'));
    // `npm pack` runs `prepare`: the tarball holds a fresh build.
    const pack = await ok('npm', ['pack', '--json', '--pack-destination', root], REPO_ROOT);
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as {
      filename: string;
      files: { path: string }[];
    }[];
    tarball = path.join(root, info!.filename);
    packed = info!.files.map((f) => f.path);
    consumer = path.join(root, 'consumer');
    await mkdir(consumer);
    await writeFile(
      path.join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
    );
    await ok(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        tarball,
        `typescript@${manifest.devDependencies.typescript}`,
      ],
      consumer,
    );
  }, 600_000);

  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  it('packs the build, the templates and the docs, and nothing of the repository', () => {
    for (const file of [
      'package.json',
      'README.md',
      'bin/ferry.mjs',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/index.d.ts.map',
      'dist/cli/main.js',
      'dist/bundles/runtime.mjs',
      'dist/bundles/queueRunner.mjs',
      'templates/Dockerfile.hbs',
      'templates/init/_package.json',
    ]) {
      expect(packed, file).toContain(file);
    }
    const stray = packed.filter(
      (file) => !/^(?:dist|templates|schema|bin)\//.test(file) && !/^[^/]+$/.test(file),
    );
    expect(stray).toEqual([]);
    expect(packed.filter((file) => file.startsWith('dist/') && /(?<!\.d)\.ts$/.test(file))).toEqual(
      [],
    );
  });

  it('imports from plain Node ESM and from CommonJS (require of an ES module)', async () => {
    const esm = await ok(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { SSHDockerJobRoutine, DockerOptions, FerryError, loadConfig, ferryVersion } from 'ferry'; console.log([SSHDockerJobRoutine, DockerOptions, FerryError, loadConfig].map((v) => typeof v).join(','), ferryVersion);",
      ],
      consumer,
    );
    expect(esm.stdout.trim()).toBe(`function,function,function,function ${manifest.version}`);
    const cjs = await ok(
      process.execPath,
      [
        '-e',
        "const ferry = require('ferry'); console.log(typeof ferry.SSHDockerJobRoutine, ferry.ferryVersion);",
      ],
      consumer,
    );
    expect(cjs.stdout.trim()).toBe(`function ${manifest.version}`);
  });

  it("type-checks a strict consumer from Ferry's declarations alone", async () => {
    await writeFile(
      path.join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          exactOptionalPropertyTypes: true,
          noPropertyAccessFromIndexSignature: true,
          noUncheckedIndexedAccess: true,
          // Ferry's declarations are checked too, under these flags.
          skipLibCheck: false,
          noEmit: true,
        },
        files: ['consumer.ts'],
      }),
    );
    await writeFile(
      path.join(consumer, 'consumer.ts'),
      `import { DockerOptions, FerryError, loadConfig, type Job, type JobParameters } from 'ferry';

class Greeter implements Job {
  async run(parameters: JobParameters): Promise<void> {
    console.log(parameters['name']);
  }
}
export const job: Job = new Greeter();
export const options = new DockerOptions({});
export const load: typeof loadConfig = loadConfig;
export const isFerryError = (error: unknown): boolean => error instanceof FerryError;
`,
    );
    const tsc = path.join(consumer, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', '.', '--listFilesOnly'], consumer);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const ferryFiles = result.stdout
      .split('\n')
      .filter((file) => file.includes(`${path.sep}node_modules${path.sep}ferry${path.sep}`));
    expect(ferryFiles.length).toBeGreaterThan(0);
    expect(ferryFiles.filter((file) => !file.endsWith('.d.ts'))).toEqual([]);
    await ok(process.execPath, [tsc, '-p', '.'], consumer);
  }, 180_000);

  it('says what to change when ferry init runs in a CommonJS project', async () => {
    const legacy = path.join(root, 'legacy');
    await mkdir(legacy);
    await ok('npm', ['init', '-y'], legacy);
    const ferryBin = path.join(consumer, 'node_modules', '.bin', 'ferry');
    const result = await run(ferryBin, ['init'], legacy);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('"type": "commonjs"');
    expect(result.stderr).toContain('npm pkg set type=module');
    await ok('npm', ['pkg', 'set', 'type=module'], legacy);
    const fixed = await run(ferryBin, ['init'], legacy);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.stderr).toContain('npm install --save-dev');
    expect(fixed.stderr).toContain('npm pkg set scripts.test=');
  });

  describe.skipIf(!testbed)('a project made by ferry init', () => {
    const project = `pkg-${randomBytes(3).toString('hex')}`;
    let dir: string;
    let docker: Dockerode;

    beforeAll(async () => {
      docker = new Dockerode({ socketPath: testbed!.localDocker.socketPath });
      dir = path.join(consumer, project);
      await ok('npx', ['ferry', 'init', project], consumer);
    }, 60_000);

    afterAll(async () => {
      if (docker !== undefined) await cleanEngine(docker, project);
    });

    it('declares ferry (this tarball) and tsx, and passes its own npm test', async () => {
      const own = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as Manifest & {
        type: string;
      };
      expect(own.type).toBe('module');
      expect(own.devDependencies).toEqual({
        ferry: `file:${tarball}`,
        tsx: manifest.dependencies.tsx,
      });
      await ok('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], dir);
      const test = await ok('npm', ['test'], dir);
      expect(test.stdout).toMatch(/# pass 2/);
    }, 300_000);

    it('runs attached and on the local engine with npx ferry', async () => {
      const attached = await ok(
        'npx',
        ['ferry', 'run', '--target', 'attached', '--param', 'name=Ada'],
        dir,
      );
      expect(attached.stdout).toContain('Hello, Ada!');
      await editConfig(dir, (config) => {
        (config.targets as Record<string, Record<string, unknown>>).local!.baseImage =
          testbed!.baseImage;
      });
      const local = await ok('npx', ['ferry', 'run', '--param', 'name=Grace'], dir, {
        DOCKER_HOST: `unix://${testbed!.localDocker.socketPath}`,
      });
      expect(local.stdout).toContain('Hello, Grace!');
      expect(local.stderr).toMatch(/succeeded \(exit code 0\)/);
    }, 300_000);
  });
});
