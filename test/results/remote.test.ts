/**
 * Results from the remote host (the test bed's second engine behind sshd): the result, metrics and
 * outputs travel over the same SSH connection through the Docker API; a download cut by a dying
 * sshd leaves no complete-looking folder, and a retry completes it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError, PackagingTask, RemoteDockerExecutor } from '../../src/index.js';
import { RUN_LABELS } from '../../src/routines/docker/labels.js';
import type { RemoteDockerExecutorFields } from '../../src/routines/remoteDockerExecutor.js';
import { SshConnection, remoteDocker } from '../../src/ssh/index.js';
import { disposeOwnSshd, startOwnSshd, type OwnSshd } from '../ssh/ownSshd.js';
import { remoteSshOptions, requireTestbed, type Testbed } from '../support/testbed.js';
import { BigOutputJob, TrainJob } from './fixtures/jobs/jobs.js';
import { Model } from './fixtures/jobs/model.js';
import { removeMadeHere } from '../support/cleanup.js';

const testbed = requireTestbed('remote', 'baseImage');
const sourceRoot = fileURLToPath(new URL('./fixtures/jobs', import.meta.url));

describe.skipIf(!testbed)('results of runs on the remote host', () => {
  const tb = testbed as Testbed;
  const name = `results-remote-${randomBytes(3).toString('hex')}`;
  const local = new Dockerode({ socketPath: tb.localDocker.socketPath });
  const executors: RemoteDockerExecutor[] = [];
  let inspector: SshConnection;
  let remote: Dockerode;
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ferry-results-remote-'));
    inspector = await SshConnection.connect(remoteSshOptions(tb));
    remote = remoteDocker(inspector, { socketPath: tb.remote.dockerSocketPath });
  });

  afterAll(async () => {
    for (const executor of executors) await executor.close();
    await removeMadeHere([remote, local], { label: [`${RUN_LABELS.job}=${name}`] });
    await inspector?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  function executor(
    job: object,
    extra: Partial<RemoteDockerExecutorFields> = {},
  ): RemoteDockerExecutor {
    const made = new RemoteDockerExecutor({
      packagingTask: new PackagingTask({ name, version: '1.0.0', payload: { job }, sourceRoot }),
      ssh: remoteSshOptions(tb),
      dockerSocketPath: tb.remote.dockerSocketPath,
      containering: { imageName: `ferry-test/${name}`, baseImage: tb.baseImage },
      localDocker: local,
      workDir: path.join(scratch, 'work'),
      cacheDir: path.join(scratch, 'cache'),
      ...extra,
    });
    executors.push(made);
    return made;
  }

  it('brings home the result, metrics and outputs of a detached remote run', async () => {
    const remoteRun = executor(new TrainJob(50_000));
    const run = await remoteRun.execute({ parameters: { lr: 0.5 } });
    const result = (await run.result()) as { model: Model; runId: string };
    expect(result.model).toBeInstanceOf(Model);
    expect(result.model.checksum()).toBe(50_000 * 2.25);
    expect((await run.metrics()).last).toEqual({ loss: 1 / 3.5, accuracy: 1 });
    const dir = path.join(scratch, 'out');
    expect((await run.downloadOutputs(dir)).files).toBe(2);
    // A new executor (another process) finds the run by id and gets the same.
    const again = executor(new TrainJob(1));
    const found = await again.run(run.id);
    expect(((await found.result()) as { model: Model }).model.checksum()).toBe(50_000 * 2.25);
  });

  it('a download cut by a dying sshd fails with a typed error, leaves no folder, and a retry completes it', async () => {
    let sshd: OwnSshd | undefined;
    try {
      sshd = await startOwnSshd(tb);
      const remoteRun = executor(new BigOutputJob(60), {
        ssh: {
          ...remoteSshOptions(tb),
          port: sshd.port,
          hostKeyFingerprint: tb.remote.hostKeyFingerprint,
        },
      });
      const run = await remoteRun.execute({ wait: true });
      const dir = path.join(scratch, 'big');
      let cut = false;
      const stopped = sshd;
      const error = await run
        .downloadOutputs(dir, {
          onProgress: (p) => {
            if (!cut && p.bytes > 10 * 1024 * 1024) {
              cut = true;
              void stopped.stop();
            }
          },
        })
        .catch((e: unknown) => e);
      expect(cut).toBe(true);
      expect(error).toBeInstanceOf(FerryError);
      await expect(stat(dir)).rejects.toThrow(/ENOENT/);
      await sshd.start();
      const downloaded = await run.downloadOutputs(dir);
      expect(downloaded.bytes).toBe(60 * 1024 * 1024);
      expect((await stat(path.join(dir, 'big.bin'))).size).toBe(60 * 1024 * 1024);
      expect((await readdir(scratch)).filter((n) => n.startsWith('big.partial-'))).toEqual([]);
      expect(await run.result()).toBe(60);
    } finally {
      await disposeOwnSshd(sshd);
    }
  });

  it('keeps the run folder of a remote run whose container is removed', async () => {
    const remoteRun = executor(new TrainJob(10), { options: { removeContainer: true } });
    const run = await remoteRun.execute({ wait: true });
    const filters = JSON.stringify({ label: [`${RUN_LABELS.runId}=${run.id}`] });
    expect(await remote.listContainers({ all: true, filters })).toEqual([]);
    const found = await executor(new TrainJob(1)).run(run.id);
    expect(((await found.result()) as { model: Model }).model.checksum()).toBe(4.5);
    await found.downloadOutputs(path.join(scratch, 'removed'));
    expect((await readdir(path.join(scratch, 'removed'))).sort()).toEqual([
      'nested',
      'weights.txt',
    ]);
  });
});
