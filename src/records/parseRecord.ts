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
  'cacheKey',
  'cachedFrom',
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
  for (const key of ['exitCode', 'sweepIndex', 'timeoutMs', 'retries'] as const) {
    if (record[key] !== undefined && !Number.isInteger(record[key])) {
      return `${key} must be a whole number when present`;
    }
  }
  for (const key of OPTIONAL_BOOLEANS) {
    if (record[key] !== undefined && typeof record[key] !== 'boolean') {
      return `${key} must be true or false when present`;
    }
  }
  const inputsProblem = inputsProblemOf(record.inputs);
  if (inputsProblem !== undefined) return inputsProblem;
  const attemptsProblem = attemptsProblemOf(record.attempts);
  if (attemptsProblem !== undefined) return attemptsProblem;
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

/** What is wrong with a record's `inputs`, or undefined when they hold (or are absent). */
function inputsProblemOf(inputs: unknown): string | undefined {
  if (inputs === undefined) return undefined;
  if (!Array.isArray(inputs)) return 'inputs must be a list when present';
  for (const [i, input] of inputs.entries()) {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      return `inputs[${i}] must be an object`;
    }
    const fields = input as Record<string, unknown>;
    for (const key of ['name', 'runId', 'cacheKey'] as const) {
      if (typeof fields[key] !== 'string') return `inputs[${i}].${key} must be a string`;
    }
    if (fields.target !== undefined && typeof fields.target !== 'string') {
      return `inputs[${i}].target must be a string when present`;
    }
    const unknown = Object.keys(fields).filter(
      (k) => !['name', 'runId', 'cacheKey', 'target'].includes(k),
    );
    if (unknown.length > 0) return `inputs[${i}]: unknown key ${JSON.stringify(unknown[0])}`;
  }
  return undefined;
}

const ATTEMPT_STRINGS = ['startedAt', 'finishedAt', 'where', 'taskId', 'reason'] as const;

/** What is wrong with a record's `attempts`, or undefined when it holds. */
function attemptsProblemOf(attempts: unknown): string | undefined {
  if (attempts === undefined) return undefined;
  if (!Array.isArray(attempts) || attempts.length > 1000) {
    return 'attempts must be a list (of at most 1000) when present';
  }
  for (const [i, attempt] of attempts.entries()) {
    if (attempt === null || typeof attempt !== 'object' || Array.isArray(attempt)) {
      return `attempts[${i}] must be an object`;
    }
    const a = attempt as Record<string, unknown>;
    if (!Number.isInteger(a.attempt)) return `attempts[${i}].attempt must be a whole number`;
    if (typeof a.status !== 'string' || !STATUSES.has(a.status)) {
      return `attempts[${i}].status must be one of ${[...STATUSES].join(', ')}`;
    }
    if (a.exitCode !== undefined && !Number.isInteger(a.exitCode)) {
      return `attempts[${i}].exitCode must be a whole number when present`;
    }
    for (const key of ATTEMPT_STRINGS) {
      if (a[key] !== undefined && typeof a[key] !== 'string') {
        return `attempts[${i}].${key} must be a string when present`;
      }
    }
  }
  return undefined;
}
