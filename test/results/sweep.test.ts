/**
 * A sweep's runs on the local engine, started by the sweep's queue runner: each learns its own run
 * id, sweep and index, writes its outputs to its own folder and logs metrics, which its record
 * carries once the sweep ended.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDockerExecutor, PackagingTask } from '../../src/index.js';
import { RUN_LABELS } from '../../src/routines/docker/labels.js';
import { newRunId } from '../../src/routines/runId.js';
import { requireTestbed } from '../support/testbed.js';
import { TrainJob } from './fixtures/jobs/jobs.js';
import { removeMadeHere } from '../support/cleanup.js';

const testbed = requireTestbed('local', 'baseImage');
const sourceRoot = fileURLToPath(new URL('./fixtures/jobs', import.meta.url));

describe.skipIf(!testbed)('results of a sweep', () => {
  const suffix = randomBytes(3).toString('hex');
  const name = `results-sweep-${suffix}`;
  let docker: Dockerode;
  let scratch: string;

  beforeAll(async () => {
    docker = new Dockerode({ socketPath: testbed!.localDocker.socketPath });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ferry-results-sweep-'));
  });

  afterAll(async () => {
    await removeMadeHere([docker], { label: [`${RUN_LABELS.job}=${name}`] });
    await rm(scratch, { recursive: true, force: true });
  });

  it('every run of a 10-run sweep has its own id, index, outputs and metrics', async () => {
    const local = new LocalDockerExecutor({
      packagingTask: new PackagingTask({
        name,
        version: '1.0.0',
        payload: { job: new TrainJob(100) },
        sourceRoot,
      }),
      containering: { imageName: `ferry-test/${name}`, baseImage: testbed!.baseImage },
      docker,
      workDir: path.join(scratch, 'work'),
      cacheDir: path.join(scratch, 'cache'),
    });
    const sweepId = `sweep-${suffix}`;
    const lrs = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
    const queued = await local.startSweep({
      sweepId,
      runs: lrs.map((lr, index) => ({ runId: newRunId(), index, parameters: { lr } })),
      maxParallel: 3,
    });
    for (;;) {
      const progress = await local.sweepProgress(sweepId, lrs.length);
      if (progress.ended === progress.total) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const records = await local.syncRecords(queued.records);
    for (const [index, record] of records.entries()) {
      const lr = lrs[index]!;
      expect(record).toMatchObject({ status: 'succeeded', sweepIndex: index, hasOutputs: true });
      expect(record.metrics?.accuracy).toBeCloseTo(0.5 + lr);
      const result = (await local.result(record.id)) as { runId: string; sweepIndex: number };
      expect(result).toMatchObject({ runId: record.id, sweepIndex: index });
      const dir = path.join(scratch, 'outputs', record.id);
      await local.downloadOutputs(record.id, dir);
      expect(await readFile(path.join(dir, 'weights.txt'), 'utf8')).toBe(
        `lr=${lr} run=${record.id}\n`,
      );
    }
  });
});
