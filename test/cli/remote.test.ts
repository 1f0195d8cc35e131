import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunRecord } from '../../src/records/index.js';
import { requireTestbed } from '../support/testbed.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { cleanEngine, editConfig, ferry, maxConcurrency, testbedTarget } from './support.js';

const testbed = requireTestbed('local', 'remote', 'baseImage');

describeWithTestbed(
  testbed,
  'ferry on the remote host (the test bed over SSH), driven as a user would',
  () => {
    const project = `cli-remote-${randomBytes(3).toString('hex')}`;
    let root: string;
    let dir: string;
    /** A second checkout of the project with no records: another machine, or a colleague. */
    let elsewhere: string;
    let local: Dockerode;
    let remote: Dockerode;
    let runId: string;

    beforeAll(async () => {
      local = new Dockerode({ socketPath: testbed!.localDocker.socketPath });
      remote = new Dockerode({ socketPath: testbed!.remote.dockerSocketPath });
      root = await mkdtemp(path.join(os.tmpdir(), 'ferry-cli-remote-'));
      dir = path.join(root, 'project');
      elsewhere = path.join(root, 'elsewhere');
      for (const folder of ['project', 'elsewhere']) {
        const init = await ferry(['init', folder, '--name', project], root);
        expect(init.code, init.stderr).toBe(0);
        await editConfig(path.join(root, folder), (config) => {
          config.defaults = { target: 'testbed', parameters: { name: 'world' } };
          const targets = config.targets as Record<string, unknown>;
          (targets.local as Record<string, unknown>).baseImage = testbed!.baseImage;
          targets.testbed = testbedTarget(testbed!);
        });
      }
    }, 60_000);

    afterAll(async () => {
      await cleanEngine(remote, project);
      await cleanEngine(local, project);
      await rm(root, { recursive: true, force: true });
    });

    it('runs the job on the remote host, the image absent there before', async () => {
      expect(
        await remote.listImages({ filters: JSON.stringify({ label: [`ferry.job=${project}`] }) }),
      ).toEqual([]);
      const result = await ferry(['run', '--param', 'name=Remote'], dir);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('Hello, Remote!');
      expect(result.stderr).toMatch(
        /ferry: shipping: .* on testbed: \d+ of \d+ layers, .* over SSH/,
      );
      runId = /run (\S+) succeeded/.exec(result.stderr)![1]!;
      const status = JSON.parse(
        (await ferry(['status', runId, '--json'], dir)).stdout,
      ) as RunRecord;
      expect(status).toMatchObject({
        id: runId,
        target: 'testbed',
        targetKind: 'remote',
        host: `${testbed!.remote.username}@${testbed!.remote.host}:${testbed!.remote.port}`,
        status: 'succeeded',
        exitCode: 0,
        parameters: { name: 'Remote' },
      });
      const logs = await ferry(['logs', runId], dir);
      expect(logs.stdout).toContain('Hello, Remote!');
    }, 120_000);

    it('finds the run from another checkout by its labels on the target, and gets its package from there', async () => {
      const unknownHere = await ferry(['status', runId], elsewhere);
      expect(unknownHere.code).toBe(2);
      expect(unknownHere.stderr).toContain(
        '--target <name> searches a remote target (gpu-box, testbed)',
      );
      const listed = await ferry(['ls', '--target', 'testbed', '--json'], elsewhere);
      expect(listed.code, listed.stderr).toBe(0);
      const found = (JSON.parse(listed.stdout) as RunRecord[]).find((r) => r.id === runId);
      expect(found).toMatchObject({
        status: 'succeeded',
        parameters: { name: 'Remote' },
        targetKind: 'remote',
      });
      const logs = await ferry(['logs', runId], elsewhere);
      expect(logs.stdout).toContain('Hello, Remote!');
      const got = await ferry(['get', runId, '-o', path.join(root, 'remote.tar.gz')], elsewhere);
      expect(got.code, got.stderr).toBe(0);
      expect(got.stderr).toContain("from the run's image on target testbed");
      const original = await ferry(['get', runId, '-o', path.join(root, 'original.tar.gz')], dir);
      expect(original.code, original.stderr).toBe(0);
      expect(await readFile(path.join(root, 'remote.tar.gz'))).toEqual(
        await readFile(path.join(root, 'original.tar.gz')),
      );
    }, 120_000);

    it('runs a 20-run sweep with at most 2 at once: one image, every run recorded; the queue outlives the CLI', async () => {
      const queued = await ferry(
        ['sweep', '--grid', 'i=1..20', '--param', 'sleep=0.5', '--parallel', '2', '--detach'],
        dir,
      );
      expect(queued.code, queued.stderr).toBe(0);
      const sweepId = queued.stdout.trim();
      expect(queued.stderr).toContain(`20 runs of ${project}-0.1.0-`);
      expect(queued.stderr).toMatch(/on testbed: already there/);
      // The CLI has exited; the queue runner on the remote host goes on. Watch it from new processes.
      let runs: RunRecord[] = [];
      const deadline = Date.now() + 150_000;
      while (Date.now() < deadline) {
        const status = await ferry(['status', sweepId, '--json'], dir);
        runs = (JSON.parse(status.stdout) as { runs: RunRecord[] }).runs;
        if (runs.every((r) => ['succeeded', 'failed', 'stopped', 'cancelled'].includes(r.status)))
          break;
        await new Promise((r) => setTimeout(r, 2000));
      }
      expect(runs).toHaveLength(20);
      expect(runs.map((r) => r.status)).toEqual(Array(20).fill('succeeded'));
      expect(runs.map((r) => r.parameters.i).sort((a, b) => Number(a) - Number(b))).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      expect(new Set(runs.map((r) => r.id)).size).toBe(20);
      expect(maxConcurrency(runs)).toBe(2);

      const containers = await remote.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`ferry.sweep=${sweepId}`, 'ferry.role=run'] }),
      });
      expect(containers).toHaveLength(20);
      expect(new Set(containers.map((c) => c.ImageID)).size).toBe(1);
      const images = await remote.listImages({
        filters: JSON.stringify({ label: [`ferry.job=${project}`] }),
      });
      expect(images).toHaveLength(1);
      const runLogs = await ferry(['logs', runs[7]!.id], dir);
      expect(runLogs.stdout).toContain(
        `result: {"name":"world","sleep":0.5,"i":${runs[7]!.parameters.i}}`,
      );
      const queueLogs = await ferry(['logs', sweepId], dir);
      expect(queueLogs.stdout).toContain('at most 2 at once');
      expect(queueLogs.stdout).toContain('done');

      const table = await ferry(['ls', '--sweep', sweepId], dir);
      expect(table.stdout.trim().split('\n')).toHaveLength(21);
      const removed = await ferry(['rm', sweepId], dir);
      expect(removed.code, removed.stderr).toBe(0);
      expect(
        await remote.listContainers({
          all: true,
          filters: JSON.stringify({ label: [`ferry.sweep=${sweepId}`] }),
        }),
      ).toEqual([]);
    }, 240_000);

    it('gives each sweep run one GPU of the target; runs that cannot start are failed, with the reason', async () => {
      await editConfig(dir, (config) => {
        (config.targets as Record<string, unknown>)['testbed-gpu'] = testbedTarget(testbed!, {
          gpus: 2,
        });
      });
      const result = await ferry(['sweep', '--target', 'testbed-gpu', '--grid', 'i=1..3'], dir);
      expect(result.code).toBe(1);
      const sweepId = result.stdout.trim();
      expect(result.stderr).toContain('at most 2 at once');
      expect(result.stderr).toMatch(/3 runs could not start on testbed-gpu: .*gpu/);
      const containers = await remote.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`ferry.sweep=${sweepId}`, 'ferry.role=run'] }),
      });
      const devices = await Promise.all(
        containers.map(
          async (c) =>
            (await remote.getContainer(c.Id).inspect()).HostConfig.DeviceRequests?.[0]?.DeviceIDs,
        ),
      );
      expect(devices.map((d) => d?.join()).sort()).toEqual(['0', '0', '1']);
      const status = JSON.parse((await ferry(['status', sweepId, '--json'], dir)).stdout) as {
        counts: Record<string, number>;
      };
      expect(status.counts).toEqual({ failed: 3 });
      expect((await ferry(['rm', sweepId], dir)).code).toBe(0);
    }, 120_000);

    it('a wrong host key is an environment error (exit 3) with a clear message', async () => {
      await editConfig(elsewhere, (config) => {
        (config.targets as Record<string, Record<string, unknown>>).testbed!.hostKeyFingerprint =
          'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
      });
      const result = await ferry(['run'], elsewhere);
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(/^ferry: error: .*host key/im);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }, 60_000);
  },
);
