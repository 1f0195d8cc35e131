/**
 * Containering figures for a one-line change in a job's source: build time and bytes of new image
 * layers with Ferry (layers by how often things change) beside a plain Dockerfile that copies the
 * project with its node_modules on every build; plus a payload-only change and an unchanged rebuild.
 * Needs the test bed's local engine and base image (`bash scripts/testbed.sh up`).
 *
 *   npx tsx bench/containering/run.ts
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { ContaineringTask, makeContainer, type ImageInfo } from '../../src/containering/index.js';
import { runImageBuild } from '../../src/containering/imageBuild.js';
import { PackagingTask } from '../../src/packaging/index.js';
import { formatBytes, formatMs, ratio, timed } from '../support.js';

const BASE_IMAGE = process.env.FERRY_BENCH_BASE_IMAGE ?? 'node:20-bookworm-slim';
/** npm packages the bench job imports: versions from Ferry's own lockfile, so npm's cache has them. */
const DEPENDENCIES = ['handlebars', 'semver', 'archiver'];

const repo = fileURLToPath(new URL('../../', import.meta.url));
const nonce = randomBytes(4).toString('hex');
const docker = new Dockerode();
const work = await mkdtemp(path.join(tmpdir(), 'ferry-bench-containering-'));
const images = new Set<string>();

try {
  await docker.ping();
  await docker.getImage(BASE_IMAGE).inspect();
  await run();
} finally {
  for (const id of [...images].reverse()) {
    await docker
      .getImage(id)
      .remove({ force: true })
      .catch((error: { statusCode?: number }) => {
        if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
      });
  }
  await rm(work, { recursive: true, force: true });
}

async function run(): Promise<void> {
  const project = path.join(work, 'project');
  await writeProject(project);
  const jobFile = path.join(project, 'src', 'job.ts');
  const cacheDir = path.join(work, 'cache');

  // Packaging finds classes by importing the source root's modules; Node keeps the first import, and
  // the bundle is made from the files on disk, so the edit below reaches the image.
  const loadJob = async (threshold: number) => {
    const { ScoringJob } = (await import(jobFile)) as {
      ScoringJob: new (threshold: number) => object;
    };
    return new ScoringJob(threshold);
  };
  const ferryBuild = async (threshold: number): Promise<ImageInfo> => {
    const task = new ContaineringTask({
      packagingTask: new PackagingTask({
        name: 'bench-scoring',
        version: '1.0.0',
        payload: { job: await loadJob(threshold) },
        sourceRoot: path.join(project, 'src'),
      }),
      imageName: 'ferry-bench/scoring',
      baseImage: BASE_IMAGE,
    });
    const image = await makeContainer(task, { docker, cacheDir });
    images.add(image.imageId);
    return image;
  };
  const plainBuild = async (tag: string): Promise<string> => {
    // What `docker build .` sends: the whole project folder, node_modules included.
    await runImageBuild(docker, Readable.from(tar.c({ cwd: project, portable: true }, ['.'])), {
      reference: `ferry-bench/plain:${tag}`,
    });
    const inspected = await docker.getImage(`ferry-bench/plain:${tag}`).inspect();
    images.add(inspected.Id);
    return inspected.Id;
  };

  // Warm up both ways (base image, npm install into Ferry's cache, the runtime bundle).
  const ferryBefore = await ferryBuild(0.5);
  const plainBefore = await plainBuild('before');

  // The one-line change.
  const source = await readFile(jobFile, 'utf8');
  await writeFile(jobFile, source.replace('const SCALE = 1;', 'const SCALE = 2;'));

  const ferryAfter = await timed(() => ferryBuild(0.5));
  const plainAfter = await timed(() => plainBuild('after'));
  const ferryBytes = await newLayerBytes(ferryAfter.result.imageId, ferryBefore.imageId);
  const plainBytes = await newLayerBytes(plainAfter.result, plainBefore);

  const sweep = await timed(() => ferryBuild(0.75));
  const sweepBytes = await newLayerBytes(sweep.result.imageId, ferryAfter.result.imageId);
  const unchanged = await timed(() => ferryBuild(0.75));

  const nodeModules = duBytes(path.join(project, 'node_modules'));
  console.log(
    `one-line change in a job's source (project: ${DEPENDENCIES.join(', ')}; node_modules ${formatBytes(nodeModules)})`,
  );
  console.log(
    `  ferry (package, context, build):    ${formatMs(ferryAfter.ms)}, new layers ${formatBytes(ferryBytes)}`,
  );
  console.log(
    `  plain Dockerfile (COPY . /app):     ${formatMs(plainAfter.ms)}, new layers ${formatBytes(plainBytes)}`,
  );
  console.log(
    `  ratio (plain / ferry): time ${ratio(ferryAfter.ms, plainAfter.ms)}, new-layer bytes ${ratio(Math.max(ferryBytes, 1), plainBytes)}`,
  );
  console.log(`payload-only change (parameter sweep)`);
  console.log(
    `  ferry:                              ${formatMs(sweep.ms)}, new layers ${formatBytes(sweepBytes)}`,
  );
  console.log(`unchanged source and payload`);
  console.log(
    `  ferry (found by content digest):    ${formatMs(unchanged.ms)}, built: ${unchanged.result.built}`,
  );
}

/** Bytes of the layers `image` has on top of what it shares with `previous` (classic builder parents). */
async function newLayerBytes(image: string, previous: string): Promise<number> {
  const before = new Set(
    (await docker.getImage(previous).history()).map((h: { Id: string }) => h.Id),
  );
  let bytes = 0;
  for (const entry of (await docker.getImage(image).history()) as { Id: string; Size: number }[]) {
    if (before.has(entry.Id) && entry.Id !== '<missing>') break;
    bytes += entry.Size;
  }
  return bytes;
}

async function writeProject(project: string): Promise<void> {
  const lock = JSON.parse(await readFile(path.join(repo, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string }>;
  };
  const dependencies = Object.fromEntries(
    DEPENDENCIES.map((name) => [name, lock.packages[`node_modules/${name}`]?.version ?? 'latest']),
  );
  await mkdir(path.join(project, 'src'), { recursive: true });
  await writeFile(
    path.join(project, 'package.json'),
    `${JSON.stringify({ name: 'bench-project', version: '1.0.0', private: true, type: 'module', dependencies }, null, 2)}\n`,
  );
  await writeFile(
    path.join(project, 'Dockerfile'),
    `FROM ${BASE_IMAGE}\nWORKDIR /app\nCOPY . /app\nENTRYPOINT ["node", "/app/src/job.ts"]\n`,
  );
  await writeFile(
    path.join(project, 'src', 'job.ts'),
    `// bench run ${nonce}
import Handlebars from 'handlebars';
import semver from 'semver';
import { TarArchive } from 'archiver';

const SCALE = 1;

export class ScoringJob {
  constructor(readonly threshold: number) {}

  run(): void {
    const render = Handlebars.compile('score {{score}} (semver {{version}})');
    console.log(render({ score: this.threshold * SCALE, version: semver.valid('1.0.0') }));
    console.log(typeof TarArchive);
  }
}
`,
  );
  const npm = spawnSync(
    'npm',
    [
      'install',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--loglevel=error',
    ],
    { cwd: project, encoding: 'utf8' },
  );
  if (npm.status !== 0) throw new Error(`npm install in the bench project failed:\n${npm.stderr}`);
}

function duBytes(dir: string): number {
  const du = spawnSync('du', ['-sb', dir], { encoding: 'utf8' });
  return Number(du.stdout.split('\t')[0] ?? 0);
}
