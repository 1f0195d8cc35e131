/**
 * A run's state from its service's task, as the Swarm API reports it. Pure: the executor lists the
 * tasks, these functions read them.
 */
import { attemptsOfTasks, swarmRunEnded, type RunPolicy } from '../attempts.js';
import type { JobState, JobStatus } from '../jobExecutor.js';

/** How often task states are read while waiting (the Swarm API of 20.10 has no task events). */
export const POLL_MS = 400;

/** The parts of a task (`GET /tasks`) Ferry reads. */
export interface TaskFacts {
  readonly ID: string;
  readonly NodeID?: string;
  readonly CreatedAt?: string;
  readonly UpdatedAt?: string;
  readonly DesiredState?: string;
  readonly Status: {
    readonly State: string;
    readonly Timestamp?: string;
    readonly Message?: string;
    readonly Err?: string;
    readonly ContainerStatus?: { readonly ExitCode?: number; readonly ContainerID?: string };
  };
}

/** The parts of a node (`GET /nodes/{id}`) a message names. */
export interface NodeFacts {
  readonly ID: string;
  readonly Description?: { readonly Hostname?: string };
  readonly Status?: { readonly Addr?: string; readonly State?: string };
  readonly Spec?: {
    readonly Labels?: Readonly<Record<string, string>>;
    readonly Role?: string;
    readonly Availability?: string;
  };
}

/**
 * A task whose attempt is lost though its job never ended: its node is down (Swarm 20.10 keeps
 * such a task `running` until the node returns, and starts no other), or the swarm shut it down
 * because its node was drained. The task as the run should see it: failed, with the reason; else
 * the task itself.
 */
export function withLostAttempt(task: TaskFacts, node: NodeFacts | undefined): TaskFacts {
  const live = !ENDED.has(task.Status.State);
  const down = node !== undefined && node.Status?.State !== 'ready' && live;
  const drained =
    task.Status.State === 'shutdown' &&
    task.DesiredState === 'shutdown' &&
    node?.Spec?.Availability === 'drain';
  if (!down && !drained) return task;
  const where = describeNode(node, task.NodeID);
  const reason = down
    ? `${where} is ${node?.Status?.State ?? 'unreachable'}: its engine stopped answering the manager`
    : `${where} was drained: the swarm shut the task down`;
  return {
    ...task,
    Status: { ...task.Status, State: 'failed', Err: reason, Timestamp: new Date().toISOString() },
    lost: true,
  } as TaskFacts;
}

/** Whether `withLostAttempt` found the task lost. */
export function isLost(task: TaskFacts | undefined): boolean {
  return (task as { lost?: boolean } | undefined)?.lost === true;
}

/** Task states before the container runs. */
const WAITING = new Set([
  'new',
  'allocated',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'ready',
  'starting',
]);
/** Task states a task does not leave. */
const ENDED = new Set(['complete', 'failed', 'rejected', 'shutdown', 'remove', 'orphaned']);

export function taskWaiting(task: TaskFacts): boolean {
  return WAITING.has(task.Status.State);
}

export function taskEnded(task: TaskFacts): boolean {
  return ENDED.has(task.Status.State);
}

/** The task that says how the run goes: the newest (a replicated job with no restarts has one). */
export function currentTask(tasks: readonly TaskFacts[]): TaskFacts | undefined {
  return [...tasks].sort((a, b) => (b.CreatedAt ?? '').localeCompare(a.CreatedAt ?? ''))[0];
}

/** A run's status from its task (none yet: `created`). */
export function statusOfTask(runId: string, task: TaskFacts | undefined): JobStatus {
  if (task === undefined) return { runId, state: 'created' };
  const state = task.Status.State;
  let jobState: JobState;
  let exitCode: number | undefined;
  if (WAITING.has(state)) jobState = 'created';
  else if (state === 'running') jobState = 'running';
  else if (state === 'complete') {
    jobState = 'exited';
    exitCode = task.Status.ContainerStatus?.ExitCode ?? 0;
  } else if (ENDED.has(state)) {
    jobState = 'failed';
    exitCode = task.Status.ContainerStatus?.ExitCode;
    // A task refused before its container ran (no image there) has no exit code of its own.
    if (exitCode === undefined || (state === 'rejected' && exitCode === 0)) exitCode = -1;
  } else jobState = 'unknown';
  const at = task.Status.Timestamp === undefined ? undefined : new Date(task.Status.Timestamp);
  return {
    runId,
    state: jobState,
    ...(exitCode === undefined ? {} : { exitCode }),
    ...(jobState === 'running' && at !== undefined ? { startedAt: at } : {}),
    ...(ENDED.has(state) && at !== undefined ? { finishedAt: at } : {}),
  };
}

/** `vm (abc123def456, 10.0.0.2, ferry.testbed.node=worker1)`: how a message names a node. */
export function describeNode(node: NodeFacts | undefined, nodeId: string | undefined): string {
  if (node === undefined) return nodeId === undefined ? 'no node' : `node ${nodeId.slice(0, 12)}`;
  const labels = Object.entries(node.Spec?.Labels ?? {}).map(([k, v]) => `${k}=${v}`);
  const parts = [node.ID.slice(0, 12), node.Status?.Addr, ...labels].filter(
    (p): p is string => p !== undefined && p !== '',
  );
  return `node ${node.Description?.Hostname ?? '?'} (${parts.join(', ')})`;
}

/** The task failed because its node could not get the image (a pull that failed, no such image). */
export function imageProblem(task: TaskFacts): boolean {
  const text = `${task.Status.Err ?? ''} ${task.Status.Message ?? ''}`;
  return /no such image|pull access denied|manifest unknown|error pulling|failed to pull|image .* not found/i.test(
    text,
  );
}

/**
 * A run's status from all its tasks (one per attempt): while the policy allows another attempt
 * after a failed task the run is still `running` (the swarm starts the next task a moment later);
 * once it has ended, the last task says how.
 */
export function statusOfRun(
  runId: string,
  tasks: readonly TaskFacts[],
  policy: RunPolicy,
): JobStatus {
  const current = currentTask(tasks);
  const status = statusOfTask(runId, current);
  if (status.state !== 'exited' && status.state !== 'failed') return status;
  if (
    swarmRunEnded(
      attemptsOfTasks(tasks, () => undefined),
      policy,
    )
  )
    return status;
  const first = [...tasks].sort((a, b) => (a.CreatedAt ?? '').localeCompare(b.CreatedAt ?? ''))[0];
  return {
    runId,
    state: 'running',
    ...(first?.CreatedAt === undefined ? {} : { startedAt: new Date(first.CreatedAt) }),
  };
}
