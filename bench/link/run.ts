/**
 * The edit-run loop over simulated links (issue 14): for each link profile (a delaying,
 * rate-limiting proxy of this bench's own in front of the test bed's sshd), median of N:
 *
 *   - one-line change in the featurization example → first remote log line (routine.remote over
 *     an SSH connection already open), with bytes over SSH and the Docker API calls it made;
 *   - the same again with nothing changed;
 *   - the floor: a container from an image the remote already has until its first log line, over
 *     the open connection (create, start, follow logs), and with a new one (`ssh host docker run`);
 *   - the naive way: `docker save | ssh host docker load`, then `ssh host docker run`;
 *
 * and the ratios against the issue's goals. Needs the test bed (`bash scripts/testbed.sh up`).
 *
 *   npx tsx bench/link/run.ts [repetitions=3] [naiveRepetitions=repetitions] [profiles=all, e.g. 0,2]
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
import { followLogStream } from '../../src/routines/docker/logs.js';
import {
  RemoteDockerExecutor,
  type RemoteDockerExecutorFields,
  type RemoteProgress,
} from '../../src/routines/remoteDockerExecutor.js';
import { loadTestbed, remoteSshOptions } from '../../test/support/testbed.js';
import { formatBytes, formatMs } from '../support.js';
import { countApiCalls, type ApiCallCounts } from './apiCalls.js';
import { LINK_PROFILES, startLinkProxy, type LinkProfile, type LinkProxy } from './proxy.js';

const repetitions = Number(process.argv[2] ?? 3);
const naiveRepetitions = Number(process.argv[3] ?? repetitions);
const profiles =
  process.argv[4] === undefined
    ? LINK_PROFILES
    : process.argv[4].split(',').map((i) => LINK_PROFILES[Number(i)]!);
const tb = loadTestbed();
const local = new Dockerode({ socketPath: tb.localDocker.socketPath });
const work = await mkdtemp(path.join(tmpdir(), 'ferry-bench-link-'));
const jobName = `bench-link-${process.pid}`;

interface Change {
  readonly ms: number;
  readonly buildMs: number;
  readonly wireBytes: number;
  readonly archiveBytes: number;
  readonly calls: ApiCallCounts;
}

interface ProfileFigures {
  readonly profile: LinkProfile;
  readonly connectMs: number;
  readonly change: Change;
  readonly unchanged: Change;
  readonly floorOpenMs: number;
  readonly floorOpenCalls: ApiCallCounts;
  readonly floorNewMs: number;
  readonly naiveMs: number | undefined;
  readonly naiveBytes: number | undefined;
}

const executors: RemoteDockerExecutor[] = [];
const proxies: LinkProxy[] = [];
try {
  await main();
} finally {
  await cleanUp();
  await rm(work, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const project = path.join(work, 'project');
  await cp(path.dirname(exampleSourceRoot), project, { recursive: true });
  await writeFile(
    path.join(project, 'package.json'),
    '{ "name": "bench-link", "version": "1.0.0", "type": "module" }\n',
  );
  const jobFile = path.join(project, 'src', 'featurizationJob.ts');
  const original = await readFile(jobFile, 'utf8');
  const { createFeaturizationJob } = (await import(
    pathToFileURL(path.join(project, 'createJob.ts')).href
  )) as { createFeaturizationJob: () => object };
  let buildDoneAt = 0;
  const fields = (port: number, pinned: boolean): RemoteDockerExecutorFields => ({
    packagingTask: () =>
      new PackagingTask({
        name: jobName,
        version: '1.0.0',
        payload: { job: createFeaturizationJob() },
        sourceRoot: path.join(project, 'src'),
      }),
    // Through the proxy the host is 127.0.0.1:<proxy port>, which known_hosts does not name: the
    // test bed's host key is pinned instead (still checked on every connection).
    ssh: remoteSshOptions(tb, {
      port,
      sshConfigPath: false,
      ...(pinned ? { hostKeyFingerprint: tb.remote.hostKeyFingerprint } : {}),
    }),
    dockerSocketPath: tb.remote.dockerSocketPath,
    containering: { imageName: `ferry-bench/${jobName}`, baseImage: tb.baseImage },
    localDocker: local,
    workDir: path.join(work, 'ferry'),
    cacheDir: path.join(work, 'cache'),
    onProgress: (progress: RemoteProgress) => {
      if (progress.stage === 'ship' && buildDoneAt === 0) buildDoneAt = performance.now();
    },
  });

  // Warm-up over loopback: the dependency layers reach the remote once, as on a host used before.
  const direct = new RemoteDockerExecutor(fields(tb.remote.port, false));
  executors.push(direct);
  await direct.execute({ wait: true });

  const results: ProfileFigures[] = [];
  let edit = 0;
  for (const profile of profiles) {
    const proxy = await startLinkProxy(tb.remote.host, tb.remote.port, profile);
    proxies.push(proxy);
    const knownHosts = path.join(work, `known_hosts_${proxy.port}`);
    const hostKey = (await readFile(tb.remote.knownHostsPath, 'utf8')).split('\n')[0]!.split(' ');
    await writeFile(knownHosts, `[127.0.0.1]:${proxy.port} ${hostKey[1]} ${hostKey[2]}\n`);
    const ssh = sshArgs(proxy.port, knownHosts);

    const executor = new RemoteDockerExecutor(fields(proxy.port, true));
    executors.push(executor);
    const connectStart = performance.now();
    const { connection, docker } = await executor.session();
    const connectMs = performance.now() - connectStart;
    const counter = countApiCalls(docker);
    // Warm-up on this link: the current version is there already.
    await executor.execute({ wait: true });

    const changes: Change[] = [];
    const unchanged: Change[] = [];
    const floorOpen: { ms: number; calls: ApiCallCounts }[] = [];
    const floorNew: number[] = [];
    const naive: { ms: number; bytes: number }[] = [];
    for (let i = 0; i < repetitions; i += 1) {
      edit += 1;
      await writeFile(
        jobFile,
        original.replace(
          'read ${rows.length} rows',
          `read ${'${rows.length}'} rows (edit ${edit})`,
        ),
      );
      const timedRun = async (): Promise<Change> => {
        const wireBefore = connection.bytesSent;
        counter.reset();
        buildDoneAt = 0;
        const start = performance.now();
        const run = await executor.execute();
        const firstLine = await firstLogLine((onLine, signal) =>
          executor.followLogs({ runId: run.id, onLine, signal }),
        );
        const figures: Change = {
          ms: firstLine - start,
          buildMs: (buildDoneAt || firstLine) - start,
          wireBytes: connection.bytesSent - wireBefore,
          archiveBytes: executor.lastShipment?.bytesSent ?? 0,
          calls: counter.snapshot(),
        };
        await run.wait();
        return figures;
      };
      changes.push(await timedRun());
      unchanged.push(await timedRun());
      const imageId = executor.lastShipment!.imageId;

      // The floor over the open connection: create, start, follow the logs to the first line.
      counter.reset();
      const floorStart = performance.now();
      const container = await docker.createContainer({
        Image: imageId,
        Labels: { [RUN_LABELS.job]: jobName },
      });
      await container.start();
      const stream = (await container.logs({
        stdout: true,
        stderr: true,
        follow: true,
      })) as NodeJS.ReadableStream;
      const abort = new AbortController();
      let floorLine = 0;
      await followLogStream(
        stream,
        () => {
          floorLine ||= performance.now();
          abort.abort();
        },
        abort.signal,
      );
      floorOpen.push({ ms: floorLine - floorStart, calls: counter.snapshot() });
      await container.wait();
      await container.remove({ force: true });

      // The floor with a new connection: what `ssh host docker run` pays.
      floorNew.push((await sshRun(ssh, imageId)).ms);

      if (i < naiveRepetitions) {
        // The naive way, with this image: absent from the remote, then save | ssh load, ssh run.
        await removeRemoteImage(docker, imageId);
        const started = performance.now();
        const bytes = await sshLoad(ssh, imageId);
        const ran = await sshRun(ssh, imageId);
        naive.push({ ms: changes.at(-1)!.buildMs + ran.at - started, bytes });
      }
    }
    await proxy.close();
    results.push({
      profile,
      connectMs,
      change: medianChange(changes),
      unchanged: medianChange(unchanged),
      floorOpenMs: median(floorOpen.map((f) => f.ms)),
      floorOpenCalls: floorOpen[0]!.calls,
      floorNewMs: median(floorNew),
      naiveMs: naive.length === 0 ? undefined : median(naive.map((n) => n.ms)),
      naiveBytes: naive.length === 0 ? undefined : median(naive.map((n) => n.bytes)),
    });
  }
  report(results);
}

function report(results: readonly ProfileFigures[]): void {
  console.log(
    `routine.remote over simulated links (bench/link/proxy.ts in front of ${tb.remote.host}:${tb.remote.port}), median of ${repetitions} (naive: ${naiveRepetitions}); time to the job's first log line`,
  );
  console.log(
    '| link | one-line change (of which local build) | nothing changed (local build) | naive save/load/run | floor, new ssh | floor, open connection | connect |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.profile.name} | ${formatMs(r.change.ms)} (${formatMs(r.change.buildMs)}) | ${formatMs(r.unchanged.ms)} (${formatMs(r.unchanged.buildMs)}) | ${r.naiveMs === undefined ? '—' : formatMs(r.naiveMs)} | ${formatMs(r.floorNewMs)} | ${formatMs(r.floorOpenMs)} | ${formatMs(r.connectMs)} |`,
    );
  }
  console.log('');
  console.log(
    '| link | bytes over SSH (change) | image archive sent | naive archive | API calls (change) | serial round trips (change) | channels (change) | API calls (unchanged) | serial (unchanged) | floor calls |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.profile.name} | ${formatBytes(r.change.wireBytes)} | ${formatBytes(r.change.archiveBytes)} | ${r.naiveBytes === undefined ? '—' : formatBytes(r.naiveBytes)} | ${r.change.calls.requests} | ${r.change.calls.serialSteps} | ${r.change.calls.channels} | ${r.unchanged.calls.requests} | ${r.unchanged.calls.serialSteps} | ${r.floorOpenCalls.requests} |`,
    );
  }
  console.log('');
  console.log('goals (≤ 1.00 meets the goal):');
  for (const r of results) {
    const linkMs = (r.change.archiveBytes * 8 * 1000) / r.profile.bitsPerSecond;
    const changeGoal = 1.5 * r.floorOpenMs + linkMs;
    console.log(
      `  ${r.profile.name}: one-line change ${formatMs(r.change.ms)} / (1.5 × floor ${formatMs(r.floorOpenMs)} + link ${formatMs(linkMs)}) = ${(r.change.ms / changeGoal).toFixed(2)}; ` +
        `nothing changed ${formatMs(r.unchanged.ms)} / (1.2 × floor) = ${(r.unchanged.ms / (1.2 * r.floorOpenMs)).toFixed(2)}; ` +
        `bytes over SSH ${formatBytes(r.change.wireBytes)} / (2 × layers sent ${formatBytes(r.change.archiveBytes)}) = ${(r.change.wireBytes / (2 * Math.max(1, r.change.archiveBytes))).toFixed(2)}; ` +
        `naive / ferry ${r.naiveMs === undefined ? '—' : `${(r.naiveMs / r.change.ms).toFixed(1)}x`}`,
    );
  }
  const last = results.at(-1);
  if (last !== undefined) {
    console.log(`\ncalls of a one-line change (${last.profile.name}, last run):`);
    console.log(`  ${last.change.calls.calls.join(' → ')}`);
    console.log(`calls with nothing changed:`);
    console.log(`  ${last.unchanged.calls.calls.join(' → ')}`);
  }
}

function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

function medianChange(changes: readonly Change[]): Change {
  const byTime = [...changes].sort((a, b) => a.ms - b.ms);
  const middle = byTime[Math.floor(byTime.length / 2)]!;
  return {
    ...middle,
    wireBytes: median(changes.map((c) => c.wireBytes)),
    archiveBytes: median(changes.map((c) => c.archiveBytes)),
  };
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

function sshArgs(port: number, knownHosts: string): string[] {
  return [
    '-i',
    tb.remote.privateKeyPath,
    '-p',
    String(port),
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-F',
    'none',
    `${tb.remote.username}@${tb.remote.host}`,
  ];
}

/** `docker save IMAGE | ssh host docker load`; the archive's size. */
async function sshLoad(ssh: readonly string[], imageId: string): Promise<number> {
  const tag = (await local.getImage(imageId).inspect()).RepoTags?.[0] ?? imageId;
  const saved = (await local.getImage(tag).get()) as NodeJS.ReadableStream;
  let bytes = 0;
  const load = spawn('ssh', [...ssh, 'docker', 'load'], { stdio: ['pipe', 'ignore', 'pipe'] });
  const done = exited(load);
  saved.on('data', (chunk: Buffer) => (bytes += chunk.length));
  saved.pipe(load.stdin!);
  await done;
  return bytes;
}

