/** The UI's record cache: what a refresh sees right after executors write, add or remove records. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordStore } from '../../src/records/store.js';
import { RecordCache } from '../../src/ui/recordCache.js';
import { writeSyntheticProject } from '../../bench/ui/synthetic.js';

describe('RecordCache', () => {
  let dir: string;
  let store: RecordStore;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-ui-cache-'));
    store = await writeSyntheticProject(dir, 40, 'retired');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('sees a changed, a new and a removed record at once, with a new ETag each time', async () => {
    const warnings: string[] = [];
    const cache = new RecordCache(store.dir, (m) => warnings.push(m));
    const first = await cache.snapshot();
    expect(first.records).toHaveLength(40);
    expect((await cache.snapshot()).etag).toBe(first.etag);

    const changed = first.records[5]!;
    await store.put({ ...changed, status: 'stopped', exitCode: 143 });
    const second = await cache.snapshot();
    expect(second.etag).not.toBe(first.etag);
    expect(second.records.find((r) => r.id === changed.id)).toMatchObject({ status: 'stopped' });
    // Records that did not change are the same objects: they were not read again.
    expect(second.records.find((r) => r.id === first.records[6]!.id)).toBe(first.records[6]);

    await store.put({ ...changed, id: `${changed.id}-new` });
    await store.remove(first.records[0]!.id);
    const third = await cache.snapshot();
    expect(third.records).toHaveLength(40);
    expect(third.records.some((r) => r.id === `${changed.id}-new`)).toBe(true);
    expect(third.records.some((r) => r.id === first.records[0]!.id)).toBe(false);
    expect(warnings).toEqual([]);
  });
});
