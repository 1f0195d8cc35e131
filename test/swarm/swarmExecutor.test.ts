/**
 * The swarm target against the test bed's real swarm: the local engine as manager, two worker
 * engines in network namespaces, a registry every node reaches.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PackagingTask } from '../../src/packaging/index.js';
import { RecordStore } from '../../src/records/store.js';
import { RUN_LABELS } from '../../src/routines/docker/labels.js';
import { NotSupportedOnTargetError } from '../../src/routines/errors.js';
import type { LogStream } from '../../src/routines/jobExecutor.js';
import {
  SwarmImageUnavailableError,
  SwarmTaskStartTimeoutError,
} from '../../src/routines/swarm/errors.js';
import { SwarmExecutor, type SwarmExecutorFields } from '../../src/routines/swarm/swarmExecutor.js';
import { FailingJob } from '../fixtures/containering/jobs/failingJob.js';
import { ProbeJob, type ProbeSettings } from '../fixtures/containering/jobs/probeJob.js';
import { cleanEngine } from '../cli/support.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { remoteSshOptions, requireTestbed } from '../support/testbed.js';

const testbed = requireTestbed('local', 'remote', 'baseImage', 'registry', 'swarm');
const repo = fileURLToPath(new URL('../../', import.meta.url));
const sourceRoot = path.join(repo, 'test/fixtures/containering/jobs');

describeWithTestbed(testbed, 'SwarmExecutor on the test bed swarm', (tb) => {
  const swarm = tb.swarm!;
  const suffix = randomBytes(3).toString('hex');
  const name = `swarm-${suffix}`;
  let docker: Dockerode;
  let scratch: string;
  let records: RecordStore;

  beforeAll(async () => {
    docker = new Dockerode({ socketPath: swarm.managerSocketPath });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ferry-swarm-test-'));
    records = new RecordStore(path.join(scratch, 'work', 'runs'));
  });

  afterAll(async () => {
    const filters = JSON.stringify({ label: [`${RUN_LABELS.job}=${name}`] });
    for (const s of await docker.listServices({ filters })) await docker.getService(s.ID).remove();
    for (const s of await docker.listSecrets({ filters })) {
      await docker
        .getSecret((s as { ID: string }).ID)
        .remove()
        .catch(() => undefined);
    }
    // The job's images here (built, and tagged for the registries), none of anyone else's.
    await cleanEngine(docker, name);
    await rm(scratch, { recursive: true, force: true });
  });

  function executor(job: unknown, fields: Partial<SwarmExecutorFields> = {}): SwarmExecutor {
    return new SwarmExecutor({
      packagingTask: new PackagingTask({ name, version: '1.0.0', payload: { job }, sourceRoot }),
      manager: { socketPath: swarm.managerSocketPath },
      registry: `${swarm.registry.address}/ferry-test`,
      containering: { imageName: `ferry-test/${name}`, baseImage: tb.baseImage },
      localDocker: docker,
      workDir: path.join(scratch, 'work'),
      cacheDir: path.join(scratch, 'cache'),
      records,
      targetName: 'swarm',
      startTimeoutMs: 60_000,
      ...fields,
    });
  }

  const probe = (settings: ProbeSettings) => new ProbeJob(settings);

  it('runs a job as a replicated-job service, image by digest, and keeps its logs and status', async () => {
    // Long enough to be seen running: a run that ended before execute() returned is settled at
    // once, its service removed.
    const ex = executor(probe({ message: 'hello swarm', runForMs: 4000 }));
    const run = await ex.execute();
    const service = (await docker.listServices({
      filters: JSON.stringify({ label: [`${RUN_LABELS.runId}=${run.id}`] }),
    })) as unknown as {
      Spec: {
        Mode: unknown;
        TaskTemplate: { RestartPolicy: { Condition: string }; ContainerSpec: { Image: string } };
      };
    }[];
    expect(service).toHaveLength(1);
    const spec = service[0]!.Spec;
    expect(spec.Mode).toEqual({ ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } });
    expect(spec.TaskTemplate.RestartPolicy.Condition).toBe('none');
    expect(spec.TaskTemplate.ContainerSpec.Image).toMatch(
      new RegExp(`^${swarm.registry.address}/ferry-test/.*@sha256:[0-9a-f]{64}$`),
    );
    const result = await run.wait();
    expect(result).toMatchObject({ exitCode: 0, state: 'exited' });
    const logs = await ex.getLogs(run.id);
    expect(logs.stdout).toContain('probe: hello swarm');
    expect(logs.stderr).toContain('probe: done');
    const record = await records.get(run.id);
    expect(record).toMatchObject({ status: 'succeeded', exitCode: 0, targetKind: 'swarm' });
    expect(record?.node).toMatch(/^node /);
    // Ended: its service is gone, the run is served from its record.
    expect(
      await docker.listServices({
        filters: JSON.stringify({ label: [`${RUN_LABELS.runId}=${run.id}`] }),
      }),
    ).toEqual([]);
    const again = await executor(undefined).run(run.id);
    expect((await again.status()).state).toBe('exited');
    expect((await again.getLogs()).stdout).toContain('probe: hello swarm');
  });

  it('carries propagated variables as a secret, never in the service spec, and removes it', async () => {
    const secret = `s3cret-${randomBytes(6).toString('hex')}`;
    const ex = executor(
      probe({ message: 'env', printEnv: ['FERRY_SWARM_TOKEN'], runForMs: 2500 }),
      {
        environment: ['FERRY_SWARM_TOKEN'],
        env: { ...process.env, FERRY_SWARM_TOKEN: secret },
      },
    );
    const run = await ex.execute();
    const inspect = execFileSync(
      'docker',
      ['-H', `unix://${swarm.managerSocketPath}`, 'service', 'inspect', `ferry-${name}-${run.id}`],
      { encoding: 'utf8', env: { ...process.env, DOCKER_API_VERSION: '1.41' } },
    );
    expect(inspect).toContain('ferry-env');
    expect(inspect).not.toContain(secret);
    const secrets = await docker.listSecrets({
      filters: JSON.stringify({ label: [`${RUN_LABELS.runId}=${run.id}`] }),
    });
    expect(secrets).toHaveLength(1);
    expect((await run.wait()).exitCode).toBe(0);
    expect((await run.getLogs()).stdout).toContain(`env FERRY_SWARM_TOKEN=${secret}`);
    expect(
      await docker.listSecrets({
        filters: JSON.stringify({ label: [`${RUN_LABELS.runId}=${run.id}`] }),
      }),
    ).toEqual([]);
  });

  it('places a run on a worker by constraint, and it completes there', async () => {
    const worker = swarm.workers[1]!;
    const ex = executor(probe({ message: 'on a worker' }), {
      settings: {
        constraints: ['node.role==worker', `node.labels.${swarm.nodeLabel}==${worker.label}`],
        reservations: { cpus: 0.1, memory: '32m' },
        limits: { cpus: 1, memory: '256m' },
      },
    });
    const run = await ex.execute({ wait: true });
    expect((await run.status()).state).toBe('exited');
    const record = await records.get(run.id);
    expect(record?.node).toContain(worker.nodeId.slice(0, 12));
    expect(record?.node).toContain(`${swarm.nodeLabel}=${worker.label}`);
    expect((await run.getLogs()).stdout).toContain('probe: on a worker');
  });

  it('follows the logs live and stops a run; its record says stopped', async () => {
    const ex = executor(probe({ message: 'long', runForMs: 60_000, tickMs: 200 }));
    const run = await ex.execute({ parameters: { lr: 0.5 } });
    // Another checkout (no records of it) finds the run on the swarm, parameters and all.
    const elsewhere = executor(undefined, {
      records: new RecordStore(path.join(scratch, 'elsewhere', 'runs')),
      jobName: name,
    });
    const found = await elsewhere.discoverRuns(new Set());
    expect(found.find((r) => r.id === run.id)).toMatchObject({
      status: 'running',
      parameters: { lr: 0.5 },
      targetKind: 'swarm',
    });
    const lines: [string, LogStream][] = [];
    const abort = new AbortController();
    const following = ex.followLogs({
      runId: run.id,
      signal: abort.signal,
      onLine: (line, stream) => {
        lines.push([line, stream]);
        if (line === 'tick 3') abort.abort();
      },
    });
    await following;
    expect(lines.map(([l]) => l)).toContain('tick 3');
    expect((await ex.status(run.id)).state).toBe('running');
    expect((await ex.listRuns()).map((r) => r.runId)).toContain(run.id);
    await ex.stop(run.id);
    expect((await ex.status(run.id)).state).toBe('stopped');
    expect(await records.get(run.id)).toMatchObject({ status: 'stopped' });
    expect((await ex.getLogs(run.id)).stdout).toContain('tick 3');
  });

  it('records a failing job as failed with its exit code', async () => {
    const run = await executor(new FailingJob('swarm boom')).execute();
    const result = await run.wait();
    expect(result.state).toBe('failed');
    expect(result.exitCode).toBe(1);
    expect((await run.getLogs()).stderr).toContain('swarm boom');
  });

  it('names the node when a node cannot pull the image, without hanging', async () => {
    // 127.0.0.1:5000 is the test bed's loopback registry: the manager pushes there, but on a
    // worker 127.0.0.1 is its own namespace's loopback, where no registry listens.
    const ex = executor(probe({ message: 'never' }), {
      registry: `${tb.registry.address}/ferry-test`,
      settings: { constraints: [`node.labels.${swarm.nodeLabel}==${swarm.workers[0]!.label}`] },
    });
    const started = Date.now();
    const error = await ex.execute().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SwarmImageUnavailableError);
    expect((error as Error).message).toContain(swarm.workers[0]!.nodeId.slice(0, 12));
    expect((error as Error).message).toContain(`${swarm.nodeLabel}=${swarm.workers[0]!.label}`);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('fails a run no node can take within the start timeout, saying why, and removes it', async () => {
    const ex = executor(probe({ message: 'never placed' }), {
      settings: { constraints: ['node.labels.ferry.testbed.node==nowhere'] },
      startTimeoutMs: 3000,
    });
    const error = await ex.execute().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SwarmTaskStartTimeoutError);
    expect((error as Error).message).toMatch(/did not start within 3 s .*no suitable node/);
    const [failed] = (await records.list()).filter(
      (r) => r.status === 'failed' && r.exitCode === -1,
    );
    expect(failed).toBeDefined();
    expect(
      await docker.listServices({
        filters: JSON.stringify({
          label: [`${RUN_LABELS.job}=${name}`, `${RUN_LABELS.runId}=${failed!.id}`],
        }),
      }),
    ).toEqual([]);
  });

  it('reaches the manager over SSH too, and refuses an engine that is no manager', async () => {
    // The test bed's sshd runs on this machine: forwarded to the manager's socket, a session
    // reaches the swarm; forwarded to the remote engine's, it reaches an engine in no swarm.
    const ssh = remoteSshOptions(tb);
    const overSsh = executor(probe({ message: 'over ssh' }), {
      manager: { ssh, socketPath: swarm.managerSocketPath },
    });
    try {
      const run = await overSsh.execute({ wait: true });
      expect((await run.status()).state).toBe('exited');
      expect((await run.getLogs()).stdout).toContain('probe: over ssh');
      expect(overSsh.location).toContain(`${ssh.host}:${ssh.port}`);
    } finally {
      await overSsh.close();
    }
    const notManager = executor(undefined, {
      manager: { ssh, socketPath: tb.remote.dockerSocketPath },
    });
    await expect(notManager.listRuns()).rejects.toThrow(
      /is not a swarm manager \(swarm state: inactive\)/,
    );
    await notManager.close();
  });

  it('says sweeps are not supported on a swarm target yet', async () => {
    await expect(executor(undefined).startSweep()).rejects.toBeInstanceOf(
      NotSupportedOnTargetError,
    );
  });
});
