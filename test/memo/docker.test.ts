/**
 * Memoization and pipelines on real engines: the local engine, and the test bed's remote host
 * behind sshd (its own engine, so what runs there really runs there).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  LocalDockerExecutor,
  PackagingTask,
  RecordStore,
  RemoteDockerExecutor,
  pipeline,
  step,
  stepResult,
  type CacheEvent,
} from '../../src/index.js';
import { RUN_LABELS } from '../../src/routines/docker/labels.js';
import { SshConnection, remoteDocker } from '../../src/ssh/index.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { remoteSshOptions, requireTestbed } from '../support/testbed.js';
import { Features } from './fixtures/steps/features.js';
import { FeaturizeJob, SumJob, TrainJob } from './fixtures/steps/steps.js';
import { removeMadeHere } from '../support/cleanup.js';

const sourceRoot = fileURLToPath(new URL('./fixtures/steps', import.meta.url));

describeWithTestbed(
  requireTestbed('local', 'remote', 'baseImage'),
  'memoization and pipelines on Docker targets',
  (tb) => {
    const name = `memo-${randomBytes(3).toString('hex')}`;
    const local = new Dockerode({ socketPath: tb.localDocker.socketPath });
    const executors: RemoteDockerExecutor[] = [];
    let inspector: SshConnection;
    let remote: Dockerode;
    let scratch: string;
    const filters = JSON.stringify({ label: [`${RUN_LABELS.job}=${name}`] });

    beforeAll(async () => {
      scratch = await mkdtemp(path.join(os.tmpdir(), 'ferry-memo-docker-'));
      inspector = await SshConnection.connect(remoteSshOptions(tb));
      remote = remoteDocker(inspector, { socketPath: tb.remote.dockerSocketPath });
    });

    afterAll(async () => {
      for (const executor of executors) await executor.close();
      await removeMadeHere([remote, local], { label: [`${RUN_LABELS.job}=${name}`] });
      await inspector?.close();
      await rm(scratch, { recursive: true, force: true });
    });

    const workDir = (): string => path.join(scratch, 'work');
    const store = (): RecordStore => new RecordStore(path.join(workDir(), 'runs'));
    const task = (job: object): PackagingTask =>
      new PackagingTask({ name, version: '1.0.0', payload: { job }, sourceRoot });
    const containering = (): { imageName: string; baseImage: string } => ({
      imageName: `ferry-test/${name}`,
      baseImage: tb.baseImage,
    });

    function localExecutor(job: object): LocalDockerExecutor {
      return new LocalDockerExecutor({
        packagingTask: task(job),
        containering: containering(),
        docker: local,
        targetName: 'local',
        workDir: workDir(),
        cacheDir: path.join(scratch, 'cache'),
      });
    }

    function remoteExecutor(job: object): RemoteDockerExecutor {
      const made = new RemoteDockerExecutor({
        packagingTask: task(job),
        ssh: remoteSshOptions(tb),
        dockerSocketPath: tb.remote.dockerSocketPath,
        containering: containering(),
        localDocker: local,
        targetName: 'remote',
        workDir: workDir(),
        cacheDir: path.join(scratch, 'cache'),
      });
      executors.push(made);
      return made;
    }

    async function containers(docker: Dockerode): Promise<number> {
      return (await docker.listContainers({ all: true, filters })).length;
    }

    it('serves the same job and parameters from the first run without a new container', async () => {
      const first = await localExecutor(new SumJob(5)).execute({
        cache: true,
        parameters: { a: 2 },
      });
      expect(await first.result()).toMatchObject({ sum: 7, runId: first.id });
      const before = await containers(local);
      const events: CacheEvent[] = [];
      const second = await localExecutor(new SumJob(5)).execute({
        cache: true,
        parameters: { a: 2 },
        onCache: (e) => events.push(e),
      });
      expect(events).toEqual([expect.objectContaining({ kind: 'hit', cachedFrom: first.id })]);
      expect(await containers(local)).toBe(before);
      expect(await second.result()).toEqual(await first.result());
      const dir = path.join(scratch, 'cached-outputs');
      await second.downloadOutputs(dir);
      expect(await readFile(path.join(dir, 'sum.txt'), 'utf8')).toBe('7\n');
      expect(await store().get(second.id)).toMatchObject({
        cachedFrom: first.id,
        status: 'succeeded',
        cacheKey: (await store().get(first.id))!.cacheKey,
      });
      // The key is on the container too: a checkout without the record finds the run.
      const [container] = await local.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`${RUN_LABELS.runId}=${first.id}`] }),
      });
      expect(container!.Labels['ferry.cache-key']).toBe((await store().get(first.id))!.cacheKey);
      await store().remove(first.id);
      const third = await localExecutor(new SumJob(5)).execute({
        cache: true,
        parameters: { a: 2 },
      });
      expect((await store().get(third.id))!.cachedFrom).toBe(first.id);
      expect(await containers(local)).toBe(before);
      // A different parameter runs.
      const other = await localExecutor(new SumJob(5)).execute({
        cache: true,
        parameters: { a: 3 },
      });
      expect(await other.result()).toMatchObject({ sum: 8, runId: other.id });
      expect(await containers(local)).toBe(before + 1);
    });

    it('feeds featurize (local) into train (remote); a change in train only runs train', async () => {
      const featurize = localExecutor(new FeaturizeJob([1, 2, 3, 4], 10));
      const events = new Map<string, CacheEvent | undefined>();
      const make = (epochs: number) =>
        pipeline([
          step('featurize', featurize, { parameters: { shift: 1 } }),
          step('train', remoteExecutor(new TrainJob(stepResult('featurize'), epochs)), {
            parameters: { lr: 0.5 },
            after: ['featurize'],
          }),
        ]);
      const onStep = (name: string, _run: unknown, event: CacheEvent | undefined): void => {
        events.set(name, event);
      };
      const first = await make(2).run({ cache: true, onStep });
      const featurized = first.get('featurize')!;
      const trained = first.get('train')!;
      expect(await featurized.result()).toBeInstanceOf(Features);
      // features 11+21+31+41 = 104; loss = 104 / (2 * 0.5 * 100)
      expect(await trained.result()).toEqual({ loss: 1.04, from: featurized.id });
      expect((await store().get(trained.id))!).toMatchObject({
        target: 'remote',
        inputs: [
          {
            name: 'job.features',
            runId: featurized.id,
            target: 'local',
            cacheKey: (await store().get(featurized.id))!.cacheKey,
          },
        ],
      });

      const second = await make(4).run({ cache: true, onStep });
      expect(events.get('featurize')).toMatchObject({ kind: 'hit', cachedFrom: featurized.id });
      expect(events.get('train')).toMatchObject({ kind: 'miss' });
      expect(await second.get('train')!.result()).toEqual({ loss: 0.52, from: featurized.id });

      const third = await make(4).run({ cache: true, onStep });
      expect(events.get('train')).toMatchObject({
        kind: 'hit',
        cachedFrom: second.get('train')!.id,
      });
      expect(await third.get('train')!.result()).toEqual({ loss: 0.52, from: featurized.id });
    });
  },
);
