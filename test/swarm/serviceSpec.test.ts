/** The pure parts of the swarm target: service specs, task states, and its config. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/index.js';
import {
  ENV_LOADER,
  genericResourceProblem,
  policyOfLabels,
  secretData,
  serviceName,
  serviceSpec,
} from '../../src/routines/swarm/serviceSpec.js';
import {
  describeNode,
  imageProblem,
  isLost,
  statusOfTask,
  withLostAttempt,
} from '../../src/routines/swarm/taskState.js';

describe('swarm service specs', () => {
  const base = {
    name: 'ferry-demo-20261201-120000-abcdef',
    image: 'registry:5000/team/demo@sha256:' + 'a'.repeat(64),
    entrypoint: ['node', '/app/entry.mjs'],
    labels: { 'ferry.run-id': '20261201-120000-abcdef' },
    env: ['FERRY_PARAMETERS={}'],
  };

  it('is one replicated-job task, never restarted, with resources and constraints', () => {
    const spec = serviceSpec({
      ...base,
      settings: {
        reservations: { cpus: 0.5, memory: '256m' },
        limits: { cpus: 2, memory: '1g' },
        constraints: ['node.role==worker'],
      },
    }) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- the API's JSON
    expect(spec.Mode).toEqual({ ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } });
    expect(spec.TaskTemplate.RestartPolicy).toEqual({ Condition: 'none', MaxAttempts: 0 });
    expect(spec.TaskTemplate.Resources).toEqual({
      Limits: { NanoCPUs: 2e9, MemoryBytes: 1024 ** 3 },
      Reservations: { NanoCPUs: 5e8, MemoryBytes: 256 * 1024 ** 2 },
    });
    expect(spec.TaskTemplate.Placement.Constraints).toEqual(['node.role==worker']);
    expect(spec.Labels).toEqual(base.labels);
    expect(spec.TaskTemplate.ContainerSpec.Labels).toEqual({ 'ferry.role': 'swarm-task' });
    // No secret: the image's own entry point runs.
    expect(spec.TaskTemplate.ContainerSpec.Command).toBeUndefined();
  });

  it('mounts the secret and runs the loader before the entry file; no value in the spec', () => {
    const secret = { id: 'sec1', name: 'ferry-demo-x-env' };
    const spec = JSON.stringify(serviceSpec({ ...base, secret, settings: {} }));
    const parsed = JSON.parse(spec) as {
      TaskTemplate: { ContainerSpec: { Command: string[]; Secrets: unknown[] } };
    };
    expect(parsed.TaskTemplate.ContainerSpec.Command).toEqual([
      'node',
      '-e',
      ENV_LOADER,
      '/app/entry.mjs',
    ]);
    expect(parsed.TaskTemplate.ContainerSpec.Secrets).toEqual([
      {
        File: { Name: 'ferry-env', UID: '0', GID: '0', Mode: 0o400 },
        SecretID: 'sec1',
        SecretName: 'ferry-demo-x-env',
      },
    ]);
    const data = secretData({ TOKEN: 'hunter2' });
    expect(spec).not.toContain('hunter2');
    expect(JSON.parse(Buffer.from(data, 'base64').toString('utf8'))).toEqual({ TOKEN: 'hunter2' });
  });

  it('makes service names Swarm takes, keeping the run id when cutting', () => {
    expect(serviceName('my_job.v2', '20261201-120000-abcdef')).toBe(
      'ferry-my-job-v2-20261201-120000-abcdef',
    );
    const long = serviceName('x'.repeat(80), '20261201-120000-abcdef');
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long.endsWith('20261201-120000-abcdef')).toBe(true);
  });
});

describe('swarm task states', () => {
  const task = (State: string, extra: Record<string, unknown> = {}) => ({
    ID: 't1',
    Status: { State, Timestamp: '2026-12-01T12:00:00Z', ...extra },
  });

  it('maps task states to run states and exit codes', () => {
    expect(statusOfTask('r', undefined).state).toBe('created');
    expect(statusOfTask('r', task('preparing')).state).toBe('created');
    expect(statusOfTask('r', task('running'))).toMatchObject({ state: 'running' });
    expect(statusOfTask('r', task('complete', { ContainerStatus: { ExitCode: 0 } }))).toMatchObject(
      { state: 'exited', exitCode: 0 },
    );
    expect(statusOfTask('r', task('failed', { ContainerStatus: { ExitCode: 3 } }))).toMatchObject({
      state: 'failed',
      exitCode: 3,
    });
    expect(statusOfTask('r', task('rejected', { Err: 'No such image: x' }))).toMatchObject({
      state: 'failed',
      exitCode: -1,
    });
  });

  it('tells an image problem from another failure, and names nodes by id, address and labels', () => {
    expect(imageProblem(task('rejected', { Err: 'No such image: r/x@sha256:1' }))).toBe(true);
    expect(imageProblem(task('failed', { Err: 'task: non-zero exit (1)' }))).toBe(false);
    expect(
      describeNode(
        {
          ID: 'abcdefabcdef0123',
          Description: { Hostname: 'vm' },
          Status: { Addr: '10.0.0.2' },
          Spec: { Labels: { zone: 'a' } },
        },
        'abcdefabcdef0123',
      ),
    ).toBe('node vm (abcdefabcdef, 10.0.0.2, zone=a)');
  });
});

describe('swarm target config', () => {
  async function load(target: Record<string, unknown>) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-swarm-config-'));
    const file = path.join(dir, 'ferry.config.json');
    const raw = {
      project: 'demo',
      version: '1.0.0',
      job: 'src/job.ts',
      sourceRoot: '.',
      targets: { cluster: target },
    };
    await writeFile(file, JSON.stringify(raw));
    return validateConfig(raw, file);
  }

  it('takes a swarm target with its registry, resources, constraints and start timeout', async () => {
    const config = await load({
      type: 'swarm',
      registry: 'registry:5000/team',
      environment: ['TOKEN'],
      resources: { reservations: { cpus: 1 }, limits: { memory: '2g' } },
      constraints: ['node.role==worker', 'node.labels.gpu != none'],
    });
    expect(config.targets.cluster).toMatchObject({
      type: 'swarm',
      registry: 'registry:5000/team',
      environment: ['TOKEN'],
      resources: { reservations: { cpus: 1 }, limits: { memory: '2g' } },
      startTimeout: 120,
    });
  });

  it('requires a registry and refuses a constraint Swarm would not parse', async () => {
    await expect(load({ type: 'swarm' })).rejects.toThrow(/targets\.cluster\.registry/);
    await expect(
      load({ type: 'swarm', registry: 'r:5000/t', constraints: ['node.role'] }),
    ).rejects.toThrow(/targets\.cluster\.constraints/);
  });
});

describe('swarm retries, timeouts, lost nodes and GPUs', () => {
  const base = {
    name: 'ferry-demo-20261201-120000-abcdef',
    image: 'registry:5000/team/demo@sha256:' + 'a'.repeat(64),
    entrypoint: ['node', '/app/entry.mjs'],
    labels: { 'ferry.run-id': '20261201-120000-abcdef' },
    env: ['FERRY_PARAMETERS={}'],
  };
  type Spec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- the API's JSON

  it('a policy restarts failed tasks, tells the entry point its deadline and is on the labels', () => {
    const spec = serviceSpec({
      ...base,
      settings: {},
      policy: { retries: 2, timeoutMs: 600_000 },
    }) as Spec;
    expect(spec.TaskTemplate.RestartPolicy).toMatchObject({
      Condition: 'on-failure',
      MaxAttempts: 2,
    });
    expect(spec.TaskTemplate.ContainerSpec.Env).toContain('FERRY_TIMEOUT_MS=600000');
    expect(policyOfLabels(spec.Labels)).toEqual({ retries: 2, timeoutMs: 600_000 });
    expect(policyOfLabels({ 'ferry.retries': 'lots' })).toEqual({ retries: 0 });
  });

  it('GPUs are generic resources the task reserves', () => {
    const spec = serviceSpec({
      ...base,
      settings: { reservations: { cpus: 1 }, genericResources: [{ kind: 'NVIDIA-GPU', count: 2 }] },
    }) as Spec;
    expect(spec.TaskTemplate.Resources.Reservations).toEqual({
      NanoCPUs: 1e9,
      GenericResources: [{ DiscreteResourceSpec: { Kind: 'NVIDIA-GPU', Value: 2 } }],
    });
  });

  it('a clear error when no node advertises the GPUs asked for', () => {
    const node = (id: string, gpus: object[]) => ({
      ID: id,
      Description: { Hostname: `h-${id}`, Resources: { GenericResources: gpus } },
    });
    const nodes = [
      node('aaaaaaaaaaaaaaaa', []),
      node('bbbbbbbbbbbbbbbb', [
        { NamedResourceSpec: { Kind: 'NVIDIA-GPU', Value: 'GPU-1' } },
        { NamedResourceSpec: { Kind: 'NVIDIA-GPU', Value: 'GPU-2' } },
      ]),
    ];
    expect(genericResourceProblem([{ kind: 'NVIDIA-GPU', count: 2 }], nodes)).toBeUndefined();
    const problem = genericResourceProblem([{ kind: 'NVIDIA-GPU', count: 4 }], nodes);
    expect(problem).toContain('each run asks for 4 NVIDIA-GPU');
    expect(problem).toContain('h-bbbbbbbbbbbbbbbb (bbbbbbbbbbbb): 2');
    expect(problem).toContain('--node-generic-resource NVIDIA-GPU=');
  });

  it('a task on a node that is down is a lost attempt, with the reason', () => {
    const task = {
      ID: 't1',
      NodeID: 'n1',
      Status: { State: 'running' },
      DesiredState: 'running',
    };
    const down = { ID: 'n1', Description: { Hostname: 'vm' }, Status: { State: 'down' } };
    const lost = withLostAttempt(task, down);
    expect(isLost(lost)).toBe(true);
    expect(lost.Status.State).toBe('failed');
    expect(lost.Status.Err).toContain('node vm (n1) is down');
    const up = { ...down, Status: { State: 'ready' } };
    expect(withLostAttempt(task, up)).toBe(task);
  });

  it('a swarm target takes gpus, timeout and retries', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-swarm-gpus-'));
    await writeFile(path.join(dir, 'job.ts'), 'export const job = { run() {} };\n');
    const config = validateConfig(
      {
        project: 'demo',
        version: '1.0.0',
        job: 'job.ts#job',
        sourceRoot: '.',
        targets: {
          cluster: {
            type: 'swarm',
            registry: 'registry:5000/team',
            gpus: 1,
            timeout: '2h',
            retries: 3,
          },
        },
      },
      path.join(dir, 'ferry.config.json'),
    );
    expect(config.targets.cluster).toMatchObject({
      gpus: 1,
      gpuResource: 'NVIDIA-GPU',
      timeout: '2h',
      retries: 3,
    });
  });
});
