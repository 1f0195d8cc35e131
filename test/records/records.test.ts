import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AmbiguousRunIdError,
  RecordStore,
  RecordStoreError,
  type RunRecord,
} from '../../src/records/index.js';

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

  it('skips files that are not run records with a warning naming each, and lists the rest', async () => {
    const warnings: string[] = [];
    const warned = new RecordStore(path.join(dir, 'runs'), (m) => warnings.push(m));
    await warned.put(record('20260101-000000-aaaaa1'));
    await writeFile(path.join(dir, 'runs', 'broken.json'), '{"nope": true}');
    await writeFile(path.join(dir, 'runs', 'truncated.json'), '{"id": "20260101-0000');
    await writeFile(
      path.join(dir, 'runs', 'fields.json'),
      JSON.stringify({ ...record('20260101-000000-aaaaa2'), parameters: null }),
    );
    expect((await warned.list()).map((r) => r.id)).toEqual(['20260101-000000-aaaaa1']);
    expect(warnings).toHaveLength(3);
    expect(warnings.find((w) => w.includes('broken.json'))).toMatch(/not a run record/);
    expect(warnings.find((w) => w.includes('truncated.json'))).toMatch(/not a run record/);
    expect(warnings.find((w) => w.includes('fields.json'))).toMatch(/parameters must be an object/);
    // Asked for by id, a bad file is an error that names it.
    await writeFile(path.join(dir, 'runs', '20260101-000000-bad001.json'), 'garbage');
    await expect(warned.get('20260101-000000-bad001')).rejects.toThrow(RecordStoreError);
  });

  it('keeps logs beside a record and removes them with it', async () => {
    await store.put(record('20260101-000000-aaaaa1'));
    expect(await store.readLogs('20260101-000000-aaaaa1')).toBeUndefined();
    await store.saveLogs('20260101-000000-aaaaa1', { stdout: 'out\n', stderr: 'err\n' });
    expect(await store.readLogs('20260101-000000-aaaaa1')).toEqual({
      stdout: 'out\n',
      stderr: 'err\n',
    });
    await store.remove('20260101-000000-aaaaa1');
    expect(await store.readLogs('20260101-000000-aaaaa1')).toBeUndefined();
    expect(await store.get('20260101-000000-aaaaa1')).toBeUndefined();
  });
});
