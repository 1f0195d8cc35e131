/** The policy of timeouts and retries (pure) and its place in run records. */
import { describe, expect, it } from 'vitest';
import { parseRecord } from '../../src/records/parseRecord.js';
import { RecordStoreError } from '../../src/records/errors.js';
import { statusOfState } from '../../src/records/record.js';
import {
  EXIT_TIMED_OUT,
  attemptsOfFile,
  attemptsOfTasks,
  dockerRestartPolicy,
  parseDuration,
  runPolicy,
  shouldRetry,
  splitLogsByAttempt,
  swarmRestartPolicy,
  swarmRunEnded,
} from '../../src/routines/attempts.js';
import { InvalidRunPolicyError } from '../../src/routines/errors.js';
import { statusOfRun } from '../../src/routines/swarm/taskState.js';

describe('durations and policies', () => {
  it('reads seconds and unit durations, and refuses the rest naming the key', () => {
    expect(parseDuration(90, 'timeout')).toBe(90_000);
    expect(parseDuration('90', 'timeout')).toBe(90_000);
    expect(parseDuration('10m', 'timeout')).toBe(600_000);
    expect(parseDuration('1h30m', 'timeout')).toBe(5_400_000);
    expect(parseDuration('1.5s', 'timeout')).toBe(1500);
    expect(() => parseDuration('10 minutes', 'targets.gpu.timeout')).toThrow(
      /targets\.gpu\.timeout: expected a duration/,
    );
    expect(() => parseDuration('0s', 'timeout')).toThrow(InvalidRunPolicyError);
    expect(() => parseDuration('31d', 'timeout')).toThrow(/between 1 second and 30 days/);
  });

  it('checks retries', () => {
    expect(runPolicy({ timeout: '5m', retries: 2 })).toEqual({ timeoutMs: 300_000, retries: 2 });
    expect(runPolicy({})).toEqual({ retries: 0 });
    expect(() => runPolicy({ retries: -1 }, '--')).toThrow(/--retries: expected a whole number/);
    expect(() => runPolicy({ retries: 1.5 })).toThrow(InvalidRunPolicyError);
  });

  it('retries failed and timed-out attempts within the budget, never stopped or succeeded ones', () => {
    const policy = runPolicy({ retries: 2 });
    expect(shouldRetry(policy, 1, 1)).toBe(true);
    expect(shouldRetry(policy, 2, EXIT_TIMED_OUT)).toBe(true);
    expect(shouldRetry(policy, 3, 1)).toBe(false);
    expect(shouldRetry(policy, 1, 0)).toBe(false);
    expect(shouldRetry(policy, 1, 143)).toBe(false);
  });

  it('maps to the engines: a Docker restart policy and a Swarm task restart policy', () => {
    expect(dockerRestartPolicy(runPolicy({}))).toBeUndefined();
    expect(dockerRestartPolicy(runPolicy({ retries: 3 }))).toEqual({
      Name: 'on-failure',
      MaximumRetryCount: 3,
    });
    expect(swarmRestartPolicy(runPolicy({}))).toEqual({ Condition: 'none', MaxAttempts: 0 });
    expect(swarmRestartPolicy(runPolicy({ retries: 2 }))).toMatchObject({
      Condition: 'on-failure',
      MaxAttempts: 2,
    });
  });

  it('a run that exited 124 is timed-out', () => {
    expect(statusOfState('failed', EXIT_TIMED_OUT)).toBe('timed-out');
    expect(statusOfState('failed', 1)).toBe('failed');
  });
});

