/**
 * routine.remote against the test bed: jobs built here, shipped to the "remote host" (a second
 * Docker engine behind sshd) over SSH or through the registry, run there detached, and found again
 * by run id, from this process and from a new one.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GpuUnavailableError } from '../../src/engines/errors.js';
import { PackagingTask } from '../../src/packaging/index.js';
import { RUN_LABELS } from '../../src/routines/docker/labels.js';
import type { DockerOptionsFields } from '../../src/routines/dockerOptions.js';
import { RunNotFoundError } from '../../src/routines/errors.js';
import {
  RemoteDockerExecutor,
  type RemoteDockerExecutorFields,
} from '../../src/routines/remoteDockerExecutor.js';
import { RemoteGpuUnavailableError } from '../../src/engines/errors.js';
import { RemoteDockerUnavailableError, SshConnection } from '../../src/ssh/index.js';
import {
  createFeaturizationJob,
  sourceRoot as exampleSourceRoot,
} from '../../examples/featurization/createJob.js';
import { ProbeJob } from '../fixtures/containering/jobs/probeJob.js';
import { ImageTransferInterruptedError } from '../../src/shipping/index.js';
import { BigPayloadJob } from '../shipping/fixtures/bigPayloadJob.js';
import { disposeOwnSshd, startOwnSshd, type OwnSshd } from '../ssh/ownSshd.js';
import { remoteSshOptions, requireTestbed } from '../support/testbed.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { removeMadeHere } from '../support/cleanup.js';

const testbed = requireTestbed('remote', 'registry', 'baseImage');
const repo = fileURLToPath(new URL('../../', import.meta.url));
const probeRoot = path.join(repo, 'test/fixtures/containering/jobs');

describeWithTestbed(testbed, 'routine.remote: RemoteDockerExecutor on the test bed', (tb) => {
  const suffix = randomBytes(3).toString('hex');
  const local = new Dockerode({ socketPath: tb.localDocker.socketPath });
  const jobNames = new Set<string>();
  const executors: RemoteDockerExecutor[] = [];
  let remote: Dockerode;
  let inspector: SshConnection;
  let scratch: string;

  const ssh = (): RemoteDockerExecutorFields['ssh'] => remoteSshOptions(tb);

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ferry-remote-test-'));
    // The test's own view of the remote engine, to check what the executor did there.
    inspector = await SshConnection.connect(ssh());
    const { remoteDocker } = await import('../../src/ssh/index.js');
    remote = remoteDocker(inspector, { socketPath: tb.remote.dockerSocketPath });
  });

  afterAll(async () => {
    for (const executor of executors) await executor.close();
    for (const name of jobNames) {
      for (const docker of [remote, local]) {
        await removeMadeHere([docker], { label: [`${RUN_LABELS.job}=${name}`] });
      }
    }
    await inspector?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  function executor(
    name: string,
    job: object | (() => object),
    sourceRoot: string,
    extra: Partial<RemoteDockerExecutorFields> & { options?: DockerOptionsFields } = {},
  ): RemoteDockerExecutor {
    jobNames.add(name);
    const made = new RemoteDockerExecutor({
      packagingTask: () =>
        new PackagingTask({
          name,
          version: '1.0.0',
          payload: { job: typeof job === 'function' ? job() : job },
          sourceRoot,
        }),
      ssh: ssh(),
      dockerSocketPath: tb.remote.dockerSocketPath,
      containering: { imageName: `ferry-test/remote-${name}`, baseImage: tb.baseImage },
      localDocker: local,
      workDir: path.join(scratch, 'work'),
      cacheDir: path.join(scratch, 'cache'),
      ...extra,
    });
    executors.push(made);
    return made;
  }

  async function remoteImagesOf(name: string): Promise<Dockerode.ImageInfo[]> {
    return remote.listImages({ filters: JSON.stringify({ label: [`${RUN_LABELS.job}=${name}`] }) });
  }

  it('runs the featurization example on the remote host, its image absent there before, sent over SSH', async () => {
    const name = `rtest-feat-${suffix}`;
    const remoteRun = executor(name, createFeaturizationJob(), exampleSourceRoot);
    expect(await remoteImagesOf(name)).toEqual([]);

    const run = await remoteRun.execute();
    // Detached by default: execute() returned with the job started, not finished.
    expect(['running', 'exited']).toContain((await run.status()).state);
    const result = await run.wait();
    expect(result).toEqual({ runId: run.id, exitCode: 0, state: 'exited' });
    const logs = await run.getLogs();
    expect(logs.stderr).toBe('');
    expect(logs.stdout).toContain(`Executing job ${name} version 1.0.0`);
    expect(logs.stdout).toContain('read 60 rows from passengers.csv');
    expect(logs.stdout.trim().split('\n').at(-1)).toBe('Job completed');

    const shipment = remoteRun.lastShipment!;
    expect(shipment.method).toBe('transfer');
    // The base image is already there: Ferry's runtime, entry file, source and payload travel.
    expect(shipment.layersSent).toBeLessThan(shipment.layersTotal);
    expect(shipment.bytesSent).toBeLessThan(1024 * 1024);
    expect((await remoteImagesOf(name)).map((i) => i.Id)).toEqual([remoteRun.lastImage!.imageId]);

    // The container is on the remote engine, named and labelled; none on the local one.
    const filters = JSON.stringify({ label: [`${RUN_LABELS.runId}=${run.id}`] });
    const [container] = await remote.listContainers({ all: true, filters });
    expect(container?.Names).toEqual([`/ferry-${name}-${run.id}`]);
    expect(container?.Labels).toMatchObject({
      [RUN_LABELS.job]: name,
      [RUN_LABELS.version]: '1.0.0',
    });
    expect(await local.listContainers({ all: true, filters })).toEqual([]);

    // A new process that only knows the run id finds it, its status and its logs.
    const lookup = spawnSync(
      path.join(repo, 'node_modules/.bin/tsx'),
      [
        '-e',
        // -e runs as CommonJS: no top-level await.
        `(async () => {
        const { RemoteDockerExecutor } = await import(${JSON.stringify(pathToFileURL(path.join(repo, 'src/routines/remoteDockerExecutor.ts')).href)});
        const { PackagingTask } = await import(${JSON.stringify(pathToFileURL(path.join(repo, 'src/packaging/index.ts')).href)});
        const settings = JSON.parse(process.env.FERRY_TEST_REMOTE);
        const executor = new RemoteDockerExecutor({
          packagingTask: () => { throw new Error('a lookup by id needs no packaging'); },
          ssh: settings.ssh,
          dockerSocketPath: settings.socket,
        });
        const status = await executor.status(settings.runId);
        const logs = await executor.getLogs(settings.runId);
        console.log(JSON.stringify({ status, lastLine: logs.stdout.trim().split('\\n').at(-1) }));
        await executor.close();
        })().catch((error) => { console.error(error); process.exit(1); });`,
      ],
      {
        cwd: repo,
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          ...process.env,
          FERRY_TEST_REMOTE: JSON.stringify({
            ssh: ssh(),
            socket: tb.remote.dockerSocketPath,
            runId: run.id,
          }),
        },
      },
    );
    expect(lookup.status, lookup.stderr).toBe(0);
    const found = JSON.parse(lookup.stdout.trim().split('\n').at(-1)!) as {
      status: { runId: string; state: string; exitCode: number };
      lastLine: string;
    };
    expect(found.status).toMatchObject({ runId: run.id, state: 'exited', exitCode: 0 });
    expect(found.lastLine).toBe('Job completed');
  });

  it('runs the featurization example through the registry, its image absent there before', async () => {
    const name = `rtest-reg-${suffix}`;
    const remoteRun = executor(name, createFeaturizationJob(), exampleSourceRoot, {
      repository: `${tb.registry.address}/ferry-remote-tests`,
    });
    expect(await remoteImagesOf(name)).toEqual([]);
    const run = await remoteRun.execute({ wait: true });
    expect((await run.status()).exitCode).toBe(0);
    expect((await run.getLogs()).stdout).toContain('read 60 rows from passengers.csv');
    const shipment = remoteRun.lastShipment!;
    expect(shipment.method).toBe('registry');
    expect(shipment.registryReference).toMatch(
      new RegExp(`^${tb.registry.address}/ferry-remote-tests/remote-${name}:`),
    );
    expect(shipment.bytesSent).toBe(0);
  });

  it('after a one-line change in the source, ships only the changed layers', async () => {
    const name = `rtest-change-${suffix}`;
    // A copy of the example, edited between two executes.
    const project = path.join(scratch, 'project');
    await cp(path.dirname(exampleSourceRoot), project, { recursive: true });
    await writeFile(
      path.join(project, 'package.json'),
      '{ "name": "remote-change", "version": "1.0.0", "type": "module" }\n',
    );
    const copiedRoot = path.join(project, 'src');
    const jobFile = path.join(copiedRoot, 'featurizationJob.ts');
    const { createFeaturizationJob: createCopy } = (await import(
      pathToFileURL(path.join(project, 'createJob.ts')).href
    )) as {
      createFeaturizationJob: () => object;
    };
    const remoteRun = executor(name, () => createCopy(), copiedRoot, {
      containering: { imageName: `ferry-test/remote-${name}`, baseImage: tb.baseImage },
    });

    const first = await remoteRun.execute({ wait: true });
    expect((await first.getLogs()).stdout).toContain('read 60 rows');
    const before = remoteRun.lastShipment!;

    const source = await readFile(jobFile, 'utf8');
    expect(source).toContain('read ${rows.length} rows');
    await writeFile(
      jobFile,
      source.replace('read ${rows.length} rows', 'loaded ${rows.length} rows'),
    );

    const second = await remoteRun.execute({ wait: true });
    expect((await second.getLogs()).stdout).toContain('loaded 60 rows from passengers.csv');
    const after = remoteRun.lastShipment!;
    expect(after.method).toBe('transfer');
    expect(after.imageId).not.toBe(before.imageId);
    // Base image, Ferry's runtime and the entry file stay; the source layer (and the payload, which
    // names the source's content-hashed namespace) travel.
    expect(after.layersSent).toBeGreaterThanOrEqual(1);
    expect(after.layersSent).toBeLessThanOrEqual(2);
    expect(after.layersSent).toBeLessThan(before.layersSent);
    expect(after.bytesSent).toBeLessThan(before.bytesSent);
  });

  it('passes propagated variables to the remote job, never into the image', async () => {
    const name = `rtest-env-${suffix}`;
    const secret = `s3cret-${randomBytes(8).toString('hex')}`;
    const remoteRun = executor(
      name,
      new ProbeJob({ message: 'env', printEnv: ['FERRY_REMOTE_TOKEN'] }),
      probeRoot,
      {
        options: { propagatedEnvironmentVariables: ['FERRY_REMOTE_TOKEN'] },
        env: { FERRY_REMOTE_TOKEN: secret },
      },
    );
    const run = await remoteRun.execute({ wait: true });
    expect((await run.getLogs()).stdout).toContain(`env FERRY_REMOTE_TOKEN=${secret}`);
    const image = remote.getImage(remoteRun.lastImage!.imageId);
    for (const text of [
      JSON.stringify(await image.inspect()),
      JSON.stringify(await image.history()),
    ]) {
      expect(text).not.toContain(secret);
    }
    const container = await remote.getContainer(`ferry-${name}-${run.id}`).inspect();
    expect(JSON.stringify([container.Path, container.Args, container.Config.Cmd])).not.toContain(
      secret,
    );
  });

  it('follows, lists, stops a long run, and reconnects after the connection is closed', async () => {
    const name = `rtest-long-${suffix}`;
    const remoteRun = executor(
      name,
      new ProbeJob({ message: 'long', runForMs: 120_000, tickMs: 100 }),
      probeRoot,
    );
    const run = await remoteRun.execute();
    const lines: string[] = [];
    const abort = new AbortController();
    await remoteRun.followLogs({
      runId: run.id,
      signal: abort.signal,
      onLine: (line) => {
        lines.push(line);
        if (line === 'tick 3') abort.abort();
      },
    });
    expect(lines).toEqual(expect.arrayContaining(['probe: long', 'tick 1', 'tick 2', 'tick 3']));
    expect((await run.status()).state).toBe('running');

    const listed = await remoteRun.listRuns();
    expect(listed.map((r) => [r.runId, r.state])).toContainEqual([run.id, 'running']);
    expect((await remoteRun.listRuns({ allJobs: true })).length).toBeGreaterThanOrEqual(
      listed.length,
    );

    // The connection goes away; the handle reconnects on its next call.
    await remoteRun.close();
    expect((await run.status()).state).toBe('running');

    await run.stop();
    const status = await run.status();
    expect(status.state).toBe('stopped');
    expect((await run.getLogs()).stderr).toContain('probe: stopped early');
    expect((await remoteRun.listRuns()).find((r) => r.runId === run.id)?.state).toBe('stopped');
  });

  it('says so when asked for a run id it does not know', async () => {
    const remoteRun = executor(`rtest-none-${suffix}`, new ProbeJob({ message: 'x' }), probeRoot);
    await expect(remoteRun.run('20000101-000000-000000')).rejects.toBeInstanceOf(RunNotFoundError);
  });

  it('turns a GPU request on a host without NVIDIA runtime into a clear error, with the device requests as asked', async () => {
    const name = `rtest-gpu-${suffix}`;
    for (const [gpus, expected] of [
      ['all', { Driver: '', Count: -1, Capabilities: [['gpu']] }],
      [2, { Driver: '', Count: 2, Capabilities: [['gpu']] }],
      [['0', '3'], { Driver: '', DeviceIDs: ['0', '3'], Capabilities: [['gpu']] }],
    ] as const) {
      const remoteRun = executor(name, new ProbeJob({ message: 'gpu' }), probeRoot, {
        options: { gpus: gpus as DockerOptionsFields['gpus'] },
      });
      const error = await remoteRun.execute().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RemoteGpuUnavailableError);
      expect(error).toBeInstanceOf(GpuUnavailableError);
      const gpuError = error as RemoteGpuUnavailableError;
      expect(gpuError.message).toContain(`on root@${tb.remote.host}:${tb.remote.port}`);
      expect(gpuError.message).toMatch(/NVIDIA Container Toolkit/);
      expect(gpuError.deviceRequests).toHaveLength(1);
      expect(gpuError.deviceRequests[0]).toMatchObject(expected);
    }
    // Nothing left behind.
    const filters = JSON.stringify({ label: [`${RUN_LABELS.job}=${name}`] });
    expect(await remote.listContainers({ all: true, filters })).toEqual([]);
  });

  it('prunes old images of a job on the remote, keeping the newest N and any a container uses', async () => {
    const name = `rtest-prune-${suffix}`;
    let message = 'v1';
    const remoteRun = executor(name, () => new ProbeJob({ message }), probeRoot);
    const ids: string[] = [];
    for (const version of ['v1', 'v2', 'v3']) {
      message = version; // a payload-only change: a new image each time
      ids.push((await remoteRun.ship()).imageId);
    }
    // v1 is in use by a (finished) container.
    message = 'v1';
    await remoteRun.execute({ wait: true });
    expect(remoteRun.lastImage!.imageId).toBe(ids[0]);
    message = 'v4';
    ids.push((await remoteRun.ship()).imageId);

    const pruned = await remoteRun.pruneImages({ keep: 2 });
    expect(pruned.kept).toEqual([ids[3], ids[2]]);
    expect(pruned.removed).toEqual([ids[1]]);
    expect(pruned.skipped.map((s) => s.imageId)).toEqual([ids[0]]);
    expect(pruned.skipped[0]!.reason).toMatch(/container/);
    expect((await remoteImagesOf(name)).map((i) => i.Id).sort()).toEqual(
      [ids[0], ids[2], ids[3]].sort(),
    );
  });

  it('after a transfer cut half way (own sshd stopped), a retry of execute() completes the run', async () => {
    const name = `rtest-cut-${suffix}`;
    const blob = randomBytes(40 * 1024 * 1024);
    let sum = 0;
    for (const byte of blob) sum = (sum + byte) % 65_521;
    let sshd: OwnSshd | undefined;
    try {
      sshd = await startOwnSshd(tb);
      const stopped = sshd;
      let cut = false;
      const remoteRun = executor(
        name,
        new BigPayloadJob(blob),
        path.join(repo, 'test/shipping/fixtures'),
        {
          ssh: { ...ssh(), port: sshd.port, hostKeyFingerprint: tb.remote.hostKeyFingerprint },
          onProgress: (progress) => {
            if (
              progress.stage === 'ship' &&
              !cut &&
              (progress.shipping.bytesSent ?? 0) > 8 * 1024 * 1024
            ) {
              cut = true;
              void stopped.stop();
            }
          },
        },
      );
      const error = await remoteRun.execute().catch((e: unknown) => e);
      expect(cut).toBe(true);
      expect(error).toBeInstanceOf(ImageTransferInterruptedError);
      expect(await remoteImagesOf(name)).toEqual([]);

      await sshd.start();
      const run = await remoteRun.execute({ wait: true });
      expect((await run.getLogs()).stdout).toContain(
        `big payload: ${blob.length} bytes, sum ${sum}`,
      );
      expect(remoteRun.lastShipment!.bytesSent).toBeGreaterThan(40 * 1024 * 1024);
    } finally {
      await disposeOwnSshd(sshd);
    }
  });

  it('says when there is no Docker engine at the configured socket', async () => {
    const remoteRun = executor(
      `rtest-nodocker-${suffix}`,
      new ProbeJob({ message: 'x' }),
      probeRoot,
      {
        dockerSocketPath: '/run/ferry-testbed/no-docker-here.sock',
      },
    );
    await expect(remoteRun.execute()).rejects.toBeInstanceOf(RemoteDockerUnavailableError);
  });
});
