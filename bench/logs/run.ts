/**
 * Output figures for a job that prints a lot: a 1,000,000-line job (`ChattyJob`, odd lines on stdout,
 * even ones on stderr, as fast as it can) in a container on the local engine, followed live with
 * `followLogs` from a process of its own. Prints the lines kept (live, and by the engine once the job
 * has exited: all of them, in order per stream, the closing line last), the times, and the peak
 * memory (RSS) of following, counting lines and printing them as `ferry logs -f` does.
 * Needs the test bed's local engine and base image (`bash scripts/testbed.sh up`).
 *
 *   npx tsx bench/logs/run.ts [lines=1000000] [width=40]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { PackagingTask } from '../../src/packaging/index.js';
import { RUN_LABELS } from '../../src/routines/docker/labels.js';
import type { DockerJobRun } from '../../src/routines/docker/dockerJobRun.js';
import { LocalDockerExecutor } from '../../src/routines/localDockerExecutor.js';
import { ChattyJob } from '../../test/entrypoint/fixtures/chattyJob.js';
import { loadTestbed } from '../../test/support/testbed.js';
import { formatBytes, formatMs, timed } from '../support.js';
import type { FollowFigures } from './follow.js';

const LINES = Number(process.argv[2] ?? 1_000_000);
const WIDTH = Number(process.argv[3] ?? 40);
const repo = fileURLToPath(new URL('../../', import.meta.url));
const sourceRoot = path.join(repo, 'test/entrypoint/fixtures');
/** The slow reader reads nothing for this long (a pager nobody scrolls yet), then all it is given. */
const SLOW_READER_STALL_MS = 10_000;
const followScript = fileURLToPath(new URL('./follow.ts', import.meta.url));
const tb = loadTestbed();
const docker = new Dockerode({ socketPath: tb.localDocker.socketPath });
const work = await mkdtemp(path.join(tmpdir(), 'ferry-bench-logs-'));
const name = `bench-logs-${process.pid}`;

try {
  await main();
} finally {
  const containers = await docker.listContainers({
    all: true,
    filters: JSON.stringify({ label: [`${RUN_LABELS.job}=${name}`] }),
  });
  for (const c of containers) await docker.getContainer(c.Id).remove({ force: true });
  await docker
    .getImage(`ferry-bench/${name}:1.0.0`)
    .remove({ force: true })
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
    });
  await rm(work, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const executor = new LocalDockerExecutor({
    packagingTask: new PackagingTask({
      name,
      version: '1.0.0',
      payload: { job: new ChattyJob(LINES, WIDTH) },
      sourceRoot,
    }),
    containering: { imageName: `ferry-bench/${name}`, baseImage: tb.baseImage },
    docker,
    cacheDir: path.join(work, 'cache'),
  });
  const build = await timed(() => executor.build());
  console.log(
    `${LINES.toLocaleString('en')}-line job (${WIDTH + 12} bytes a line, about ${formatBytes(LINES * (WIDTH + 12))}), ` +
      `image built in ${formatMs(build.ms)}\n`,
  );

  const started = performance.now();
  const run = (await executor.execute({ wait: false })) as DockerJobRun;
  const live = await follow(run.containerId, 'count');
  const result = await run.wait();
  const status = await run.status();
  const jobMs =
    status.startedAt && status.finishedAt
      ? status.finishedAt.getTime() - status.startedAt.getTime()
      : Number.NaN;
  console.log(`job: exit code ${result.exitCode} (${result.state}), ran ${formatMs(jobMs)}`);
  console.log(
    `live follow (from the start): ${report(live)}, ended ${formatMs(performance.now() - started)} after the start`,
  );
  const kept = await follow(run.containerId, 'count');
  console.log(`kept by the engine (followed after exit): ${report(kept)}`);
  const printed = await follow(run.containerId, 'print');
  console.log(`followed and printed to a pipe, as ferry logs -f: ${report(printed)}`);
  const slow = await follow(run.containerId, 'print', SLOW_READER_STALL_MS);
  console.log(`the same, into a slow reader: ${report(slow)}`);
  console.log('');
  for (const [label, f] of [
    ['live follow', live],
    ['after exit', kept],
    ['printing', printed],
    ['slow reader', slow],
  ] as const) {
    console.log(
      `${label.padEnd(12)} RSS before ${formatBytes(f.rssBefore).padStart(9)}, peak ${formatBytes(f.rssPeak).padStart(9)} ` +
        `(+${formatBytes(f.rssPeak - f.rssBefore)}), high-water mark ${formatBytes(f.vmHwm)}; ` +
        `${formatMs(f.ms)}, ${Math.round((f.lines.stdout + f.lines.stderr) / (f.ms / 1000)).toLocaleString('en')} lines/s`,
    );
  }
  const complete = [live, kept, printed, slow].every(
    (f) =>
      f.lines.stdout === Math.ceil(LINES / 2) &&
      f.lines.stderr === Math.floor(LINES / 2) &&
      f.outOfOrder === 0 &&
      f.lastStdout === 'Job completed',
  );
  console.log(`\nall lines, in order per stream, closing line last: ${complete ? 'yes' : 'NO'}`);
  if (!complete) process.exitCode = 1;
}

function report(f: FollowFigures): string {
  const total = f.lines.stdout + f.lines.stderr;
  return (
    `${total.toLocaleString('en')} of ${LINES.toLocaleString('en')} lines ` +
    `(${(100 * (total / LINES)).toFixed(1)}%; stdout ${f.lines.stdout.toLocaleString('en')}, stderr ${f.lines.stderr.toLocaleString('en')}), ` +
    `${f.outOfOrder} out of order, last stdout line ${JSON.stringify(f.lastStdout.slice(0, 30))}`
  );
}

/**
 * Follows the container's logs from a child process; resolves to its figures. `stallMs`: the
 * reader of its output reads nothing for this long first.
 */
async function follow(
  containerId: string,
  mode: 'count' | 'print',
  stallMs = 0,
): Promise<FollowFigures> {
  const resultFile = path.join(work, `follow-${mode}-${performance.now()}.json`);
  const tsx = path.join(repo, 'node_modules', '.bin', 'tsx');
  const child = spawn(
    tsx,
    ['--expose-gc', followScript, tb.localDocker.socketPath, containerId, mode, resultFile],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  for (const output of [child.stdout, child.stderr]) {
    output.on('data', () => undefined);
    if (stallMs > 0) {
      output.pause();
      setTimeout(() => output.resume(), stallMs);
    }
  }
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`the follower exited with ${code}`);
  return JSON.parse(await readFile(resultFile, 'utf8')) as FollowFigures;
}
