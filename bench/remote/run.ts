/**
 * Remote figures for a one-line change in a job's source: bytes sent over SSH and the time from
 * `execute()` to the job's first log line with routine.remote, beside the plain way
 * (`docker save IMAGE | ssh host docker load`, then `ssh host docker run IMAGE`), as ratios.
 * Needs the test bed (`bash scripts/testbed.sh up`): local engine, remote host, base image.
 *
 *   npx tsx bench/remote/run.ts [repetitions=3]
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import Dockerode from 'dockerode';
import { sourceRoot as exampleSourceRoot } from '../../examples/featurization/createJob.js';
import { PackagingTask } from '../../src/packaging/index.js';
import { RUN_LABELS } from '../../src/routines/docker/labels.js';
import {
  RemoteDockerExecutor,
  type RemoteDockerExecutorFields,
  type RemoteProgress,
} from '../../src/routines/remoteDockerExecutor.js';
import { loadTestbed, remoteSshOptions } from '../../test/support/testbed.js';
import { formatBytes, formatMs, ratio } from '../support.js';

const repetitions = Number(process.argv[2] ?? 3);
const tb = loadTestbed();
const local = new Dockerode({ socketPath: tb.localDocker.socketPath });
const work = await mkdtemp(path.join(tmpdir(), 'ferry-bench-remote-'));
const jobName = `bench-remote-${process.pid}`;
const sshArgs = [
  '-v',
  '-i',
  tb.remote.privateKeyPath,
  '-p',
  String(tb.remote.port),
  '-o',
  `UserKnownHostsFile=${tb.remote.knownHostsPath}`,
  '-o',
  'StrictHostKeyChecking=yes',
  '-o',
  'BatchMode=yes',
  `${tb.remote.username}@${tb.remote.host}`,
];

interface Figures {
  readonly ms: number;
  readonly wireBytes: number;
  readonly archiveBytes: number;
}

let executor: RemoteDockerExecutor | undefined;
let viaRegistry: RemoteDockerExecutor | undefined;
try {
  await main();
} finally {
  await cleanUp();
  await rm(work, { recursive: true, force: true });
}

async function main(): Promise<void> {
  // A copy of the featurization example, edited between runs (one line each time).
  const project = path.join(work, 'project');
  await cp(path.dirname(exampleSourceRoot), project, { recursive: true });
  await writeFile(
    path.join(project, 'package.json'),
    '{ "name": "bench-remote", "version": "1.0.0", "type": "module" }\n',
  );
  const jobFile = path.join(project, 'src', 'featurizationJob.ts');
  const { createFeaturizationJob } = (await import(
    pathToFileURL(path.join(project, 'createJob.ts')).href
  )) as {
    createFeaturizationJob: () => object;
  };
  let buildDoneAt = 0;
  const fields: RemoteDockerExecutorFields = {
    packagingTask: () =>
      new PackagingTask({
        name: jobName,
        version: '1.0.0',
        payload: { job: createFeaturizationJob() },
        sourceRoot: path.join(project, 'src'),
      }),
    ssh: remoteSshOptions(tb),
    dockerSocketPath: tb.remote.dockerSocketPath,
    containering: { imageName: `ferry-bench/${jobName}`, baseImage: tb.baseImage },
    localDocker: local,
    workDir: path.join(work, 'ferry'),
    cacheDir: path.join(work, 'cache'),
    onProgress: (progress: RemoteProgress) => {
      if (progress.stage === 'ship' && buildDoneAt === 0) buildDoneAt = performance.now();
    },
  };
  executor = new RemoteDockerExecutor(fields);
  viaRegistry = new RemoteDockerExecutor({
    ...fields,
    repository: `${tb.registry.address}/ferry-bench`,
  });

  // Warm up: the first version goes over once, both ways.
  const first = await executor.execute({ wait: true });
  await removeRemoteImage(
    (await executor.session()).docker,
    executor.lastImage!.reference,
    first.id,
  );
  await plainWay(executor.lastImage!.reference);
  await viaRegistry.execute({ wait: true });

  const ferry: Figures[] = [];
  const plain: (Figures & { buildMs: number })[] = [];
  const registry: Figures[] = [];
  const original = await readFile(jobFile, 'utf8');
  for (let i = 1; i <= repetitions; i += 1) {
    await writeFile(
      jobFile,
      original.replace('read ${rows.length} rows', `read ${'${rows.length}'} rows (change ${i})`),
    );

    // Ferry: execute() → first log line; the connection is up already (as in a session that ran before).
    const { connection } = await executor.session();
    const wireBefore = connection.bytesSent;
    buildDoneAt = 0;
    const start = performance.now();
    const run = await executor.execute();
    const firstLine = await firstLogLine((onLine, signal) =>
      executor!.followLogs({ runId: run.id, onLine, signal }),
    );
    const ferryMs = firstLine - start;
    const buildMs = buildDoneAt - start;
    await run.wait();
    ferry.push({
      ms: ferryMs,
      wireBytes: connection.bytesSent - wireBefore,
      archiveBytes: executor.lastShipment!.bytesSent,
    });

    // The plain way, with the same image: absent from the remote again, then save | ssh load, ssh run.
    await removeRemoteImage(
      (await executor.session()).docker,
      executor.lastImage!.reference,
      run.id,
    );
    const way = await plainWay(executor.lastImage!.reference);
    plain.push({ ...way, ms: buildMs + way.ms, buildMs });

    // Ferry through the registry (another one-line change, so that it builds too).
    await writeFile(
      jobFile,
      original.replace('read ${rows.length} rows', `read ${'${rows.length}'} rows (registry ${i})`),
    );
    const registryConnection = (await viaRegistry.session()).connection;
    const registryWire = registryConnection.bytesSent;
    const registryStart = performance.now();
    const registryRun = await viaRegistry.execute();
    const registryFirst = await firstLogLine((onLine, signal) =>
      viaRegistry!.followLogs({ runId: registryRun.id, onLine, signal }),
    );
    await registryRun.wait();
    registry.push({
      ms: registryFirst - registryStart,
      wireBytes: registryConnection.bytesSent - registryWire,
      archiveBytes: 0,
    });
  }

  const median = (values: number[]): number =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const f = {
    ms: median(ferry.map((x) => x.ms)),
    wire: median(ferry.map((x) => x.wireBytes)),
    archive: median(ferry.map((x) => x.archiveBytes)),
  };
  const p = {
    ms: median(plain.map((x) => x.ms)),
    wire: median(plain.map((x) => x.wireBytes)),
    archive: median(plain.map((x) => x.archiveBytes)),
    build: median(plain.map((x) => x.buildMs)),
  };
  console.log(
    `one-line change in the featurization example's source, shipped to ${tb.remote.username}@${tb.remote.host}:${tb.remote.port} (median of ${repetitions})`,
  );
  console.log(
    `  ferry routine.remote:        execute() → first log line ${formatMs(f.ms)}; over SSH ${formatBytes(f.wire)} (image archive ${formatBytes(f.archive)})`,
  );
  console.log(
    `  docker save | ssh docker load + ssh docker run: ${formatMs(p.ms)} (build ${formatMs(p.build)} + ship and run ${formatMs(p.ms - p.build)}); over SSH ${formatBytes(p.wire)} (image archive ${formatBytes(p.archive)})`,
  );
  const r = {
    ms: median(registry.map((x) => x.ms)),
    wire: median(registry.map((x) => x.wireBytes)),
  };
  console.log(
    `  ferry routine.remote via the registry (${tb.registry.address}): execute() → first log line ${formatMs(r.ms)}; over SSH ${formatBytes(r.wire)} (API calls only; layers go through the registry)`,
  );
  console.log(
    `  ratio (plain / ferry): time ${ratio(f.ms, p.ms)}, bytes over SSH ${ratio(Math.max(f.wire, 1), p.wire)}`,
  );
}

/** The time of the first line the run prints. */
async function firstLogLine(
  follow: (onLine: (line: string) => void, signal: AbortSignal) => Promise<void>,
): Promise<number> {
  const abort = new AbortController();
  let at = 0;
  await follow(() => {
    if (at === 0) {
      at = performance.now();
      abort.abort();
    }
  }, abort.signal);
  return at;
}

