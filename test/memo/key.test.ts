import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NoBestRunError,
  PackagingTask,
  PipelineDefinitionError,
  ReferenceCycleError,
  RecordStore,
  bestRun,
  cacheKeyOf,
  makePackage,
  stepOrder,
  stepResult,
  type JobExecutor,
  type RunRecord,
} from '../../src/index.js';
import { splitReferenceAssignments } from '../../src/memo/refs.js';

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'ferry-memo-key-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A project importing an npm package, its lockfile pinning `version`. */
async function project(name: string, version: string): Promise<string> {
  const root = path.join(scratch, name);
  await mkdir(path.join(root, 'src'), { recursive: true });
  await writeFile(
    path.join(root, 'src', 'job.ts'),
    // Imported when the job runs, so this test imports the module without the package installed.
    "export class PadJob {\n  async run(): Promise<string> {\n    const { default: pad } = await import('left-pad');\n    return pad('x', 3);\n  }\n}\n",
  );
  await writeFile(
    path.join(root, 'package.json'),
    JSON.stringify({
      name,
      version: '1.0.0',
      type: 'module',
      dependencies: { 'left-pad': '^1.0.0' },
    }),
  );
  await writeFile(
    path.join(root, 'package-lock.json'),
    JSON.stringify({
      name,
      lockfileVersion: 3,
      packages: {
        '': { name, dependencies: { 'left-pad': '^1.0.0' } },
        'node_modules/left-pad': {
          version,
          resolved: `https://registry.npmjs.org/left-pad/-/left-pad-${version}.tgz`,
          integrity: `sha512-${version}`,
        },
      },
    }),
  );
  return root;
}

async function manifestOf(root: string, payload: object, version = '1.0.0') {
  const { PadJob } = (await import(path.join(root, 'src', 'job.ts'))) as {
    PadJob: new () => object;
  };
  const task = new PackagingTask({
    name: 'key-test',
    version,
    payload: { job: Object.assign(new PadJob(), payload) },
    sourceRoot: path.join(root, 'src'),
    projectRoot: root,
  });
  return (await makePackage(task, { outputDir: path.join(root, 'out') })).manifest;
}

describe('the cache key', () => {
  it('is the same for the same content, and changes with a dependency version, payload, parameters, inputs', async () => {
    const a = await project('a', '1.3.0');
    const b = await project('b', '1.2.0');
    const base = await manifestOf(a, { width: 3 });
    const key = cacheKeyOf({ manifest: base, parameters: { lr: 0.1 } });
    // Packaged again (a new run, another time): the same key.
    expect(
      cacheKeyOf({ manifest: await manifestOf(a, { width: 3 }), parameters: { lr: 0.1 } }),
    ).toBe(key);
    // A version bump alone does not change what runs.
    expect(
      cacheKeyOf({ manifest: await manifestOf(a, { width: 3 }, '1.0.1'), parameters: { lr: 0.1 } }),
    ).toBe(key);
    const changed = [
      cacheKeyOf({ manifest: await manifestOf(b, { width: 3 }), parameters: { lr: 0.1 } }),
      cacheKeyOf({ manifest: await manifestOf(a, { width: 4 }), parameters: { lr: 0.1 } }),
      cacheKeyOf({ manifest: base, parameters: { lr: 0.2 } }),
      cacheKeyOf({
        manifest: base,
        parameters: { lr: 0.1 },
        inputs: [{ name: 'job.x', key: 'k1' }],
      }),
    ];
    expect(new Set([key, ...changed]).size).toBe(5);
    expect(
      cacheKeyOf({
        manifest: base,
        parameters: { lr: 0.1 },
        inputs: [
          { name: 'b', key: '2' },
          { name: 'a', key: '1' },
        ],
      }),
    ).toBe(
      cacheKeyOf({
        manifest: base,
        parameters: { lr: 0.1 },
        inputs: [
          { name: 'a', key: '1' },
          { name: 'b', key: '2' },
        ],
      }),
    );
  });
});

describe('pipelines, references and the best run', () => {
  const executor = {} as JobExecutor;

  it('orders steps after those they take results of, and names cycles and unknown steps', () => {
    expect(
      stepOrder([
        { name: 'train', executor, inputs: { features: stepResult('featurize') } },
        { name: 'featurize', executor },
        { name: 'report', executor, after: ['train', 'featurize'] },
      ]),
    ).toEqual(['featurize', 'train', 'report']);
    expect(() =>
      stepOrder([
        { name: 'a', executor, inputs: { x: stepResult('b') } },
        { name: 'b', executor, after: ['a'] },
      ]),
    ).toThrow(
      new ReferenceCycleError(
        'pipeline: steps refer to each other in a cycle: a → b → a; a step can only take results of steps before it',
      ),
    );
    expect(() => stepOrder([{ name: 'a', executor, after: ['nope'] }])).toThrow(
      PipelineDefinitionError,
    );
    expect(() =>
      stepOrder([
        { name: 'a', executor },
        { name: 'a', executor },
      ]),
    ).toThrow(PipelineDefinitionError);
  });

  it('reads key=@<run id> as a reference, and refuses a nested key', () => {
    expect(
      splitReferenceAssignments(['lr=0.1', 'model=@20261201-182001-3fa2c1', 'name=@home']),
    ).toEqual({
      plain: ['lr=0.1'],
      references: [
        { key: 'model', runId: '20261201-182001-3fa2c1' },
        { key: 'name', runId: 'home' },
      ],
    });
    expect(() => splitReferenceAssignments(['a.b=@x'])).toThrow(/top-level parameter name/);
  });

  it("picks a sweep's best succeeded run by a metric", () => {
    const run = (id: string, loss: number | undefined, status: RunRecord['status'] = 'succeeded') =>
      ({
        id,
        status,
        ...(loss === undefined ? {} : { metrics: { loss } }),
        sweepId: 'sweep-x',
      }) as RunRecord;
    const runs = [run('a', 0.5), run('b', 0.1, 'failed'), run('c', 0.2), run('d', undefined)];
    expect(bestRun(runs, 'loss', 'min').id).toBe('c');
    expect(bestRun(runs, 'loss', 'max').id).toBe('a');
    expect(() => bestRun(runs, 'acc')).toThrow(NoBestRunError);
  });

  it('keeps records with inputs, and refuses malformed ones', async () => {
    const store = new RecordStore(path.join(scratch, 'runs'), () => undefined);
    const record: RunRecord = {
      id: 'r1',
      job: 'j',
      version: '1',
      uid: 'u',
      target: 'local',
      targetKind: 'local',
      parameters: {},
      status: 'succeeded',
      createdAt: new Date(0).toISOString(),
      cacheKey: 'k',
      cachedFrom: 'r0',
      inputs: [{ name: 'job.x', runId: 'r0', target: 'local', cacheKey: 'k0' }],
    };
    await store.put(record);
    expect(await store.get('r1')).toEqual(record);
    await writeFile(
      path.join(scratch, 'runs', 'r2.json'),
      JSON.stringify({ ...record, id: 'r2', inputs: [{ name: 'x', runId: 3, cacheKey: 'k' }] }),
    );
    await expect(store.get('r2')).rejects.toThrow(/inputs\[0\]\.runId must be a string/);
  });
});
