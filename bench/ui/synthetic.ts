/**
 * A temporary project holding `count` synthetic run records (ended runs of sweeps of 20, with
 * parameters and metrics), for the UI's benchmark and its unit tests: no engine is asked.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunRecord } from '../../src/records/record.js';
import { RecordStore } from '../../src/records/store.js';

/**
 * @param target the target the runs were on: `local` (the config's own), or a name the config
 *   does not define, so nothing asks an engine about them (removing one removes its record only)
 */
export async function writeSyntheticProject(
  dir: string,
  count: number,
  target = 'local',
): Promise<RecordStore> {
  await mkdir(path.join(dir, 'src'), { recursive: true });
  await writeFile(
    path.join(dir, 'ferry.config.json'),
    JSON.stringify({
      project: 'synthetic',
      version: '1.0.0',
      job: 'src/job.ts#createJob',
      sourceRoot: 'src',
    }),
  );
  await writeFile(
    path.join(dir, 'src', 'job.ts'),
    'export class Job { run(): void {} }\nexport function createJob(): Job { return new Job(); }\n',
  );
  const store = new RecordStore(path.join(dir, '.ferry', 'runs'));
  const start = Date.parse('2026-12-01T10:00:00Z');
  const records: RunRecord[] = [];
  for (let i = 0; i < count; i++) {
    const sweep = Math.floor(i / 20);
    const index = i % 20;
    const lr = 0.001 * (index + 1);
    const created = new Date(start + sweep * 600_000).toISOString();
    records.push({
      id: `20261201-${String(100000 + i)}-${((i * 2654435761) >>> 0).toString(16).padStart(8, '0').slice(0, 6)}`,
      job: 'synthetic',
      version: '1.0.0',
      uid: 'synthetic-1.0.0-0123456789abcdef',
      target,
      targetKind: 'local',
      parameters: { lr, seed: index % 5, optimizer: index % 2 === 0 ? 'adam' : 'sgd' },
      status: i % 37 === 0 ? 'failed' : 'succeeded',
      exitCode: i % 37 === 0 ? 1 : 0,
      createdAt: created,
      startedAt: new Date(Date.parse(created) + index * 1000).toISOString(),
      finishedAt: new Date(Date.parse(created) + index * 1000 + 30_000).toISOString(),
      sweepId: `sweep-20261201-${String(100000 + sweep)}-abc${String(sweep).padStart(3, '0')}`,
      sweepIndex: index,
      metrics: { loss: 1 / (1 + lr * 100) + (index % 3) * 0.01, accuracy: 0.5 + lr * 10 },
      hasResult: true,
      hasOutputs: false,
    });
  }
  await Promise.all(records.map((r) => store.put(r)));
  return store;
}
