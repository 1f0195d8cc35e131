/**
 * Bringing work home from the remote host: a job returning a 100 MB Float32Array, and an output
 * folder of 1,000 small files plus one 200 MB file. Times `run.result()` and
 * `run.downloadOutputs()` (Docker API archive reads over Ferry's SSH connection) beside the plain
 * way, `ssh host docker cp CONTAINER:PATH - | tar -x`, measured in the same run, as ratios (>1x:
 * Ferry is faster). Needs the test bed (`bash scripts/testbed.sh up`).
 *
 *   npx tsx bench/results/run.ts [resultMB=100] [bigFileMB=200] [smallFiles=1000]
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { PackagingTask } from '../../src/packaging/index.js';
import { RUN_LABELS } from '../../src/routines/docker/labels.js';
import { RemoteDockerExecutor } from '../../src/routines/remoteDockerExecutor.js';
import type { JobRun } from '../../src/routines/jobExecutor.js';
import { loadTestbed, remoteSshOptions } from '../../test/support/testbed.js';
import { formatBytes, formatMs, ratio, timed } from '../support.js';
import { BigArrayJob, ManyOutputsJob } from './jobs/resultJobs.js';

const resultMB = Number(process.argv[2] ?? 100);
const bigFileMB = Number(process.argv[3] ?? 200);
const smallFiles = Number(process.argv[4] ?? 1000);
const tb = loadTestbed();
const local = new Dockerode({ socketPath: tb.localDocker.socketPath });
const work = await mkdtemp(path.join(tmpdir(), 'ferry-bench-results-'));
const jobName = `bench-results-${process.pid}`;
const sourceRoot = fileURLToPath(new URL('./jobs', import.meta.url));
const sshArgs = [
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

function executorFor(job: object): RemoteDockerExecutor {
  return new RemoteDockerExecutor({
    packagingTask: new PackagingTask({
      name: jobName,
      version: '1.0.0',
      payload: { job },
      sourceRoot,
    }),
    ssh: remoteSshOptions(tb),
    dockerSocketPath: tb.remote.dockerSocketPath,
    containering: { imageName: `ferry-bench/${jobName}`, baseImage: tb.baseImage },
    localDocker: local,
    workDir: path.join(work, 'work'),
    cacheDir: path.join(work, 'cache'),
  });
}

/** `ssh host docker cp CONTAINER:PATH - | tar -x -C dir`: the plain way, timed. */
async function plainCopy(containerId: string, from: string, dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  const { ms } = await timed(
    () =>
      new Promise<void>((resolve, reject) => {
        const ssh = spawn('ssh', [...sshArgs, 'docker', 'cp', `${containerId}:${from}`, '-'], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        const tar = spawn('tar', ['-x', '-C', dir], { stdio: ['pipe', 'inherit', 'inherit'] });
        ssh.stdout.pipe(tar.stdin);
        let pending = 2;
        const done = (what: string) => (code: number | null) => {
          if (code !== 0) reject(new Error(`${what} exited with ${code}`));
          else if (--pending === 0) resolve();
        };
        ssh.on('exit', done('ssh docker cp'));
        tar.on('exit', done('tar'));
      }),
  );
  return ms;
}

async function containerOf(executor: RemoteDockerExecutor, run: JobRun): Promise<string> {
  const [container] = await executor.listContainers({ [RUN_LABELS.runId]: run.id }, 'find');
  return container!.Id;
}

function line(what: string, bytes: number, ours: number, plain: number): void {
  const mbps = (ms: number) => `${(bytes / (1024 * 1024) / (ms / 1000)).toFixed(1)} MB/s`;
  console.log(
    `${what.padEnd(34)} ferry ${formatMs(ours).padStart(9)} (${mbps(ours).padStart(11)})   ssh docker cp ${formatMs(plain).padStart(9)} (${mbps(plain).padStart(11)})   ratio ${ratio(ours, plain)}`,
  );
}

const executors: RemoteDockerExecutor[] = [];
try {
  console.log(
    `result: a ${resultMB} MB Float32Array; outputs: ${smallFiles} small files + one ${bigFileMB} MB file`,
  );
  const arrays = executorFor(new BigArrayJob(resultMB));
  executors.push(arrays);
  const arrayRun = await arrays.execute({ wait: true });
  const result = await timed(() => arrayRun.result());
  const values = result.result as Float32Array;
  if (!(values instanceof Float32Array) || values.byteLength !== resultMB * 1024 * 1024) {
    throw new Error('the result did not come home whole');
  }
  const resultPlain = await plainCopy(
    await containerOf(arrays, arrayRun),
    '/ferry/run/result',
    path.join(work, 'plain-result'),
  );

  const outputs = executorFor(new ManyOutputsJob(smallFiles, bigFileMB));
  executors.push(outputs);
  const outputsRun = await outputs.execute({ wait: true });
  const downloaded = await timed(() => outputsRun.downloadOutputs(path.join(work, 'outputs')));
  const outputsPlain = await plainCopy(
    await containerOf(outputs, outputsRun),
    '/ferry/run/outputs',
    path.join(work, 'plain-outputs'),
  );

  console.log('');
  line(`result() ${formatBytes(values.byteLength)}`, values.byteLength, result.ms, resultPlain);
  line(
    `downloadOutputs() ${downloaded.result.files} files, ${formatBytes(downloaded.result.bytes)}`,
    downloaded.result.bytes,
    downloaded.ms,
    outputsPlain,
  );
} finally {
  for (const executor of executors) await executor.close();
  const remote = await (async () => {
    const made = executorFor(new BigArrayJob(1));
    const docker = await made.remoteDocker();
    return { made, docker };
  })();
  const filters = JSON.stringify({ label: [`${RUN_LABELS.job}=${jobName}`] });
  for (const docker of [remote.docker, local]) {
    for (const c of await docker.listContainers({ all: true, filters })) {
      await docker.getContainer(c.Id).remove({ force: true });
    }
    for (const image of await docker.listImages({ filters })) {
      await docker
        .getImage(image.Id)
        .remove({ force: true })
        .catch(() => undefined);
    }
  }
  await remote.made.close();
  await rm(work, { recursive: true, force: true });
}
