/**
 * Many detached runs of the same job started at once, as a user's script or forty terminals do:
 * `ferry run -d` processes started together on the local engine and on the remote host (the test
 * bed over SSH), beside the same number started one after the other. Identical concurrent builds
 * must build (and ship) once, and every run must start.
 *
 * Prints, for each way: the wall time until every run was started, the runs that started, and the
 * images of the job on the engine afterwards (1 = built once); then the ratios.
 * Needs the test bed (`bash scripts/testbed.sh up`).
 *
 *   npx tsx bench/concurrent/run.ts [runs=40]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Dockerode from 'dockerode';
import { REPO_ROOT, loadTestbed } from '../../test/support/testbed.js';
import { testbedTarget } from '../../test/cli/support.js';
import { formatMs, ratio } from '../support.js';

const runs = Number(process.argv[2] ?? 40);
const tb = loadTestbed();
const engines = {
  local: new Dockerode({ socketPath: tb.localDocker.socketPath }),
  testbed: new Dockerode({ socketPath: tb.remote.dockerSocketPath }),
} as const;
const root = await mkdtemp(path.join(tmpdir(), 'ferry-bench-concurrent-'));
const project = `bench-concurrent-${process.pid}`;
const bin = path.join(REPO_ROOT, 'bin', 'ferry.mjs');

interface Figures {
  readonly label: string;
  readonly ms: number;
  readonly started: number;
  readonly images: number;
}

try {
  await main();
} finally {
  for (const docker of Object.values(engines)) await clean(docker);
  await rm(root, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const init = await ferry(['init', 'project', '--name', project], root);
  if (init.code !== 0) throw new Error(`ferry init failed: ${init.stderr}`);
  const dir = path.join(root, 'project');
  const configFile = path.join(dir, 'ferry.config.json');
  const config = JSON.parse(await readFile(configFile, 'utf8')) as Record<string, unknown>;
  const targets = config.targets as Record<string, Record<string, unknown>>;
  targets.local!.baseImage = tb.baseImage;
  targets.testbed = testbedTarget(tb);
  await writeFile(configFile, JSON.stringify(config, null, 2));

  console.log(`${runs} detached runs of one job (ferry run -d), ${process.execPath}\n`);
  const results: Figures[] = [];
  for (const [label, target, together] of [
    ['at once, local engine', 'local', true],
    ['at once, remote host over SSH', 'testbed', true],
    ['one after another, local engine', 'local', false],
  ] as const) {
    // Every way starts from an engine without the job's image, so each pays its build.
    for (const docker of Object.values(engines)) await clean(docker);
    const figures = await startRuns(label, dir, target, together);
    results.push(figures);
    console.log(
      `${label.padEnd(34)} ${formatMs(figures.ms).padStart(9)}  ${figures.started}/${runs} started  ${figures.images} image(s) on the engine`,
    );
  }
  const [local, remote, sequential] = results as [Figures, Figures, Figures];
  console.log('');
  console.log(`one after another / at once (local): ${ratio(local.ms, sequential.ms)}`);
  console.log(`remote at once / local at once: ${ratio(local.ms, remote.ms)}`);
}

async function startRuns(
  label: string,
  dir: string,
  target: keyof typeof engines,
  together: boolean,
): Promise<Figures> {
  const start = performance.now();
  const args = ['run', '-d', '--target', target];
  let results: FerryResult[];
  if (together) {
    results = await Promise.all(Array.from({ length: runs }, () => ferry(args, dir)));
  } else {
    results = [];
    for (let i = 0; i < runs; i++) results.push(await ferry(args, dir));
  }
  const ms = performance.now() - start;
  const failed = results.filter((r) => r.code !== 0);
  if (failed.length > 0)
    console.log(`  ${failed.length} failed, e.g.: ${failed[0]!.stderr.trim().split('\n').at(-1)}`);
  const images = await engines[target].listImages({
    filters: JSON.stringify({ label: [`ferry.job=${project}`] }),
  });
  return { label, ms, started: results.length - failed.length, images: images.length };
}

interface FerryResult {
  readonly code: number | null;
  readonly stderr: string;
}

function ferry(args: readonly string[], cwd: string): Promise<FerryResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** Removes the bench's containers and images from an engine. */
async function clean(docker: Dockerode): Promise<void> {
  const filters = JSON.stringify({ label: [`ferry.job=${project}`] });
  for (const c of await docker.listContainers({ all: true, filters })) {
    await docker.getContainer(c.Id).remove({ force: true });
  }
  for (const image of await docker.listImages({ filters })) {
    await docker.getImage(image.Id).remove({ force: true });
  }
}