/** `docker save IMAGE | ssh host docker load`, then `ssh host docker run --rm IMAGE` to its first line. */
async function plainWay(image: string): Promise<Figures> {
  const start = performance.now();
  const saved = (await local.getImage(image).get()) as NodeJS.ReadableStream;
  let archiveBytes = 0;
  const load = spawn('ssh', [...sshArgs, 'docker', 'load'], { stdio: ['pipe', 'ignore', 'pipe'] });
  const loadDone = exited(load);
  saved.on('data', (chunk: Buffer) => (archiveBytes += chunk.length));
  saved.pipe(load.stdin!);
  const loadStderr = await loadDone;
  const runner = spawn('ssh', [...sshArgs, 'docker', 'run', '--rm', image], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const runDone = exited(runner);
  const firstLine = await new Promise<number>((resolve) => {
    runner.stdout!.once('data', () => resolve(performance.now()));
  });
  runner.stdout!.resume();
  const runStderr = await runDone;
  return {
    ms: firstLine - start,
    wireBytes: transferred(loadStderr) + transferred(runStderr),
    archiveBytes,
  };
}

function exited(child: ReturnType<typeof spawn>): Promise<string> {
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve(stderr)
        : reject(
            new Error(
              `ssh exited with ${code}: ${stderr
                .split('\n')
                .filter((l) => !l.startsWith('debug'))
                .join('\n')}`,
            ),
          ),
    );
  });
}

/** Bytes the OpenSSH client sent, from its `-v` summary (`Transferred: sent N, received M bytes`). */
function transferred(stderr: string): number {
  const match = /Transferred: sent (\d+), received \d+ bytes/.exec(stderr);
  if (match === null) throw new Error('ssh -v printed no transfer summary');
  return Number(match[1]);
}

async function removeRemoteImage(remote: Dockerode, image: string, runId: string): Promise<void> {
  const filters = JSON.stringify({ label: [`${RUN_LABELS.runId}=${runId}`] });
  for (const c of await remote.listContainers({ all: true, filters })) {
    await remote.getContainer(c.Id).remove({ force: true });
  }
  await remote.getImage(image).remove({ force: true });
}

async function cleanUp(): Promise<void> {
  if (executor === undefined) return;
  const filters = JSON.stringify({ label: [`${RUN_LABELS.job}=${jobName}`] });
  const remote = (await executor.session()).docker;
  for (const docker of [remote, local]) {
    for (const c of await docker.listContainers({ all: true, filters })) {
      await docker.getContainer(c.Id).remove({ force: true });
    }
    for (const image of await docker.listImages({ filters })) {
      await docker
        .getImage(image.Id)
        .remove({ force: true })
        .catch((error: { statusCode?: number }) => {
          if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
        });
    }
  }
  await executor.close();
  await viaRegistry?.close();
}
