/**
 * A 20-run parameter sweep on the remote host (the test bed), three ways, at most 2 runs at once:
 *
 *   sweep      one image built and shipped once; 20 queued containers started by the queue runner
 *              on the target (what `ferry sweep` does);
 *   separate   20 separate `execute()` calls, each job object carrying its parameters in its payload
 *              (what a sweep costs without run-time parameters: 20 packages, images and shipments);
 *   loop       20 `execute({ parameters })` calls from this process (one image, but the client
 *              drives every start and wait over SSH).
 *
 * Prints the wall time and the bytes sent over SSH for each, and the ratios to the sweep.
 * Needs the test bed (`bash scripts/testbed.sh up`).
 *
 * For the sweep it also prints the per-run overhead on the remote: (wall time − runs × job time /
 * parallel) / runs, over the queue's span as the engine recorded it (first container started to
 * last one finished) and over the whole sweep; the target is ≤ 0.3 s per run. `only-sweep` skips
 * the two slower ways.
 *
 *   npx tsx bench/sweep/run.ts [runs=20] [parallel=2] [only-sweep]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import Dockerode from 'dockerode';
import { PackagingTask } from '../../src/packaging/index.js';
import type { JobParameters } from '../../src/parameters/index.js';
import { RemoteDockerExecutor } from '../../src/routines/remoteDockerExecutor.js';
import { newRunId } from '../../src/routines/runId.js';
import { SshConnection } from '../../src/ssh/sshConnection.js';
import { enqueueSweep } from '../../src/sweeps/index.js';
import { loadTestbed, remoteSshOptions } from '../../test/support/testbed.js';
import { formatBytes, formatMs, ratio } from '../support.js';

const runs = Number(process.argv[2] ?? 20);
const parallel = Number(process.argv[3] ?? 2);
const onlySweep = process.argv[4] === 'only-sweep';
/** How long each run's job works (its `run()` sleeps this long). */
const JOB_MS = 300;
const tb = loadTestbed();
const local = new Dockerode({ socketPath: tb.localDocker.socketPath });
const remote = new Dockerode({ socketPath: tb.remote.dockerSocketPath });
const work = await mkdtemp(path.join(tmpdir(), 'ferry-bench-sweep-'));
const name = `bench-sweep-${process.pid}`;

interface Figures {
  readonly label: string;
  readonly ms: number;
  readonly bytesSent: number;
  readonly images: number;
}

type Job = { run(parameters?: JobParameters): unknown };
let JobClass: new (baked: JobParameters) => Job;

try {
  await main();
} finally {
  await cleanRemote();
  await cleanLocal();
  await rm(work, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const sourceRoot = path.join(work, 'src');
  await mkdir(sourceRoot, { recursive: true });
  await writeFile(path.join(work, 'package.json'), '{ "name": "bench-sweep", "type": "module" }\n');
  await writeFile(
    path.join(sourceRoot, 'job.ts'),
    `export class SweepJob {
  constructor(readonly baked: Record<string, unknown>) {}
  async run(parameters: Record<string, unknown> = {}) {
    await new Promise((resolve) => setTimeout(resolve, ${JOB_MS}));
    console.log('result', JSON.stringify({ ...this.baked, ...parameters }));
  }
}
`,
  );
  ({ SweepJob: JobClass } = (await import(pathToFileURL(path.join(sourceRoot, 'job.ts')).href)) as {
    SweepJob: typeof JobClass;
  });
  const task = (job: Job): PackagingTask =>
    new PackagingTask({ name, version: '1.0.0', payload: { job }, sourceRoot, projectRoot: work });

  console.log(
    `${runs} runs, at most ${parallel} at once, on ${tb.remote.username}@${tb.remote.host}:${tb.remote.port}\n`,
  );
  const results: Figures[] = [];
  for (const approach of onlySweep ? [sweep] : [sweep, separate, loop]) {
    await cleanRemote();
    results.push(await approach(task));
    const last = results.at(-1)!;
    console.log(
      `${last.label.padEnd(44)} ${formatMs(last.ms).padStart(9)}  ${formatBytes(last.bytesSent).padStart(9)} sent  ${last.images} image(s)`,
    );
  }
  const [ours, ...others] = results as [Figures, ...Figures[]];
  console.log('');
  for (const other of others) {
    console.log(
      `${other.label.split(':')[0]!.padEnd(10)} / sweep: time ${ratio(ours.ms, other.ms)}, bytes sent ${ratio(ours.bytesSent, other.bytesSent)}`,
    );
  }
}

async function connect(): Promise<SshConnection> {
  return SshConnection.connect(remoteSshOptions(tb));
}

function executorFor(connection: SshConnection, task: () => PackagingTask): RemoteDockerExecutor {
  return new RemoteDockerExecutor({
    packagingTask: task,
    ssh: { host: tb.remote.host },
    connection,
    dockerSocketPath: tb.remote.dockerSocketPath,
    localDocker: local,
    containering: { imageName: `ferry-bench/${name}`, baseImage: tb.baseImage },
    workDir: path.join(work, '.ferry'),
  });
}

/** `ferry sweep`: build and ship once, queue every run on the target. */
async function sweep(task: (job: Job) => PackagingTask): Promise<Figures> {
  const connection = await connect();
  try {
    const start = performance.now();
    const executor = executorFor(connection, () => task(new JobClass({})));
    const image = await executor.build();
    const shipped = await executor.ship(image);
    const docker = await executor.remoteDocker();
    const shippedAt = performance.now();
    const sweepId = `sweep-${newRunId()}`;
    const manifest = image.packageInfo.manifest;
    await enqueueSweep({
      docker,
      image: shipped.reference,
      sweepId,
      job: { name: manifest.name, version: manifest.version, uid: manifest.uid },
      target: 'bench',
      runs: Array.from({ length: runs }, (_, index) => ({
        runId: newRunId(),
        index,
        parameters: { i: index },
      })),
      maxParallel: parallel,
      env: [],
      hostConfig: {},
      hostSocketPath: tb.remote.dockerSocketPath,
    });
    const queuedAt = performance.now();
    // The queue runs on the target; here we only look at it once a second, as `ferry sweep` does.
    for (;;) {
      const containers = await docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`ferry.sweep=${sweepId}`, 'ferry.role=run'] }),
      });
      if (containers.length === runs && containers.every((c) => c.State === 'exited')) {
        const failed = containers.filter((c) => !c.Status.startsWith('Exited (0)'));
        if (failed.length > 0) throw new Error(`${failed.length} sweep runs failed`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const drainedAt = performance.now();
    console.log(
      `  (sweep phases: build and ship ${formatMs(shippedAt - start)}, queue ${runs} containers ${formatMs(queuedAt - shippedAt)}, runs ${formatMs(drainedAt - queuedAt)})`,
    );
    const span = await engineSpan(docker, sweepId);
    const ideal = (runs * JOB_MS) / parallel;
    const perRun = (ms: number) => `${formatMs((ms - ideal) / runs)} per run`;
    console.log(
      `  (per-run overhead, target ≤ 300 ms: ${perRun(span)} over the engine's span of the runs, ${formatMs(span)}; ${perRun(drainedAt - shippedAt)} from the image shipped to the last run seen ended, polled each second; ${perRun(drainedAt - start)} over the whole sweep)`,
    );
    return {
      label: 'sweep: one image, queue on the target',
      ms: performance.now() - start,
      bytesSent: connection.bytesSent,
      images: await imageCount(),
    };
  } finally {
    await connection.close();
  }
}

