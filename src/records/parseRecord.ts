/**
 * Reading a run record file back: every field checked, since the file is on disk for anyone (or any
 * crash) to change. A record that does not hold is a `RecordStoreError` naming the file and field.
 */
import { RecordStoreError } from './errors.js';
import { RUN_STATUSES, type RunRecord, type TargetKind } from './record.js';

const STATUSES: ReadonlySet<string> = new Set(RUN_STATUSES);
const TARGET_KINDS: ReadonlySet<string> = new Set<TargetKind>([
  'attached',
  'local',
  'remote',
  'swarm',
]);
const REQUIRED_STRINGS = ['id', 'job', 'version', 'uid', 'target', 'createdAt'] as const;
const OPTIONAL_STRINGS = [
  'host',
  'node',
  'startedAt',
  'finishedAt',
  'sweepId',
  'image',
  'imageId',
  'containerId',
  'packageSha256',
  'outputsDownloadedTo',
  'containerRemovedAt',
] as const;
const OPTIONAL_BOOLEANS = ['hasResult', 'hasOutputs', 'savedRunFolder'] as const;

export function parseRecord(text: string, file: string): RunRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RecordStoreError(`${file}: not a run record (${(error as Error).message})`);
  }
  const problem = recordProblem(value);
  if (problem !== undefined) throw new RecordStoreError(`${file}: not a run record (${problem})`);
  const record = value as RunRecord;
  // Metric names are a job's strings: kept off Object.prototype.
  if (record.metrics === undefined) return record;
  return { ...record, metrics: Object.assign(Object.create(null) as object, record.metrics) };
}

/** What is wrong with a parsed record, or undefined when it is one. */
function recordProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return 'not a JSON object';
  }
  const record = value as Record<string, unknown>;
  for (const key of REQUIRED_STRINGS) {
    if (typeof record[key] !== 'string') return `${key} must be a string`;
  }
  for (const key of OPTIONAL_STRINGS) {
    if (record[key] !== undefined && typeof record[key] !== 'string') {
      return `${key} must be a string when present`;
    }
  }
  if (typeof record.status !== 'string' || !STATUSES.has(record.status)) {
    return `status must be one of ${[...STATUSES].join(', ')}`;
  }
  if (typeof record.targetKind !== 'string' || !TARGET_KINDS.has(record.targetKind)) {
    return `targetKind must be one of ${[...TARGET_KINDS].join(', ')}`;
  }
  const parameters = record.parameters;
  if (parameters === null || typeof parameters !== 'object' || Array.isArray(parameters)) {
    return 'parameters must be an object';
  }
  for (const key of ['exitCode', 'sweepIndex'] as const) {
    if (record[key] !== undefined && !Number.isInteger(record[key])) {
      return `${key} must be a whole number when present`;
    }
  }
  for (const key of OPTIONAL_BOOLEANS) {
    if (record[key] !== undefined && typeof record[key] !== 'boolean') {
      return `${key} must be true or false when present`;
    }
  }
  const metrics = record.metrics;
  if (metrics !== undefined) {
    if (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics)) {
      return 'metrics must be an object when present';
    }
    for (const [name, value] of Object.entries(metrics)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        return `metrics.${name} must be a finite number`;
      }
    }
  }
  return undefined;
}
