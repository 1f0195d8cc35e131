/**
 * Timeouts and retries on real targets: attached (in this process) and the local Docker engine,
 * a single run and a sweep's queue runner. The remote target is the same Docker executor over SSH
 * (its engine restarts the container the same way), the swarm's own test is in test/swarm.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PackagingTask } from '../../src/packaging/index.js';
import { RecordStore } from '../../src/records/store.js';
import { RUN_LABELS } from '../../src/routines/docker/labels.js';
import { LocalDockerExecutor } from '../../src/routines/localDockerExecutor.js';
import { SSHDockerJobRoutine } from '../../src/routines/sshDockerJobRoutine.js';
import { newRunId } from '../../src/routines/runId.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { requireTestbed } from '../support/testbed.js';
import { FlakyJob } from './fixtures/flakyJob.js';
import { removeMadeHere } from '../support/cleanup.js';

const sourceRoot = fileURLToPath(new URL('./fixtures', import.meta.url));
let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'ferry-attempts-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('attached: timeouts and retries in this process', () => {
  function routine(job: FlakyJob): SSHDockerJobRoutine {
    return new SSHDockerJobRoutine({
      job,
      name: 'attempts-attached',
      version: '1.0.0',
      sourceRoot,
      workDir: path.join(scratch, 'attached'),
    });
  }
  const store = (): RecordStore => new RecordStore(path.join(scratch, 'attached', 'runs'));

  it('tries a failed run again and keeps each attempt, its exit code and its logs', async () => {
    const r = routine(new FlakyJob(1));
    const run = await r.attached.execute({ retries: 2 });
    expect(await run.wait()).toMatchObject({ exitCode: 0, state: 'exited' });
    const record = await store().get(run.id);
    expect(record).toMatchObject({ status: 'succeeded', exitCode: 0, retries: 2 });
    expect(record?.attempts?.map((a) => [a.attempt, a.status, a.exitCode])).toEqual([
      [1, 'failed', 1],
      [2, 'succeeded', 0],
    ]);
    expect((await store().readAttemptLogs(run.id, 1))?.stderr).toContain(
      'attempt 1 fails on purpose',
    );
    expect((await store().readAttemptLogs(run.id, 2))?.stdout).toContain('flaky: attempt 2');
    expect(await run.result()).toBe('succeeded on attempt 2');
  });

  it('stops a run out of time and records it timed-out', async () => {
    const started = Date.now();
    const run = await routine(new FlakyJob(0, 60_000)).attached.execute({ timeout: '1s' });
    expect(await run.wait()).toMatchObject({ exitCode: 124, state: 'failed' });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await store().get(run.id)).toMatchObject({ status: 'timed-out', timeoutMs: 1000 });
    expect((await run.getLogs()).stdout).toContain('Timed out after 1s');
  });
});

const testbed = requireTestbed('local', 'baseImage');

describeWithTestbed(testbed, 'local Docker: timeouts and retries kept by the engine', (tb) => {
  const suffix = randomBytes(3).toString('hex');
  const name = `attempts-${suffix}`;
  let docker: Dockerode;
  let records: RecordStore;

  beforeAll(() => {
    docker = new Dockerode({ socketPath: tb.localDocker.socketPath });
    records = new RecordStore(path.join(scratch, 'local', 'runs'));
  });

  afterAll(async () => {
    await removeMadeHere([docker], { label: [`${RUN_LABELS.job}=${name}`] });
  });

  function executor(job: FlakyJob): LocalDockerExecutor {
    return new LocalDockerExecutor({
      packagingTask: new PackagingTask({ name, version: '1.0.0', payload: { job }, sourceRoot }),
      containering: { imageName: `ferry-test/${name}`, baseImage: tb.baseImage },
      docker,
      workDir: path.join(scratch, 'local'),
      cacheDir: path.join(scratch, 'cache'),
      records,
    });
  }

  it('restarts a failed run within its retries; each attempt has its exit code, times and logs', async () => {
    const ex = executor(new FlakyJob(2));
    const run = await ex.execute({ retries: 3, wait: true });
    expect(await run.wait()).toMatchObject({ exitCode: 0, state: 'exited' });
    const record = await records.get(run.id);
    expect(record).toMatchObject({ status: 'succeeded', exitCode: 0, retries: 3 });
    expect(record?.attempts?.map((a) => [a.attempt, a.status, a.exitCode])).toEqual([
      [1, 'failed', 1],
      [2, 'failed', 1],
      [3, 'succeeded', 0],
    ]);
    for (const a of record!.attempts!) {
      expect(a.startedAt).toMatch(/^2\d{3}-/);
      expect(a.finishedAt).toMatch(/^2\d{3}-/);
      expect(a.where).toBe(ex.location);
    }
    const first = await records.readAttemptLogs(run.id, 1);
    expect(first?.stdout).toContain('flaky: attempt 1');
    expect(first?.stdout).not.toContain('flaky: attempt 2');
    expect(first?.stderr).toContain('attempt 1 fails on purpose');
    expect((await records.readAttemptLogs(run.id, 3))?.stdout).toContain('flaky: attempt 3');
    expect(await run.result()).toBe('succeeded on attempt 3');
  });

  it('times out a detached run without anyone waiting, and retries it as one more attempt', async () => {
    const started = Date.now();
    const ex = executor(new FlakyJob(0, 120_000));
    const run = await ex.execute({ timeout: 2, retries: 1, wait: false });
    // Nobody waits: the container's entry point keeps the deadline.
    await new Promise((resolve) => setTimeout(resolve, 9000));
    const info = await docker.getContainer((await records.get(run.id))!.containerId!).inspect();
    expect(info.State.Status).toBe('exited');
    expect(info.State.ExitCode).toBe(124);
    expect(info.RestartCount).toBe(1);
    await executor(new FlakyJob(0)).syncRecords([(await records.get(run.id))!]);
    const record = await records.get(run.id);
    expect(record).toMatchObject({ status: 'timed-out', exitCode: 124, timeoutMs: 2000 });
    expect(record?.attempts?.map((a) => [a.status, a.exitCode])).toEqual([
      ['timed-out', 124],
      ['timed-out', 124],
    ]);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('a sweep’s queue runner keeps each run’s retries and timeout', async () => {
    const ex = executor(new FlakyJob(1));
    const sweepId = `sweep-${newRunId()}`;
    const queued = await ex.startSweep({
      sweepId,
      runs: [0, 1].map((index) => ({ runId: newRunId(), index, parameters: { index } })),
      maxParallel: 2,
      policy: { retries: 1, timeout: '5m' },
    });
    const deadline = Date.now() + 90_000;
    for (;;) {
      const progress = await ex.sweepProgress(sweepId, 2);
      if (progress.ended === 2) break;
      if (Date.now() > deadline) throw new Error(`sweep did not end: ${JSON.stringify(progress)}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const synced = await ex.syncRecords(queued.records);
    for (const record of synced) {
      expect(record).toMatchObject({ status: 'succeeded', retries: 1, timeoutMs: 300_000 });
      expect(record.attempts?.map((a) => a.exitCode)).toEqual([1, 0]);
    }
    await ex.removeSweepRunner(sweepId);
  });
});
