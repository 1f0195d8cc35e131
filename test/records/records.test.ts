import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Dockerode from 'dockerode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AmbiguousRunIdError,
  isFinal,
  RECORD_LABELS,
  recordFromContainer,
  recordLabels,
  RecordStore,
  RecordStoreError,
  statusOfState,
  type RunRecord,
} from '../../src/records/index.js';
import { runLabels } from '../../src/routines/docker/labels.js';

function record(id: string, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    id,
    job: 'demo',
    version: '1.0.0',
    uid: 'demo-1.0.0-abc',
    target: 'local',
    targetKind: 'local',
    parameters: { n: 1 },
    status: 'running',
    createdAt: `2026-01-01T00:00:0${id.slice(-1)}.000Z`,
    ...extra,
  };
}

describe('RecordStore', () => {
  let dir: string;
  let store: RecordStore;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-records-'));
    store = new RecordStore(path.join(dir, 'runs'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('keeps, updates, lists and removes records; another store on the folder sees them', async () => {
    expect(await store.list()).toEqual([]);
    await store.put(record('20260101-000000-aaaaa2'));
    await store.put(record('20260101-000000-bbbbb1'));
    const other = new RecordStore(path.join(dir, 'runs'));
    expect((await other.list()).map((r) => r.id)).toEqual([
      '20260101-000000-bbbbb1',
      '20260101-000000-aaaaa2',
    ]);
    const updated = await other.update('20260101-000000-aaaaa2', {
      status: 'succeeded',
      exitCode: 0,
    });
    expect(updated).toMatchObject({ status: 'succeeded', exitCode: 0, parameters: { n: 1 } });
    expect(await store.get('20260101-000000-aaaaa2')).toEqual(updated);
    await store.remove('20260101-000000-aaaaa2');
    expect(await store.get('20260101-000000-aaaaa2')).toBeUndefined();
    expect(await store.get('../etc/passwd')).toBeUndefined();
  });

  it('resolves unique prefixes and random suffixes, and refuses ambiguous ones', async () => {
    await store.put(record('20260101-000000-aaaaa1'));
    await store.put(record('20260101-000001-aaaab2'));
    expect((await store.resolve('aaaab2'))?.id).toBe('20260101-000001-aaaab2');
    expect((await store.resolve('20260101-000001'))?.id).toBe('20260101-000001-aaaab2');
    await expect(store.resolve('20260101')).rejects.toThrow(AmbiguousRunIdError);
    expect(await store.resolve('ffffff')).toBeUndefined();
    expect(await store.resolve('aa')).toBeUndefined();
  });

  it('refuses files that are not run records, naming them', async () => {
    await store.put(record('20260101-000000-aaaaa1'));
    await writeFile(path.join(dir, 'runs', 'broken.json'), '{"nope": true}');
    await expect(store.list()).rejects.toThrow(RecordStoreError);
    await expect(store.list()).rejects.toThrow(/broken\.json: not a run record/);
  });
});

describe('records on container labels', () => {
  const labels = {
    ...recordLabels({
      target: 'gpu-box',
      parameters: { lr: 0.1 },
      createdAt: new Date('2026-01-01T00:00:00Z'),
      sweepId: 'sweep-1',
      sweepIndex: 3,
    }),
    ...runLabels({ name: 'demo', version: '1.0.0', uid: 'demo-1.0.0-abc', runId: 'r1' }),
  };
  const info = (state: Partial<Dockerode.ContainerInspectInfo['State']>, name = '/ferry-demo-r1') =>
    ({
      Id: 'c0ffee',
      Name: name,
      Created: '2026-01-01T00:00:01Z',
      Image: 'sha256:1234',
      Config: { Labels: labels, Image: 'ferry/demo:1.0.0-x' },
      State: {
        Status: 'exited',
        Running: false,
        ExitCode: 0,
        OOMKilled: false,
        StartedAt: '2026-01-01T00:00:02Z',
        FinishedAt: '2026-01-01T00:00:05Z',
        ...state,
      },
    }) as unknown as Dockerode.ContainerInspectInfo;

  it('rebuilds a run record from a container', () => {
    expect(recordFromContainer(info({}), 'remote', 'fallback', 'root@h:22')).toEqual({
      id: 'r1',
      job: 'demo',
      version: '1.0.0',
      uid: 'demo-1.0.0-abc',
      target: 'gpu-box',
      targetKind: 'remote',
      host: 'root@h:22',
      parameters: { lr: 0.1 },
      status: 'succeeded',
      exitCode: 0,
      createdAt: '2026-01-01T00:00:00.000Z',
      startedAt: '2026-01-01T00:00:02Z',
      finishedAt: '2026-01-01T00:00:05Z',
      sweepId: 'sweep-1',
      sweepIndex: 3,
      image: 'ferry/demo:1.0.0-x',
      imageId: 'sha256:1234',
      containerId: 'c0ffee',
    });
    expect(labels[RECORD_LABELS.role]).toBe('run');
  });

  it('maps container states to run statuses', () => {
    const status = (state: Partial<Dockerode.ContainerInspectInfo['State']>, name?: string) =>
      recordFromContainer(info(state, name), 'local', 'local')?.status;
    expect(status({ ExitCode: 1 })).toBe('failed');
    expect(status({ ExitCode: 143 })).toBe('stopped');
    expect(status({ ExitCode: 137, OOMKilled: true })).toBe('failed');
    expect(status({ Status: 'running', Running: true })).toBe('running');
    expect(status({ Status: 'created', StartedAt: '0001-01-01T00:00:00Z' })).toBe('queued');
    expect(status({ Status: 'created' }, '/ferry-demo-r1.start-failed')).toBe('failed');
    expect(statusOfState('exited')).toBe('succeeded');
    expect(statusOfState('created')).toBe('queued');
    expect(isFinal('cancelled')).toBe(true);
    expect(isFinal('queued')).toBe(false);
  });
});
