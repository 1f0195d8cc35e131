import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeaturizationJob, sourceRoot } from '../../examples/featurization/createJob.js';
import { DockerOptions, SSHDockerJobRoutine } from '../../src/index.js';
import { RemoteNotConfiguredError } from '../../src/routines/errors.js';
import { remoteSshOptions, requireTestbed } from '../support/testbed.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';

const testbed = requireTestbed('remote', 'baseImage');

describe('SSHDockerJobRoutine', () => {
  it('says how to name a remote host when routine.remote is used without one', () => {
    const routine = new SSHDockerJobRoutine({
      job: createFeaturizationJob(),
      name: 'no-remote',
      version: '1.0.0',
      sourceRoot,
    });
    expect(() => routine.remote).toThrow(RemoteNotConfiguredError);
    expect(() => routine.remote).toThrow(/give SSHDockerJobRoutine a remote: \{ ssh: \{ host/);
  });

  describeWithTestbed(testbed, 'one job, three places, one result', () => {
    let workDir: string;
    beforeAll(async () => {
      workDir = await mkdtemp(path.join(tmpdir(), 'ferry-routine-'));
    });
    afterAll(async () => {
      await rm(workDir, { recursive: true, force: true });
    });

    it('gives the same feature checksum attached, in local Docker and on the remote host', async () => {
      const tb = testbed!;
      const routine = new SSHDockerJobRoutine({
        job: createFeaturizationJob(),
        name: `routine-${process.pid}`,
        version: '1.0.0',
        sourceRoot,
        workDir,
        containering: { baseImage: tb.baseImage },
        // Containers go once their run is read; the logs stay readable from the run.
        options: new DockerOptions({ removeContainer: true }),
        remote: {
          ssh: remoteSshOptions(tb),
          dockerSocketPath: tb.remote.dockerSocketPath,
        },
      });
      const checksums: string[] = [];
      for (const executor of [routine.attached, routine.local, routine.remote]) {
        const run = await executor.execute();
        expect((await executor.wait(run.id)).exitCode).toBe(0);
        const { stdout } = await executor.getLogs(run.id);
        expect(stdout).toContain(`Executing job routine-${process.pid} version 1.0.0`);
        checksums.push(/checksum: (\w+)/.exec(stdout)?.[1] ?? 'missing');
      }
      expect(checksums[0]).toMatch(/^[0-9a-f]{16}$/);
      expect(new Set(checksums).size).toBe(1);
      await routine.remote.close();
    });
  });
});