describe('attempts', () => {
  it('reads attempts.jsonl; an attempt killed from outside takes the engine’s last state', () => {
    const text = [
      '{"attempt":1,"startedAt":"2026-12-01T10:00:00.000Z"}',
      '{"attempt":1,"exitCode":1,"finishedAt":"2026-12-01T10:00:05.000Z"}',
      '{"attempt":2,"startedAt":"2026-12-01T10:00:06.000Z"}',
      '{"attempt":2,"exitCode":124,"finish', // cut by a kill
      'not json',
      '{"attempt":"3"}',
    ].join('\n');
    expect(
      attemptsOfFile(text, 'local', { exitCode: 137, finishedAt: '2026-12-01T10:01:00.000Z' }),
    ).toEqual([
      {
        attempt: 1,
        status: 'failed',
        exitCode: 1,
        startedAt: '2026-12-01T10:00:00.000Z',
        finishedAt: '2026-12-01T10:00:05.000Z',
        where: 'local',
      },
      {
        attempt: 2,
        status: 'failed',
        exitCode: 137,
        startedAt: '2026-12-01T10:00:06.000Z',
        finishedAt: '2026-12-01T10:01:00.000Z',
        where: 'local',
      },
    ]);
  });

  it('splits one container log into each attempt’s by start time', () => {
    const split = splitLogsByAttempt(
      {
        stdout:
          '2026-12-01T10:00:00.100000000Z a1\n2026-12-01T10:00:06.200000000Z a2\n2026-12-01T10:00:07.000000000Z a2b\n',
        stderr: '2026-12-01T10:00:04.000000000Z e1\n',
      },
      [
        { attempt: 1, startedAt: '2026-12-01T10:00:00.000Z' },
        { attempt: 2, startedAt: '2026-12-01T10:00:06.000Z' },
      ],
    );
    expect(split.get(1)).toEqual({ stdout: 'a1\n', stderr: 'e1\n' });
    expect(split.get(2)).toEqual({ stdout: 'a2\na2b\n', stderr: '' });
  });

  const task = (id: string, at: string, state: string, exitCode?: number, err?: string) => ({
    ID: id,
    NodeID: `node-${id}`,
    CreatedAt: at,
    Status: {
      State: state,
      Timestamp: at,
      ...(err === undefined ? {} : { Err: err }),
      ...(exitCode === undefined ? {} : { ContainerStatus: { ExitCode: exitCode } }),
    },
  });

  it('a swarm run’s tasks are its attempts, each with its node and the swarm’s reason', () => {
    const tasks = [
      task('b', '2026-12-01T10:00:10Z', 'running'),
      task('a', '2026-12-01T10:00:00Z', 'failed', 0, 'node is down'),
    ];
    const attempts = attemptsOfTasks(tasks, (t) => `n-${t.ID}`);
    expect(attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        status: 'failed',
        where: 'n-a',
        reason: 'node is down',
      }),
      expect.objectContaining({ attempt: 2, status: 'running', where: 'n-b', taskId: 'b' }),
    ]);
    expect(attempts[0]).not.toHaveProperty('exitCode');
    // SIGTERMed by its node's engine shutting down: a failure, unless Ferry stopped the run.
    const sigterm = [task('a', '2026-12-01T10:00:00Z', 'failed', 143)];
    expect(attemptsOfTasks(sigterm, () => undefined)[0]!.status).toBe('failed');
    expect(attemptsOfTasks(sigterm, () => undefined, true)[0]!.status).toBe('stopped');
  });

  it('a failed task does not end a swarm run that has retries left', () => {
    const failed = [task('a', '2026-12-01T10:00:00Z', 'failed', 1)];
    expect(
      swarmRunEnded(
        attemptsOfTasks(failed, () => undefined),
        { retries: 1 },
      ),
    ).toBe(false);
    expect(statusOfRun('r', failed, { retries: 1 }).state).toBe('running');
    expect(statusOfRun('r', failed, { retries: 0 })).toMatchObject({
      state: 'failed',
      exitCode: 1,
    });
    const twice = [...failed, task('b', '2026-12-01T10:00:05Z', 'failed', 124)];
    expect(statusOfRun('r', twice, { retries: 1 })).toMatchObject({
      state: 'failed',
      exitCode: 124,
    });
    const then = [...failed, task('b', '2026-12-01T10:00:05Z', 'complete', 0)];
    expect(statusOfRun('r', then, { retries: 3 }).state).toBe('exited');
  });
});

describe('records', () => {
  const base = {
    id: 'r1',
    job: 'j',
    version: '1.0.0',
    uid: 'u',
    target: 't',
    targetKind: 'local',
    parameters: {},
    createdAt: '2026-12-01T10:00:00Z',
  };
  it('keeps timed-out, the policy and the attempts', () => {
    const record = {
      ...base,
      status: 'timed-out',
      exitCode: 124,
      timeoutMs: 1000,
      retries: 1,
      attempts: [
        { attempt: 1, status: 'failed', exitCode: 1, where: 'local' },
        { attempt: 2, status: 'timed-out', exitCode: 124, where: 'local' },
      ],
    };
    expect(parseRecord(JSON.stringify(record), 'r1.json')).toEqual(record);
  });

  it('refuses attempts that do not hold, naming the field', () => {
    const bad = { ...base, status: 'failed', attempts: [{ attempt: 1, status: 'nope' }] };
    expect(() => parseRecord(JSON.stringify(bad), 'r1.json')).toThrow(RecordStoreError);
    expect(() => parseRecord(JSON.stringify(bad), 'r1.json')).toThrow(/attempts\[0\]\.status/);
  });
});
