import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PackagingTask } from '../../src/packaging/index.js';
import { RUN_LABELS } from '../../src/routines/docker/labels.js';
import { LocalDockerExecutor } from '../../src/routines/localDockerExecutor.js';
import { requireTestbed } from '../support/testbed.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { ChattyJob } from './fixtures/chattyJob.js';
import { expectedNumbers, printedLines } from './printedLines.js';

const testbed = requireTestbed('local', 'baseImage');
const sourceRoot = fileURLToPath(new URL('./fixtures/', import.meta.url));
const LINES = 100_000;

describeWithTestbed(testbed, "the container's entry point keeps everything a job prints", () => {
  const name = `ctest-chatty-${randomBytes(3).toString('hex')}`;
  let docker: Dockerode;
  let scratch: string;

  beforeAll(async () => {
    docker = new Dockerode({ socketPath: testbed!.localDocker.socketPath });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ferry-output-test-'));
  });

  afterAll(async () => {
    const containers = await docker.listContainers({
      all: true,
      filters: JSON.stringify({ label: [`${RUN_LABELS.job}=${name}`] }),
    });
    for (const c of containers) await docker.getContainer(c.Id).remove({ force: true });
    await docker
      .getImage(`ferry-test/${name}:1.0.0`)
      .remove({ force: true })
      .catch((error: { statusCode?: number }) => {
        if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
      });
    await rm(scratch, { recursive: true, force: true });
  });

  function executor(job: ChattyJob): LocalDockerExecutor {
    return new LocalDockerExecutor({
      packagingTask: new PackagingTask({ name, version: '1.0.0', payload: { job }, sourceRoot }),
      containering: { imageName: `ferry-test/${name}`, baseImage: testbed!.baseImage },
      docker,
      cacheDir: path.join(scratch, 'cache'),
    });
  }

  it(`${LINES.toLocaleString('en')} lines on stdout and stderr: all in the logs, in order, the closing line last`, async () => {
    const run = await executor(new ChattyJob(LINES)).execute();
    const result = await run.wait();
    expect(result).toEqual({ runId: run.id, exitCode: 0, state: 'exited' });

    const logs = await run.getLogs();
    const stdout = printedLines(logs.stdout);
    const stderr = printedLines(logs.stderr);
    // Compared as counts first so that a failure says how much was lost, not a 100,000-line diff.
    expect({ stdout: stdout.numbers.length, stderr: stderr.numbers.length }).toEqual({
      stdout: LINES / 2,
      stderr: LINES / 2,
    });
    expect(stdout.numbers).toEqual(expectedNumbers(LINES).stdout);
    expect(stderr.numbers).toEqual(expectedNumbers(LINES).stderr);
    expect(stderr.others).toEqual([]);
    expect(stdout.others.slice(1)).toEqual([
      `Executing job ${name} version 1.0.0`,
      'Job completed',
    ]);
    expect(logs.stdout.endsWith('\nJob completed\n')).toBe(true);
  });

  it('a job that fails after printing as much: all of it, then its error, and exit code 1', async () => {
    const run = await executor(new ChattyJob(LINES, 80, 'throw')).execute();
    expect(await run.wait()).toEqual({ runId: run.id, exitCode: 1, state: 'failed' });
    const logs = await run.getLogs();
    const stdout = printedLines(logs.stdout);
    const stderr = printedLines(logs.stderr);
    expect({ stdout: stdout.numbers.length, stderr: stderr.numbers.length }).toEqual({
      stdout: LINES / 2,
      stderr: LINES / 2,
    });
    expect(stderr.numbers).toEqual(expectedNumbers(LINES).stderr);
    expect(stderr.others[0]).toBe(`Job failed: Error: ChattyJob failed after ${LINES} lines`);
    expect(logs.stdout).not.toContain('Job completed');
  });
});