/** `ssh host docker run --rm IMAGE`: the time to its first line (from the call), then its end. */
async function sshRun(
  ssh: readonly string[],
  imageId: string,
): Promise<{ ms: number; at: number }> {
  const start = performance.now();
  const runner = spawn(
    'ssh',
    [...ssh, 'docker', 'run', '--rm', '--label', `${RUN_LABELS.job}=${jobName}`, imageId],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const done = exited(runner);
  const at = await new Promise<number>((resolve) =>
    runner.stdout!.once('data', () => resolve(performance.now())),
  );
  runner.stdout!.resume();
  await done;
  return { ms: at - start, at };
}

function exited(child: ReturnType<typeof spawn>): Promise<void> {
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`ssh exited with ${code}: ${stderr}`)),
    );
  });
}

async function removeRemoteImage(remote: Dockerode, imageId: string): Promise<void> {
  const filters = JSON.stringify({ label: [`${RUN_LABELS.job}=${jobName}`] });
  for (const c of await remote.listContainers({ all: true, filters })) {
    await remote.getContainer(c.Id).remove({ force: true });
  }
  await remote.getImage(imageId).remove({ force: true });
}

async function cleanUp(): Promise<void> {
  for (const proxy of proxies) await proxy.close();
  const executor = executors[0];
  if (executor !== undefined) {
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
  }
  for (const e of executors) await e.close();
}
