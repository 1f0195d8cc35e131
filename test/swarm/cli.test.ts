/** `ferry run --target <swarm>` and the commands on its runs, driven as a user would. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunRecord } from '../../src/records/index.js';
import { cleanEngine, editConfig, ferry } from '../cli/support.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { requireTestbed } from '../support/testbed.js';

const testbed = requireTestbed('local', 'baseImage', 'swarm');

describeWithTestbed(testbed, 'ferry on a swarm target (the test bed swarm)', (tb) => {
  const swarm = tb.swarm!;
  const project = `cli-swarm-${randomBytes(3).toString('hex')}`;
  let root: string;
  let dir: string;
  let docker: Dockerode;

  beforeAll(async () => {
    docker = new Dockerode({ socketPath: swarm.managerSocketPath });
    root = await mkdtemp(path.join(os.tmpdir(), 'ferry-cli-swarm-'));
    dir = path.join(root, 'project');
    const init = await ferry(['init', 'project', '--name', project], root);
    expect(init.code, init.stderr).toBe(0);
    await editConfig(dir, (config) => {
      const targets = config.targets as Record<string, Record<string, unknown>>;
      targets.local!.baseImage = tb.baseImage;
      targets.cluster = {
        type: 'swarm',
        registry: `${swarm.registry.address}/ferry-cli-test`,
        baseImage: tb.baseImage,
        constraints: ['node.role==worker'],
        resources: { reservations: { cpus: 0.1 }, limits: { memory: '256m' } },
      };
    });
  }, 60_000);

  afterAll(async () => {
    const filters = JSON.stringify({ label: [`ferry.job=${project}`] });
    for (const s of await docker.listServices({ filters })) await docker.getService(s.ID).remove();
    await cleanEngine(docker, project);
    await rm(root, { recursive: true, force: true });
  });

  async function record(id: string): Promise<RunRecord> {
    return JSON.parse(
      await readFile(path.join(dir, '.ferry', 'runs', `${id}.json`), 'utf8'),
    ) as RunRecord;
  }

  it('runs the job on a worker and prints its output', async () => {
    const result = await ferry(['run', '--target', 'cluster', '--param', 'name=Swarm'], dir);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Hello, Swarm!');
    const id = /run (\d{8}-\d{6}-[0-9a-f]{6}) succeeded/.exec(result.stderr)?.[1];
    expect(id, result.stderr).toBeDefined();
    const saved = await record(id!);
    expect(saved).toMatchObject({ status: 'succeeded', targetKind: 'swarm', target: 'cluster' });
    const workerIds = swarm.workers.map((w) => w.nodeId.slice(0, 12));
    expect(workerIds.some((w) => saved.node?.includes(w))).toBe(true);
  });

  it('detaches, then logs -f, status and ls answer for the run', async () => {
    const started = await ferry(
      ['run', '--target', 'cluster', '--detach', '--param', 'name=Later'],
      dir,
    );
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    expect(id).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/);
    const logs = await ferry(['logs', '-f', id], dir);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('Hello, Later!');
    const status = await ferry(['status', id], dir);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/target:\s+cluster \(swarm\)/);
    expect(status.stdout).toMatch(/status:\s+succeeded/);
    const ls = await ferry(['ls', '-t', 'cluster'], dir);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain(id);
    // Ended and seen: its service is gone from the swarm, its record and logs stay.
    expect(
      await docker.listServices({ filters: JSON.stringify({ label: [`ferry.run-id=${id}`] }) }),
    ).toEqual([]);
    expect((await ferry(['logs', id], dir)).stdout).toContain('Hello, Later!');
  });
});
