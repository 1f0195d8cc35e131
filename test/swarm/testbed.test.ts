/**
 * The test bed's swarm itself (scripts/testbed.sh up): the facts the swarm suites rely on, checked
 * on the real nodes, so that a broken swarm shows up here first, by name.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import Dockerode from 'dockerode';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { dockerJson, requireTestbed } from '../support/testbed.js';

const testbed = requireTestbed('local', 'swarm');

interface NodeInfo {
  ID: string;
  Spec: { Role: string; Labels: Record<string, string> };
  Status: { State: string; Addr: string };
}

describeWithTestbed(testbed, "the test bed's swarm", (tb) => {
  const swarm = tb.swarm!;
  let docker: Dockerode;
  const service = `ferry-testbed-check-${process.pid}`;

  beforeAll(() => {
    docker = new Dockerode({ socketPath: swarm.managerSocketPath });
  });

  afterAll(async () => {
    await docker
      .getService(service)
      .remove()
      .catch(() => undefined);
  });

  it('has the local engine as manager and every worker ready, each told apart by its label', async () => {
    const nodes = await dockerJson<NodeInfo[]>(swarm.managerSocketPath, '/nodes');
    const manager = nodes.find((n) => n.ID === swarm.managerNodeId);
    expect(manager?.Spec.Role).toBe('manager');
    expect(manager?.Status.Addr).toBe(swarm.managerAddress);
    expect(swarm.workers.length).toBeGreaterThanOrEqual(2);
    for (const worker of swarm.workers) {
      const node = nodes.find((n) => n.ID === worker.nodeId);
      expect(node, worker.name).toMatchObject({
        Spec: { Role: 'worker', Labels: { [swarm.nodeLabel]: worker.label } },
        Status: { State: 'ready', Addr: worker.address },
      });
      const info = await dockerJson<{ ID: string }>(worker.socketPath, '/info');
      expect(info.ID).toBe(worker.engineId);
    }
    expect(new Set(swarm.workers.map((w) => w.engineId)).size).toBe(swarm.workers.length);
  });

  it("gives the workers' namespaces no default route: nothing leaves the machine", () => {
    for (const worker of swarm.workers) {
      const routes = execFileSync(
        'nsenter',
        [`--net=/var/run/netns/${worker.netns}`, 'ip', 'route', 'show', 'default'],
        { encoding: 'utf8' },
      );
      expect(routes.trim(), worker.netns).toBe('');
    }
  });

  it('runs the base image from the swarm registry on a worker that never had it', async () => {
    const worker = swarm.workers[0]!;
    // Absent there first, so the worker has to pull it through the registry.
    await new Dockerode({ socketPath: worker.socketPath })
      .getImage(swarm.baseImage)
      .remove({ force: true })
      .catch((error: { statusCode?: number }) => {
        if (error.statusCode !== 404) throw error;
      });
    await docker.createService({
      Name: service,
      TaskTemplate: {
        ContainerSpec: {
          Image: swarm.baseImage,
          Command: ['node', '-e', 'console.log("swarm " + process.version)'],
        },
        RestartPolicy: { Condition: 'none' },
        Placement: { Constraints: [`node.labels.${swarm.nodeLabel}==${worker.label}`] },
      },
      Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
    } as unknown as Dockerode.CreateServiceOptions);
    const deadline = Date.now() + 60_000;
    let state = '';
    while (Date.now() < deadline) {
      const tasks = (await docker.listTasks({
        filters: JSON.stringify({ service: [service] }),
      })) as { NodeID: string; Status: { State: string; Err?: string } }[];
      state = tasks[0]?.Status.State ?? '';
      if (['complete', 'failed', 'rejected'].includes(state)) {
        expect(tasks[0]!.NodeID).toBe(worker.nodeId);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(state).toBe('complete');
  });
});
