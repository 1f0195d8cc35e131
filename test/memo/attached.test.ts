import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AttachedExecutor,
  createExecutor,
  PackagingTask,
  parseConfig,
  RecordStore,
  ReferenceCycleError,
  UnknownUpstreamRunError,
  UpstreamRunFailedError,
  InvalidReferenceError,
  resultOf,
  type CacheEvent,
  type Job,
} from '../../src/index.js';

const fixtures = fileURLToPath(new URL('./fixtures/steps', import.meta.url));
let scratch: string;
let sourceRoot: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'ferry-memo-attached-'));
  // A copy of its own, so a test can change a line of the source.
  sourceRoot = path.join(scratch, 'src');
  await cp(fixtures, sourceRoot, { recursive: true });
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const store = (): RecordStore => new RecordStore(path.join(scratch, 'work', 'runs'));

async function jobModule(): Promise<Record<string, new (...args: never[]) => Job>> {
  return (await import(path.join(sourceRoot, 'steps.ts'))) as Record<
    string,
    new (...args: never[]) => Job
  >;
}

function executor(job: Job): AttachedExecutor {
  return new AttachedExecutor({
    job,
    packagingTask: () =>
      new PackagingTask({ name: 'memo-attached', version: '1.0.0', payload: { job }, sourceRoot }),
    workDir: path.join(scratch, 'work'),
  });
}

