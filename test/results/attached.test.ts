import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OutputsNotKeptError,
  RecordStore,
  ResultNotSerializableError,
  RunFailedError,
  SSHDockerJobRoutine,
} from '../../src/index.js';
import type { Job } from '../../src/index.js';
import { FailAfterOutputJob, QuietJob, TrainJob, UnserializableJob } from './fixtures/jobs/jobs.js';
import { Model } from './fixtures/jobs/model.js';

const sourceRoot = fileURLToPath(new URL('./fixtures/jobs', import.meta.url));
let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'ferry-results-attached-'));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function routineFor(job: Job): SSHDockerJobRoutine {
  return new SSHDockerJobRoutine({
    job,
    name: 'results-test',
    version: '0.1.0',
    sourceRoot,
    workDir,
  });
}

describe('results of attached runs', () => {
  it('gives the returned value, the metrics and the outputs, and records them', async () => {
    const routine = routineFor(new TrainJob(1000));
    const run = await routine.attached.execute({ parameters: { lr: 0.5 } });
    const result = (await run.result()) as { model: Model; runId: string };
    expect(result.runId).toBe(run.id);
    expect(result.model).toBeInstanceOf(Model);
    expect(result.model.weights).toBeInstanceOf(Float32Array);
    expect(result.model.checksum()).toBe(new TrainJob(1000).size * 2.25);
    const metrics = await run.metrics();
    expect(metrics.points.filter((p) => p.name === 'loss').map((p) => p.step)).toEqual([0, 1, 2]);
    expect(metrics.last).toEqual({ loss: 1 / 3.5, accuracy: 1 });
    const logs = await run.getLogs();
    expect(logs.stdout).toContain('ferry:metric {"name":"loss"');
    const dir = path.join(workDir, 'download', run.id);
    const downloaded = await run.downloadOutputs(dir);
    expect(downloaded.files).toBe(2);
    expect(await readFile(path.join(dir, 'weights.txt'), 'utf8')).toBe(`lr=0.5 run=${run.id}\n`);
    const record = await new RecordStore(path.join(workDir, 'runs')).get(run.id);
    expect(record).toMatchObject({
      status: 'succeeded',
      hasResult: true,
      hasOutputs: true,
      metrics: { accuracy: 1 },
    });
    expect(record!.outputsDownloadedTo).toBe(dir);
  });

  it('binds the result to the run’s own package on request (a viaPackage run)', async () => {
    const routine = routineFor(new TrainJob(10));
    const run = await routine.attached.execute({ viaPackage: true });
    const own = (await run.result({ bind: 'package' })) as { model: Model };
    expect(own.model).not.toBeInstanceOf(Model);
    expect(own.model.checksum()).toBe(4.5);
    const here = (await run.result()) as { model: Model };
    expect(here.model).toBeInstanceOf(Model);
  });

  it('says which path of a result cannot be delivered, and the run still completes', async () => {
    const routine = routineFor(new UnserializableJob());
    const run = await routine.attached.execute();
    expect((await run.wait()).state).toBe('exited');
    expect((await run.getLogs()).stderr).toContain(
      'result.model.cache: function values cannot be delivered',
    );
    await expect(run.result()).rejects.toThrow(ResultNotSerializableError);
    await expect(run.result()).rejects.toThrow(/result\.model\.cache/);
  });

  it('a failed run has no result (a typed error), keeps the outputs it wrote', async () => {
    const routine = routineFor(new FailAfterOutputJob());
    const run = await routine.attached.execute();
    await expect(run.result()).rejects.toThrow(RunFailedError);
    await expect(run.result()).rejects.toThrow(/failed \(exit code 1\)/);
    const dir = path.join(workDir, 'failed-out');
    await run.downloadOutputs(dir);
    expect(await readdir(dir)).toEqual(['partial.txt']);
  });

  it('a run that returns nothing gives undefined and no metrics', async () => {
    const run = await routineFor(new QuietJob()).attached.execute();
    expect(await run.result()).toBeUndefined();
    expect(await run.metrics()).toEqual({ points: [], last: {} });
  });

  it('refuses to remove a run whose outputs were never downloaded unless told', async () => {
    const routine = routineFor(new FailAfterOutputJob());
    const run = await routine.attached.execute();
    await expect(routine.attached.removeRun(run.id)).rejects.toThrow(OutputsNotKeptError);
    const kept = await routine.attached.removeRun(run.id, { outputs: 'keep' });
    expect(kept.keptIn).toBeDefined();
    // A later process sees the run from its record and run folder.
    const later = routineFor(new QuietJob());
    const again = await later.attached.run(run.id);
    await again.downloadOutputs(path.join(workDir, 'kept-out'));
    expect(await readdir(path.join(workDir, 'kept-out'))).toEqual(['partial.txt']);
    await routine.attached.removeRun(run.id, { outputs: 'drop' });
    expect(await new RecordStore(path.join(workDir, 'runs')).get(run.id)).toBeUndefined();
  });
});
