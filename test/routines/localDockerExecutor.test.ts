import { randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GpuUnavailableError } from '../../src/engines/errors.js';
import { PackagingTask } from '../../src/packaging/index.js';
import { RUN_LABELS } from '../../src/routines/docker/labels.js';
import { DockerOptions } from '../../src/routines/dockerOptions.js';
import { MissingEnvironmentVariableError, RunNotFoundError } from '../../src/routines/errors.js';
import type { LogStream } from '../../src/routines/jobExecutor.js';
import { LocalDockerExecutor } from '../../src/routines/localDockerExecutor.js';
import {
  createFeaturizationJob,
  sourceRoot as exampleSourceRoot,
} from '../../examples/featurization/createJob.js';
import { FailingJob } from '../fixtures/containering/jobs/failingJob.js';
import { ProbeJob, type ProbeSettings } from '../fixtures/containering/jobs/probeJob.js';
import { requireTestbed } from '../support/testbed.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';

const testbed = requireTestbed('local', 'baseImage');
const repo = fileURLToPath(new URL('../../', import.meta.url));
const sourceRoot = path.join(repo, 'test/fixtures/containering/jobs');

describeWithTestbed(testbed, 'routine.local: LocalDockerExecutor on the local engine', () => {
  const suffix = randomBytes(3).toString('hex');
  const imagePrefix = `ferry-test/local-${suffix}`;
  let docker: Dockerode;
  let scratch: string;
  const jobNames = new Set<string>();

  beforeAll(async () => {
    docker = new Dockerode({ socketPath: testbed!.localDocker.socketPath });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ferry-local-test-'));
  });

  afterAll(async () => {
    for (const name of jobNames) {
      const containers = await docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`${RUN_LABELS.job}=${name}`] }),
      });
      for (const c of containers) await docker.getContainer(c.Id).remove({ force: true });
    }
    const images = await docker.listImages({
      filters: JSON.stringify({ reference: [`${imagePrefix}-*`] }),
    });
    for (const image of images) {
      await docker
        .getImage(image.Id)
        .remove({ force: true })
        .catch((error: { statusCode?: number }) => {
          if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
        });
    }
    await rm(scratch, { recursive: true, force: true });
  });

  function executor(
    job: unknown,
    options: ConstructorParameters<typeof DockerOptions>[0] = {},
    extra: { name?: string; sourceRoot?: string; env?: NodeJS.ProcessEnv } = {},
  ): LocalDockerExecutor {
    const name = extra.name ?? `ctest-${suffix}`;
    jobNames.add(name);
    return new LocalDockerExecutor({
      packagingTask: new PackagingTask({
        name,
        version: '1.0.0',
        payload: { job },
        sourceRoot: extra.sourceRoot ?? sourceRoot,
      }),
      options: new DockerOptions(options),
      containering: { imageName: `${imagePrefix}-${name}`, baseImage: testbed!.baseImage },
      docker,
      workDir: path.join(scratch, 'work'),
      cacheDir: path.join(scratch, 'cache'),
      ...(extra.env === undefined ? {} : { env: extra.env }),
    });
  }

  const probe = (settings: ProbeSettings) => new ProbeJob(settings);

  it('runs the featurization example in a named, labelled container, its output in the logs', async () => {
    const local = executor(
      createFeaturizationJob(),
      {},
      {
        name: `ctest-featurization-${suffix}`,
        sourceRoot: exampleSourceRoot,
      },
    );
    const run = await local.execute();
    const result = await run.wait();
    const logs = await run.getLogs();
    expect(logs.stderr).toBe('');
    expect(result).toEqual({ runId: run.id, exitCode: 0, state: 'exited' });
    expect(logs.stdout).toContain(`Executing job ctest-featurization-${suffix} version 1.0.0`);
    expect(logs.stdout).toContain('read 60 rows from passengers.csv');
    expect(logs.stdout).toMatch(/checksum: [0-9a-f]+/);
    expect(logs.stdout.trim().split('\n').at(-1)).toBe('Job completed');

    const status = await run.status();
    expect(status.state).toBe('exited');
    expect(status.exitCode).toBe(0);
    expect(status.finishedAt!.getTime()).toBeGreaterThanOrEqual(status.startedAt!.getTime());

    const [container] = await docker.listContainers({
      all: true,
      filters: JSON.stringify({ label: [`${RUN_LABELS.runId}=${run.id}`] }),
    });
    expect(container?.Names).toEqual([`/ferry-ctest-featurization-${suffix}-${run.id}`]);
    expect(container?.Labels).toMatchObject({
      [RUN_LABELS.job]: `ctest-featurization-${suffix}`,
      [RUN_LABELS.version]: '1.0.0',
      [RUN_LABELS.uid]: local.lastImage!.packageInfo.uid,
      [RUN_LABELS.runId]: run.id,
    });

    // The package archive is kept under the work folder by UID; the build's own folder is gone.
    const work = path.join(scratch, 'work');
    expect(local.lastImage!.packageInfo.path).toBe(
      path.join(work, 'packages', `${local.lastImage!.packageInfo.uid}.tar.gz`),
    );
    await access(local.lastImage!.packageInfo.path);
    expect((await readdir(work)).filter((n) => n.startsWith('.build-'))).toEqual([]);
  });

  it('passes a propagated variable to the job and never into the image', async () => {
    const secret = `s3cret-${randomBytes(8).toString('hex')}`;
    const local = executor(
      probe({ message: 'env', printEnv: ['FERRY_TEST_TOKEN', 'FERRY_TEST_UNSET'] }),
      { propagatedEnvironmentVariables: ['FERRY_TEST_TOKEN'] },
      { env: { FERRY_TEST_TOKEN: secret } },
    );
    const run = await local.execute();
    expect((await run.wait()).exitCode).toBe(0);
    const { stdout } = await run.getLogs();
    expect(stdout).toContain(`env FERRY_TEST_TOKEN=${secret}`);
    expect(stdout).toContain('env FERRY_TEST_UNSET unset');

    const image = docker.getImage(local.lastImage!.imageId);
    const inspected = JSON.stringify(await image.inspect());
    const history = JSON.stringify(await image.history());
    for (const text of [inspected, history]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain('FERRY_TEST_TOKEN');
    }
  });

  it('fails before building when a propagated variable is not set', async () => {
    const local = executor(
      probe({ message: 'never' }),
      { propagatedEnvironmentVariables: ['FERRY_TEST_MISSING'] },
      { env: {} },
    );
    const failure = local.execute();
    await expect(failure).rejects.toBeInstanceOf(MissingEnvironmentVariableError);
    await expect(failure).rejects.toThrow(/FERRY_TEST_MISSING/);
    expect(local.lastImage).toBeUndefined();
  });

  it('reports a job that throws: non-zero exit code, its stack in stderr', async () => {
    const local = executor(
      new FailingJob('the data is missing'),
      {},
      { name: `ctest-failing-${suffix}` },
    );
    const run = await local.execute();
    const result = await run.wait();
    expect(result.exitCode).toBe(1);
    expect(result.state).toBe('failed');
    const { stdout, stderr } = await run.getLogs();
    expect(stdout).toContain('failing job: about to fail');
    expect(stdout).not.toContain('Job completed');
    expect(stderr).toContain('Error: FailingJob refused to run: the data is missing');
    expect(stderr).toMatch(/at FailingJob\.validate .*failingJob\.ts:\d+:\d+/);
  });

  it('runs two executes at once to the end', async () => {
    const [a, b] = [
      executor(
        probe({ message: 'concurrent A', runForMs: 300 }),
        {},
        { name: `ctest-par-a-${suffix}` },
      ),
      executor(
        probe({ message: 'concurrent B', runForMs: 300 }),
        {},
        { name: `ctest-par-b-${suffix}` },
      ),
    ];
    const [runA, runB] = await Promise.all([a.execute(), b.execute()]);
    expect((await runA.wait()).exitCode).toBe(0);
    expect((await runB.wait()).exitCode).toBe(0);
    expect((await runA.getLogs()).stdout).toContain('probe: concurrent A');
    expect((await runB.getLogs()).stdout).toContain('probe: concurrent B');
  });

  it('builds identical concurrent executes once, and clears build folders a killed process left', async () => {
    const work = path.join(scratch, 'work');
    await mkdir(work, { recursive: true });
    // What a CLI killed mid-build leaves: its pid (long gone) is in the folder's name.
    const abandoned = path.join(work, '.build-999999999-left');
    await mkdir(path.join(abandoned, 'install'), { recursive: true });
    const make = () =>
      executor(probe({ message: `once ${suffix}` }), {}, { name: `ctest-once-${suffix}` });
    const executors = Array.from({ length: 6 }, make);
    const runs = await Promise.all(executors.map((e) => e.execute()));
    for (const run of runs) expect((await run.wait()).exitCode).toBe(0);
    const images = executors.map((e) => e.lastImage!);
    expect(images.filter((i) => i.built)).toHaveLength(1);
    expect(new Set(images.map((i) => i.imageId)).size).toBe(1);
    await expect(access(abandoned)).rejects.toThrow();
    // Nothing of the builds themselves is left either.
    expect((await readdir(work)).filter((n) => n.startsWith('.build-'))).toEqual([]);
  });

  it('builds nothing on a second execute with unchanged source', async () => {
    const make = () => executor(probe({ message: 'same' }), {}, { name: `ctest-same-${suffix}` });
    const first = make();
    await first.execute();
    const second = make();
    const run = await second.execute();
    expect(second.lastImage!.built).toBe(false);
    expect(second.lastImage!.imageId).toBe(first.lastImage!.imageId);
    expect((await run.getLogs()).stdout).toContain('probe: same');
  });

  it('detaches, follows the logs live, and stops the run', async () => {
    const local = executor(probe({ message: 'long', runForMs: 120_000, tickMs: 100 }), {
      wait: false,
    });
    const run = await local.execute();
    expect(['created', 'running']).toContain((await run.status()).state);
    const lines: { line: string; stream: LogStream }[] = [];
    const controller = new AbortController();
    await local.followLogs({
      runId: run.id,
      signal: controller.signal,
      onLine: (line, stream) => {
        lines.push({ line, stream });
        if (line === 'tick 3') controller.abort();
      },
    });
    expect(lines.map((l) => l.line)).toContain('probe: long');
    expect(lines.at(-1)).toEqual({ line: 'tick 3', stream: 'stdout' });

    const startedStopping = Date.now();
    await local.stop(run.id);
    expect(Date.now() - startedStopping).toBeLessThan(8000);
    const result = await local.wait(run.id);
    expect(result).toEqual({ runId: run.id, exitCode: 143, state: 'stopped' });
    const { stdout, stderr } = await run.getLogs();
    expect(stderr).toContain('Received SIGTERM');
    expect(stderr).toContain('probe: stopped early');
    expect(stdout).toContain('Job stopped');
    expect(await local.records!.get(run.id)).toMatchObject({ status: 'stopped', exitCode: 143 });
  });

  it('records a job killed inside its container as failed: only a stop Ferry sent is a stop', async () => {
    const local = executor(probe({ message: 'doomed', runForMs: 120_000, tickMs: 100 }), {
      wait: false,
    });
    const run = await local.execute();
    const lines: string[] = [];
    const seenTick = new AbortController();
    await run.followLogs({
      signal: seenTick.signal,
      onLine: (line) => {
        lines.push(line);
        if (line === 'tick 1') seenTick.abort();
      },
    });
    const [container] = await docker.listContainers({
      filters: JSON.stringify({ label: [`${RUN_LABELS.runId}=${run.id}`] }),
    });
    // What an OOM killer, a user's `docker kill` or a crashing host does: not a Ferry stop.
    await docker.getContainer(container!.Id).kill({ signal: 'SIGKILL' });
    expect(await run.wait()).toEqual({ runId: run.id, exitCode: 137, state: 'failed' });
    expect(await local.records!.get(run.id)).toMatchObject({ status: 'failed', exitCode: 137 });
    // Seen from another process (by the container's labels and name), it is a failure too.
    const other = executor(probe({ message: 'x' }));
    expect((await other.listRuns()).find((r) => r.runId === run.id)?.state).toBe('failed');
  });

  it('finds a run again from another executor by its id, and follows a finished run to its end', async () => {
    const local = executor(probe({ message: 'find me' }));
    const run = await local.execute();
    const other = executor(probe({ message: 'unrelated' }));
    const found = await other.run(run.id);
    expect(found.id).toBe(run.id);
    expect((await other.status(run.id)).state).toBe('exited');
    expect((await other.getLogs(run.id)).stdout).toContain('probe: find me');
    const lines: Record<LogStream, string[]> = { stdout: [], stderr: [] };
    await other.followLogs({ runId: run.id, onLine: (line, stream) => lines[stream].push(line) });
    expect(lines.stdout).toContain('probe: find me');
    // Each stream is in order; the engine does not order stdout against stderr.
    expect(lines.stdout.at(-1)).toBe('Job completed');
    expect(lines.stderr).toEqual(['probe: done']);
    await expect(other.run('20000101-000000-000000')).rejects.toBeInstanceOf(RunNotFoundError);
  });

  it('removes the container when asked, keeping what the run printed', async () => {
    const local = executor(probe({ message: 'ephemeral' }), { removeContainer: true });
    const run = await local.execute();
    expect((await run.wait()).exitCode).toBe(0);
    expect((await run.getLogs()).stdout).toContain('probe: ephemeral');
    const left = await docker.listContainers({
      all: true,
      filters: JSON.stringify({ label: [`${RUN_LABELS.runId}=${run.id}`] }),
    });
    expect(left).toEqual([]);
    // Another executor of the project finds the run through its record, with the saved logs.
    const other = executor(probe({ message: 'x' }));
    expect((await other.status(run.id)).state).toBe('exited');
    expect((await other.getLogs(run.id)).stdout).toContain('probe: ephemeral');
    expect((await other.wait(run.id)).exitCode).toBe(0);
    const record = await other.records!.get(run.id);
    expect(record).toMatchObject({ status: 'succeeded', exitCode: 0, targetKind: 'local' });
  });

  it('applies mounts and CPU and memory limits', async () => {
    const dataDir = path.join(scratch, 'data');
    await rm(dataDir, { recursive: true, force: true });
    await mkdir(dataDir, { recursive: true });
    await writeFile(path.join(dataDir, 'input.txt'), 'mounted content\n');
    const local = executor(probe({ message: 'mounts', readFile: '/data/input.txt' }), {
      mounts: [{ hostPath: dataDir, containerPath: '/data', readOnly: true }],
      cpuLimit: 0.5,
      memoryLimit: '256m',
    });
    const run = await local.execute();
    expect((await run.wait()).exitCode).toBe(0);
    expect((await run.getLogs()).stdout).toContain('file /data/input.txt: mounted content');
    const [container] = await docker.listContainers({
      all: true,
      filters: JSON.stringify({ label: [`${RUN_LABELS.runId}=${run.id}`] }),
    });
    const info = await docker.getContainer(container!.Id).inspect();
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info.HostConfig.Memory).toBe(256 * 1024 ** 2);
    expect(info.Mounts).toEqual([
      expect.objectContaining({ Type: 'bind', Source: dataDir, Destination: '/data', RW: false }),
    ]);
  });

  it('says GPUs are unavailable on an engine without the NVIDIA runtime, leaving no container', async () => {
    const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
    if (info.Runtimes?.nvidia !== undefined) return; // a GPU engine: nothing to refuse
    const name = `ctest-gpu-${suffix}`;
    const local = executor(probe({ message: 'gpu' }), { gpus: 'all' }, { name });
    const failure = local.execute();
    await expect(failure).rejects.toBeInstanceOf(GpuUnavailableError);
    await expect(failure).rejects.toThrow(/NVIDIA Container Toolkit/);
    const left = await docker.listContainers({
      all: true,
      filters: JSON.stringify({ label: [`${RUN_LABELS.job}=${name}`] }),
    });
    expect(left).toEqual([]);
  });
});