describe('memoization, attached', () => {
  it("a config's defaults.cache makes execute() from createExecutor memoized", async () => {
    const { SumJob } = await jobModule();
    const job = new SumJob!(20 as never);
    const config = parseConfig(
      JSON.stringify({
        project: 'memo-config',
        version: '1.0.0',
        job: 'src/steps.ts#SumJob',
        sourceRoot: 'src',
        workDir: 'config-work',
        defaults: { cache: true },
      }),
      path.join(scratch, 'ferry.config.json'),
    );
    const first = await createExecutor(config, 'attached', { job }).execute({
      parameters: { a: 1 },
    });
    const second = await createExecutor(config, 'attached', { job }).execute({
      parameters: { a: 1 },
    });
    const records = new RecordStore(path.join(scratch, 'config-work', 'runs'));
    expect(await records.get(second.id)).toMatchObject({ cachedFrom: first.id });
    // execute() still says otherwise when asked.
    const third = await createExecutor(config, 'attached', { job }).execute({
      parameters: { a: 1 },
      cache: false,
    });
    expect((await records.get(third.id))?.cachedFrom).toBeUndefined();
  });

  it('serves the same job and parameters from the first run, and runs again on any change', async () => {
    const { SumJob } = await jobModule();
    const job = new SumJob!(10 as never);
    const events: CacheEvent[] = [];
    const onCache = (e: CacheEvent): number => events.push(e);
    const first = await executor(job).execute({ cache: true, parameters: { a: 1 }, onCache });
    expect(events[0]).toMatchObject({ kind: 'miss' });
    const second = await executor(job).execute({ cache: true, parameters: { a: 1 }, onCache });
    expect(events[1]).toMatchObject({ kind: 'hit', cachedFrom: first.id, runId: second.id });
    expect(second.id).not.toBe(first.id);
    expect(await second.result()).toEqual(await first.result());
    expect((await second.metrics()).last).toEqual((await first.metrics()).last);
    const dir = path.join(scratch, 'out-cached');
    await second.downloadOutputs(dir);
    expect(await readFile(path.join(dir, 'sum.txt'), 'utf8')).toBe('11\n');
    const [a, b] = [await store().get(first.id), await store().get(second.id)];
    expect(b).toMatchObject({ cachedFrom: first.id, cacheKey: a!.cacheKey, status: 'succeeded' });
    expect(a!.cacheKey).toMatch(/^[0-9a-f]{64}$/);
    // Found again by id from a fresh executor (as the CLI does).
    expect(await (await executor(job).run(second.id)).result()).toEqual(await first.result());

    // A parameter, a payload field, --rerun: each runs.
    const param = await executor(job).execute({ cache: true, parameters: { a: 2 } });
    const payload = await executor(new SumJob!(11 as never)).execute({
      cache: true,
      parameters: { a: 1 },
    });
    const rerun = await executor(job).execute({ cache: true, rerun: true, parameters: { a: 1 } });
    for (const run of [param, payload, rerun]) {
      expect((await store().get(run.id))!.cachedFrom).toBeUndefined();
    }
    expect((await store().get(rerun.id))!.cacheKey).toBe(a!.cacheKey);
    expect((await store().get(payload.id))!.cacheKey).not.toBe(a!.cacheKey);
  });

  it('runs again after a one-line change of the source', async () => {
    const { SumJob } = await jobModule();
    const job = new SumJob!(20 as never);
    const first = await executor(job).execute({ cache: true, parameters: { a: 1 } });
    const file = path.join(sourceRoot, 'steps.ts');
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace('/** Always fails. */', '/** Always fails, always. */'));
    try {
      const second = await executor(job).execute({ cache: true, parameters: { a: 1 } });
      const [a, b] = [await store().get(first.id), await store().get(second.id)];
      expect(b!.cachedFrom).toBeUndefined();
      expect(b!.cacheKey).not.toBe(a!.cacheKey);
    } finally {
      await writeFile(file, text);
    }
  });

  it('does not serve a run whose outputs were removed, and says why', async () => {
    const { SumJob } = await jobModule();
    const job = new SumJob!(30 as never);
    const first = await executor(job).execute({ cache: true, parameters: { a: 1 } });
    await rm(path.join(store().runDir(first.id), 'outputs'), { recursive: true });
    const events: CacheEvent[] = [];
    const again = await executor(job).execute({
      cache: true,
      parameters: { a: 1 },
      onCache: (e) => events.push(e),
    });
    expect(events[0]).toMatchObject({ kind: 'miss' });
    expect((events[0] as { reason: string }).reason).toContain(
      `run ${first.id} has this key but its outputs were removed`,
    );
    expect((await store().get(again.id))!.cachedFrom).toBeUndefined();
  });

  it('feeds one run its upstream result: a job field and a parameter, recorded as inputs', async () => {
    const { FeaturizeJob, TrainJob, SumJob } = await jobModule();
    const featurize = await executor(new FeaturizeJob!([1, 2, 3] as never, 2 as never)).execute({
      cache: true,
    });
    const train = new TrainJob!(resultOf(featurize) as never, 4 as never);
    const trained = await executor(train).execute({ cache: true, parameters: { lr: 0.5 } });
    expect(await trained.result()).toEqual({ loss: 12 / 200, from: featurize.id });
    // The job object got its reference back once the run ended.
    expect((train as unknown as { features: unknown }).features).toMatchObject({
      runId: featurize.id,
    });
    const record = await store().get(trained.id);
    expect(record!.inputs).toEqual([
      {
        name: 'job.features',
        runId: featurize.id,
        target: 'attached',
        cacheKey: (await store().get(featurize.id))!.cacheKey,
      },
    ]);
    // Same upstream key: served from cache.
    const again = await executor(train).execute({ cache: true, parameters: { lr: 0.5 } });
    expect((await store().get(again.id))!.cachedFrom).toBe(trained.id);

    const summed = await executor(new SumJob!(0 as never)).execute({ parameters: { a: 4 } });
    const withParam = await executor(new SumJob!(1 as never)).execute({
      parameters: { a: 1, b: { $resultOf: summed.id } },
    });
    expect(await withParam.result()).toMatchObject({ b: { sum: 4, runId: summed.id } });
  });

  it('says what is wrong with a reference: unknown, failed, a cycle, not JSON', async () => {
    const { SumJob, FailJob, FeaturizeJob } = await jobModule();
    const sum = executor(new SumJob!(0 as never));
    await expect(
      sum.execute({ parameters: { b: { $resultOf: '20260101-000000-nope00' } } }),
    ).rejects.toThrow(UnknownUpstreamRunError);
    const failed = await executor(new FailJob!()).execute({});
    await expect(sum.execute({ inputs: { b: failed } })).rejects.toThrow(UpstreamRunFailedError);
    await expect(
      sum.execute({ runId: '20260101-000000-self00', inputs: { b: '20260101-000000-self00' } }),
    ).rejects.toThrow(ReferenceCycleError);
    // An upstream run removed: by handle its result is gone; by id it is unknown.
    const removedExecutor = executor(new SumJob!(2 as never));
    const removed = await removedExecutor.execute({ parameters: { a: 1 } });
    await removedExecutor.removeRun(removed.id, { outputs: 'drop' });
    await expect(sum.execute({ inputs: { b: removed } })).rejects.toThrow(UpstreamRunFailedError);
    await expect(sum.execute({ inputs: { b: removed.id } })).rejects.toThrow(
      UnknownUpstreamRunError,
    );
    const featurized = await executor(new FeaturizeJob!([1] as never, 1 as never)).execute({});
    await expect(sum.execute({ inputs: { b: featurized } })).rejects.toThrow(InvalidReferenceError);
  });
});
