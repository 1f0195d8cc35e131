import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidJobError,
  RunNotFoundError,
  SSHDockerJobRoutine,
  StopNotSupportedError,
} from '../../src/index.js';
import type { Job } from '../../src/index.js';
import { FailingJob, StoppableJob, TalkingJob } from '../fixtures/attached-jobs/jobs.js';

const sourceRoot = fileURLToPath(new URL('../fixtures/attached-jobs', import.meta.url));
let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'ferry-attached-'));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function routineFor(job: Job): SSHDockerJobRoutine {
  return new SSHDockerJobRoutine({
    job,
    name: 'attached-test',
    version: '0.1.0',
    sourceRoot,
    workDir,
  });
}

describe('routine.attached', () => {
  it('runs the job in this process and keeps its stdout and stderr apart', async () => {
    const routine = routineFor(new TalkingJob('hello'));
    const run = await routine.attached.execute();
    expect(await run.wait()).toEqual({ runId: run.id, exitCode: 0, state: 'exited' });
    const logs = await routine.attached.getLogs();
    expect(logs.stdout).toContain('hello from TalkingJob');
    // The same lines the container entry point writes around a job.
    expect(logs.stdout).toContain('Executing job attached-test version 0.1.0');
    expect(logs.stdout).toMatch(/hello from TalkingJob\n(.*\n)*Job completed/);
    expect(logs.stderr).toContain('a warning on stderr');
    expect(logs.stdout).not.toContain('a warning on stderr');
    const status = await routine.attached.status(run.id);
    expect(status.state).toBe('exited');
    expect(status.finishedAt!.getTime()).toBeGreaterThanOrEqual(status.startedAt!.getTime());
  });

  it('reports a job that throws with exit code 1 and its stack on stderr', async () => {
    const routine = routineFor(new FailingJob());
    const run = await routine.attached.execute();
    expect((await run.wait()).exitCode).toBe(1);
    expect((await run.status()).state).toBe('failed');
    const { stderr } = await run.getLogs();
    expect(stderr).toContain('Error: the data is not there');
    expect(stderr).toMatch(/at FailingJob\.run/);
  });

  it('follows the logs line by line and stops a job that has a stop() method', async () => {
    const routine = routineFor(new StoppableJob());
    const run = await routine.attached.execute({ wait: false });
    const lines: string[] = [];
    const following = run.followLogs({
      onLine: (line, stream) => lines.push(`${stream}: ${line}`),
    });
    expect((await run.status()).state).toBe('running');
    await run.stop();
    await following;
    expect(lines).toContain('stdout: waiting');
    expect(lines).toContain('stdout: stopping cleanly');
    expect(await run.wait()).toMatchObject({ exitCode: 143, state: 'stopped' });
  });

  it('says how to stop a job that cannot stop itself', async () => {
    const routine = routineFor(new TalkingJob('hi'));
    const run = await routine.attached.execute();
    await expect(routine.attached.stop(run.id)).resolves.toBeUndefined(); // already ended: nothing to do
    const never = new (class {
      run(): Promise<void> {
        return new Promise(() => undefined);
      }
    })();
    const pending = await routineFor(never).attached.execute({ wait: false });
    await expect(pending.stop()).rejects.toBeInstanceOf(StopNotSupportedError);
  });

  it('checks deliverability: runs the copy loaded back from a package', async () => {
    const job = new TalkingJob('packaged hello');
    const routine = routineFor(job);
    const run = await routine.attached.execute({ viaPackage: true });
    expect((await run.wait()).exitCode).toBe(0);
    expect((await run.getLogs()).stdout).toContain('packaged hello from TalkingJob');
  });

  it('refuses what is not a job, and a run id it does not know', async () => {
    expect(() => routineFor({ notRun: true } as unknown as Job)).toThrow(InvalidJobError);
    expect(() => routineFor({ notRun: true } as unknown as Job)).toThrow(/has no run\(\) method/);
    await expect(routineFor(new TalkingJob('x')).attached.status()).rejects.toBeInstanceOf(
      RunNotFoundError,
    );
    await expect(routineFor(new TalkingJob('x')).attached.wait('nope')).rejects.toThrow(
      /no attached run 'nope'/,
    );
  });
});