/** Without run-time parameters: each run's parameters baked into its own job object, image and shipment. */
async function separate(task: (job: Job) => PackagingTask): Promise<Figures> {
  const connection = await connect();
  try {
    const start = performance.now();
    await inParallel(async (index) => {
      const executor = executorFor(connection, () => task(new JobClass({ i: index })));
      const run = await executor.execute({ wait: true });
      if ((await run.status()).exitCode !== 0) throw new Error(`run ${index} failed`);
    });
    return {
      label: 'separate: 20 execute(), parameters baked in',
      ms: performance.now() - start,
      bytesSent: connection.bytesSent,
      images: await imageCount(),
    };
  } finally {
    await connection.close();
  }
}

/** One image, but this process starts and waits for every run. */
async function loop(task: (job: Job) => PackagingTask): Promise<Figures> {
  const connection = await connect();
  try {
    const start = performance.now();
    const executor = executorFor(connection, () => task(new JobClass({})));
    await inParallel(async (index) => {
      const run = await executor.execute({ wait: true, parameters: { i: index } });
      if ((await run.status()).exitCode !== 0) throw new Error(`run ${index} failed`);
    });
    return {
      label: 'loop: 20 execute({ parameters }), one image',
      ms: performance.now() - start,
      bytesSent: connection.bytesSent,
      images: await imageCount(),
    };
  } finally {
    await connection.close();
  }
}

/** Runs `fn(0..runs-1)`, at most `parallel` at once. */
async function inParallel(fn: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < runs) await fn(next++);
    }),
  );
}

/** From the first run's start to the last one's end, in ms, as the engine recorded them. */
async function engineSpan(docker: Dockerode, sweepId: string): Promise<number> {
  const containers = await docker.listContainers({
    all: true,
    filters: JSON.stringify({ label: [`ferry.sweep=${sweepId}`, 'ferry.role=run'] }),
  });
  const states = await Promise.all(
    containers.map(async (c) => (await docker.getContainer(c.Id).inspect()).State),
  );
  const started = Math.min(...states.map((s) => Date.parse(s.StartedAt)));
  const finished = Math.max(...states.map((s) => Date.parse(s.FinishedAt)));
  return finished - started;
}

async function imageCount(): Promise<number> {
  return (await remote.listImages({ filters: JSON.stringify({ label: [`ferry.job=${name}`] }) }))
    .length;
}

async function cleanRemote(): Promise<void> {
  const containers = await remote.listContainers({
    all: true,
    filters: JSON.stringify({ label: [`ferry.job=${name}`] }),
  });
  await Promise.all(
    containers.map((c) =>
      remote
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
  for (const image of await remote.listImages({
    filters: JSON.stringify({ label: [`ferry.job=${name}`] }),
  })) {
    await remote
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
}

async function cleanLocal(): Promise<void> {
  for (const image of await local.listImages({
    filters: JSON.stringify({ label: [`ferry.job=${name}`] }),
  })) {
    await local
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
}
