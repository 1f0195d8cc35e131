/**
 * Timeouts and retries, the same on every target (issue 16, point 6). This module is the one place
 * the policy lives: what `timeout` and `retries` mean, how an attempt's deadline is kept, when an
 * ended attempt is tried again and what status a run ends with. Each target only says where the
 * loop runs:
 *
 * - attached: `AttachedRun` loops in this process (`shouldRetry`), each attempt through `runJob`;
 * - a container (local, remote, a sweep's runs): the entry point keeps the deadline (`runJob`'s
 *   `timeoutMs`, so a detached run is timed out without the CLI) and the engine restarts the
 *   container on failure (`dockerRestartPolicy`); each attempt appends to `attempts.jsonl` in the
 *   run folder, which is how the record learns every attempt's exit code and times;
 * - swarm: the swarm starts a new task per attempt (`swarmRestartPolicy`), possibly on another node
 *   — which is also how a run on a node that went down is tried again elsewhere; the tasks are the
 *   attempts (`attemptsOfTasks`).
 *
 * Pure, but for the timer in `deadlineSignal`.
 */
import type { RunAttempt, RunStatus } from '../records/record.js';
import { InvalidRunPolicyError } from './errors.js';

/** The exit code of an attempt that ran out of time (as `timeout(1)` reports it). */
export const EXIT_TIMED_OUT = 124;
/** 128 + SIGTERM: the attempt was stopped (by `ferry stop`), never retried. */
const EXIT_STOPPED = 143;

/** At most this many retries per run (a runaway policy would hold a slot for ever). */
export const MAX_RETRIES = 100;
/** The longest timeout: 30 days. */
export const MAX_TIMEOUT_MS = 30 * 24 * 3600 * 1000;

/** How a run is bounded: each attempt's time, and how many times a failed attempt is tried again. */
export interface RunPolicy {
  /** Each attempt is stopped after this many milliseconds (`timed-out`). Default: none. */
  readonly timeoutMs?: number;
  /** Attempts after the first that a failed or timed-out attempt gets. Default: 0. */
  readonly retries: number;
}

/** As a config, `execute()` or the command line give it: `timeout` is seconds or `"10m"`. */
export interface RunPolicyInput {
  readonly timeout?: number | string;
  readonly retries?: number;
}

export const NO_POLICY: RunPolicy = { retries: 0 };

/** The environment variable that tells a container's entry point its attempt's deadline. */
export const TIMEOUT_ENV = 'FERRY_TIMEOUT_MS';
/** The file in a run folder each attempt appends its start and end to. */
export const ATTEMPTS_FILE = 'attempts.jsonl';

const UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * A duration in milliseconds: a number of seconds, or text such as `90s`, `10m`, `1h30m`, `2d`
 * (a bare number in text is seconds too). `where` names the key or flag in the error.
 */
export function parseDuration(value: number | string, where: string): number {
  let ms: number;
  if (typeof value === 'number') ms = value * 1000;
  else {
    const text = value.trim();
    if (/^\d+(\.\d+)?$/.test(text)) ms = Number(text) * 1000;
    else {
      const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
      const joined = parts.map((p) => p[0]).join('');
      if (parts.length === 0 || joined !== text) {
        throw new InvalidRunPolicyError(
          `${where}: expected a duration such as 90 (seconds), "90s", "10m" or "1h30m", got ${JSON.stringify(value)}`,
        );
      }
      ms = parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]!]!, 0);
    }
  }
  if (!Number.isFinite(ms) || ms < 1000 || ms > MAX_TIMEOUT_MS) {
    throw new InvalidRunPolicyError(
      `${where}: a timeout must be between 1 second and 30 days, got ${JSON.stringify(value)}`,
    );
  }
  return Math.round(ms);
}

