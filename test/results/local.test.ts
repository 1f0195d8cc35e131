import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DockerOptions,
  LocalDockerExecutor,
  OutputsNotKeptError,
  PackagingTask,
  RecordStore,
  ResultNotSerializableError,
  RunFailedError,
} from '../../src/index.js';
import { RUN_LABELS } from '../../src/routines/docker/labels.js';
import { requireTestbed } from '../support/testbed.js';
import {
  FailAfterOutputJob,
  SlowWriterJob,
  TrainJob,
  UnserializableJob,
} from './fixtures/jobs/jobs.js';
import { Model } from './fixtures/jobs/model.js';
import { removeMadeHere } from '../support/cleanup.js';

const testbed = requireTestbed('local', 'baseImage');
const sourceRoot = fileURLToPath(new URL('./fixtures/jobs', import.meta.url));

describe.skipIf(!testbed)('results of runs on the local engine', () => {
  const suffix = randomBytes(3).toString('hex');
  const name = `results-local-${suffix}`;
  let docker: Dockerode;
  let scratch: string;

  beforeAll(async () => {
    docker = new Dockerode({ socketPath: testbed!.localDocker.socketPath });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ferry-results-local-'));
  });

  afterAll(async () => {
    await removeMadeHere([docker], { label: [`${RUN_LABELS.job}=${name}`] });
    await removeMadeHere([docker], { reference: [`ferry-test/${name}*`] });
    await rm(scratch, { recursive: true, force: true });
  });

  function executor(
    job: unknown,
    options: { removeContainer?: boolean } = {},
  ): LocalDockerExecutor {
    return new LocalDockerExecutor({
      packagingTask: new PackagingTask({ name, version: '1.0.0', payload: { job }, sourceRoot }),
      options: new DockerOptions(options),
      containering: { imageName: `ferry-test/${name}`, baseImage: testbed!.baseImage },
      docker,
      workDir: path.join(scratch, 'work'),
      cacheDir: path.join(scratch, 'cache'),
    });
  }

  const store = (): RecordStore => new RecordStore(path.join(scratch, 'work', 'runs'));

  it('brings home the result, the metrics and the outputs of a container run', async () => {
    const local = executor(new TrainJob(100_000));
    const run = await local.execute({ parameters: { lr: 0.5 } });
    const result = (await run.result()) as { model: Model; runId: string };
    expect(result.runId).toBe(run.id);
    expect(result.model).toBeInstanceOf(Model);
    expect(result.model.checksum()).toBe(100_000 * 2.25);
    const bound = (await run.result({ bind: 'package' })) as { model: Model };
    expect(bound.model).not.toBeInstanceOf(Model);
    expect(bound.model.checksum()).toBe(100_000 * 2.25);

    const metrics = await run.metrics();
    expect(metrics.last).toEqual({ loss: 1 / 3.5, accuracy: 1 });
    expect(metrics.points).toHaveLength(4);
    const lines: string[] = [];
    await run.followLogs({ onLine: (line) => lines.push(line) });
    expect(lines.some((l) => l.startsWith('ferry:metric {"name":"accuracy","value":1'))).toBe(true);

    const dir = path.join(scratch, 'out', run.id);
    const progress: number[] = [];
    const downloaded = await run.downloadOutputs(dir, {
      onProgress: (p) => progress.push(p.files),
    });
    expect(downloaded.files).toBe(2);
    expect(progress.at(-1)).toBe(2);
    expect(await readFile(path.join(dir, 'weights.txt'), 'utf8')).toBe(`lr=0.5 run=${run.id}\n`);
    expect(await readFile(path.join(dir, 'nested', 'env.txt'), 'utf8')).toBe(
      `${run.id} /ferry/run/outputs\n`,
    );
    expect(await store().get(run.id)).toMatchObject({
      status: 'succeeded',
      hasResult: true,
      hasOutputs: true,
      metrics: { accuracy: 1 },
      outputsDownloadedTo: dir,
    });
  });

  it('keeps the result, metrics and outputs of a run whose container is removed (--rm)', async () => {
    const local = executor(new TrainJob(10), { removeContainer: true });
    const run = await local.execute();
    await run.wait();
    expect(
      await docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`${RUN_LABELS.runId}=${run.id}`] }),
      }),
    ).toEqual([]);
    // Another process (a new executor) finds it from its record and saved run folder.
    const later = executor(new TrainJob(10));
    const found = await later.run(run.id);
    expect(((await found.result()) as { model: Model }).model.checksum()).toBe(4.5);
    expect((await found.metrics()).last.accuracy).toBe(0.6);
    await found.downloadOutputs(path.join(scratch, 'removed-out'));
    expect((await readdir(path.join(scratch, 'removed-out'))).sort()).toEqual([
      'nested',
      'weights.txt',
    ]);
  });

  it('a job that fails under execute() is reported: status failed, a typed error from result()', async () => {
    const local = executor(new FailAfterOutputJob());
    const run = await local.execute();
    expect((await run.status()).state).toBe('failed');
    await expect(run.result()).rejects.toThrow(RunFailedError);
    expect((await store().get(run.id))?.status).toBe('failed');
    // Its outputs are still there, and removing it without saying what becomes of them is refused.
    await expect(local.removeRun(run.id)).rejects.toThrow(OutputsNotKeptError);
    const kept = await local.removeRun(run.id, { outputs: 'keep' });
    expect(kept.keptIn).toBe(store().runDir(run.id));
    const found = await executor(new FailAfterOutputJob()).run(run.id);
    await found.downloadOutputs(path.join(scratch, 'failed-out'));
    expect(await readdir(path.join(scratch, 'failed-out'))).toEqual(['partial.txt']);
  });

  it('an unserializable result is named in the log; the run completes; result() says why', async () => {
    const run = await executor(new UnserializableJob()).execute();
    expect((await run.wait()).exitCode).toBe(0);
    expect((await run.getLogs()).stderr).toContain(
      'result.model.cache: function values cannot be delivered',
    );
    await expect(run.result()).rejects.toThrow(ResultNotSerializableError);
  });

  it('a job killed while it writes outputs: what it wrote comes home, and no result', async () => {
    const local = executor(new SlowWriterJob());
    const run = await local.execute({ wait: false });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const [container] = await docker.listContainers({
      filters: JSON.stringify({ label: [`${RUN_LABELS.runId}=${run.id}`] }),
    });
    await docker.getContainer(container!.Id).kill();
    await expect(run.result()).rejects.toThrow(RunFailedError);
    const written = (await run.metrics()).points.length;
    expect(written).toBeGreaterThan(3);
    const dir = path.join(scratch, 'killed-out');
    const downloaded = await run.downloadOutputs(dir);
    expect(downloaded.files).toBeGreaterThanOrEqual(written);
    expect((await readdir(path.dirname(dir))).filter((n) => n.includes('.partial-'))).toEqual([]);
  });
});