/** Checks a policy as given; `where` is the config key or flag prefix errors name. */
export function runPolicy(input: RunPolicyInput, where = ''): RunPolicy {
  const retries = input.retries ?? 0;
  if (!Number.isInteger(retries) || retries < 0 || retries > MAX_RETRIES) {
    throw new InvalidRunPolicyError(
      `${where}retries: expected a whole number from 0 to ${MAX_RETRIES}, got ${JSON.stringify(input.retries)}`,
    );
  }
  return {
    retries,
    ...(input.timeout === undefined
      ? {}
      : { timeoutMs: parseDuration(input.timeout, `${where}timeout`) }),
  };
}

/** Layers of a policy (target config, sweep, call): each key of a later layer wins. */
export function mergePolicies(...layers: readonly (RunPolicyInput | undefined)[]): RunPolicyInput {
  let merged: RunPolicyInput = {};
  for (const layer of layers) {
    if (layer === undefined) continue;
    merged = {
      ...merged,
      ...(layer.timeout === undefined ? {} : { timeout: layer.timeout }),
      ...(layer.retries === undefined ? {} : { retries: layer.retries }),
    };
  }
  return merged;
}

/** `10m`, `1h30m`, `45s`: a policy's timeout as messages show it. */
export function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest}s`);
  return parts.join('');
}

/** The container variables that carry the policy's deadline to the entry point. */
export function policyEnvironment(policy: RunPolicy): string[] {
  return policy.timeoutMs === undefined ? [] : [`${TIMEOUT_ENV}=${policy.timeoutMs}`];
}

/** The deadline an entry point was given, or undefined (a bad value is ignored: no deadline). */
export function timeoutFromEnvironment(env: NodeJS.ProcessEnv): number | undefined {
  const value = Number(env[TIMEOUT_ENV]);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

/** A Docker container's restart policy: the engine starts a failed attempt again. */
export function dockerRestartPolicy(
  policy: RunPolicy,
): { Name: 'on-failure'; MaximumRetryCount: number } | undefined {
  return policy.retries === 0
    ? undefined
    : { Name: 'on-failure', MaximumRetryCount: policy.retries };
}

/** A swarm task's restart policy: a failed task (or one on a node that went down) is replaced. */
export function swarmRestartPolicy(policy: RunPolicy): {
  Condition: 'none' | 'on-failure';
  MaxAttempts: number;
  Delay?: number;
} {
  return policy.retries === 0
    ? { Condition: 'none', MaxAttempts: 0 }
    : // One second between attempts: enough for the swarm to see a node go, short for a retry.
      { Condition: 'on-failure', MaxAttempts: policy.retries, Delay: 1e9 };
}

/** What one attempt's exit code makes it. */
export function attemptStatus(exitCode: number | undefined, stopped = false): RunStatus {
  if (exitCode === undefined) return 'unknown';
  if (exitCode === 0) return 'succeeded';
  if (exitCode === EXIT_TIMED_OUT) return 'timed-out';
  if (stopped || exitCode === EXIT_STOPPED) return 'stopped';
  return 'failed';
}

/** Whether attempt `attempt` (1-based), which ended with `exitCode`, is tried again. */
export function shouldRetry(policy: RunPolicy, attempt: number, exitCode: number): boolean {
  const status = attemptStatus(exitCode);
  return (status === 'failed' || status === 'timed-out') && attempt <= policy.retries;
}

/**
 * An AbortSignal that fires when `stop` does or, with a timeout, when the attempt's time is up;
 * `timedOut()` says which. `clear()` ends the timer once the attempt ended.
 */
export function deadlineSignal(
  timeoutMs: number | undefined,
  stop?: AbortSignal,
): { signal: AbortSignal; timedOut(): boolean; clear(): void } {
  const controller = new AbortController();
  let timedOut = false;
  const onStop = (): void => controller.abort();
  if (stop?.aborted === true) controller.abort();
  else stop?.addEventListener('abort', onStop, { once: true });
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, timeoutMs);
  // A deadline never keeps a process alive by itself.
  timer?.unref?.();
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    clear: () => {
      if (timer !== undefined) clearTimeout(timer);
      stop?.removeEventListener('abort', onStop);
    },
  };
}

/** One line of `attempts.jsonl`: an attempt's start, or its end. */
export interface AttemptLine {
  readonly attempt: number;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly exitCode?: number;
}

/** An attempt's start line (written by the entry point before the job runs). */
export function attemptStartLine(attempt: number, at: Date): string {
  return `${JSON.stringify({ attempt, startedAt: at.toISOString() })}\n`;
}

/** An attempt's end line. */
export function attemptEndLine(attempt: number, exitCode: number, at: Date): string {
  return `${JSON.stringify({ attempt, exitCode, finishedAt: at.toISOString() })}\n`;
}

/** The number of the attempt that starts now, from the file the earlier ones wrote. */
export function nextAttempt(text: string | undefined): number {
  return parseAttemptLines(text).reduce((n, line) => Math.max(n, line.attempt), 0) + 1;
}

/**
 * The attempts `attempts.jsonl` tells (untrusted: a line that does not parse is skipped). An
 * attempt with a start and no end was killed from outside (out of memory, SIGKILL, the engine
 * stopped): the engine's last state says how it ended when it is the last one (`last`).
 */
export function attemptsOfFile(
  text: string | undefined,
  where: string | undefined,
  last?: { readonly exitCode?: number; readonly finishedAt?: string; readonly stopped?: boolean },
): RunAttempt[] {
  const byNumber = new Map<
    number,
    { startedAt?: string; finishedAt?: string; exitCode?: number }
  >();
  for (const line of parseAttemptLines(text)) {
    const known = byNumber.get(line.attempt) ?? {};
    byNumber.set(line.attempt, {
      ...known,
      ...(line.startedAt === undefined ? {} : { startedAt: line.startedAt }),
      ...(line.finishedAt === undefined ? {} : { finishedAt: line.finishedAt }),
      ...(line.exitCode === undefined ? {} : { exitCode: line.exitCode }),
    });
  }
  const numbers = [...byNumber.keys()].sort((a, b) => a - b);
  return numbers.map((attempt, i) => {
    const facts = byNumber.get(attempt)!;
    const isLast = i === numbers.length - 1;
    const exitCode = facts.exitCode ?? (isLast ? last?.exitCode : undefined);
    const finishedAt = facts.finishedAt ?? (isLast ? last?.finishedAt : undefined);
    return {
      attempt,
      status: attemptStatus(exitCode, isLast && last?.stopped === true),
      ...(exitCode === undefined ? {} : { exitCode }),
      ...(facts.startedAt === undefined ? {} : { startedAt: facts.startedAt }),
      ...(finishedAt === undefined ? {} : { finishedAt }),
      ...(where === undefined ? {} : { where }),
    };
  });
}

function parseAttemptLines(text: string | undefined): AttemptLine[] {
  const lines: AttemptLine[] = [];
  for (const raw of (text ?? '').split('\n')) {
    if (raw.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      // A line cut by a kill mid-write: the attempt is still known from its other line.
      if (error instanceof SyntaxError) continue;
      throw error;
    }
    const line = value as Partial<Record<keyof AttemptLine, unknown>> | null;
    if (line === null || typeof line !== 'object') continue;
    if (!Number.isInteger(line.attempt) || (line.attempt as number) < 1) continue;
    lines.push({
      attempt: line.attempt as number,
      ...(typeof line.startedAt === 'string' ? { startedAt: line.startedAt } : {}),
      ...(typeof line.finishedAt === 'string' ? { finishedAt: line.finishedAt } : {}),
      ...(Number.isInteger(line.exitCode) ? { exitCode: line.exitCode as number } : {}),
    });
  }
  return lines;
}

/**
 * Splits logs read with timestamps (`2026-…Z line`) into each attempt's, by the attempts' start
 * times; the timestamps are taken off. Lines before the first start belong to the first attempt.
 */
export function splitLogsByAttempt(
  timestamped: { readonly stdout: string; readonly stderr: string },
  attempts: readonly Pick<RunAttempt, 'attempt' | 'startedAt'>[],
): Map<number, { stdout: string; stderr: string }> {
  const starts = attempts
    .filter((a) => a.startedAt !== undefined)
    .map((a) => ({ attempt: a.attempt, at: Date.parse(a.startedAt!) }))
    .sort((a, b) => a.at - b.at);
  const result = new Map<number, { stdout: string; stderr: string }>();
  for (const a of attempts) result.set(a.attempt, { stdout: '', stderr: '' });
  const first = starts[0]?.attempt ?? attempts[0]?.attempt ?? 1;
  if (!result.has(first)) result.set(first, { stdout: '', stderr: '' });
  for (const stream of ['stdout', 'stderr'] as const) {
    for (const line of timestamped[stream].split('\n')) {
      if (line === '') continue;
      const space = line.indexOf(' ');
      const at = Date.parse(space < 0 ? line : line.slice(0, space));
      const text = space < 0 ? '' : line.slice(space + 1);
      let owner = first;
      // The engine's timestamp is taken as the line is read, a moment after the entry point noted
      // its start: a line belongs to the latest attempt that started before it.
      for (const start of starts) if (!Number.isNaN(at) && start.at <= at) owner = start.attempt;
      const logs = result.get(owner)!;
      logs[stream] += `${text}\n`;
    }
  }
  return result;
}

/** The parts of a swarm task an attempt is read from. */
export interface AttemptTask {
  readonly ID: string;
  readonly CreatedAt?: string;
  readonly Status: {
    readonly State: string;
    readonly Timestamp?: string;
    readonly Err?: string;
    readonly ContainerStatus?: { readonly ExitCode?: number };
  };
}

/**
 * A swarm run's attempts: one per task, oldest first, each with the node it ran on (`nodeOf`) and,
 * for a task that ended without an exit code of its own (its node went down, the image could not
 * be had), the swarm's reason.
 */
export function attemptsOfTasks(
  tasks: readonly AttemptTask[],
  nodeOf: (task: AttemptTask) => string | undefined,
  stopped = false,
): RunAttempt[] {
  const ordered = [...tasks].sort((a, b) => (a.CreatedAt ?? '').localeCompare(b.CreatedAt ?? ''));
  return ordered.map((task, i) => {
    const state = task.Status.State;
    const ended = ['complete', 'failed', 'rejected', 'shutdown', 'orphaned', 'remove'].includes(
      state,
    );
    const code = task.Status.ContainerStatus?.ExitCode;
    const isLast = i === ordered.length - 1;
    let status: RunStatus;
    if (!ended) status = state === 'running' ? 'running' : 'queued';
    else if (state === 'complete') status = 'succeeded';
    else if (isLast && stopped) status = 'stopped';
    else {
      // Ferry stops a swarm run by removing its service: a task SIGTERMed otherwise was stopped
      // by its node (its engine shutting down), which is a failure to retry, not a stop.
      const byCode = attemptStatus(code === undefined || code === 0 ? -1 : code);
      status = byCode === 'stopped' ? 'failed' : byCode;
    }
    const node = nodeOf(task);
    return {
      attempt: i + 1,
      status,
      ...(ended && code !== undefined && !(code === 0 && state !== 'complete')
        ? { exitCode: code }
        : {}),
      ...(task.CreatedAt === undefined ? {} : { startedAt: task.CreatedAt }),
      ...(ended && task.Status.Timestamp !== undefined
        ? { finishedAt: task.Status.Timestamp }
        : {}),
      ...(node === undefined ? {} : { where: node }),
      taskId: task.ID,
      ...(ended && state !== 'complete' && task.Status.Err !== undefined && task.Status.Err !== ''
        ? { reason: task.Status.Err }
        : {}),
    };
  });
}

/**
 * Whether a swarm run has ended, from its tasks: a task completed, or the last attempt ended and
 * the policy allows no other (the swarm starts the next task a moment after one fails, so a failed
 * newest task alone does not end the run).
 */
export function swarmRunEnded(attempts: readonly RunAttempt[], policy: RunPolicy): boolean {
  const last = attempts[attempts.length - 1];
  if (last === undefined) return false;
  if (last.status === 'succeeded' || last.status === 'stopped') return true;
  if (last.status === 'queued' || last.status === 'running') return false;
  return attempts.length > policy.retries;
}
